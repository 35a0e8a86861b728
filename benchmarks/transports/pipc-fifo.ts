// posix-ipc FIFO channel: a named pipe made by the host, opened by path from
// both processes (openFifoSender / openFifoReceiver). The same stream code as
// the pipe channel, so only in --full (or when named).
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { channelTransport } from '../lib/pipc-channels.js';

interface Paths {
  fwd: string; // B -> A
  back?: string; // A -> B
}

export default channelTransport({
  name: 'pipc-fifo',
  label: 'posix-ipc FIFO channel',
  ceiling: 'pipe',
  coalesces: true, // one write per event-loop turn
  order: 53,
  fullOnly: true,
  setup(ipc, spec) {
    const paths: Paths = {
      fwd: join(tmpdir(), `${spec.tag}.fifo`),
      back: spec.duplex ? join(tmpdir(), `${spec.tag}-back.fifo`) : undefined,
    };
    ipc.mkfifo(paths.fwd);
    if (paths.back) ipc.mkfifo(paths.back);
    return {
      a: paths,
      b: paths,
      close: () => {
        for (const p of [paths.fwd, paths.back]) if (p) rmSync(p, { force: true });
      },
    };
  },
  async open(ipc, ctx, _need, view) {
    const { fwd, back } = ctx.params as Paths;
    const [rxPath, txPath] = ctx.role === 'a' ? [fwd, back] : [back, fwd];
    // A writer waits for its reader: open both at once.
    const [receiver, sender] = await Promise.all([
      rxPath ? ipc.openFifoReceiver(rxPath, view) : undefined,
      txPath ? ipc.openFifoSender(txPath, { timeoutMs: 10_000 }) : undefined,
    ]);
    return { receiver, sender };
  },
});

// posix-ipc UNIX socket channel: UnixServer.listen in the host, connectUnix
// from peer B; each connection is a duplex channel. The same stream code as
// the socket-pair channel, so only in --full (or when named).
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { UnixServer } from '../../lib/index.js';
import { channelTransport, duplexEnds } from '../lib/pipc-channels.js';

interface HostSide {
  server: UnixServer<Uint8Array>;
}

export default channelTransport({
  name: 'pipc-unix',
  label: 'posix-ipc UNIX socket channel',
  ceiling: 'socket',
  coalesces: true, // one write per event-loop turn
  order: 54,
  fullOnly: true,
  setup(ipc, spec) {
    const path = join(tmpdir(), `${spec.tag}.sock`);
    // UnixServer.listen and connectUnix take one codec for both directions (bytesView's encode is the bytes codec's).
    const server = ipc.UnixServer.listen(path, { codec: ipc.codecs.bytesView });
    return {
      a: { server } satisfies HostSide,
      b: { path },
      close: () => {
        server.close();
        rmSync(path, { force: true });
      },
    };
  },
  async open(ipc, ctx, need, view) {
    const d =
      ctx.role === 'a'
        ? await (ctx.params as HostSide).server.accept()
        : await ipc.connectUnix((ctx.params as { path: string }).path, view);
    return duplexEnds(d, need);
  },
});

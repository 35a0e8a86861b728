// posix-ipc UNIX socket channel: UnixServer.listen in the host, connectUnix
// from peer B; each connection is a duplex channel. The same stream code as
// the socket-pair channel, so only in --full (or when named).
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { receiverFromChannel, senderFromChannel } from '../lib/channel-adapter.js';
import { type DuplexLike, channelsAvailable, loadChannels } from '../lib/pipc-channels.js';
import type { Ends, Transport } from '../lib/types.js';

interface HostSide {
  server: { accept(): Promise<DuplexLike>; close(): void };
}

const transport: Transport = {
  name: 'pipc-unix',
  label: 'posix-ipc UNIX socket channel',
  kind: 'process',
  ceiling: 'socket',
  coalesces: true, // one write per event-loop turn
  order: 54,
  fullOnly: true,
  available: channelsAvailable,
  async setup(spec) {
    const ipc = await loadChannels();
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
  async open(ctx): Promise<Ends> {
    const ipc = await loadChannels();
    const d =
      ctx.role === 'a'
        ? await (ctx.params as HostSide).server.accept()
        : await ipc.connectUnix((ctx.params as { path: string }).path, { codec: ipc.codecs.bytesView });
    const ends: Ends = { close: () => d.close() };
    if (ctx.role === 'b' || ctx.spec.duplex) ends.sender = senderFromChannel(d.sender);
    if (ctx.role === 'a' || ctx.spec.duplex) ends.receiver = receiverFromChannel(d.receiver, ctx.spec);
    return ends;
  },
};

export default transport;

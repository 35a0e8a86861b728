// posix-ipc TCP channel: TcpServer.listen on 127.0.0.1 (an ephemeral port) in
// the host, connectTcp from peer B; each connection is a duplex channel over
// the native descriptor engine (TCP_NODELAY).
import type { TcpServer } from '../../lib/index.js';
import { channelTransport, duplexEnds } from '../lib/pipc-channels.js';

interface HostSide {
  server: TcpServer<Uint8Array>;
}

export default channelTransport({
  name: 'pipc-tcp',
  label: 'posix-ipc TCP channel',
  ceiling: 'tcp',
  coalesces: true, // one write per event-loop turn
  order: 55,
  async setup(ipc) {
    const server = await ipc.TcpServer.listen({ host: '127.0.0.1', port: 0, codec: ipc.codecs.bytesView });
    return { a: { server } satisfies HostSide, b: { port: server.port }, close: () => server.close() };
  },
  async open(ipc, ctx, need, view) {
    const d =
      ctx.role === 'a'
        ? await (ctx.params as HostSide).server.accept()
        : await ipc.connectTcp({ host: '127.0.0.1', port: (ctx.params as { port: number }).port, ...view });
    return duplexEnds(d, need);
  },
});

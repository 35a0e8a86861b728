// posix-ipc TLS channel in PSK mode (a random key per run, TLS 1.3), over the
// same TCP sockets as pipc-tcp: the row beside node:tls (node-tls).
import { randomBytes } from 'node:crypto';

import type { TlsServer } from '../../lib/index.js';
import { channelTransport, duplexEnds } from '../lib/pipc-channels.js';
import { PSK_IDENTITY } from './node-tls.js';

interface HostSide {
  server: TlsServer<Uint8Array>;
}

export default channelTransport({
  name: 'pipc-tls',
  label: 'posix-ipc TLS channel (PSK)',
  ceiling: 'tcp',
  coalesces: true, // one write per event-loop turn
  order: 56,
  async setup(ipc) {
    const key = randomBytes(32);
    const server = await ipc.TlsServer.listen({
      host: '127.0.0.1',
      port: 0,
      codec: ipc.codecs.bytesView,
      pskCallback: (identity) => (identity === PSK_IDENTITY ? key : null),
    });
    return { a: { server } satisfies HostSide, b: { port: server.port, key: key.toString('hex') }, close: () => server.close() };
  },
  async open(ipc, ctx, need, view) {
    const p = ctx.params as { port: number; key: string };
    const d =
      ctx.role === 'a'
        ? await (ctx.params as HostSide).server.accept()
        : await ipc.connectTls({
            host: '127.0.0.1',
            port: p.port,
            psk: { identity: PSK_IDENTITY, key: Buffer.from(p.key, 'hex') },
            ...view,
          });
    return duplexEnds(d, need);
  },
});

// node:tls over loopback TCP with length-prefixed frames, in PSK mode (TLS 1.3,
// a random key per run: no certificate to make, the same ciphers as
// posix-ipc's TLS channel in PSK mode, pipc-tls): the row beside it.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';

import { connected, nextConnection, socketEnds } from '../lib/node-socket.js';
import type { Ends, Transport } from '../lib/types.js';

/** What posix-ipc's PSK mode offers (lib/channels/tls-options.ts), TLS 1.3 first. */
export const PSK_CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:PSK-AES128-GCM-SHA256';
export const PSK_IDENTITY = 'bench';

interface HostSide {
  connection: Promise<tls.TLSSocket>;
}

const transport: Transport = {
  name: 'node-tls',
  label: 'node:tls loopback (PSK)',
  kind: 'process',
  ceiling: 'tcp',
  order: 32,
  async setup() {
    const key = randomBytes(32);
    const server = tls.createServer({
      allowHalfOpen: true,
      noDelay: true,
      ciphers: PSK_CIPHERS,
      pskCallback: (_socket, identity) => (identity === PSK_IDENTITY ? key : null),
    });
    const connection = nextConnection<tls.TLSSocket>(server, 'secureConnection');
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return {
      a: { connection } satisfies HostSide,
      b: { port: (server.address() as AddressInfo).port, key: key.toString('hex') },
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  },
  async open(ctx): Promise<Ends> {
    let socket: tls.TLSSocket;
    if (ctx.role === 'a') {
      socket = await (ctx.params as HostSide).connection;
    } else {
      const { port, key } = ctx.params as { port: number; key: string };
      socket = tls.connect({
        host: '127.0.0.1',
        port,
        ciphers: PSK_CIPHERS,
        checkServerIdentity: () => undefined,
        pskCallback: () => ({ identity: PSK_IDENTITY, psk: Buffer.from(key, 'hex') }),
      });
      socket.setNoDelay(true);
      await connected(socket, 'secureConnect');
    }
    return socketEnds(socket, ctx);
  },
};

export default transport;

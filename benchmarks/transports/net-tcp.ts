// node:net over loopback TCP (127.0.0.1, setNoDelay as posix-ipc's TCP
// channel sets TCP_NODELAY), with length-prefixed frames: the row beside
// posix-ipc's TCP channel and the C TCP ceiling.
import * as net from 'node:net';

import { connected, nextConnection, socketEnds } from '../lib/node-socket.js';
import type { Ends, Transport } from '../lib/types.js';

interface HostSide {
  connection: Promise<net.Socket>;
}

const transport: Transport = {
  name: 'net-tcp',
  label: 'net TCP loopback',
  kind: 'process',
  ceiling: 'tcp',
  order: 31,
  async setup() {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true });
    const connection = nextConnection<net.Socket>(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return {
      a: { connection } satisfies HostSide,
      b: { port: (server.address() as net.AddressInfo).port },
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  },
  async open(ctx): Promise<Ends> {
    let socket: net.Socket;
    if (ctx.role === 'a') {
      socket = await (ctx.params as HostSide).connection;
    } else {
      socket = net.connect({ host: '127.0.0.1', port: (ctx.params as { port: number }).port, allowHalfOpen: true, noDelay: true });
      await connected(socket);
    }
    return socketEnds(socket, ctx);
  },
};

export default transport;

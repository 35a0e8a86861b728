// node:net over a UNIX domain socket with length-prefixed frames. Unbatched:
// one socket.write per message; batched: the frames of a batch coalesced into
// one write.
import { rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { connected, nextConnection, socketEnds } from '../lib/node-socket.js';
import type { Ends, Transport } from '../lib/types.js';

interface HostSide {
  connection: Promise<net.Socket>;
}

const transport: Transport = {
  name: 'net-unix',
  label: 'net UNIX socket',
  kind: 'process',
  ceiling: 'socket',
  order: 30,
  async setup(spec) {
    const path = join(tmpdir(), `${spec.tag}.sock`);
    const server = net.createServer({ allowHalfOpen: true });
    const connection = nextConnection<net.Socket>(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    return {
      a: { connection } satisfies HostSide,
      b: { path },
      close: async () => {
        await new Promise((resolve) => server.close(resolve));
        rmSync(path, { force: true });
      },
    };
  },
  async open(ctx): Promise<Ends> {
    let socket: net.Socket;
    if (ctx.role === 'a') {
      socket = await (ctx.params as HostSide).connection;
    } else {
      socket = net.connect({ path: (ctx.params as { path: string }).path, allowHalfOpen: true });
      await connected(socket);
    }
    return socketEnds(socket, ctx);
  },
};

export default transport;

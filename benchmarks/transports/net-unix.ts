// node:net over a UNIX domain socket with length-prefixed frames. Unbatched:
// one socket.write per message; batched: the frames of a batch coalesced into
// one write.
import { rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { FrameParser, encodeFrame, encodeFrames } from '../lib/framing.js';
import type { BenchReceiver, BenchSender, Ends, MessageHandler, Transport } from '../lib/types.js';

function drain(socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      socket.off('drain', done);
      socket.off('error', done);
      if (err) reject(err);
      else resolve();
    };
    socket.on('drain', done);
    socket.on('error', done);
  });
}

function sender(socket: net.Socket): BenchSender {
  return {
    send: (msg) => (socket.write(encodeFrame(msg)) ? undefined : drain(socket)),
    sendMany: (msgs) => (socket.write(encodeFrames(msgs)) ? undefined : drain(socket)),
    close: () => new Promise<void>((resolve) => socket.end(resolve)),
  };
}

function receiver(socket: net.Socket, maxFrame: number): BenchReceiver {
  return {
    consume: (onMessage: MessageHandler) =>
      new Promise<void>((resolve, reject) => {
        const parser = new FrameParser(onMessage, maxFrame);
        socket.on('data', (chunk: Buffer) => {
          try {
            parser.push(chunk);
          } catch (err) {
            socket.destroy();
            reject(err);
          }
        });
        socket.on('end', () => (parser.idle ? resolve() : reject(new Error('end of stream inside a frame'))));
        socket.on('error', reject);
      }),
  };
}

interface HostSide {
  server: net.Server;
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
    const connection = new Promise<net.Socket>((resolve, reject) => {
      server.once('connection', resolve);
      server.once('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    return {
      a: { server, connection } satisfies HostSide,
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
      const { path } = ctx.params as { path: string };
      socket = net.connect({ path, allowHalfOpen: true });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
    }
    const ends: Ends = { close: () => void socket.destroy() };
    if (ctx.role === 'b' || ctx.spec.duplex) ends.sender = sender(socket);
    if (ctx.role === 'a' || ctx.spec.duplex) ends.receiver = receiver(socket, ctx.spec.size);
    return ends;
  },
};

export default transport;

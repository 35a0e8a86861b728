/**
 * A Node stream socket (node:net or node:tls) as the harness's sender and
 * receiver, with length-prefixed frames: one `socket.write` per message
 * unbatched, the frames of a batch coalesced into one write. What the rows of
 * Node's own sockets share (net-unix, net-tcp, node-tls).
 * @module
 */
import type { Socket } from 'node:net';

import { FrameParser, encodeFrame, encodeFrames } from './framing.js';
import type { BenchReceiver, BenchSender, Ends, MessageHandler, PeerContext } from './types.js';

function drain(socket: Socket): Promise<void> {
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

function sender(socket: Socket): BenchSender {
  return {
    send: (msg) => (socket.write(encodeFrame(msg)) ? undefined : drain(socket)),
    sendMany: (msgs) => (socket.write(encodeFrames(msgs)) ? undefined : drain(socket)),
    close: () => new Promise<void>((resolve) => socket.end(resolve)),
  };
}

function receiver(socket: Socket, maxFrame: number): BenchReceiver {
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

/** This peer's ends over a connected socket: peer A receives, peer B sends, both in ping-pong. */
export function socketEnds(socket: Socket, ctx: PeerContext): Ends {
  const ends: Ends = { close: () => void socket.destroy() };
  if (ctx.role === 'b' || ctx.spec.duplex) ends.sender = sender(socket);
  if (ctx.role === 'a' || ctx.spec.duplex) ends.receiver = receiver(socket, ctx.spec.size);
  return ends;
}

/** Resolves with the next 'connection' (or `event`) of a server. */
export function nextConnection<S>(server: NodeJS.EventEmitter, event = 'connection'): Promise<S> {
  return new Promise<S>((resolve, reject) => {
    server.once(event, resolve);
    server.once('error', reject);
  });
}

/** Resolves once `socket` emits `event` ('connect', 'secureConnect'). */
export function connected(socket: NodeJS.EventEmitter, event = 'connect'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    socket.once(event, () => resolve());
    socket.once('error', reject);
  });
}

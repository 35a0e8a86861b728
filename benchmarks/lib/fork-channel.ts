/**
 * Node's own IPC channel (`child_process.fork`, `process.send`) as a
 * benchmark transport, with either serialization.
 *
 * - `json`: a message is what a JSON user would send for bytes: a string of
 *   `size` latin1 characters (one byte each); the receiver writes it into a
 *   reused buffer. A batch is an array of such strings.
 * - `advanced`: the Uint8Array itself (V8 serializer); a batch is an array.
 *
 * End of stream is `null`. `send` waits only when Node says its queue is
 * long (`process.send` returned false): then for everything queued to be
 * written.
 * @module
 */
import type { ChildProcess } from 'node:child_process';

import type { BenchReceiver, BenchSender, Ends, MessageHandler, PeerContext, Transport } from './types.js';

interface IpcEndpoint {
  send(message: unknown, callback: (err: Error | null) => void): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

class IpcSender implements BenchSender {
  private sent = 0;
  private flushed = 0;
  private waiter: (() => void) | undefined;
  private failure: Error | undefined;
  private readonly onFlushed = (err: Error | null): void => {
    if (err) this.failure ??= err;
    this.flushed++;
    if (this.waiter && this.flushed === this.sent) {
      const w = this.waiter;
      this.waiter = undefined;
      w();
    }
  };

  constructor(
    private readonly ep: IpcEndpoint,
    private readonly encode: (msg: Uint8Array) => unknown,
  ) {}

  private post(message: unknown): void | Promise<void> {
    if (this.failure) throw this.failure;
    this.sent++;
    if (this.ep.send(message, this.onFlushed)) return;
    return this.drain();
  }

  private drain(): Promise<void> {
    if (this.flushed === this.sent) return this.failure ? Promise.reject(this.failure) : Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiter = () => (this.failure ? reject(this.failure) : resolve());
    });
  }

  send(msg: Uint8Array): void | Promise<void> {
    return this.post(this.encode(msg));
  }

  sendMany(msgs: readonly Uint8Array[]): void | Promise<void> {
    const batch = new Array<unknown>(msgs.length);
    for (let i = 0; i < msgs.length; i++) batch[i] = this.encode(msgs[i]!);
    return this.post(batch);
  }

  async close(): Promise<void> {
    await this.post(null);
    await this.drain();
  }
}

class IpcReceiver implements BenchReceiver {
  private handler: ((m: unknown) => void) | undefined;
  private early: unknown[] = [];
  private readonly listener = (m: unknown): void => {
    if (this.handler) this.handler(m);
    else this.early.push(m); // Node drops messages nobody listens to: keep them
  };

  constructor(
    private readonly ep: IpcEndpoint,
    private readonly decode: (m: unknown, onMessage: MessageHandler) => void,
  ) {
    ep.on('message', this.listener);
  }

  consume(onMessage: MessageHandler): Promise<void> {
    return new Promise((resolve, reject) => {
      this.handler = (m: unknown): void => {
        try {
          if (m === null) {
            this.stop();
            resolve();
          } else if (Array.isArray(m)) {
            for (let i = 0; i < m.length; i++) this.decode(m[i], onMessage);
          } else {
            this.decode(m, onMessage);
          }
        } catch (err) {
          this.stop();
          reject(err);
        }
      };
      const early = this.early;
      this.early = [];
      for (const m of early) this.handler(m);
    });
  }

  stop(): void {
    this.ep.off('message', this.listener);
    this.handler = () => {};
  }
}

function codec(
  serialization: 'json' | 'advanced',
  size: number,
): { encode: (msg: Uint8Array) => unknown; decode: (m: unknown, h: MessageHandler) => void } {
  if (serialization === 'advanced') {
    return {
      encode: (msg) => msg,
      decode: (m, h) => {
        const u = m as Uint8Array;
        void h(u, 0, u.length);
      },
    };
  }
  const scratch = Buffer.allocUnsafe(size);
  return {
    encode: (msg) => Buffer.from(msg.buffer, msg.byteOffset, msg.length).toString('latin1'),
    decode: (m, h) => {
      const s = m as string;
      const n = scratch.write(s, 0, 'latin1');
      void h(scratch, 0, s.length === n ? n : s.length);
    },
  };
}

/** A transport over Node's IPC channel with the given serialization. */
export function forkTransport(serialization: 'json' | 'advanced', order: number): Transport {
  return {
    name: `fork-${serialization}`,
    label: `child_process.fork ${serialization}`,
    kind: 'process',
    ceiling: 'socket', // Node's IPC channel is a UNIX socketpair
    order,
    setup: () => ({ stdio: ['ipc'], serialization }),
    open(ctx: PeerContext): Ends {
      const ep = (ctx.role === 'a' ? (ctx.child as ChildProcess) : process) as unknown as IpcEndpoint;
      const { encode, decode } = codec(serialization, ctx.spec.size);
      const ends: Ends = {};
      if (ctx.role === 'b' || ctx.spec.duplex) ends.sender = new IpcSender(ep, encode);
      if (ctx.role === 'a' || ctx.spec.duplex) ends.receiver = new IpcReceiver(ep, decode);
      return ends;
    },
  };
}

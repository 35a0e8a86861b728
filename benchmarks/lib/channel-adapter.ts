/**
 * Adapters from posix-ipc's channel API (`Sender<T>`, `Receiver<T>`) to the
 * harness's BenchSender/BenchReceiver, so a channel transport file only has
 * to create the channel ends. The shapes are structural: nothing here imports
 * the library.
 *
 * The fast paths matter at small message sizes: `trySend` first (no Promise
 * when there is room), `tryReceive` first (no Promise when a message is
 * ready), `await` only when the channel says it would block.
 * @module
 */
import type { BenchReceiver, BenchSender, MessageHandler } from './types.js';

/** What the harness uses of a channel `Sender<Uint8Array>`. */
export interface ChannelSenderLike {
  send(msg: Uint8Array): Promise<void>;
  /** Sends without waiting; false when the channel is full. */
  trySend?(msg: Uint8Array): boolean;
  sendMany?(msgs: readonly Uint8Array[]): Promise<void> | void;
  close(): void | Promise<void>;
}

/** What the harness uses of a channel `Receiver<Uint8Array>`. */
export interface ChannelReceiverLike {
  /** The next message, or undefined at end of stream. */
  receive(): Promise<Uint8Array | undefined>;
  /** A message if one is ready now; anything falsy otherwise (then `receive()` tells empty from ended). */
  tryReceive?(): Uint8Array | undefined | null | false;
}

export function senderFromChannel(s: ChannelSenderLike): BenchSender {
  const trySend = s.trySend?.bind(s);
  const out: BenchSender = {
    send: trySend ? (msg) => (trySend(msg) ? undefined : s.send(msg)) : (msg) => s.send(msg),
    close: () => s.close(),
  };
  if (s.sendMany) out.sendMany = (msgs) => s.sendMany!(msgs);
  return out;
}

export function receiverFromChannel(r: ChannelReceiverLike): BenchReceiver {
  const tryReceive = r.tryReceive?.bind(r);
  return {
    async consume(onMessage: MessageHandler): Promise<void> {
      for (;;) {
        let m = tryReceive ? tryReceive() : undefined;
        if (!m) {
          m = await r.receive();
          if (m === undefined) return;
        }
        const p = onMessage(m, 0, m.length);
        if (p) await p;
      }
    },
  };
}

/**
 * For receive-into-reused-memory: `into(buf)` fills `buf` and returns the
 * message length (or a Promise of it), `undefined` at end of stream. One
 * buffer of `maxMessage` bytes serves every message.
 */
export function receiverInto(maxMessage: number, into: (buf: Uint8Array) => number | undefined | Promise<number | undefined>): BenchReceiver {
  const buf = new Uint8Array(maxMessage);
  return {
    async consume(onMessage: MessageHandler): Promise<void> {
      for (;;) {
        let n = into(buf);
        if (typeof n === 'object') n = await n;
        if (n === undefined) return;
        const p = onMessage(buf, 0, n);
        if (p) await p;
      }
    },
  };
}

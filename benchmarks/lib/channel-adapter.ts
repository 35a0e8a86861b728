/**
 * Adapters from posix-ipc's channel API (`Sender<Uint8Array>`,
 * `Receiver<Uint8Array>`, types from the library itself) to the harness's
 * BenchSender/BenchReceiver, so a channel transport only has to create the
 * channel ends (see channelTransport in pipc-channels.ts).
 *
 * The fast paths matter at small message sizes: `trySend` first (no Promise
 * when there is room); one message per call: `tryReceive` first (no Promise
 * when a message is ready), `await` only when the channel says it would
 * block. The batched workload receives in batches: `drain()` where the
 * library has it (no object per message: the visitor reads the channel's own
 * memory), else `receiveMany()`, else one `tryReceive()` at a time. What the
 * library lacks is found out at run time, so the harness runs against a build
 * with or without `drain` / `readable`.
 * @module
 */
import type { Receiver, Sender } from '../../lib/index.js';
import type { BenchReceiver, BenchSender, MessageHandler } from './types.js';

type S = Sender<Uint8Array>;
type R = Receiver<Uint8Array>;

/** What the adapter uses of a channel sender: `send` and `close`, the fast paths when there. */
export type ChannelSender = Pick<S, 'send' | 'close'> & Partial<Pick<S, 'trySend' | 'sendMany'>>;

/**
 * What the adapter uses of a channel receiver: `receive`, and whichever of
 * the fast paths it has (`drain` and `readable` only together, with `ended`).
 */
export type ChannelReceiver = Pick<R, 'receive'> & Partial<Pick<R, 'tryReceive' | 'receiveMany' | 'drain' | 'readable' | 'ended'>>;

export function senderFromChannel(s: ChannelSender): BenchSender {
  const trySend = s.trySend?.bind(s);
  const out: BenchSender = {
    send: trySend ? (msg) => (trySend(msg) ? undefined : s.send(msg)) : (msg) => s.send(msg),
    close: () => s.close(),
  };
  if (s.sendMany) out.sendMany = (msgs) => s.sendMany!(msgs);
  return out;
}

/**
 * `batch` is the cell's (`spec.batch`): 1 receives one message per call,
 * more receives in batches of up to four sends' worth.
 */
export function receiverFromChannel(r: ChannelReceiver, { batch = 1 }: { batch?: number } = {}): BenchReceiver {
  if (batch > 1) {
    if (typeof r.drain === 'function' && typeof r.readable === 'function') return drainReceiver(r as DrainReceiver, 4 * batch);
    if (typeof r.receiveMany === 'function') return manyReceiver(r as ManyReceiver, 4 * batch);
  }
  return oneReceiver(r);
}

/** One message per call: `tryReceive()` while messages are ready, `receive()` to wait. */
function oneReceiver(r: ChannelReceiver): BenchReceiver {
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

type DrainReceiver = ChannelReceiver & Pick<R, 'drain' | 'readable'>;

/**
 * Batches with `drain()`: each message is visited as offsets into the
 * channel's memory, no object per message. When none is ready: the end
 * (`ended`), or wait with `readable()` and drain again. Should `readable()`
 * resolve and still nothing be ready (a failure, or a frame not whole yet),
 * `receive()` waits for the next message or reports the failure.
 */
function drainReceiver(r: DrainReceiver, max: number): BenchReceiver {
  return {
    async consume(onMessage: MessageHandler): Promise<void> {
      let pending = undefined as Promise<void> | undefined; // set by visit
      const visit = (bytes: Uint8Array, start: number, end: number): boolean | void => {
        const p = onMessage(bytes, start, end - start);
        if (p) {
          pending = p; // only ping-pong handlers return one: stop, await it, go on
          return false;
        }
      };
      let woke = false;
      for (;;) {
        const n = r.drain(visit, max);
        if (pending) {
          const p = pending;
          pending = undefined;
          await p;
        }
        if (n > 0) {
          woke = false;
          continue;
        }
        if (r.ended) return;
        if (!woke) {
          await r.readable();
          woke = true;
          continue;
        }
        woke = false;
        const m = await r.receive();
        if (m === undefined) return;
        const p = onMessage(m, 0, m.length);
        if (p) await p;
      }
    },
  };
}

type ManyReceiver = ChannelReceiver & Pick<R, 'receiveMany'>;

/** Batches with `receiveMany()` (a library without `drain`): one Promise per batch, a view per message. */
function manyReceiver(r: ManyReceiver, max: number): BenchReceiver {
  return {
    async consume(onMessage: MessageHandler): Promise<void> {
      for (;;) {
        const ms = await r.receiveMany(max);
        if (ms.length === 0) return; // end of stream
        for (let i = 0; i < ms.length; i++) {
          const m = ms[i]!;
          const p = onMessage(m, 0, m.length);
          if (p) await p;
        }
      }
    },
  };
}

/**
 * For receive-into-reused-memory: `into(buf)` fills `buf` and returns the
 * message length (or a Promise of it), `undefined` at end of stream. One
 * buffer of `maxMessage` bytes serves every message.
 */
export function receiverInto(
  maxMessage: number,
  into: (buf: Uint8Array) => number | undefined | Promise<number | undefined>,
): BenchReceiver {
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

/**
 * What both ends of a service connection share: the outbox (frames sent in
 * batches, one channel call per batch) and the read loop (frames visited in
 * the channel's memory, without an object per message).
 * @module
 */
import type { Duplex } from '../../channels/index.js';
import { readHeader, type Header } from './wire.js';

/** Frames queued for one sender: sent with one `send`/`sendMany` per batch. */
export class Outbox {
  readonly #duplex: Duplex<Uint8Array>;
  readonly #onError: (err: unknown) => void;
  #queue: Uint8Array[] = [];
  #busy = false;
  #dead = false;
  #roomWaiters: Array<() => void> = [];
  readonly #run = (): void => void this.#flush();

  constructor(duplex: Duplex<Uint8Array>, onError: (err: unknown) => void) {
    this.#duplex = duplex;
    this.#onError = onError;
  }

  /** Frames waiting to be sent. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Queues `frame`; it goes out with the others queued in the same turn. */
  push(frame: Uint8Array): void {
    if (this.#dead) return;
    this.#queue.push(frame);
    if (!this.#busy) {
      this.#busy = true;
      queueMicrotask(this.#run);
    }
  }

  /** `undefined` while fewer than `limit` frames wait, else a promise resolved once a batch went out. */
  room(limit: number): Promise<void> | undefined {
    if (this.#queue.length < limit || this.#dead) return undefined;
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  #wakeRoom(): void {
    if (this.#roomWaiters.length === 0) return;
    const ws = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const w of ws) w();
  }

  /** Resolves once everything queued so far was handed to the channel (or the channel failed). */
  async drained(): Promise<void> {
    for (let n = 0; (this.#busy || this.#queue.length > 0) && !this.#dead && n < 10_000; n++) await new Promise((r) => setImmediate(r));
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#dead) {
        const batch = this.#queue;
        this.#queue = [];
        if (batch.length === 1) {
          if (!this.#duplex.sender.trySend(batch[0]!)) await this.#duplex.sender.send(batch[0]!);
        } else await this.#duplex.sender.sendMany(batch);
        this.#wakeRoom();
      }
    } catch (err) {
      this.#dead = true;
      this.#queue = [];
      this.#wakeRoom();
      this.#onError(err);
    } finally {
      this.#busy = false;
    }
  }

  /** Stops sending (what is queued is dropped). */
  kill(): void {
    this.#dead = true;
    this.#queue = [];
    this.#wakeRoom();
  }
}

/**
 * Reads frames from `duplex` until end-of-stream or failure, calling
 * `visit(header, bytes, start, end)` for each (the bytes are valid only
 * during the call). `gate()` may return a promise to pause reading (the
 * visitor returns false to stop a batch). Resolves with the error that
 * ended it, or `undefined` at end-of-stream.
 */
export async function readFrames(
  duplex: Duplex<Uint8Array>,
  visit: (h: Header, bytes: Uint8Array, start: number, end: number) => boolean,
  onShort: () => void,
  gate: () => Promise<void> | undefined,
): Promise<unknown> {
  const h: Header = { type: 0, proc: 0, id: 0, seq: 0, ack: 0, timeout: 0 };
  let stop = false;
  const each = (bytes: Uint8Array, start: number, end: number): boolean => {
    if (!readHeader(bytes, start, end, h)) {
      onShort();
      stop = true;
      return false;
    }
    const go = visit(h, bytes, start, end);
    if (!go) stop = true;
    return go;
  };
  const r = duplex.receiver;
  try {
    for (;;) {
      // Each wait ends on progress (a call done, a batch sent) or at the end.
      for (let wait = gate(); wait !== undefined; wait = gate()) await wait;
      stop = false;
      let n = r.drain(each, 256);
      if (n === 0 && !stop) {
        if (r.ended) return undefined;
        // Nothing there: wait with receive(), which on shared memory spins a
        // moment before it sleeps (a peer that answers at once costs no wake-up;
        // readable() would sleep at once), and reports a failure or the end.
        const m = await r.receive();
        if (m === undefined) return undefined;
        n = each(m, 0, m.length) ? 1 + r.drain(each, 255) : 1;
      }
      // Let what these frames started run first: the replies a handler queued,
      // the next call a resolved caller makes. A wait that spins before our
      // own frames are sent would only delay them.
      if (n > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      if (r.closed) return undefined;
    }
  } catch (err) {
    return err;
  }
}

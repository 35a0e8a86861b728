/**
 * The receiving end of every channel, written once over a transport's
 * {@link ReceiveEngine}: call order, the closed check, the failure latch,
 * the size check, the zero-copy hold/release rule, abort and timeout, the
 * hook chain, batch draining and iteration.
 * @module
 */
import { ChannelError, closedError, corruptError, timeoutError } from '../errors.js';
import { validateInteger } from '../internal/validators.js';
import type { Codec } from './codec.js';
import { EMPTY, END, type ReceiveEngine } from './engine.js';
import { intercept, type HookChain } from './hooks.js';
import { aborted, armCall, callSettings, DONE, kTake, NONE, syncDeadline, type CallSettings, type Waiter } from './call.js';
import { PENDING_LIMIT, type CallOptions, type ChannelHook, type DrainVisitor, type Receiver, type SyncOptions } from './types.js';

/** Messages `receiveMany()` returns at most by default: bounds the batch's memory. */
export const RECEIVE_MANY_DEFAULT = 1024;

/** The receiving end of a channel, whatever the transport. Made by the `open...`/`...FromFd` functions. */
export class ChannelReceiver<T> implements Receiver<T> {
  readonly #engine: ReceiveEngine;
  readonly #codec: Codec<T>;
  readonly #max: number;
  readonly #what: string;
  /** Views handed out stay valid until the next call: the engine keeps their bytes until then. */
  readonly #zeroCopy: boolean;
  #hooks: HookChain | undefined;
  /** Messages were consumed but their space not handed back yet. */
  #held = false;
  #ended = false;
  #closed = false;
  #failure: Error | undefined;
  /**
   * A message that failed to decode (or a hook that threw) after a batch had
   * messages: the batch is returned, and the next call reports this once.
   * Not a channel failure: the end stays usable.
   */
  #deferred: Error | undefined;
  readonly #waiters: Waiter[] = [];
  #serving = false;
  #wake: AbortController | undefined;

  /** @internal */
  constructor(engine: ReceiveEngine, codec: Codec<T>, maxMessageSize: number, what: string) {
    this.#engine = engine;
    this.#codec = codec;
    this.#max = maxMessageSize;
    this.#what = what;
    this.#zeroCopy = codec.zeroCopy === true;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get maxMessageSize(): number {
    return this.#max;
  }

  intercept(hook: ChannelHook): () => void {
    return intercept(
      () => this.#hooks,
      (chain) => (this.#hooks = chain),
      hook,
    );
  }

  /** Start of every call: closed and failed ends refuse; views of the previous call expire. */
  #begin(): void {
    if (this.#closed) throw closedError(this.#what);
    if (this.#failure) throw this.#failure;
    if (this.#deferred) {
      const err = this.#deferred;
      this.#deferred = undefined;
      throw err;
    }
    if (this.#held) {
      this.#held = false;
      this.#engine.publish();
    }
  }

  /** End of a call that copied its messages out: hand their space back now. */
  #finish(): void {
    if (this.#held && !this.#zeroCopy) {
      this.#held = false;
      this.#engine.publish();
    }
  }

  #fail(err: unknown): Error {
    this.#failure ??= err as Error;
    for (const w of this.#waiters.splice(0)) {
      w.dispose();
      w.reject(this.#failure);
    }
    return this.#failure;
  }

  /** The next payload's length (consumed only by `#consume`), EMPTY or END; latches failures. */
  #next(): number {
    let len: number;
    try {
      len = this.#engine.next();
    } catch (err) {
      throw this.#fail(err);
    }
    if (len > this.#max) {
      throw this.#fail(corruptError(`The peer sent a ${len}-byte message, over maxMessageSize (${this.#max}) of this ${this.#what}`));
    }
    if (len === END) this.#ended = true;
    return len;
  }

  #spin(): boolean {
    try {
      return this.#engine.spinReadable();
    } catch (err) {
      throw this.#fail(err);
    }
  }

  /** One decoded message, NONE or DONE. */
  #take(): T | typeof NONE | typeof DONE {
    for (;;) {
      const len = this.#next();
      if (len === EMPTY) return NONE;
      if (len === END) return DONE;
      const e = this.#engine;
      let bytes: Uint8Array | null = e.bytes.subarray(e.offset, e.offset + len);
      // Consumed before decoding (a decode error still consumes it). The
      // engine moves no byte until the next engine call, so the view holds.
      e.release(this.#zeroCopy);
      this.#held = true;
      try {
        if (this.#hooks !== undefined) bytes = this.#hooks.receive(bytes);
        if (bytes !== null) return this.#codec.decode(bytes);
      } catch (err) {
        this.#finish(); // the bad message is consumed; its space goes back now
        throw err;
      }
    }
  }

  /**
   * Appends up to `max` messages ready now to `out` (which holds one). A
   * message that fails to decode ends the batch: `out` is kept for the
   * caller, and the error is reported by the next call.
   */
  #fillBatch(out: T[], max: number): void {
    while (out.length < max) {
      let m: T | typeof NONE | typeof DONE;
      try {
        m = this.#take();
      } catch (err) {
        if (this.#failure === undefined) this.#deferred = err as Error;
        return; // a channel failure latched: the next call reports it
      }
      if (m === NONE || m === DONE) return;
      out.push(m);
    }
  }

  /** Serves waiting calls in order while messages are there; settles them all at the end or a failure. */
  #deliver(): void {
    while (this.#waiters.length > 0) {
      const w = this.#waiters[0]!;
      if (this.#deferred) {
        this.#settle(w, this.#deferred);
        this.#deferred = undefined;
        continue;
      }
      if (w.max === 0) {
        if (this.#next() === EMPTY) return;
        this.#settle(w);
        continue;
      }
      let first: T | typeof NONE | typeof DONE;
      try {
        first = this.#take();
      } catch (err) {
        if (this.#failure !== undefined) throw err; // latched: every waiter was rejected
        this.#settle(w, err as Error); // a message that does not decode: this call reports it
        continue;
      }
      if (first === NONE) return;
      if (first === DONE) {
        this.#settle(w, undefined, w.max === 1 ? undefined : []);
        continue;
      }
      if (w.max === 1) {
        this.#settle(w, undefined, first);
        continue;
      }
      const out: T[] = [first];
      this.#fillBatch(out, w.max);
      this.#settle(w, undefined, out);
    }
  }

  /** Takes the head waiter out and settles it. */
  #settle(w: Waiter, err?: Error, value?: unknown): void {
    this.#waiters.shift();
    w.dispose();
    if (err === undefined) w.resolve(value);
    else w.reject(err);
  }

  /** Serves the waiters, sleeping on the engine between messages; one pump per receiver. */
  async #serve(): Promise<void> {
    if (this.#serving) return;
    this.#serving = true;
    try {
      for (;;) {
        try {
          this.#deliver();
          this.#finish();
        } catch (err) {
          if (this.#failure === undefined) this.#fail(err); // not expected: never leave a waiter hanging
          return; // latched: every waiter was rejected
        }
        if (this.#waiters.length === 0) return;
        // One controller while nobody gives up: aborted only to end a wait nobody needs.
        if (this.#wake === undefined || this.#wake.signal.aborted) this.#wake = new AbortController();
        try {
          // Readiness waits (select, readable) do not spin: many may wait at once.
          await this.#engine.waitReadable(this.#wake.signal, this.#waiters[0]!.max !== 0);
        } catch (err) {
          if (!this.#closed) this.#fail(err);
          return;
        }
        if (this.#closed) return;
      }
    } finally {
      this.#serving = false;
    }
  }

  /** Queues a waiting call (`max` messages, 0 for readiness). */
  #wait<R>(max: number, call: CallSettings): Promise<R> {
    if (call.signal?.aborted) return Promise.reject(aborted(call));
    if (this.#waiters.length >= PENDING_LIMIT) {
      return Promise.reject(
        new ChannelError('ERR_CHANNEL_BUSY', `${this.#waiters.length} receives are already waiting on this ${this.#what}`),
      );
    }
    return new Promise<R>((resolve, reject) => {
      const w: Waiter = { max, resolve: resolve as (value: unknown) => void, reject, dispose: () => undefined };
      w.dispose = armCall(
        call,
        () => timeoutError(this.#engine.syscall, this.#engine.path, 'no message arrived in time; nothing was consumed'),
        (err) => {
          const i = this.#waiters.indexOf(w);
          if (i < 0) return;
          this.#waiters.splice(i, 1);
          w.dispose();
          reject(err);
          if (this.#waiters.length === 0) this.#wake?.abort();
        },
      );
      this.#waiters.push(w);
      void this.#serve();
    });
  }

  receive(options?: CallOptions): Promise<T | undefined> {
    let call: CallSettings;
    try {
      call = callSettings(options);
      this.#begin();
      if (this.#ended) return Promise.resolve(undefined);
      if (this.#waiters.length === 0 && !call.signal?.aborted) {
        let got = this.#take();
        if (got === NONE && this.#spin()) got = this.#take(); // a peer about to answer costs no Promise
        this.#finish();
        if (got === DONE) return Promise.resolve(undefined);
        if (got !== NONE) return Promise.resolve(got);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#wait<T | undefined>(1, call);
  }

  receiveMany(max = RECEIVE_MANY_DEFAULT, options?: CallOptions): Promise<T[]> {
    let call: CallSettings;
    try {
      validateInteger(max, 'max', 1);
      call = callSettings(options);
      this.#begin();
      if (this.#ended) return Promise.resolve([]);
      if (this.#waiters.length === 0 && !call.signal?.aborted) {
        const first = this.#take();
        if (first === DONE) {
          this.#finish();
          return Promise.resolve([]);
        }
        if (first !== NONE) {
          const out: T[] = [first];
          this.#fillBatch(out, max);
          this.#finish();
          return Promise.resolve(out);
        }
        this.#finish();
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#wait<T[]>(max, call);
  }

  /** Resolves once a receive would not wait; consumes nothing, and views handed out stay valid. */
  readable(options?: CallOptions): Promise<void> {
    let call: CallSettings;
    try {
      call = callSettings(options);
      if (call.signal?.aborted) throw aborted(call);
      if (this.#closed) throw closedError(this.#what);
      if (this.#failure !== undefined || this.#deferred !== undefined || this.#ended) return Promise.resolve();
      if (this.#waiters.length === 0 && this.#next() !== EMPTY) return Promise.resolve();
    } catch (err) {
      // A failure found now is reported by the next call; anything else (closed, aborted, options) rejects.
      return this.#failure !== undefined && err === this.#failure ? Promise.resolve() : Promise.reject(err);
    }
    return this.#wait<void>(0, call).catch((err: unknown) => {
      if (this.#failure !== undefined && err === this.#failure) return;
      throw err;
    });
  }

  tryReceive(): T | undefined {
    this.#begin();
    if (this.#ended) return undefined;
    if (this.#waiters.length > 0) {
      this.#deliver();
      if (this.#waiters.length > 0) {
        this.#finish();
        return undefined;
      }
    }
    // A throw skips #finish(): the next call's #begin() hands the space back.
    const got = this.#take();
    this.#finish();
    return got === NONE || got === DONE ? undefined : got;
  }

  receiveSync(options?: SyncOptions): T | undefined {
    const deadline = syncDeadline(options);
    this.#begin();
    if (this.#engine.syncUnsupported) throw this.#engine.syncUnsupported(); // not latched: the async calls still work
    for (;;) {
      if (this.#ended) return undefined;
      try {
        if (this.#waiters.length > 0) this.#deliver();
        if (this.#waiters.length === 0) {
          const got = this.#take();
          if (got === DONE) return undefined;
          if (got !== NONE) return got;
        }
      } finally {
        this.#finish();
      }
      let ok: boolean;
      try {
        ok = this.#engine.waitReadableSync(deadline);
      } catch (err) {
        throw this.#fail(err);
      }
      if (!ok) throw timeoutError(this.#engine.syscall, this.#engine.path, 'no message arrived in time');
    }
  }

  drain(visit: DrainVisitor, max = Infinity): number {
    if (typeof visit !== 'function') throw new TypeError('The "visit" argument must be a function');
    if (max !== Infinity) validateInteger(max, 'max', 1);
    this.#begin();
    if (this.#ended || this.#waiters.length > 0) return 0;
    let n = 0;
    try {
      while (n < max) {
        const len = this.#next();
        if (len < 0) break;
        const e = this.#engine;
        let stop: boolean | void;
        try {
          if (this.#hooks === undefined) {
            stop = visit(e.bytes, e.offset, e.offset + len);
          } else {
            const bytes = this.#hooks.receive(e.bytes.subarray(e.offset, e.offset + len));
            if (bytes === null) continue;
            stop = visit(bytes, 0, bytes.byteLength);
          }
        } finally {
          e.release(false);
          this.#held = true;
        }
        n++;
        if (stop === false) break;
      }
    } finally {
      if (this.#held) {
        this.#held = false;
        this.#engine.publish();
      }
    }
    return n;
  }

  /** For select: one message now if no call waits before it; NONE or DONE otherwise. @internal */
  [kTake](): T | typeof NONE | typeof DONE {
    this.#begin();
    if (this.#ended) return DONE;
    if (this.#waiters.length > 0) return NONE;
    try {
      return this.#take();
    } finally {
      this.#finish();
    }
  }

  /** Stops receiving: pending calls reject with the closed error. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const err = closedError(this.#what);
    for (const w of this.#waiters.splice(0)) {
      w.dispose();
      w.reject(err);
    }
    this.#wake?.abort();
    this.#held = false;
    this.#engine.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const msg = await this.receive();
      if (msg === undefined && this.#ended) return;
      yield msg as T;
    }
  }
}

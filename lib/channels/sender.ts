/**
 * The sending end of every channel, written once over a transport's
 * {@link SendEngine}: call order, the closed check, the failure latch,
 * encoding and the size check, abort and timeout, the pending-call bound,
 * and the hook chain.
 * @module
 */
import { ChannelError, closedError, timeoutError } from '../errors.js';
import { bounded } from '../internal/waiting.js';
import { aborted, armCall, callSettings, isAbortOrTimeout, NO_LIMIT, syncDeadline, type CallSettings } from './call.js';
import type { Codec } from './codec.js';
import type { SendEngine } from './engine.js';
import { intercept, type HookChain } from './hooks.js';
import { PENDING_BYTES_LIMIT, PENDING_LIMIT, type CallOptions, type ChannelHook, type Sender, type SyncOptions } from './types.js';

const DONE = Promise.resolve();

/** One queued call: its messages, how many are written, and how it ends. */
interface Queued {
  readonly list: readonly Uint8Array[];
  readonly bytes: number;
  written: number;
  resolve(): void;
  reject(err: Error): void;
  /** Stops the call's timer and abort listener. */
  dispose: () => void;
}

/** The sending end of a channel, whatever the transport. Made by the `open...`/`...FromFd` functions. */
export class ChannelSender<T> implements Sender<T> {
  readonly #engine: SendEngine;
  readonly #codec: Codec<T>;
  readonly #max: number;
  readonly #what: string;
  #hooks: HookChain | undefined;
  /** Hooked sends in call order while a hook delays one. */
  #hookTail: Promise<unknown> | undefined;
  readonly #queue: Queued[] = [];
  #queuedBytes = 0;
  #pumping = false;
  #wake: AbortController | undefined;
  #failure: Error | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Called once the queue is empty (close() waits for queued calls). */
  #idle: (() => void)[] = [];

  /** @internal */
  constructor(engine: SendEngine, codec: Codec<T>, maxMessageSize: number | undefined, what: string) {
    this.#engine = engine;
    this.#codec = codec;
    this.#max = Math.min(maxMessageSize ?? engine.maxMessage, engine.maxMessage);
    this.#what = what;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get maxMessageSize(): number {
    return this.#max;
  }

  /** The transport's buffer in bytes: a shared-memory ring's capacity, or a stream's high-water mark. */
  get capacity(): number {
    return this.#engine.capacity;
  }

  /** Bytes sent but not yet taken by the receiver, plus those of queued calls. */
  get queuedBytes(): number {
    return this.#closed ? 0 : this.#engine.queuedBytes + this.#queuedBytes;
  }

  intercept(hook: ChannelHook): () => void {
    return intercept(
      () => this.#hooks,
      (chain) => (this.#hooks = chain),
      hook,
    );
  }

  #check(): void {
    if (this.#closed) throw closedError(this.#what);
    if (this.#failure) throw this.#failure;
  }

  #encode(message: T): Uint8Array {
    return this.#checkSize(this.#codec.encode(message));
  }

  #checkSize(bytes: Uint8Array): Uint8Array {
    if (bytes.byteLength > this.#max) {
      throw new RangeError(`The message is ${bytes.byteLength} bytes, more than maxMessageSize (${this.#max}) of this channel`);
    }
    return bytes;
  }

  /** Latches the first failure: every queued and later call fails with it. */
  #fail(err: unknown): Error {
    this.#failure ??= err as Error;
    for (const q of this.#queue.splice(0)) this.#settle(q, this.#failure);
    this.#queuedBytes = 0;
    return this.#failure;
  }

  #write(bytes: Uint8Array): boolean {
    try {
      return this.#engine.tryWrite(bytes);
    } catch (err) {
      throw this.#fail(err);
    }
  }

  #spin(len: number): boolean {
    try {
      return this.#engine.spinWritable(len);
    } catch (err) {
      throw this.#fail(err);
    }
  }

  #writeMany(list: readonly Uint8Array[], from: number): number {
    try {
      return this.#engine.tryWriteMany(list, from);
    } catch (err) {
      throw this.#fail(err);
    }
  }

  #publish(): void {
    try {
      this.#engine.publish();
    } catch (err) {
      throw this.#fail(err);
    }
  }

  send(message: T, options?: CallOptions): Promise<void> {
    try {
      const call = options === undefined ? NO_LIMIT : callSettings(options); // checked before anything is sent
      this.#check();
      const bytes = this.#encode(message);
      if (this.#hooks !== undefined || this.#hookTail !== undefined) return this.#sendHooked([bytes], call);
      if (call.signal?.aborted) throw aborted(call);
      // Fast path: room now (or after a short spin) and nobody queued ahead.
      if (this.#queue.length === 0 && (this.#write(bytes) || (this.#spin(bytes.byteLength) && this.#write(bytes)))) {
        this.#publish();
        return DONE;
      }
      return this.#enqueue([bytes], call);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  sendMany(messages: Iterable<T>, options?: CallOptions): Promise<void> {
    try {
      const call = options === undefined ? NO_LIMIT : callSettings(options);
      this.#check();
      // The whole batch is checked first: a RangeError sends nothing.
      const list: Uint8Array[] = [];
      if (Array.isArray(messages)) for (let i = 0; i < messages.length; i++) list.push(this.#encode(messages[i] as T));
      else for (const m of messages) list.push(this.#encode(m));
      if (list.length === 0) return DONE;
      if (this.#hooks !== undefined || this.#hookTail !== undefined) return this.#sendHooked(list, call);
      if (call.signal?.aborted) throw aborted(call);
      // Fast path: nobody queued ahead; what fits now goes now, the rest waits.
      let written = 0;
      if (this.#queue.length === 0) {
        written = this.#writeMany(list, 0);
        this.#publish();
        if (written === list.length) return DONE;
      }
      return this.#enqueue(list, call, written);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Sends through the hooks attached at call time, in call order even when a
   * hook delays (a call made while an earlier one is delayed waits for it,
   * hooks or not). The call's signal and deadline bound the delay too: a call
   * that gives up while a hook holds it sends nothing, whenever the hook answers.
   */
  #sendHooked(list: Uint8Array[], call: CallSettings): Promise<void> {
    const hooks = this.#hooks;
    let gaveUp = false;
    const transform = (): Uint8Array[] | Promise<Uint8Array[]> => {
      if (hooks === undefined) return list;
      const outs = list.map((b) => hooks.send(b));
      if (outs.every((o) => Array.isArray(o))) return (outs as Uint8Array[][]).flat();
      return Promise.all(outs).then((all) => all.flat());
    };
    const go = (out: Uint8Array[]): Promise<void> => {
      if (gaveUp) return DONE; // rejected already: its bytes are dropped, never sent
      if (this.#failure) throw this.#failure; // accepted before a close(): still sent
      for (const b of out) this.#checkSize(b);
      return out.length === 0 ? DONE : this.#enqueue(out, call);
    };
    const tail = this.#hookTail;
    if (tail === undefined) {
      const out = transform();
      if (Array.isArray(out)) return go(out);
      return this.#track(this.#bound(out.then(go), call, () => (gaveUp = true)));
    }
    return this.#track(
      this.#bound(
        tail.then(() => {
          if (gaveUp) return DONE;
          const out = transform();
          return Array.isArray(out) ? go(out) : out.then(go);
        }),
        call,
        () => (gaveUp = true),
      ),
    );
  }

  /** `p` under the call's signal and deadline; `onGiveUp` runs when they end it first. */
  #bound(p: Promise<void>, call: CallSettings, onGiveUp: () => void): Promise<void> {
    if (call === NO_LIMIT) return p;
    return bounded(
      () => p,
      call.signal,
      call.deadline,
      () => timeoutError(this.#engine.syscall, this.#engine.path, 'a send hook held the message past the deadline; nothing was sent'),
    ).catch((err: unknown) => {
      if (isAbortOrTimeout(err)) onGiveUp();
      throw err;
    });
  }

  /** Remembers an in-flight hooked send so the next one waits for it (hooks may delay). */
  #track(p: Promise<void>): Promise<void> {
    const settled = p.catch(() => undefined);
    this.#hookTail = settled;
    void settled.then(() => {
      if (this.#hookTail === settled) this.#hookTail = undefined;
    });
    return p;
  }

  /** Queues a call behind the others; the pump writes it when there is room. */
  #enqueue(list: readonly Uint8Array[], call: CallSettings, written = 0): Promise<void> {
    let bytes = 0;
    for (let i = written; i < list.length; i++) bytes += list[i]!.byteLength;
    if (this.#queue.length >= PENDING_LIMIT || (this.#queue.length > 0 && this.#queuedBytes + bytes > PENDING_BYTES_LIMIT)) {
      return Promise.reject(
        new ChannelError(
          'ERR_CHANNEL_BUSY',
          `${this.#queue.length} sends (${this.#queuedBytes} bytes) are already waiting on this ${this.#what}; await them first`,
        ),
      );
    }
    if (call.signal?.aborted) return Promise.reject(aborted(call));
    if (call.deadline <= performance.now()) {
      return Promise.reject(timeoutError(this.#engine.syscall, this.#engine.path, 'the deadline had passed; nothing was sent'));
    }
    return new Promise<void>((resolve, reject) => {
      const q: Queued = { list, bytes, written, resolve, reject, dispose: () => undefined };
      q.dispose = armCall(
        call,
        () =>
          timeoutError(
            this.#engine.syscall,
            this.#engine.path,
            `the channel stayed full; ${q.written === 0 ? 'nothing was sent' : `${q.written} of ${list.length} messages were sent`}`,
          ),
        (err) => this.#withdraw(q, err),
      );
      this.#queue.push(q);
      this.#queuedBytes += bytes;
      void this.#pump();
    });
  }

  #settle(q: Queued, err?: Error): void {
    q.dispose();
    if (this.#queue.length === 0) for (const f of this.#idle.splice(0)) f();
    if (err === undefined) {
      q.resolve();
      return;
    }
    if (q.list.length > 1) (err as Error & { sent?: number }).sent = q.written;
    q.reject(err);
  }

  /** A queued call gave up (abort, timeout): out of the queue; what it wrote stays written. */
  #withdraw(q: Queued, err: Error): void {
    const i = this.#queue.indexOf(q);
    if (i < 0) return;
    this.#queue.splice(i, 1);
    this.#queuedBytes -= q.bytes;
    this.#settle(q, err);
    if (i === 0) this.#wake?.abort(); // the pump waits for this one's room: let it look at the next
  }

  /** Writes queued calls in order while they fit: true when the queue is empty. */
  #writeQueued(): boolean {
    while (this.#queue.length > 0) {
      const q = this.#queue[0]!;
      q.written += this.#writeMany(q.list, q.written);
      if (q.written < q.list.length) {
        this.#publish();
        return false;
      }
      this.#queue.shift();
      this.#queuedBytes -= q.bytes;
      this.#publish(); // once per call: a batch wakes the peer once
      this.#settle(q);
    }
    return true;
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (;;) {
        try {
          if (this.#writeQueued()) return;
        } catch {
          return; // latched: #fail rejected every queued call
        }
        const head = this.#queue[0]!;
        // One controller while nobody withdraws: aborted only to drop a wait for a withdrawn call.
        if (this.#wake === undefined || this.#wake.signal.aborted) this.#wake = new AbortController();
        try {
          await this.#engine.waitWritable(head.list[head.written]!.byteLength, this.#wake.signal);
        } catch (err) {
          this.#fail(err);
          return;
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Writes one message now or returns false; never overtakes queued calls. */
  trySend(message: T): boolean {
    this.#check();
    const bytes = this.#encode(message);
    if (this.#hookTail !== undefined) return false; // an earlier send is held by a hook: this one must not overtake it
    if (this.#queue.length > 0 && !this.#writeQueued()) return false;
    if (this.#hooks === undefined) {
      const ok = this.#write(bytes);
      this.#publish();
      return ok;
    }
    const list = this.#syncHooked(bytes, 'trySend');
    let i = 0;
    while (i < list.length && this.#write(list[i]!)) i++;
    this.#publish();
    if (i === 0 || i === list.length) return i === list.length;
    // A hook duplicated the message and only part fit: queue the rest, in order.
    // The queue is empty here (it was written first), so this call cannot be
    // refused; a later failure of it latches and the next call reports it.
    void this.#enqueue(list.slice(i), NO_LIMIT).catch(() => undefined);
    return true;
  }

  /** Blocks until `message` and every call queued before it are in the channel. */
  sendSync(message: T, options?: SyncOptions): void {
    const deadline = syncDeadline(options);
    this.#check();
    if (this.#engine.syncUnsupported) throw this.#engine.syncUnsupported(); // not latched: the async calls still work
    if (this.#hookTail !== undefined) throw new TypeError('sendSync() cannot run while a hook delays an earlier send');
    const list = this.#syncHooked(this.#encode(message), 'sendSync');
    while (!this.#writeQueued())
      this.#waitSync(this.#queue[0]!.list[this.#queue[0]!.written]!.byteLength, deadline, 'the queued sends before this one');
    for (let i = 0; i < list.length; i++) {
      const bytes = list[i]!;
      while (!this.#write(bytes)) {
        this.#publish();
        this.#waitSync(bytes.byteLength, deadline, i === 0 ? 'nothing was sent' : `${i} of ${list.length} copies were sent`);
      }
    }
    this.#publish();
    let flushed: boolean;
    try {
      flushed = this.#engine.flushSync(deadline);
    } catch (err) {
      throw this.#fail(err);
    }
    if (!flushed) throw timeoutError(this.#engine.syscall, this.#engine.path, 'the message is queued but not yet fully written');
  }

  #waitSync(len: number, deadline: number, what: string): void {
    let ok: boolean;
    try {
      ok = this.#engine.waitWritableSync(len, deadline);
    } catch (err) {
      throw this.#fail(err);
    }
    if (!ok) throw timeoutError(this.#engine.syscall, this.#engine.path, `the channel stayed full; ${what}`);
  }

  #syncHooked(bytes: Uint8Array, call: string): readonly Uint8Array[] {
    if (this.#hooks === undefined) return [bytes];
    if (this.#hookTail !== undefined) throw new TypeError(`${call}() cannot run while a hook delays an earlier send`);
    const out = this.#hooks.send(bytes);
    if (!Array.isArray(out)) {
      void (out as Promise<unknown>).catch(() => undefined);
      throw new TypeError(`A send hook returned a Promise in ${call}(): only the async calls may be delayed`);
    }
    for (const b of out) this.#checkSize(b);
    return out;
  }

  /**
   * Sends what is queued, then marks the end of the stream: the receiver
   * drains what was sent and then sees `undefined`. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      await this.#hookTail;
      if (this.#queue.length > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
      await this.#engine.close();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

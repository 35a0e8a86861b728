/**
 * Synchronous send (rendezvous) over any duplex channel: a send that
 * resolves only once the peer has the message, in the course's two senses.
 *
 * - `'delivered'` (the course's *explicit blocking send*): the peer's library
 *   has read the message off the transport into its inbox;
 * - `'taken'` (the *reliable blocking send*, the rendezvous): the peer's
 *   application got it from `receive()`;
 * - `'sent'`: no acknowledgement, the channel's own asynchronous send.
 *
 * Frames: rendezvous-wire.ts. Everything read from the peer is checked (see
 * docs/mailboxes.md): a violation is `ERR_CHANNEL_CORRUPT`, latched.
 * @module
 */
import { validateCodec, type CallOptions, type Codec, type Duplex, type SyncOptions } from '../channels/index.js';
import { abortError, closedError, corruptError, peerGoneError, timeoutError } from '../errors.js';
import { validateAbortSignal, validateInteger, validateObject, validateOptions, validateTimeout } from '../internal/validators.js';
import { bounded, deadlineAfter, msLeft, onAbort, waitInList } from '../internal/waiting.js';
import { ACK, DATA, HEADER, KIND, MAX_SEQ, ackFrame, busy, dataFrame, tag, untilOf, type SendUntil } from './rendezvous-wire.js';

export type { SendUntil };

/** Options of {@link Rendezvous.send}. */
export interface RendezvousSendOptions extends CallOptions {
  /** What the send waits for. Default: the channel's `until` (itself `'taken'` by default). */
  until?: SendUntil;
}

/** Options of {@link Rendezvous.sendSync}. */
export interface RendezvousSyncOptions extends SyncOptions {
  until?: SendUntil;
}

/** Options of {@link rendezvous}. */
export interface RendezvousOptions<T> {
  /** How messages become bytes. Default `codecs.bytes`. */
  codec?: Codec<T>;
  /** The default of each send's `until`. Default `'taken'`. */
  until?: SendUntil;
  /**
   * Messages the library reads ahead into its inbox before the application
   * receives them (the "buffer" of `'delivered'`). When it is full the
   * library stops reading the transport, and acknowledgements behind the
   * unread data wait too. Default 1024.
   */
  inboxLimit?: number;
}

const NO_MORE_WAITERS = 4096;

interface PendingAck {
  readonly kind: number;
  resolve(): void;
  reject(err: unknown): void;
}

interface Incoming {
  readonly seq: number;
  readonly kind: number;
  readonly payload: Uint8Array;
}

/** A receive waiting for a message. */
interface Receiving {
  resolve(m: Incoming | undefined): void;
  reject(err: unknown): void;
}

/**
 * A duplex channel with acknowledged sends. Made by {@link rendezvous}; both
 * sides must wrap their end. It reads the transport as long as it is open
 * (which keeps the process alive, like an open socket): `close()` it.
 */
export class Rendezvous<T = Uint8Array> implements AsyncIterable<T> {
  readonly #d: Duplex<Uint8Array>;
  readonly #codec: Codec<T>;
  readonly #until: SendUntil;
  readonly #limit: number;
  readonly #pending = new Map<number, PendingAck>();
  readonly #inbox: Incoming[] = [];
  readonly #receivers: Receiving[] = [];
  readonly #stop = new AbortController();
  #space: (() => void) | undefined;
  #nextSeq = 1;
  #lastIn = 0;
  #ended = false;
  #failure: Error | undefined;
  #closed = false;

  /** @internal use {@link rendezvous} */
  constructor(duplex: Duplex<Uint8Array>, codec: Codec<T>, until: SendUntil, limit: number) {
    this.#d = duplex;
    this.#codec = codec;
    this.#until = until;
    this.#limit = limit;
    void this.#pump();
  }

  /**
   * Sends `message` and resolves when the peer has it as `options.until`
   * says. Rejects with `ERR_CHANNEL_PEER_GONE` when the peer goes away before
   * acknowledging (closing with the message unreceived counts: a `'taken'`
   * send is never resolved for a message nobody took).
   *
   * An abort or timeout rejects at once. If the message was still queued in
   * the channel it is not sent (the error's `sent` is `false`); if it had left,
   * it cannot be recalled: the peer may still receive it, its late
   * acknowledgement is ignored, and the error's `sent` is `true`.
   */
  async send(message: T, options?: RendezvousSendOptions): Promise<void> {
    const opts = validateOptions(options);
    const signal = validateAbortSignal(opts.signal, 'options.signal');
    const deadline = deadlineAfter(validateTimeout(opts.timeoutMs, 'options.timeoutMs'));
    const kind = KIND[untilOf(opts.until, this.#until)];
    this.#check();
    const seq = this.#claimSeq();
    const frame = dataFrame(kind, seq, this.#codec.encode(message));
    const acked = kind === 0 ? undefined : this.#expect(seq, kind);
    acked?.catch(() => undefined); // settled while the frame is still being sent: reported below, not unhandled
    try {
      await this.#d.sender.send(frame, { signal, timeoutMs: msLeft(deadline) });
    } catch (err) {
      this.#pending.delete(seq);
      throw this.#failed(tag(err, false));
    }
    if (acked === undefined) return;
    try {
      await bounded(
        (inner) =>
          new Promise<void>((resolve, reject) => {
            const listener = onAbort(inner, () => reject(abortError(inner)));
            acked.then(resolve, reject).finally(() => listener[Symbol.dispose]());
          }),
        signal,
        deadline,
        () => timeoutError('rendezvous', undefined, `message ${seq} was not acknowledged in time`),
      );
    } catch (err) {
      this.#pending.delete(seq);
      throw tag(err, true);
    }
  }

  /**
   * {@link Rendezvous.send}, blocking the thread until the acknowledgement
   * arrives (`ETIMEDOUT` after `timeoutMs`, the message may have been
   * taken). Throws `ERR_CHANNEL_SYNC_UNSUPPORTED` at once over TLS; and
   * `ERR_CHANNEL_BUSY` (not latched, the message was sent) when the inbox is
   * full before the acknowledgement was read: receive messages first.
   */
  sendSync(message: T, options?: RendezvousSyncOptions): void {
    const opts = validateOptions(options);
    const deadline = deadlineAfter(validateTimeout(opts.timeoutMs, 'options.timeoutMs'));
    const kind = KIND[untilOf(opts.until, this.#until)];
    this.#check();
    const seq = this.#claimSeq();
    const frame = dataFrame(kind, seq, this.#codec.encode(message));
    let done = false;
    let error: unknown;
    if (kind !== 0) {
      this.#pending.set(seq, { kind, resolve: () => (done = true), reject: (e) => (error = e) });
    }
    try {
      this.#d.sender.sendSync(frame, { timeoutMs: msLeft(deadline) });
    } catch (err) {
      this.#pending.delete(seq);
      if ((err as { code?: string }).code === 'ERR_CHANNEL_SYNC_UNSUPPORTED') this.#nextSeq = seq; // nothing was sent
      throw this.#failed(tag(err, false));
    }
    try {
      while (kind !== 0 && !done) {
        if (error !== undefined) throw error;
        if (this.#inbox.length >= this.#limit) {
          throw busy(`The inbox is full (${this.#limit} messages) before the acknowledgement of message ${seq} was read: receive first`);
        }
        let frameIn: Uint8Array | undefined;
        try {
          frameIn = this.#d.receiver.receiveSync({ timeoutMs: msLeft(deadline) });
        } catch (err) {
          throw this.#failed(err);
        }
        if (frameIn === undefined) this.#end();
        else this.#dispatch(frameIn, deadline);
      }
      if (error !== undefined) throw error;
    } catch (err) {
      this.#pending.delete(seq);
      throw tag(err, true);
    }
  }

  /**
   * The next message, or `undefined` once the peer closed and every message
   * was received. With `'taken'` this is what releases the peer's send.
   */
  async receive(options?: CallOptions): Promise<T | undefined> {
    const opts = validateOptions(options);
    const signal = validateAbortSignal(opts.signal, 'options.signal');
    const timeout = validateTimeout(opts.timeoutMs, 'options.timeoutMs');
    const now = this.#takeNow(undefined);
    if (now !== null) return now;
    if (this.#receivers.length >= NO_MORE_WAITERS) throw busy(`${NO_MORE_WAITERS} receives are already waiting on this rendezvous channel`);
    const got = await waitInList<Incoming | undefined, Receiving>(
      this.#receivers,
      (resolve, reject) => ({ resolve, reject }),
      signal,
      deadlineAfter(timeout),
      () => timeoutError('rendezvous', undefined, 'no message arrived in time'),
    );
    return got === undefined ? undefined : this.#taken(got, undefined);
  }

  /** {@link Rendezvous.receive}, blocking the thread. Throws `ERR_CHANNEL_SYNC_UNSUPPORTED` over TLS. */
  receiveSync(options?: SyncOptions): T | undefined {
    const deadline = deadlineAfter(validateTimeout(validateOptions(options).timeoutMs, 'options.timeoutMs'));
    for (;;) {
      const now = this.#takeNow(deadline);
      if (now !== null) return now;
      let frame: Uint8Array | undefined;
      try {
        frame = this.#d.receiver.receiveSync({ timeoutMs: msLeft(deadline) });
      } catch (err) {
        throw this.#failed(err);
      }
      if (frame === undefined) this.#end();
      else this.#dispatch(frame, deadline);
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const m = await this.receive();
      if (m === undefined) return;
      yield m;
    }
  }

  /**
   * Closes both directions. Waiting sends reject with the closed error;
   * messages in the inbox that were not received are dropped (their `'taken'`
   * senders see the peer gone). Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    this.#settleAll(closedError('Rendezvous'));
    await this.#d.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Messages read ahead and not yet received. */
  get buffered(): number {
    return this.#inbox.length;
  }

  #check(): void {
    if (this.#closed) throw closedError('Rendezvous');
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#ended) throw peerGoneError('closed its end of the rendezvous channel');
  }

  #claimSeq(): number {
    if (this.#nextSeq > MAX_SEQ) throw new RangeError('This rendezvous channel has sent 2^32 - 1 messages: open a new one');
    return this.#nextSeq++;
  }

  #expect(seq: number, kind: number): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#pending.set(seq, { kind, resolve, reject }));
  }

  /** A message now (inbox or end), or null to wait. */
  #takeNow(deadline: number | undefined): T | undefined | null {
    if (this.#closed) throw closedError('Rendezvous');
    const m = this.#inbox.shift();
    if (m !== undefined) {
      this.#space?.();
      return this.#taken(m, deadline);
    }
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#ended) return undefined;
    return null;
  }

  #taken(m: Incoming, deadline: number | undefined): T {
    if (m.kind === KIND.taken) this.#ack(KIND.taken, m.seq, deadline);
    return this.#codec.decode(m.payload);
  }

  #ack(kind: number, seq: number, deadline: number | undefined): void {
    const frame = ackFrame(kind, seq);
    if (this.#closed || this.#failure !== undefined) return;
    if (deadline !== undefined) {
      // A sync caller blocks next: the ack must be written now, not at the next turn of the loop.
      try {
        this.#d.sender.sendSync(frame, { timeoutMs: msLeft(deadline) });
      } catch (err) {
        throw this.#failed(err);
      }
      return;
    }
    this.#d.sender.send(frame).catch((err: unknown) => this.#failed(err));
  }

  /** Reads the transport while open: into the inbox (bounded) and to the ack waiters. */
  async #pump(): Promise<void> {
    const r = this.#d.receiver;
    const signal = this.#stop.signal;
    while (!this.#closed && !this.#ended && this.#failure === undefined) {
      try {
        if (this.#inbox.length >= this.#limit) {
          let listener: Disposable | undefined;
          await new Promise<void>((resolve) => {
            this.#space = resolve;
            listener = onAbort(signal, resolve);
          });
          listener?.[Symbol.dispose]();
          this.#space = undefined;
          continue;
        }
        await r.readable({ signal });
        for (let n = 0; n < 256 && this.#inbox.length < this.#limit && !this.#closed; n++) {
          const frame = r.tryReceive();
          if (frame === undefined) break;
          this.#dispatch(frame, undefined);
        }
        if (r.ended) this.#end();
      } catch (err) {
        if (this.#closed) return;
        this.#failed(err);
      }
    }
  }

  #dispatch(frame: Uint8Array, deadline: number | undefined): void {
    if (frame.byteLength < HEADER) throw this.#corrupt(`a frame of ${frame.byteLength} bytes (at least ${HEADER})`);
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const type = frame[0]!;
    const kind = frame[1]!;
    const seq = view.getUint32(2, true);
    if (kind > KIND.taken) throw this.#corrupt(`an unknown acknowledgement kind ${kind}`);
    if (type === ACK) {
      if (frame.byteLength !== HEADER || kind === 0) throw this.#corrupt('a malformed acknowledgement');
      if (seq === 0 || seq >= this.#nextSeq) throw this.#corrupt(`an acknowledgement of message ${seq}, which was never sent`);
      const p = this.#pending.get(seq);
      if (p === undefined) return; // given up (abort, timeout) or already acknowledged
      if (p.kind !== kind) throw this.#corrupt(`a "${kind === 1 ? 'delivered' : 'taken'}" acknowledgement of message ${seq}`);
      this.#pending.delete(seq);
      p.resolve();
      return;
    }
    if (type !== DATA) throw this.#corrupt(`a frame of unknown type ${type}`);
    if (seq !== this.#lastIn + 1) throw this.#corrupt(`message ${seq} after ${this.#lastIn}`);
    this.#lastIn = seq;
    if (kind === KIND.delivered) this.#ack(kind, seq, deadline);
    const m: Incoming = { seq, kind, payload: frame.subarray(HEADER) };
    const waiter = this.#receivers.shift();
    if (waiter !== undefined) waiter.resolve(m);
    else this.#inbox.push(m);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const gone = peerGoneError('closed the rendezvous channel before acknowledging the message');
    for (const p of this.#pending.values()) p.reject(gone);
    this.#pending.clear();
    for (const w of this.#receivers.splice(0)) w.resolve(undefined);
  }

  #corrupt(detail: string): Error {
    return this.#failed(corruptError(`The rendezvous peer sent ${detail}`));
  }

  /** Latches channel failures (peer gone, corrupt); returns `err` for throwing. */
  #failed(err: unknown): Error {
    const code = (err as { code?: string }).code;
    if (this.#failure === undefined && (code === 'ERR_CHANNEL_PEER_GONE' || code === 'ERR_CHANNEL_CORRUPT')) {
      this.#failure = err as Error;
      this.#settleAll(err);
      this.#stop.abort();
      this.#d.close().catch(() => undefined);
    }
    return err as Error;
  }

  #settleAll(err: unknown): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    for (const w of this.#receivers.splice(0)) w.reject(err);
  }
}

/**
 * Wraps one end of a bytes duplex (any transport: UNIX, TCP, TLS, shared
 * memory, FIFOs) for acknowledged sends. The other process wraps its end too.
 */
export function rendezvous<T = Uint8Array>(duplex: Duplex<Uint8Array>, options?: RendezvousOptions<T>): Rendezvous<T> {
  validateObject(duplex, 'duplex');
  const opts = validateOptions(options);
  const codec = validateCodec<T>(opts.codec);
  const until = untilOf(opts.until, 'taken');
  const limit = opts.inboxLimit === undefined ? 1024 : validateInteger(opts.inboxLimit, 'options.inboxLimit', 1, 1 << 20);
  return new Rendezvous<T>(duplex, codec, until, limit);
}

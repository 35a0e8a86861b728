/**
 * The two kinds of mailbox client: a producer sends into the mailbox, a
 * consumer takes messages out of it on credit (its window) and
 * acknowledges each one. Both reach the owner through a connect function
 * (or an already connected duplex), whatever the transport.
 * @module
 */
import { validateCodec, type CallOptions, type Codec, type Duplex, type SyncOptions } from '../channels/index.js';
import { closedError, corruptError, peerGoneError } from '../errors.js';
import { validateInteger, validateOptions } from '../internal/validators.js';
import * as wire from './mailbox-wire.js';

/** How a client reaches the owner: a function that connects (`() => connectUnix(path)`), or a connected duplex. */
export type MailboxConnect = Duplex<Uint8Array> | (() => Promise<Duplex<Uint8Array>>);

/** Options of {@link connectMailboxProducer}. */
export interface MailboxProducerOptions<T> {
  /** How messages become bytes. Default `codecs.bytes`. */
  codec?: Codec<T>;
}

/** Options of {@link connectMailboxConsumer}. */
export interface MailboxConsumerOptions<T> extends MailboxProducerOptions<T> {
  /**
   * Messages the owner may have sent this consumer and not had acknowledged
   * (its window: prefetched plus unacknowledged). 1 to 4096; default 16.
   * A consumer that dies may lose no more than this to redelivery.
   */
  prefetch?: number;
  /**
   * `'auto'` (default): a message is acknowledged when `receive()` returns
   * it. `'manual'`: only by {@link MailboxConsumer.ack}, so one the
   * application did not finish is redelivered if this consumer dies.
   */
  ack?: 'auto' | 'manual';
}

/** One message as a consumer receives it. */
export interface MailboxDelivery<T> {
  readonly message: T;
  /** The mailbox's number for it (unique among messages in hand). */
  readonly id: number;
  /**
   * True when a previous consumer held it and left without acknowledging it
   * (it died, or closed with it unacknowledged): it may have been seen before.
   */
  readonly redelivered: boolean;
}

/** How long a receiveSync may block writing its acknowledgement (the owner not reading). */
const SYNC_ACK_MS = 30_000;

async function connected(connect: MailboxConnect): Promise<Duplex<Uint8Array>> {
  if (typeof connect === 'function') return connect();
  if (connect === null || typeof connect !== 'object' || !('sender' in connect)) {
    throw new TypeError('The "connect" argument must be a duplex or a function returning one');
  }
  return connect;
}

/** A producer's connection to a mailbox. */
export class MailboxProducer<T = Uint8Array> {
  readonly #d: Duplex<Uint8Array>;
  readonly #codec: Codec<T>;

  /** @internal use {@link connectMailboxProducer} */
  constructor(d: Duplex<Uint8Array>, codec: Codec<T>) {
    this.#d = d;
    this.#codec = codec;
  }

  /**
   * Resolves once the message is in the channel to the owner; waits while
   * the mailbox is full (backpressure). `ERR_CHANNEL_PEER_GONE` when the
   * owner is gone. A message whose send resolved reaches the mailbox unless
   * the owner dies first.
   */
  send(message: T, options?: CallOptions): Promise<void> {
    return this.#d.sender.send(this.#codec.encode(message), options);
  }

  /** Sends without waiting: `false` (nothing sent) when the channel is full. */
  trySend(message: T): boolean {
    return this.#d.sender.trySend(this.#codec.encode(message));
  }

  /** Blocks the thread until sent. `ERR_CHANNEL_SYNC_UNSUPPORTED` over TLS. */
  sendSync(message: T, options?: SyncOptions): void {
    this.#d.sender.sendSync(this.#codec.encode(message), options);
  }

  /** Sends what is queued and closes: the owner takes every message sent before. Idempotent. */
  close(): Promise<void> {
    return this.#d.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A consumer's connection to a mailbox. */
export class MailboxConsumer<T = Uint8Array> implements AsyncIterable<MailboxDelivery<T>> {
  readonly #d: Duplex<Uint8Array>;
  readonly #codec: Codec<T>;
  readonly #window: number;
  readonly #manual: boolean;
  readonly #unacked = new Set<number>();
  #outstanding = 0;
  #ended = false;
  #failure: Error | undefined;
  #closed = false;

  /** @internal use {@link connectMailboxConsumer} */
  constructor(d: Duplex<Uint8Array>, codec: Codec<T>, window: number, manual: boolean) {
    this.#d = d;
    this.#codec = codec;
    this.#window = window;
    this.#manual = manual;
  }

  /**
   * The next message, or `undefined` once the mailbox closed (after every
   * message sent to this consumer). `ERR_CHANNEL_PEER_GONE` when the owner
   * died; `ERR_CHANNEL_CORRUPT` when it broke the protocol (latched).
   */
  async receive(options?: CallOptions): Promise<MailboxDelivery<T> | undefined> {
    const done = this.#before();
    if (done !== null) return done;
    let b: Uint8Array | undefined;
    try {
      b = await this.#d.receiver.receive(options);
    } catch (err) {
      throw this.#latch(err);
    }
    return this.#take(b, false);
  }

  /** {@link MailboxConsumer.receive}, blocking the thread (not over TLS). */
  receiveSync(options?: SyncOptions): MailboxDelivery<T> | undefined {
    const done = this.#before();
    if (done !== null) return done;
    let b: Uint8Array | undefined;
    try {
      b = this.#d.receiver.receiveSync(options);
    } catch (err) {
      throw this.#latch(err);
    }
    return this.#take(b, true);
  }

  /** Acknowledges a message received with `ack: 'manual'`: the mailbox forgets it and sends the next. */
  ack(delivery: MailboxDelivery<T>): void {
    if (this.#closed) throw closedError('MailboxConsumer');
    if (!this.#unacked.delete(delivery?.id)) {
      throw new RangeError(`Message ${String(delivery?.id)} is not in this consumer's hands (already acknowledged, or auto-acknowledged)`);
    }
    this.#reply(wire.ACK, delivery.id);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<MailboxDelivery<T>> {
    for (;;) {
      const m = await this.receive();
      if (m === undefined) return;
      yield m;
    }
  }

  /**
   * Leaves cleanly: the messages that arrived and were never received are
   * returned to the mailbox (not flagged), then a goodbye. Messages still on
   * their way and, with `ack: 'manual'`, unacknowledged ones go to another
   * consumer flagged `redelivered`. Nothing is lost. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#failure === undefined && !this.#ended) {
      try {
        for (let n = 0; n <= this.#window; n++) {
          const b = this.#d.receiver.tryReceive();
          const f = b === undefined ? undefined : wire.parseFrame(b);
          if (f === undefined || f[0] !== wire.MSG) break;
          this.#reply(wire.RETURN, f[2]);
        }
        this.#reply(wire.BYE, 0);
      } catch {
        // the owner is gone: nothing to return to
      }
    }
    await this.#d.close().catch(() => undefined);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #before(): undefined | null {
    if (this.#closed) throw closedError('MailboxConsumer');
    if (this.#failure !== undefined) throw this.#failure;
    return this.#ended ? undefined : null;
  }

  #take(b: Uint8Array | undefined, sync: boolean): MailboxDelivery<T> | undefined {
    if (b === undefined) throw this.#latch(peerGoneError('(the mailbox owner) went away without closing the mailbox'));
    const f = wire.parseFrame(b);
    if (f === undefined) throw this.#latch(corruptError(`The mailbox sent a frame of ${b.byteLength} bytes`));
    const [type, flags, id] = f;
    if (type === wire.END) {
      this.#ended = true;
      return undefined;
    }
    if (type !== wire.MSG || flags > wire.FLAG_REDELIVERED) throw this.#latch(corruptError(`The mailbox sent a frame of type ${type}`));
    if (this.#outstanding >= this.#window || this.#unacked.has(id)) {
      throw this.#latch(corruptError(`The mailbox sent message ${id} beyond this consumer's window of ${this.#window}`));
    }
    const message = this.#codec.decode(b.subarray(wire.HEADER));
    if (this.#manual) {
      this.#unacked.add(id);
      this.#outstanding++;
    } else {
      this.#reply(wire.ACK, id, sync);
    }
    return { message, id, redelivered: (flags & wire.FLAG_REDELIVERED) !== 0 };
  }

  /** Sends an ACK, RETURN or BYE; `sync`: written now (the caller blocks next), else queued in order. */
  #reply(type: number, id: number, sync = false): void {
    if (type === wire.ACK && this.#manual) this.#outstanding--;
    const f = wire.frame(type, 0, id);
    if (sync) {
      try {
        this.#d.sender.sendSync(f, { timeoutMs: SYNC_ACK_MS });
      } catch (err) {
        throw this.#latch(err);
      }
      return;
    }
    this.#d.sender.send(f).catch((err: unknown) => this.#latch(err));
  }

  #latch(err: unknown): Error {
    const code = (err as { code?: string }).code;
    if (this.#failure === undefined && (code === 'ERR_CHANNEL_PEER_GONE' || code === 'ERR_CHANNEL_CORRUPT')) {
      this.#failure = err as Error;
    }
    return err as Error;
  }
}

/** Joins a mailbox as a producer. `connect` reaches the owner (any transport). */
export async function connectMailboxProducer<T = Uint8Array>(
  connect: MailboxConnect,
  options?: MailboxProducerOptions<T>,
): Promise<MailboxProducer<T>> {
  const codec = validateCodec<T>(validateOptions(options).codec);
  const d = await connected(connect);
  await d.sender.send(wire.hello(wire.ROLE_PRODUCER, 0));
  return new MailboxProducer<T>(d, codec);
}

/** Joins a mailbox as a consumer, asking for `prefetch` messages at a time. */
export async function connectMailboxConsumer<T = Uint8Array>(
  connect: MailboxConnect,
  options?: MailboxConsumerOptions<T>,
): Promise<MailboxConsumer<T>> {
  const opts = validateOptions(options);
  const codec = validateCodec<T>(opts.codec);
  const window = opts.prefetch === undefined ? 16 : validateInteger(opts.prefetch, 'options.prefetch', 1, wire.MAX_WINDOW);
  if (opts.ack !== undefined && opts.ack !== 'auto' && opts.ack !== 'manual') {
    throw new TypeError(`The "options.ack" option must be 'auto' or 'manual'. Received ${String(opts.ack)}`);
  }
  const d = await connected(connect);
  await d.sender.send(wire.hello(wire.ROLE_CONSUMER, window));
  return new MailboxConsumer<T>(d, codec, window, opts.ack === 'manual');
}

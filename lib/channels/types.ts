/**
 * The one interface every channel implements, whatever carries the bytes:
 * a pipe, a FIFO, a UNIX-domain socket or a ring buffer in shared memory.
 * @module
 */
import type { Codec } from './codec.js';

export { ChannelError, type ChannelErrorCode } from '../errors.js';

/** Options of {@link Sender.sendSync} and {@link Receiver.receiveSync}. */
export interface SyncOptions {
  /** Give up after this many milliseconds with an `ETIMEDOUT` error. Default: no limit. */
  timeoutMs?: number;
}

/**
 * Options of the async calls (`send`, `sendMany`, `receive`, `receiveMany`,
 * `select`). An aborted or timed-out call leaves the channel usable and
 * loses nothing: a message is wholly sent or not at all, and a receive that
 * gave up consumed nothing.
 */
export interface CallOptions {
  /** Reject with an `AbortError` (code `ABORT_ERR`) when this signal aborts. */
  signal?: AbortSignal;
  /** Reject with an `ETIMEDOUT` system error after this many milliseconds. Default: no limit. */
  timeoutMs?: number;
}

/**
 * What a {@link ChannelHook} is told about one message. `seq` counts the
 * messages this end handled (from 0), `size` is the encoded size in bytes,
 * `time` is `performance.timeOrigin + performance.now()` in milliseconds.
 */
export interface MessageEvent {
  readonly direction: 'send' | 'receive';
  readonly seq: number;
  readonly size: number;
  readonly time: number;
}

/**
 * Sees every message an end sends or receives, as bytes (after encoding,
 * before decoding). Both functions are optional. Attach with
 * `end.intercept(hook)`; several hooks form a chain (the first attached runs
 * first on send and last on receive, so envelopes nest).
 *
 * - `send` returns the bytes to send instead (the same bytes, or wrapped in
 *   an envelope), `null` to drop the message, or an array to send several
 *   (duplicate). It may return a Promise (a delay) in the async calls only:
 *   `trySend`/`sendSync` throw a `TypeError` if it does.
 * - `receive` returns the bytes to decode (the same, or unwrapped), or
 *   `null` to drop the message (the receive goes on to the next one).
 *
 * The bytes passed in are only valid during the call (they may be a view
 * into the channel's memory): copy what you keep. When no hook is attached
 * the channel's hot path pays one field check, nothing else.
 */
export interface ChannelHook {
  send?(
    bytes: Uint8Array,
    event: MessageEvent,
  ): Uint8Array | null | readonly Uint8Array[] | PromiseLike<Uint8Array | null | readonly Uint8Array[]>;
  receive?(bytes: Uint8Array, event: MessageEvent): Uint8Array | null;
}

/**
 * Visits one received payload for {@link Receiver.drain}: the message is
 * `bytes[start..end)`. `bytes` is the channel's own memory (the ring, or the
 * stream's read buffer), the same object for many calls: it is valid only
 * during the visit; copy what you keep. Return `false` to stop after this one.
 */
export type DrainVisitor = (bytes: Uint8Array, start: number, end: number) => boolean | void;

/**
 * The sending end of a channel of messages of type `T`.
 *
 * Concurrency: calls are served in call order. `send()`s that must wait
 * queue up (the channel never reorders them); `trySend`/`sendSync` never
 * overtake queued sends (`trySend` first writes what is queued, and returns
 * `false` if that does not all fit). At most {@link PENDING_LIMIT} calls (or
 * 64 MiB of encoded messages) may be queued: a call beyond that rejects at
 * once with `ERR_CHANNEL_BUSY`, so un-awaited sends cannot grow memory
 * without limit.
 */
export interface Sender<T> {
  /**
   * Sends `message`; resolves once it is in the channel. Under backpressure
   * (the peer reads slower than we write) it waits, so memory stays bounded.
   * Rejects with `ERR_CHANNEL_PEER_GONE` when the receiver is gone, an
   * `AbortError`/`ETIMEDOUT` when `options` says so (nothing was sent); throws
   * a `RangeError` at once for a message over {@link Sender.maxMessageSize}.
   */
  send(message: T, options?: CallOptions): Promise<void>;
  /**
   * Sends several messages, in order, with one wake-up of the peer per batch.
   * The whole batch is encoded and size-checked first: a `RangeError` sends
   * nothing. An abort or timeout stops between two messages: those before it
   * are sent, the rest are not, and the error's `sent` property says how many.
   */
  sendMany(messages: Iterable<T>, options?: CallOptions): Promise<void>;
  /** Sends `message` if that needs no waiting; `false` (nothing sent) otherwise. */
  trySend(message: T): boolean;
  /**
   * Blocks the calling thread until `message`, and every call queued before
   * it, are in the channel. Throws `ETIMEDOUT` after `timeoutMs`.
   */
  sendSync(message: T, options?: SyncOptions): void;
  /**
   * Sends what is queued, then closes this end: the receiver drains what was
   * sent and then sees end-of-stream. Idempotent.
   */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
  /** Attaches a hook that sees (and may change) every message sent; returns its remover. */
  intercept(hook: ChannelHook): () => void;
  /** The largest encoded message this end sends (a larger one is a `RangeError`). */
  readonly maxMessageSize: number;
  /** True after `close()` was called. */
  readonly closed: boolean;
}

/**
 * The receiving end of a channel of messages of type `T`. Concurrent
 * receives are served in call order; `tryReceive`/`receiveSync` first serve
 * the async receives waiting before them.
 */
export interface Receiver<T> extends AsyncIterable<T> {
  /**
   * The next message, or `undefined` at end-of-stream (the sender closed, or
   * exited, after everything it sent was received). Rejects with
   * `ERR_CHANNEL_PEER_GONE` when the peer died in the middle of a message,
   * `ERR_CHANNEL_CORRUPT` when the bytes are not a valid frame, and an
   * `AbortError`/`ETIMEDOUT` as `options` says (nothing was consumed).
   */
  receive(options?: CallOptions): Promise<T | undefined>;
  /**
   * The messages already available, up to `max` (default 1024), waiting for
   * at least one; `[]` at end-of-stream.
   */
  receiveMany(max?: number, options?: CallOptions): Promise<T[]>;
  /** The next message if one is available now, else `undefined` (see {@link Receiver.ended}). */
  tryReceive(): T | undefined;
  /**
   * Blocks the calling thread until a message arrives (returned) or
   * end-of-stream (`undefined`). Throws `ETIMEDOUT` after `timeoutMs`.
   */
  receiveSync(options?: SyncOptions): T | undefined;
  /**
   * Consumes up to `max` (default: all) messages that are ready now, without
   * creating an object per message: `visit` sees each payload as offsets into
   * the channel's memory (see {@link DrainVisitor}; the codec is not used).
   * Returns how many were consumed: 0 when none is ready (or at the end: see
   * {@link Receiver.ended}). Wait with {@link Receiver.readable} first.
   */
  drain(visit: DrainVisitor, max?: number): number;
  /**
   * Resolves once a receive would not wait: a message is ready, the stream
   * ended, or the channel failed (the next call reports it). Consumes nothing.
   */
  readable(options?: CallOptions): Promise<void>;
  /** Stops receiving and releases this end. Pending receives reject with the closed error. Idempotent. */
  close(): void;
  [Symbol.dispose](): void;
  /** Attaches a hook that sees (and may change) every message received; returns its remover. */
  intercept(hook: ChannelHook): () => void;
  /** The largest message this end accepts; a larger frame is `ERR_CHANNEL_CORRUPT`. */
  readonly maxMessageSize: number;
  /** True once end-of-stream was reached (every message has been received). */
  readonly ended: boolean;
  /** True after `close()` was called. */
  readonly closed: boolean;
}

/**
 * Both directions between two processes: a sender and a receiver that close
 * together, over any transport (a socket, two FIFOs, two shared-memory rings).
 */
export interface Duplex<Out, In = Out> {
  readonly sender: Sender<Out>;
  readonly receiver: Receiver<In>;
  /** Closes both ends (the sender first sends what is queued). */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * What every server is (UNIX, TCP, TLS, shared memory): it accepts duplex
 * channels, one per client, by `accept()` or `for await`. Code that serves
 * clients (mailboxes, ports, RPC) takes a `Listener` and never asks which
 * transport is underneath.
 */
export interface Listener<Out = Uint8Array, In = Out> extends AsyncIterable<Duplex<Out, In>> {
  /** Where clients reach it, in the address syntax (`unix:/run/x.sock`, `tcp://127.0.0.1:4000`, `shm:/name`). */
  readonly url: string;
  /** The next client. Rejects with `ERR_POSIX_IPC_CLOSED` once closed, `AbortError` on `signal`. */
  accept(options?: { signal?: AbortSignal }): Promise<Duplex<Out, In>>;
  /** Stops listening and removes the listener's name; accepted channels stay open. Idempotent. */
  close(): void;
  [Symbol.dispose](): void;
}

/** Options every channel end accepts. */
export interface ChannelOptions<T> {
  /** How messages become bytes. Default: {@link codecs.bytes}. */
  codec?: Codec<T>;
  /**
   * The largest encoded message, in bytes. A larger `send` is a `RangeError`;
   * a larger frame announced by the peer is `ERR_CHANNEL_CORRUPT`. Default
   * 64 MiB for streams; at most the ring's capacity for shared memory.
   */
  maxMessageSize?: number;
}

/** Calls that may be queued on one end before a call is refused with `ERR_CHANNEL_BUSY`. */
export const PENDING_LIMIT = 4096;
/** Encoded bytes that queued sends may hold before a send is refused with `ERR_CHANNEL_BUSY` (one message is always taken). */
export const PENDING_BYTES_LIMIT = 64 * 1024 * 1024;

/**
 * A message with descriptors, on a UNIX socket channel opened with
 * `passFds: true` ({@link UnixServer.listen}, {@link connectUnix}): see
 * docs/descriptor-passing.md.
 *
 * - Sending: `fds` (at most 253 open descriptors; omitted or empty for none)
 *   travel with exactly this message. They stay yours: the channel sends
 *   duplicates, so close them whenever you like once the send call returned
 *   (or resolved).
 * - Receiving: `fds` are the descriptors that came with this message,
 *   close-on-exec and yours to close (a `SharedMemory.fromFd`, a
 *   `receiverFromFd`/`duplexFromFd` may take them over). Those of messages
 *   never handed to you (dropped by a hook or by `drain`, failing to decode,
 *   unread when the receiver closes) are closed by the channel.
 */
export interface FdMessage<T> {
  readonly value: T;
  readonly fds: readonly number[];
}

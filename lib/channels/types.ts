/**
 * The one interface every channel implements, whatever carries the bytes:
 * a pipe, a FIFO, a UNIX-domain socket or a ring buffer in shared memory.
 * @module
 */

/** Options of {@link Sender.sendSync} and {@link Receiver.receiveSync}. */
export interface SyncOptions {
  /** Give up after this many milliseconds with an `ETIMEDOUT` error. Default: no limit. */
  timeoutMs?: number;
}

/** The sending end of a channel of messages of type `T`. */
export interface Sender<T> {
  /**
   * Queues `message` and resolves once it is in the channel. Under
   * backpressure (the peer reads slower than we write) it waits, so memory
   * stays bounded whatever the producer does. Rejects with a `ChannelError`
   * `ERR_CHANNEL_PEER_GONE` when the receiver is gone; throws `RangeError` at
   * once for a message larger than the channel's `maxMessageSize`.
   */
  send(message: T): Promise<void>;
  /** Sends several messages with one wake-up of the peer (batching). */
  sendMany(messages: Iterable<T>): Promise<void>;
  /** Queues `message` if that needs no waiting; `false` (nothing queued) otherwise. */
  trySend(message: T): boolean;
  /**
   * Blocks the calling thread until `message`, and all before it, are in the
   * channel. Throws `ETIMEDOUT` after `timeoutMs`.
   */
  sendSync(message: T, options?: SyncOptions): void;
  /**
   * Sends what is queued, then closes this end: the receiver drains what was
   * sent and then sees end-of-stream. Idempotent.
   */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
  /** True after `close()` was called. */
  readonly closed: boolean;
}

/** The receiving end of a channel of messages of type `T`. */
export interface Receiver<T> extends AsyncIterable<T> {
  /**
   * The next message, or `undefined` at end-of-stream (the sender closed, or
   * exited, after everything it sent was received). Rejects with
   * `ERR_CHANNEL_PEER_GONE` when the peer died in the middle of a message,
   * `ERR_CHANNEL_CORRUPT` when the bytes are not a valid frame.
   */
  receive(): Promise<T | undefined>;
  /**
   * The messages already available, up to `max` (default 1024), waiting for
   * at least one; `[]` at end-of-stream.
   */
  receiveMany(max?: number): Promise<T[]>;
  /** The next message if one is available now, else `undefined` (see {@link Receiver.ended}). */
  tryReceive(): T | undefined;
  /**
   * Blocks the calling thread until a message arrives (returned) or
   * end-of-stream (`undefined`). Throws `ETIMEDOUT` after `timeoutMs`.
   */
  receiveSync(options?: SyncOptions): T | undefined;
  /** Stops receiving and releases this end. Idempotent. */
  close(): void;
  [Symbol.dispose](): void;
  /** True once end-of-stream was reached (every message has been received). */
  readonly ended: boolean;
  /** True after `close()` was called. */
  readonly closed: boolean;
}

export { ChannelError, type ChannelErrorCode } from '../errors.js';

/** Options every channel end accepts. */
export interface ChannelOptions<T> {
  /** How messages become bytes. Default: {@link codecs.bytes}. */
  codec?: import('./codec.js').Codec<T>;
  /**
   * The largest encoded message, in bytes. A larger `send` is a `RangeError`;
   * a larger frame announced by the peer is `ERR_CHANNEL_CORRUPT`. Default
   * 64 MiB for streams; at most the ring's capacity for shared memory.
   */
  maxMessageSize?: number;
}

/** `for await` over a receiver: its messages until end-of-stream. @internal */
export async function* iterate<T>(receiver: Receiver<T>): AsyncGenerator<T> {
  for (;;) {
    const msg = await receiver.receive();
    if (msg === undefined && receiver.ended) return;
    yield msg as T;
  }
}

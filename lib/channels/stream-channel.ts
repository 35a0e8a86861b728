/**
 * Message passing over a byte stream (pipe, FIFO, UNIX-domain socket):
 * length-prefixed frames, coalesced into large writes and read in large
 * chunks into reused memory, driven from the event loop.
 *
 * Frame: a 32-bit little-endian length, then that many bytes.
 * @module
 */
import { fstatSync } from 'node:fs';

import { closedError, isSystemError, systemError } from '../errors.js';
import { validateInteger, validateOptions, validateTimeout } from '../internal/validators.js';
import { native } from '../internal/native.js';
import { validateCodec, type Codec } from './codec.js';
import { FdEndpoint } from './fd-endpoint.js';
import { ChannelError, iterate, type ChannelOptions, type Receiver, type Sender, type SyncOptions } from './types.js';

const HEADER = 4;
/** Default largest message on a stream channel. */
export const DEFAULT_STREAM_MAX_MESSAGE = 64 * 1024 * 1024;
/** Queued bytes above which `send` waits (backpressure). */
const HIGH_WATER = 1024 * 1024;
/** Payloads at least this large are written from the caller's memory (writev), not copied. */
const DIRECT_WRITE = 64 * 1024;
const READ_CHUNK = 256 * 1024;

/** Options of the stream channel ends. */
export interface StreamChannelOptions<T> extends ChannelOptions<T> {
  /**
   * Queued bytes above which `send()` waits and `trySend()` refuses.
   * Default 1 MiB.
   */
  highWaterMark?: number;
  /**
   * Sender over a pipe or FIFO (Linux): grow the kernel's pipe buffer to at
   * least this many bytes, so a burst is one write and one wake-up of the
   * reader instead of one per 64 KiB. Best effort: above
   * `/proc/sys/fs/pipe-max-size` an unprivileged process keeps what it has.
   * Default 1 MiB; 0 leaves the buffer as it is.
   */
  pipeCapacity?: number;
}

/** Default {@link StreamChannelOptions.pipeCapacity}. */
const PIPE_CAPACITY = 1024 * 1024;

/** Grows the buffer of the pipe or FIFO behind `fd` to `bytes` where the OS allows; anything else is left alone. */
function enlargePipe(fd: number, bytes: number): void {
  if (bytes === 0 || process.platform !== 'linux') return;
  try {
    if (!fstatSync(fd).isFIFO() || native.getPipeCapacity(fd) >= bytes) return;
    native.setPipeCapacity(fd, bytes);
  } catch {
    // EPERM above pipe-max-size, EBUSY: the default buffer still works
  }
}

function resolveMax(opts: Record<string, unknown>): number {
  return opts.maxMessageSize === undefined
    ? DEFAULT_STREAM_MAX_MESSAGE
    : validateInteger(opts.maxMessageSize, 'options.maxMessageSize', 0, 2 ** 32 - 1);
}

/**
 * Checks stream channel options the way the ends' constructors do. Callers
 * run it before they acquire a descriptor, so bad options throw with nothing
 * to clean up.
 * @internal
 */
export function validateStreamOptions(options: unknown): void {
  const opts = validateOptions(options);
  validateCodec(opts.codec);
  resolveMax(opts);
  if (opts.highWaterMark !== undefined) validateInteger(opts.highWaterMark, 'options.highWaterMark', 1);
  if (opts.pipeCapacity !== undefined) validateInteger(opts.pipeCapacity, 'options.pipeCapacity', 0, 2 ** 31 - 1);
}

function peerGone(cause: unknown): ChannelError {
  return new ChannelError('ERR_CHANNEL_PEER_GONE', 'The peer closed the channel or exited', { cause });
}

function isPeerGoneErrno(err: unknown): boolean {
  return isSystemError(err) && (err.code === 'EPIPE' || err.code === 'ECONNRESET' || err.code === 'ENOTCONN');
}

/** The sending end over a stream descriptor. */
export class StreamSender<T> implements Sender<T> {
  readonly #ep: FdEndpoint;
  readonly #codec: Codec<T>;
  readonly #max: number;
  readonly #highWater: number;
  readonly #shutdownOnClose: boolean;
  readonly #onClose: (() => void) | undefined;
  #buf = new Uint8Array(64 * 1024);
  #view = new DataView(this.#buf.buffer);
  #start = 0; // first unsent byte
  #end = 0; // end of queued bytes
  #flushing = false;
  #flushScheduled = false;
  #spaceWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  #drainWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  #failure: Error | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  /** @internal Use {@link senderFromFd} and the transport functions. */
  constructor(ep: FdEndpoint, options: StreamChannelOptions<T> | undefined, shutdownOnClose: boolean, onClose?: () => void) {
    const opts = validateOptions(options);
    this.#ep = ep;
    this.#onClose = onClose;
    this.#codec = validateCodec<T>(opts.codec);
    this.#max = resolveMax(opts);
    this.#highWater = opts.highWaterMark === undefined ? HIGH_WATER : validateInteger(opts.highWaterMark, 'options.highWaterMark', 1);
    this.#shutdownOnClose = shutdownOnClose;
    enlargePipe(ep.fd, opts.pipeCapacity === undefined ? PIPE_CAPACITY : validateInteger(opts.pipeCapacity, 'options.pipeCapacity', 0, 2 ** 31 - 1));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes queued in user space, not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.#end - this.#start;
  }

  #encode(message: T): Uint8Array {
    const bytes = this.#codec.encode(message);
    if (bytes.byteLength > this.#max) {
      throw new RangeError(`The message is ${bytes.byteLength} bytes, more than maxMessageSize (${this.#max})`);
    }
    return bytes;
  }

  #checkUsable(): void {
    if (this.#closed) throw closedError('Sender');
    if (this.#failure) throw this.#failure;
  }

  /** Copies a frame into the queue, growing it as needed. */
  #append(bytes: Uint8Array): void {
    const need = HEADER + bytes.byteLength;
    if (this.#buf.byteLength - this.#end < need) {
      const queued = this.#end - this.#start;
      if (this.#start > 0 && this.#buf.byteLength - queued >= need) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        let size = this.#buf.byteLength * 2;
        while (size - queued < need) size *= 2;
        const bigger = new Uint8Array(size);
        bigger.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = bigger;
        this.#view = new DataView(bigger.buffer);
      }
      this.#start = 0;
      this.#end = queued;
    }
    this.#view.setUint32(this.#end, bytes.byteLength, true);
    this.#buf.set(bytes, this.#end + HEADER);
    this.#end += need;
  }

  /**
   * Writes a large frame straight from the caller's memory when nothing is
   * queued ahead of it; returns false when it had to be (partly) queued.
   */
  #writeDirect(bytes: Uint8Array): boolean {
    const header = new Uint8Array(HEADER);
    new DataView(header.buffer).setUint32(0, bytes.byteLength, true);
    let written: number | null;
    try {
      written = native.writev(this.#ep.fd, [header, bytes]);
    } catch (err) {
      this.#fail(err);
      throw this.#failure;
    }
    const n = written ?? 0;
    if (n === HEADER + bytes.byteLength) return true;
    // Queue what the kernel did not take.
    if (n < HEADER) {
      this.#append(bytes);
      this.#start += n;
    } else {
      const rest = bytes.subarray(n - HEADER);
      this.#ensureRaw(rest.byteLength);
      this.#buf.set(rest, this.#end);
      this.#end += rest.byteLength;
    }
    return false;
  }

  #ensureRaw(extra: number): void {
    if (this.#buf.byteLength - this.#end >= extra) return;
    const queued = this.#end - this.#start;
    let size = this.#buf.byteLength;
    while (size - queued < extra) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.#buf.subarray(this.#start, this.#end));
    this.#buf = bigger;
    this.#view = new DataView(bigger.buffer);
    this.#start = 0;
    this.#end = queued;
  }

  #enqueue(bytes: Uint8Array): void {
    if (bytes.byteLength >= DIRECT_WRITE && this.#end === this.#start) {
      if (this.#writeDirect(bytes)) return;
    } else {
      this.#append(bytes);
    }
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#flushing) return;
    this.#flushScheduled = true;
    // One flush per loop turn: every send of this turn goes out in one write.
    setImmediate(() => {
      this.#flushScheduled = false;
      void this.#flush();
    });
  }

  /** Writes what the kernel takes without blocking; true when the queue is empty. */
  #writeSome(): boolean {
    while (this.#start < this.#end) {
      let n: number | null;
      try {
        n = native.write(this.#ep.fd, this.#buf.subarray(this.#start, this.#end));
      } catch (err) {
        this.#fail(err);
        return false;
      }
      if (n === null) return false;
      this.#start += n;
    }
    this.#start = this.#end = 0;
    return true;
  }

  async #flush(): Promise<void> {
    if (this.#flushing || this.#failure) return;
    this.#flushing = true;
    try {
      for (;;) {
        const empty = this.#writeSome();
        this.#wakeSpace();
        if (this.#failure) return;
        if (empty) break;
        try {
          await this.#ep.writable();
        } catch (err) {
          this.#fail(err);
          return;
        }
      }
      for (const w of this.#drainWaiters.splice(0)) w.resolve();
    } finally {
      this.#flushing = false;
    }
  }

  #wakeSpace(): void {
    while (this.#spaceWaiters.length > 0 && this.#end - this.#start < this.#highWater) {
      this.#spaceWaiters.shift()!.resolve();
    }
  }

  #fail(err: unknown): void {
    if (this.#failure) return;
    this.#failure = isPeerGoneErrno(err) ? peerGone(err) : (err as Error);
    for (const w of [...this.#spaceWaiters.splice(0), ...this.#drainWaiters.splice(0)]) w.reject(this.#failure);
  }

  #hasRoom(): boolean {
    return this.#end - this.#start < this.#highWater && this.#spaceWaiters.length === 0;
  }

  async send(message: T): Promise<void> {
    this.#checkUsable();
    const bytes = this.#encode(message);
    if (!this.#hasRoom()) {
      await new Promise<void>((resolve, reject) => this.#spaceWaiters.push({ resolve, reject }));
      this.#checkUsable();
    }
    this.#enqueue(bytes);
  }

  async sendMany(messages: Iterable<T>): Promise<void> {
    for (const m of messages) {
      if (this.#hasRoom()) {
        this.#checkUsable();
        this.#enqueue(this.#encode(m));
      } else {
        await this.send(m);
      }
    }
  }

  trySend(message: T): boolean {
    this.#checkUsable();
    const bytes = this.#encode(message);
    if (!this.#hasRoom()) return false;
    this.#enqueue(bytes);
    return true;
  }

  sendSync(message: T, options?: SyncOptions): void {
    this.#checkUsable();
    const timeoutMs = validateTimeout(validateOptions(options).timeoutMs);
    const bytes = this.#encode(message);
    const deadline = performance.now() + timeoutMs;
    // Make room first, so a timeout here leaves nothing half-queued.
    while (this.#end - this.#start >= this.#highWater) this.#flushSync(deadline, 'before');
    if (bytes.byteLength >= DIRECT_WRITE && this.#end === this.#start && this.#writeDirect(bytes)) return;
    if (this.#end !== this.#start || bytes.byteLength < DIRECT_WRITE) this.#append(bytes);
    while (this.#start < this.#end) this.#flushSync(deadline, 'after');
  }

  #flushSync(deadline: number, when: 'before' | 'after'): void {
    if (this.#writeSome()) {
      this.#wakeSpace();
      return;
    }
    if (this.#failure) throw this.#failure;
    const left = deadline - performance.now();
    if (left <= 0 || !native.poll(this.#ep.fd, true, left)) {
      throw systemError(
        'ETIMEDOUT',
        'write',
        undefined,
        when === 'before' ? 'the channel stayed full; nothing was queued' : 'the message is queued but not yet fully written',
      );
    }
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      try {
        if (!this.#failure && this.#start < this.#end) {
          await new Promise<void>((resolve, reject) => {
            this.#drainWaiters.push({ resolve, reject });
            void this.#flush();
          });
        }
      } finally {
        for (const w of this.#spaceWaiters.splice(0)) w.reject(closedError('Sender'));
        if (this.#shutdownOnClose) this.#ep.shutdown(false, true);
        this.#ep.release();
        this.#onClose?.();
      }
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The receiving end over a stream descriptor. */
export class StreamReceiver<T> implements Receiver<T> {
  readonly #ep: FdEndpoint;
  readonly #codec: Codec<T>;
  readonly #max: number;
  #buf = new Uint8Array(READ_CHUNK);
  #view = new DataView(this.#buf.buffer);
  #start = 0; // first unparsed byte
  #end = 0; // end of bytes read
  #eof = false;
  #ended = false;
  #closed = false;
  #failure: Error | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #onClose: (() => void) | undefined;
  readonly #shutdownOnClose: boolean;
  /**
   * A FIFO whose writer has not connected yet reads as end-of-file, but does
   * not poll as readable (Linux): until the first readiness, poll before read.
   */
  #awaitWriter: boolean;

  /** @internal Use {@link receiverFromFd} and the transport functions. */
  constructor(
    ep: FdEndpoint,
    options: ChannelOptions<T> | undefined,
    internal: { onClose?: () => void; shutdownOnClose?: boolean; awaitWriter?: boolean } = {},
  ) {
    const opts = validateOptions(options);
    this.#ep = ep;
    this.#onClose = internal.onClose;
    this.#shutdownOnClose = internal.shutdownOnClose ?? false;
    this.#awaitWriter = internal.awaitWriter ?? false;
    this.#codec = validateCodec<T>(opts.codec);
    this.#max = resolveMax(opts);
  }

  get ended(): boolean {
    return this.#ended;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #checkUsable(): void {
    if (this.#closed) throw closedError('Receiver');
    if (this.#failure) throw this.#failure;
  }

  /** The next complete frame's payload, or null. Never trusts the peer's length. */
  #parse(): Uint8Array | null {
    const avail = this.#end - this.#start;
    if (avail < HEADER) return null;
    const len = this.#view.getUint32(this.#start, true);
    if (len > this.#max) {
      this.#failure = new ChannelError('ERR_CHANNEL_CORRUPT', `The peer announced a ${len}-byte message, over maxMessageSize (${this.#max})`);
      throw this.#failure;
    }
    if (avail < HEADER + len) {
      this.#makeRoom(HEADER + len);
      return null;
    }
    const payload = this.#buf.subarray(this.#start + HEADER, this.#start + HEADER + len);
    this.#start += HEADER + len;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return payload;
  }

  /** Makes sure a frame of `frameBytes` fits after the unparsed bytes. */
  #makeRoom(frameBytes: number): void {
    if (this.#start + frameBytes <= this.#buf.byteLength) return;
    const pending = this.#end - this.#start;
    if (frameBytes <= this.#buf.byteLength) {
      this.#buf.copyWithin(0, this.#start, this.#end);
    } else {
      const bigger = new Uint8Array(Math.max(frameBytes, this.#buf.byteLength * 2));
      bigger.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = bigger;
      this.#view = new DataView(bigger.buffer);
    }
    this.#start = 0;
    this.#end = pending;
  }

  /** Reads what is there without blocking: bytes read, 0 at end of file, null when nothing is ready. */
  #readSome(): number | null {
    if (this.#end === this.#buf.byteLength) {
      // Full of unparsed bytes: parse() grows it as a frame needs; compact here.
      this.#makeRoom(this.#end - this.#start + 1);
    }
    let n: number | null;
    try {
      n = native.read(this.#ep.fd, this.#buf.subarray(this.#end));
    } catch (err) {
      if (isPeerGoneErrno(err)) {
        n = 0; // a reset connection ends the stream like EOF (checked for a torn frame below)
      } else {
        this.#failure = err as Error;
        throw err;
      }
    }
    if (n === 0) this.#eof = true;
    else if (n !== null) this.#end += n;
    return n;
  }

  /** The next message decoded, `undefined` at a clean end, or null when none is ready now. */
  #next(): { value: T | undefined } | null {
    if (this.#awaitWriter) {
      if (!native.poll(this.#ep.fd, false, 0)) return null;
      this.#awaitWriter = false;
    }
    for (;;) {
      const payload = this.#parse();
      if (payload !== null) return { value: this.#codec.decode(payload) };
      if (this.#eof) return { value: this.#finish() };
      if (this.#readSome() === null) return null;
    }
  }

  #finish(): undefined {
    if (this.#end > this.#start) {
      this.#failure = peerGone(new Error(`the stream ended inside a message (${this.#end - this.#start} bytes of it)`));
      throw this.#failure;
    }
    this.#ended = true;
    return undefined;
  }

  receive(): Promise<T | undefined> {
    // Concurrent calls are served in call order.
    const p = this.#queue.then(() => this.#receiveOne());
    this.#queue = p.catch(() => undefined);
    return p;
  }

  async #receiveOne(): Promise<T | undefined> {
    for (;;) {
      this.#checkUsable();
      if (this.#ended) return undefined;
      const got = this.#next();
      if (got !== null) return got.value;
      try {
        await this.#ep.readable();
      } catch {
        this.#checkUsable();
      }
    }
  }

  async receiveMany(max = 1024): Promise<T[]> {
    validateInteger(max, 'max', 1);
    const first = await this.receive();
    if (first === undefined && this.#ended) return [];
    const out: T[] = [first as T];
    while (out.length < max) {
      const payload = this.#parse();
      if (payload === null) break;
      out.push(this.#codec.decode(payload));
    }
    return out;
  }

  tryReceive(): T | undefined {
    this.#checkUsable();
    if (this.#ended) return undefined;
    const got = this.#next();
    return got === null ? undefined : got.value;
  }

  receiveSync(options?: SyncOptions): T | undefined {
    const timeoutMs = validateTimeout(validateOptions(options).timeoutMs);
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      this.#checkUsable();
      if (this.#ended) return undefined;
      const got = this.#next();
      if (got !== null) return got.value;
      const left = deadline - performance.now();
      if (left <= 0 || !native.poll(this.#ep.fd, false, left)) {
        throw systemError('ETIMEDOUT', 'read', undefined, 'no message arrived in time');
      }
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // The sending half of the socket may stay open: tell the peer that
    // nobody reads any more, so its sends fail instead of filling up.
    if (this.#shutdownOnClose) this.#ep.shutdown(true, false);
    this.#ep.release();
    this.#onClose?.();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return iterate(this);
  }
}

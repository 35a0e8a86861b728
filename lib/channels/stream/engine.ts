/**
 * Message passing over a byte stream (pipe, FIFO, UNIX-domain or TCP socket):
 * length-prefixed frames, coalesced into large writes and read in large
 * chunks into reused memory, driven from the event loop. The engines of
 * ../sender.ts and ../receiver.ts.
 *
 * Frame: a 32-bit little-endian length, then that many bytes.
 * @internal
 * @module
 */
import { isSystemError, peerGoneError } from '../../errors.js';
import { native } from '../../internal/native.js';
import { AbortWatch } from '../../internal/waiting.js';
import { EMPTY, END, type ReceiveEngine, type SendEngine } from '../engine.js';
import { ByteQueue, FrameBuffer, HEADER } from './framing.js';
import type { FdEndpoint } from './fd-endpoint.js';
import { attachedFds, FdInbox, FdOutbox } from './fd-passing.js';

/** Payloads at least this large are written from the caller's memory (writev), not copied. */
const DIRECT_WRITE = 64 * 1024;
const READ_CHUNK = 256 * 1024;

/** The peer closed or reset the connection: a receiver takes it as end-of-file (checked for a torn frame). */
function isPeerClosedErrno(err: unknown): boolean {
  return isSystemError(err) && (err.code === 'EPIPE' || err.code === 'ECONNRESET' || err.code === 'ENOTCONN');
}

/**
 * The network lost the peer (TCP: keep-alive probes or sent data left
 * unanswered past the user timeout, or an unreachable host): not a clean
 * end, so a receiver reports it too.
 */
function isPeerLostErrno(err: unknown): boolean {
  return (
    isSystemError(err) && (err.code === 'ETIMEDOUT' || err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH' || err.code === 'ENETDOWN')
  );
}

function peerGone(err: unknown): Error {
  if (isPeerClosedErrno(err)) return peerGoneError('closed the channel or exited', err);
  if (isPeerLostErrno(err)) return peerGoneError(`stopped answering (${(err as Error).message})`, err);
  return err as Error;
}

/** How a stream end lets go of its descriptor. */
export interface StreamRelease {
  /** shutdown(2) this direction of a socket on close, so the peer notices while the other direction stays open. */
  shutdown: boolean;
  /** Runs after the descriptor is released (a created FIFO removes its path). */
  onClose?: (() => void) | undefined;
  /** A UNIX socket end that passes descriptors with messages (./fd-passing.ts). */
  passFds?: boolean;
}

/** The sending engine: a user-space queue up to a high-water mark, flushed once per event-loop turn. */
export class StreamSendEngine implements SendEngine {
  readonly maxMessage: number;
  readonly syscall = 'write';
  readonly path = undefined;
  readonly #ep: FdEndpoint;
  readonly #highWater: number;
  readonly #release: StreamRelease;
  readonly #queue = new ByteQueue(64 * 1024);
  #flushing = false;
  #flushScheduled = false;
  #spaceWaiters: { wake: () => void; signal: AbortSignal }[] = [];
  /** Wakes the space waits of an aborted signal (one listener per signal, not per wait). */
  readonly #aborts = new AbortWatch((signal) => {
    const woken = this.#spaceWaiters.filter((w) => w.signal === signal);
    this.#spaceWaiters = this.#spaceWaiters.filter((w) => w.signal !== signal);
    for (const w of woken) w.wake();
  });
  #drained: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #failure: Error | undefined;
  /** Frames with descriptors, on an end that passes them; undefined elsewhere. */
  readonly #fds: FdOutbox | undefined;

  constructor(ep: FdEndpoint, maxMessage: number, highWater: number, release: StreamRelease) {
    this.#ep = ep;
    this.maxMessage = maxMessage;
    this.#highWater = highWater;
    this.#release = release;
    this.#fds = release.passFds === true ? new FdOutbox() : undefined;
  }

  get queuedBytes(): number {
    return this.#queue.length;
  }

  get capacity(): number {
    return this.#highWater;
  }

  tryWrite(bytes: Uint8Array): boolean {
    if (this.#failure) throw this.#failure;
    const queued = this.#queue.length;
    if (queued >= this.#highWater) return false;
    if (this.#fds !== undefined) {
      const fds = attachedFds(bytes);
      if (fds !== undefined) {
        // Queued with duplicates (the caller may close its own once the send resolves); the flush sends it alone.
        this.#fds.add(this.#queue.consumed + queued, HEADER + bytes.byteLength, fds);
        this.#queue.appendFrame(bytes);
        return true;
      }
    }
    if (queued === 0 && bytes.byteLength >= DIRECT_WRITE) {
      // Nothing queued ahead: a large frame goes from the caller's memory.
      this.#writeDirect(bytes); // what the kernel does not take is queued; publish() flushes it
    } else {
      this.#queue.appendFrame(bytes); // written once at the end of the loop turn, with the others
    }
    return true;
  }

  tryWriteMany(list: readonly Uint8Array[], from: number): number {
    let i = from;
    while (i < list.length && this.tryWrite(list[i]!)) i++;
    return i - from;
  }

  readonly #header = new Uint8Array(HEADER);
  readonly #headerView = new DataView(this.#header.buffer);
  readonly #iov: Uint8Array[] = [this.#header, this.#header];

  /** Writes one frame straight from the caller's memory; queues what the kernel did not take. */
  #writeDirect(bytes: Uint8Array): void {
    this.#headerView.setUint32(0, bytes.byteLength, true);
    this.#iov[1] = bytes;
    let n: number;
    try {
      n = native.writev(this.#ep.fd, this.#iov) ?? 0; // copied by the kernel before it returns
    } catch (err) {
      throw this.#fail(err);
    } finally {
      this.#iov[1] = this.#header;
    }
    if (n === HEADER + bytes.byteLength) return;
    if (n < HEADER) {
      this.#queue.appendFrame(bytes);
      this.#queue.consume(n);
    } else {
      this.#queue.appendRaw(bytes.subarray(n - HEADER));
    }
  }

  publish(): void {
    if (this.#queue.length > 0) this.#scheduleFlush();
  }

  spinWritable(): boolean {
    return false; // the kernel wakes us: nothing to gain from a spin
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
    while (this.#queue.length > 0) {
      let n: number | null;
      try {
        const q = this.#queue;
        n =
          this.#fds === undefined || this.#fds.marks.length === 0
            ? native.write(this.#ep.fd, q.bytes())
            : this.#fds.write(this.#ep.fd, q.bytes(), q.consumed);
      } catch (err) {
        this.#fail(err);
        return false;
      }
      if (n === null) return false;
      this.#queue.consume(n);
    }
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
      for (const w of this.#drained.splice(0)) w.resolve();
    } finally {
      this.#flushing = false;
    }
  }

  #wakeSpace(): void {
    if (this.#failure === undefined && this.#queue.length >= this.#highWater) return;
    for (const w of this.#spaceWaiters.splice(0)) w.wake();
  }

  #fail(err: unknown): Error {
    this.#failure ??= peerGone(err);
    this.#fds?.close();
    this.#wakeSpace();
    for (const w of this.#drained.splice(0)) w.reject(this.#failure);
    return this.#failure;
  }

  waitWritable(_len: number, signal: AbortSignal): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#queue.length < this.#highWater || signal.aborted) return Promise.resolve();
    this.#aborts.watch(signal);
    return new Promise<void>((resolve) => {
      this.#spaceWaiters.push({ wake: resolve, signal });
      this.publish();
    });
  }

  waitWritableSync(_len: number, deadline: number): boolean {
    return this.#flushSomeSync(deadline, () => this.#queue.length < this.#highWater);
  }

  flushSync(deadline: number): boolean {
    return this.#flushSomeSync(deadline, () => this.#queue.length === 0);
  }

  /** Writes, polling for writability, until `done()` or the deadline; throws a failure. */
  #flushSomeSync(deadline: number, done: () => boolean): boolean {
    for (;;) {
      this.#writeSome();
      if (this.#failure) throw this.#failure;
      this.#wakeSpace();
      if (done()) return true;
      const left = deadline - performance.now();
      if (left <= 0 || !native.poll(this.#ep.fd, true, left)) return false;
    }
  }

  async close(): Promise<void> {
    this.#aborts.dispose();
    try {
      if (!this.#failure && this.#queue.length > 0) {
        await new Promise<void>((resolve, reject) => {
          this.#drained.push({ resolve, reject });
          void this.#flush();
        });
      }
    } finally {
      this.#fds?.close();
      if (this.#release.shutdown) this.#ep.shutdown(false, true);
      this.#ep.release();
      this.#release.onClose?.();
    }
  }
}

/** The receiving engine: large reads into one reused buffer, frames parsed in place. */
export class StreamReceiveEngine implements ReceiveEngine {
  readonly syscall = 'read';
  readonly path = undefined;
  readonly #ep: FdEndpoint;
  readonly #max: number;
  readonly #release: StreamRelease;
  readonly #frames = new FrameBuffer(READ_CHUNK);
  #eof = false;
  /**
   * A FIFO whose writer has not connected yet reads as end-of-file, but does
   * not poll as readable (Linux): until the first readiness, poll before read.
   */
  #awaitWriter: boolean;
  /** Descriptors received with messages, on an end that passes them; undefined elsewhere. */
  readonly fds: FdInbox | undefined;

  constructor(ep: FdEndpoint, maxMessage: number, release: StreamRelease, awaitWriter = false) {
    this.#ep = ep;
    this.#max = maxMessage;
    this.#release = release;
    this.#awaitWriter = awaitWriter;
    this.fds = release.passFds === true ? new FdInbox() : undefined;
  }

  get bytes(): Uint8Array {
    return this.#frames.buf;
  }

  get offset(): number {
    return this.#frames.offset;
  }

  next(): number {
    if (this.#awaitWriter) {
      if (!native.poll(this.#ep.fd, false, 0)) return EMPTY;
      this.#awaitWriter = false;
    }
    const f = this.#frames;
    for (;;) {
      const len = f.frame(this.#max);
      if (len >= 0) return len;
      const whole = f.nextFrameBytes();
      if (whole > 0) f.makeRoom(whole);
      if (this.#eof) {
        if (f.available > 0) throw peerGoneError(`ended the stream inside a message (${f.available} bytes of it)`);
        return END;
      }
      if (!this.#readSome()) return EMPTY;
    }
  }

  release(keep: boolean): void {
    this.#frames.release(keep);
    this.fds?.released();
  }

  publish(): void {
    this.#frames.publish();
    this.fds?.drop(); // a message drained or dropped by a hook: its descriptors were not taken
  }

  /** Reads what is there without blocking: false when nothing is ready. */
  #readSome(): boolean {
    const f = this.#frames;
    if (f.end === f.buf.byteLength) f.makeRoom(f.available + 1);
    let n: number | null;
    try {
      n = this.fds === undefined ? native.read(this.#ep.fd, f.buf.subarray(f.end)) : this.fds.read(this.#ep.fd, f, f.buf.subarray(f.end));
    } catch (err) {
      if (!isPeerClosedErrno(err)) throw peerGone(err);
      n = 0; // a reset connection ends the stream like EOF (checked for a torn frame)
    }
    if (n === null) return false;
    if (n === 0) this.#eof = true;
    else f.end += n;
    return true;
  }

  spinReadable(): boolean {
    return false; // the kernel wakes us: nothing to gain from a spin
  }

  waitReadable(signal: AbortSignal): Promise<void> {
    return this.#ep.readable(signal);
  }

  waitReadableSync(deadline: number): boolean {
    const left = deadline - performance.now();
    return left > 0 && native.poll(this.#ep.fd, false, left);
  }

  close(): void {
    // The sending half of a socket may stay open: tell the peer that nobody
    // reads any more, so its sends fail instead of filling up.
    if (this.#release.shutdown) this.#ep.shutdown(true, false);
    if (this.fds !== undefined && !this.#ep.closed) this.fds.close(this.#ep.fd);
    this.#ep.release();
    this.#release.onClose?.();
  }
}

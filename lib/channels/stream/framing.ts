/**
 * The stream frame (a u32 little-endian length, then the payload), the
 * sender's growable byte queue (descriptors), and the frame batch handed
 * to a Node stream (TLS).
 * @internal
 * @module
 */
import { corruptError } from '../../errors.js';

/** Bytes of a frame's length prefix. */
export const HEADER = 4;
/**
 * The header that no frame has: the end of the stream, sent in band where the
 * transport cannot half-close (TLS: see node-stream.ts). Frames are therefore
 * at most 2^32 - 2 bytes.
 */
export const END_MARK = 0xffffffff;
/** The largest payload a frame can announce. */
export const MAX_FRAME_PAYLOAD = END_MARK - 1;

/** Bytes waiting to be written: one buffer, compacted or doubled as needed. */
export class ByteQueue {
  #buf: Uint8Array;
  #view: DataView;
  #start = 0; // first unsent byte
  #end = 0; // end of queued bytes
  /** Bytes consumed so far: the stream offset of the first queued byte (descriptor marks are placed by it). */
  consumed = 0;

  constructor(initial: number) {
    this.#buf = new Uint8Array(initial);
    this.#view = new DataView(this.#buf.buffer);
  }

  get length(): number {
    return this.#end - this.#start;
  }

  /** The queued bytes, as a view (valid until the next change). */
  bytes(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  /** Drops `n` bytes from the front (they were written). */
  consume(n: number): void {
    this.consumed += n;
    this.#start += n;
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }

  /** Queues one frame: its length prefix, then `payload`. */
  appendFrame(payload: Uint8Array): void {
    this.#reserve(HEADER + payload.byteLength);
    this.#view.setUint32(this.#end, payload.byteLength, true);
    this.#buf.set(payload, this.#end + HEADER);
    this.#end += HEADER + payload.byteLength;
  }

  /** Queues bytes as they are (the rest of a frame the kernel took part of). */
  appendRaw(bytes: Uint8Array): void {
    this.#reserve(bytes.byteLength);
    this.#buf.set(bytes, this.#end);
    this.#end += bytes.byteLength;
  }

  /** Room for `need` more bytes after the queued ones: compact, or grow by doubling. */
  #reserve(need: number): void {
    if (this.#buf.byteLength - this.#end >= need) return;
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
}

/**
 * Frames for a Node stream (./node-stream.ts): written into chunks that are
 * handed to `stream.write()` whole, which keeps them until they are written,
 * so each byte is copied once. A chunk is reused for the frames after a
 * hand-over (the part handed over is never written again), so small
 * request/reply traffic does not allocate a chunk per turn.
 */
export class FrameBatch {
  readonly #chunkSize: number;
  #sealed: Buffer[] = [];
  #cur: Buffer | undefined;
  #start = 0; // first byte of #cur not handed over yet
  #used = 0; // end of the frames in #cur
  #length = 0;

  constructor(chunkSize: number) {
    this.#chunkSize = chunkSize;
  }

  /** Bytes appended and not handed over. */
  get length(): number {
    return this.#length;
  }

  /** Appends one frame: its length prefix, then `payload` (copied). */
  append(payload: Uint8Array): void {
    const need = HEADER + payload.byteLength;
    if (this.#cur === undefined || this.#cur.byteLength - this.#used < need) {
      this.#seal();
      this.#cur = Buffer.allocUnsafeSlow(Math.max(this.#chunkSize, need));
      this.#start = this.#used = 0;
    }
    this.#cur.writeUInt32LE(payload.byteLength, this.#used);
    this.#cur.set(payload, this.#used + HEADER);
    this.#used += need;
    this.#length += need;
  }

  /** Hands over every frame appended so far, in order. */
  take(): Buffer[] {
    this.#seal();
    const out = this.#sealed;
    this.#sealed = [];
    this.#length = 0;
    return out;
  }

  #seal(): void {
    if (this.#cur !== undefined && this.#used > this.#start) this.#sealed.push(this.#cur.subarray(this.#start, this.#used));
    this.#start = this.#used;
  }
}

/**
 * A receiver's bytes: frames parsed in place, consumed by `release`, and
 * moved (compacted, or into a larger buffer) only when no zero-copy view
 * points into them. Shared by the descriptor engine and the Node-stream one.
 */
export class FrameBuffer {
  buf: Uint8Array;
  #view: DataView;
  start = 0; // first unconsumed byte
  end = 0; // end of bytes received
  /** Where the payload `frame()` found starts in `buf`. */
  offset = 0;
  #pending = 0; // frame bytes of that payload
  /** Views into `buf` were handed out: until publish(), never move bytes in place. */
  #pinned = false;

  constructor(initial: number) {
    this.buf = new Uint8Array(initial);
    this.#view = new DataView(this.buf.buffer);
  }

  /** Unconsumed bytes. */
  get available(): number {
    return this.end - this.start;
  }

  /** The length of the next frame's payload when the whole frame is here, else -1. Throws over `max`. */
  frame(max: number): number {
    const avail = this.end - this.start;
    if (avail < HEADER) return -1;
    const len = this.#view.getUint32(this.start, true);
    if (len > max) throw corruptError(`The peer announced a ${len}-byte message, over maxMessageSize (${max})`);
    if (avail < HEADER + len) return -1;
    this.offset = this.start + HEADER;
    this.#pending = HEADER + len;
    return len;
  }

  /** True, and the mark consumed, when the next header is {@link END_MARK}. */
  takeEndMark(): boolean {
    if (this.end - this.start < HEADER || this.#view.getUint32(this.start, true) !== END_MARK) return false;
    this.start += HEADER;
    if (!this.#pinned && this.start === this.end) this.start = this.end = 0;
    return true;
  }

  /** The next frame's whole size (header included) once its header is here, else 0. */
  nextFrameBytes(): number {
    return this.end - this.start < HEADER ? 0 : HEADER + this.#view.getUint32(this.start, true);
  }

  /** Consumes the frame `frame()` found; with `keep`, its bytes stay put until `publish()`. */
  release(keep: boolean): void {
    this.start += this.#pending;
    this.#pending = 0;
    if (keep) this.#pinned = true;
    else if (!this.#pinned && this.start === this.end) this.start = this.end = 0;
  }

  /** Views handed out before may now be overwritten. */
  publish(): void {
    this.#pinned = false;
    if (this.start === this.end) this.start = this.end = 0;
  }

  /** Makes sure `bytes` fit after `start`: compact in place, or move to a larger buffer (always while views are out). */
  makeRoom(bytes: number): void {
    if (this.start + bytes <= this.buf.byteLength) return;
    const pending = this.end - this.start;
    if (bytes <= this.buf.byteLength && !this.#pinned) {
      this.buf.copyWithin(0, this.start, this.end);
    } else {
      const bigger = new Uint8Array(Math.max(bytes, this.buf.byteLength * (bytes > this.buf.byteLength ? 2 : 1)));
      bigger.set(this.buf.subarray(this.start, this.end));
      this.buf = bigger;
      this.#view = new DataView(bigger.buffer);
    }
    this.start = 0;
    this.end = pending;
  }

  /** Appends received bytes. */
  append(chunk: Uint8Array): void {
    if (this.end + chunk.byteLength > this.buf.byteLength) this.makeRoom(this.end - this.start + chunk.byteLength);
    this.buf.set(chunk, this.end);
    this.end += chunk.byteLength;
  }

  /** Drops everything (a closed receiver). */
  clear(): void {
    this.buf = new Uint8Array(0);
    this.#view = new DataView(this.buf.buffer);
    this.start = this.end = this.#pending = 0;
  }
}

/**
 * XDR's primitive items (RFC 4506): a writer that appends them to a growing
 * buffer, and a reader that takes them from bytes a peer sent, checking every
 * length, count and depth against a bound and against what is left, so that a
 * hostile message is an {@link XdrError}, never a huge allocation or a deep
 * recursion. Everything is big-endian and padded to a multiple of four bytes,
 * with zero padding (the reader refuses other padding: XDR is canonical).
 *
 * The type-directed codec (`./codec.ts`) and the ONC RPC messages build on these.
 * @module
 */
import { XdrError } from '../../../errors.js';

/** The largest length or count XDR can express (an unsigned 32-bit integer). */
export const XDR_MAX_LENGTH = 0xffff_ffff;

/** Default bound on nesting (optional data, nested structs and unions) when reading. */
export const XDR_DEFAULT_MAX_DEPTH = 64;

/**
 * Default bound on the nodes of one linked list (rpcgen's `struct node { ...; node *next; }`)
 * when reading. Lists are read in a loop, not by recursion, so this bound is
 * not limited by the stack, only by what a message may reasonably hold.
 */
export const XDR_DEFAULT_MAX_LIST_LENGTH = 1 << 16;

/** Bound on nesting when writing: deeper values (or a cycle in a value's objects) are `ERR_XDR_RANGE`. */
export const XDR_WRITER_MAX_DEPTH = 1000;

const pad = (n: number): number => (4 - (n & 3)) & 3;
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Appends XDR items to a buffer that grows as needed. */
export class XdrWriter {
  #buf: Uint8Array;
  #view: DataView;
  #at = 0;
  #depth = 0;

  /** A writer whose buffer starts at `initialSize` bytes. */
  constructor(initialSize = 256) {
    this.#buf = new Uint8Array(Math.max(16, initialSize));
    this.#view = new DataView(this.#buf.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#at;
  }

  #room(n: number): number {
    const at = this.#at;
    if (at + n > this.#buf.byteLength) {
      let size = this.#buf.byteLength * 2;
      while (size < at + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.#buf.subarray(0, at));
      this.#buf = next;
      this.#view = new DataView(next.buffer);
    }
    this.#at = at + n;
    return at;
  }

  /** A signed 32-bit integer (also `enum` values). */
  int(v: number): this {
    if (!Number.isInteger(v) || v < -0x8000_0000 || v > 0x7fff_ffff) throw new XdrError('ERR_XDR_RANGE', `int out of range: ${v}`);
    const at = this.#room(4); // before reading #view: #room may replace it
    this.#view.setInt32(at, v);
    return this;
  }

  /** An unsigned 32-bit integer. */
  uint(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new XdrError('ERR_XDR_RANGE', `unsigned int out of range: ${v}`);
    const at = this.#room(4); // before reading #view: #room may replace it
    this.#view.setUint32(at, v);
    return this;
  }

  /** A signed 64-bit integer. */
  hyper(v: bigint): this {
    if (typeof v !== 'bigint' || BigInt.asIntN(64, v) !== v) throw new XdrError('ERR_XDR_RANGE', `hyper out of range: ${String(v)}`);
    const at = this.#room(8); // before reading #view: #room may replace it
    this.#view.setBigInt64(at, v);
    return this;
  }

  /** An unsigned 64-bit integer. */
  uhyper(v: bigint): this {
    if (typeof v !== 'bigint' || BigInt.asUintN(64, v) !== v)
      throw new XdrError('ERR_XDR_RANGE', `unsigned hyper out of range: ${String(v)}`);
    const at = this.#room(8); // before reading #view: #room may replace it
    this.#view.setBigUint64(at, v);
    return this;
  }

  /** An IEEE single-precision float. */
  float(v: number): this {
    const at = this.#room(4); // before reading #view: #room may replace it
    this.#view.setFloat32(at, v);
    return this;
  }

  /** An IEEE double-precision float. */
  double(v: number): this {
    const at = this.#room(8); // before reading #view: #room may replace it
    this.#view.setFloat64(at, v);
    return this;
  }

  /** A boolean: 1 or 0. */
  bool(v: boolean): this {
    return this.int(v ? 1 : 0);
  }

  /** Fixed-length opaque data: exactly `length` bytes, then padding. */
  opaqueFixed(bytes: Uint8Array, length: number): this {
    if (bytes.byteLength !== length) throw new XdrError('ERR_XDR_RANGE', `fixed opaque needs ${length} bytes, got ${bytes.byteLength}`);
    const at = this.#room(length + pad(length));
    this.#buf.set(bytes, at);
    this.#buf.fill(0, at + length, this.#at);
    return this;
  }

  /** Variable-length opaque data of at most `max` bytes: its length, the bytes, padding. */
  opaque(bytes: Uint8Array, max = XDR_MAX_LENGTH): this {
    if (bytes.byteLength > max) throw new XdrError('ERR_XDR_RANGE', `opaque of ${bytes.byteLength} bytes over its bound of ${max}`);
    this.uint(bytes.byteLength);
    return this.opaqueFixed(bytes, bytes.byteLength);
  }

  /** A string of at most `max` bytes, in UTF-8 (ASCII is the common case). */
  string(s: string, max = XDR_MAX_LENGTH): this {
    const bytes = utf8.encode(s);
    if (bytes.byteLength > max) throw new XdrError('ERR_XDR_RANGE', `string of ${bytes.byteLength} bytes over its bound of ${max}`);
    return this.opaque(bytes, max);
  }

  /** Bytes already XDR-encoded by someone else, copied as they are (their length must be a multiple of four). */
  raw(bytes: Uint8Array): this {
    if ((bytes.byteLength & 3) !== 0) throw new XdrError('ERR_XDR_RANGE', `raw XDR of ${bytes.byteLength} bytes is not a multiple of 4`);
    const at = this.#room(bytes.byteLength); // before reading #buf: #room may replace it
    this.#buf.set(bytes, at);
    return this;
  }

  /** Overwrites the unsigned int at `offset` (a length or header written before its contents were known). */
  patchUint(offset: number, v: number): this {
    if (offset < 0 || offset + 4 > this.#at)
      throw new XdrError('ERR_XDR_RANGE', `patch at ${offset} outside the ${this.#at} bytes written`);
    this.#view.setUint32(offset, v >>> 0);
    return this;
  }

  /** The bytes written (a view of the buffer: valid until the next write or `reset`). */
  view(): Uint8Array {
    return this.#buf.subarray(0, this.#at);
  }

  /** A copy of the bytes written. */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#at);
  }

  /** Forgets what was written, keeping the buffer. */
  reset(): this {
    this.#at = 0;
    this.#depth = 0;
    return this;
  }

  /**
   * Enters one level of nesting of the value being written; past
   * {@link XDR_WRITER_MAX_DEPTH} it is `ERR_XDR_RANGE` (a value that deep is
   * most likely a cycle). Pair with {@link leave}.
   */
  enter(): void {
    if (++this.#depth > XDR_WRITER_MAX_DEPTH)
      throw new XdrError('ERR_XDR_RANGE', `value nested deeper than ${XDR_WRITER_MAX_DEPTH} (a cycle?) at offset ${this.#at}`);
  }

  /** Leaves a level entered with {@link enter}. */
  leave(): void {
    this.#depth--;
  }
}

/** Bounds of an {@link XdrReader}. */
export interface XdrReaderOptions {
  /** Deepest nesting {@link XdrReader.enter} allows. Default {@link XDR_DEFAULT_MAX_DEPTH}. */
  readonly maxDepth?: number;
  /**
   * Most nodes one linked list may have, and most elements an array of a
   * type of size 0 (`opaque e[0]`) may have. Default {@link XDR_DEFAULT_MAX_LIST_LENGTH}.
   */
  readonly maxListLength?: number;
}

/** Takes XDR items from untrusted bytes, checking each against what is left and against its bound. */
export class XdrReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #at = 0;
  #depth = 0;
  readonly #maxDepth: number;
  /** Most nodes one linked list may have (see {@link XdrReaderOptions.maxListLength}). */
  readonly maxListLength: number;

  /** A reader of `bytes` (not copied: opaque data read is a view of them). */
  constructor(bytes: Uint8Array, options: XdrReaderOptions = {}) {
    this.maxListLength = options.maxListLength ?? XDR_DEFAULT_MAX_LIST_LENGTH;
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#maxDepth = options.maxDepth ?? XDR_DEFAULT_MAX_DEPTH;
  }

  /** Bytes read so far. */
  get offset(): number {
    return this.#at;
  }

  /** Bytes left. */
  get remaining(): number {
    return this.#bytes.byteLength - this.#at;
  }

  #take(n: number, what: string): number {
    const at = this.#at;
    if (n > this.#bytes.byteLength - at) {
      throw new XdrError('ERR_XDR_SHORT', `${what} needs ${n} bytes at offset ${at}, ${this.#bytes.byteLength - at} left`);
    }
    this.#at = at + n;
    return at;
  }

  /** A signed 32-bit integer. */
  int(): number {
    return this.#view.getInt32(this.#take(4, 'int'));
  }

  /** An unsigned 32-bit integer. */
  uint(): number {
    return this.#view.getUint32(this.#take(4, 'unsigned int'));
  }

  /** A signed 64-bit integer. */
  hyper(): bigint {
    return this.#view.getBigInt64(this.#take(8, 'hyper'));
  }

  /** An unsigned 64-bit integer. */
  uhyper(): bigint {
    return this.#view.getBigUint64(this.#take(8, 'unsigned hyper'));
  }

  /** An IEEE single-precision float. */
  float(): number {
    return this.#view.getFloat32(this.#take(4, 'float'));
  }

  /** An IEEE double-precision float. */
  double(): number {
    return this.#view.getFloat64(this.#take(8, 'double'));
  }

  /** A boolean: anything but 0 or 1 is an error. */
  bool(): boolean {
    const at = this.#at;
    const v = this.int();
    if (v !== 0 && v !== 1) throw new XdrError('ERR_XDR_INVALID', `bool at offset ${at} is ${v}, not 0 or 1`);
    return v === 1;
  }

  /** `length` bytes of fixed opaque data (a view into the message), checking the padding. */
  opaqueFixed(length: number): Uint8Array {
    const at = this.#take(length + pad(length), 'opaque data');
    for (let i = at + length; i < this.#at; i++) {
      if (this.#bytes[i] !== 0) throw new XdrError('ERR_XDR_INVALID', `non-zero padding at offset ${i}`);
    }
    return this.#bytes.subarray(at, at + length);
  }

  /** Variable-length opaque data of at most `max` bytes (a view into the message). */
  opaque(max = XDR_MAX_LENGTH): Uint8Array {
    const at = this.#at;
    const n = this.uint();
    if (n > max) throw new XdrError('ERR_XDR_LIMIT', `opaque length ${n} at offset ${at} over its bound of ${max}`);
    return this.opaqueFixed(n);
  }

  /** A string of at most `max` bytes; bytes that are not UTF-8 are an error. */
  string(max = XDR_MAX_LENGTH): string {
    const at = this.#at;
    const bytes = this.opaque(max);
    try {
      return utf8Strict.decode(bytes);
    } catch {
      throw new XdrError('ERR_XDR_INVALID', `string at offset ${at} is not UTF-8`);
    }
  }

  /**
   * The count of a variable-length array of at most `max` elements, each at
   * least `minSize` bytes: a count the rest of the message cannot hold is an
   * error before anything is allocated for it. Elements of size 0 (`opaque
   * e[0]`, void-like types) take no bytes, so their count is bounded by
   * {@link maxListLength} instead.
   */
  count(max = XDR_MAX_LENGTH, minSize = 4): number {
    const at = this.#at;
    const n = this.uint();
    if (n > max) throw new XdrError('ERR_XDR_LIMIT', `array count ${n} at offset ${at} over its bound of ${max}`);
    if (minSize > 0 && n > this.remaining / minSize) {
      throw new XdrError('ERR_XDR_SHORT', `array count ${n} at offset ${at}: ${this.remaining} bytes left cannot hold it`);
    }
    if (minSize <= 0) this.zeroSizeCount(n, at);
    return n;
  }

  /** Checks `n` elements of size 0 (read at `at`) against {@link maxListLength}: they cost no bytes, so nothing else bounds them. */
  zeroSizeCount(n: number, at = this.#at): void {
    if (n > this.maxListLength)
      throw new XdrError(
        'ERR_XDR_LIMIT',
        `${n} elements of size 0 at offset ${at} over the reader's maxListLength of ${this.maxListLength}`,
      );
  }

  /** Enters one level of nesting; past the reader's `maxDepth` it is an error. Pair with {@link leave}. */
  enter(): void {
    if (++this.#depth > this.#maxDepth) throw new XdrError('ERR_XDR_LIMIT', `nesting deeper than ${this.#maxDepth} at offset ${this.#at}`);
  }

  /** Leaves a level entered with {@link enter}. */
  leave(): void {
    this.#depth--;
  }

  /** The bytes left, without reading them. */
  rest(): Uint8Array {
    return this.#bytes.subarray(this.#at);
  }

  /** Checks that the whole message was read: trailing bytes are an error. */
  done(): void {
    if (this.remaining !== 0) throw new XdrError('ERR_XDR_INVALID', `${this.remaining} bytes left over at offset ${this.#at}`);
  }
}

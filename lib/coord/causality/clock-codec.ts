/**
 * The compact binary and the JSON forms of logical times. Both are read from
 * untrusted peers: every length and count is bounded before it is used, and
 * anything malformed is a `CausalityError` `ERR_CAUSALITY_BAD_STAMP`.
 *
 * Binary (unsigned integers are LEB128 varints of at most 8 bytes, values at
 * most 2^53 - 1):
 * - vector, growing membership: `0x56` ('V'), n, then n times (id length in
 *   UTF-8 bytes, id, count >= 1), ids in strictly increasing order;
 * - vector, fixed membership: `0x46` ('F'), n (= the number of members), then
 *   n counts in the members' sorted order (the ids are not sent);
 * - Lamport: `0x4C` ('L'), time.
 * @module
 */
import { CausalityError } from '../../errors.js';
import { validateBytes, validateInteger } from '../../internal/validators.js';
import { MAX_PROCESS_ID_LENGTH, MAX_VECTOR_ENTRIES, validateProcessId, VectorTime } from './clocks.js';

const TAG_SPARSE = 0x56;
const TAG_DENSE = 0x46;
const TAG_LAMPORT = 0x4c;
const MAX_VARINT_BYTES = 8;
const MAX_ID_BYTES = MAX_PROCESS_ID_LENGTH * 4;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** Options of {@link decodeVectorTime} and {@link vectorTimeFromJSON}. */
export interface DecodeTimeOptions {
  /** The fixed members, for the fixed-membership form (required to read it; ids outside them are refused in both forms). */
  members?: readonly string[];
  /** The most entries accepted (default {@link MAX_VECTOR_ENTRIES}). */
  maxEntries?: number;
}

function bad(detail: string, cause?: unknown): CausalityError {
  return new CausalityError('ERR_CAUSALITY_BAD_STAMP', `Malformed clock stamp: ${detail}`, cause === undefined ? undefined : { cause });
}

/** @internal Reads a buffer front to back, every step bounds-checked. */
export class StampReader {
  offset: number;
  constructor(
    readonly bytes: Uint8Array,
    offset = 0,
  ) {
    this.offset = offset;
  }

  get left(): number {
    return this.bytes.byteLength - this.offset;
  }

  byte(): number {
    if (this.offset >= this.bytes.byteLength) throw bad('it ends early');
    return this.bytes[this.offset++]!;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const b = this.byte();
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (value > Number.MAX_SAFE_INTEGER) throw bad('a number is above 2^53 - 1');
        if (i > 0 && b === 0) throw bad('a number is not in its shortest form');
        return value;
      }
      scale *= 128;
    }
    throw bad(`a number is longer than ${MAX_VARINT_BYTES} bytes`);
  }

  id(): string {
    const length = this.varint();
    if (length === 0 || length > MAX_ID_BYTES) throw bad(`an id is ${length} bytes long (1 to ${MAX_ID_BYTES})`);
    if (length > this.left) throw bad('it ends inside an id');
    const raw = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    const known = lookupId(raw);
    if (known !== undefined) return known;
    let text: string;
    try {
      text = utf8.decode(raw);
    } catch (err) {
      throw bad('an id is not UTF-8', err);
    }
    try {
      return rememberId(validateProcessId(text, 'id'));
    } catch (err) {
      throw bad(`the id ${JSON.stringify(text.slice(0, 40))} is not a valid process id`, err);
    }
  }
}

/*
 * Ids recur in every stamp: their UTF-8 forms are kept (encoding and decoding
 * them per message cost more than the rest of the stamp). Only ids already
 * validated are kept, at most ID_CACHE_MAX of them; past that, the cache
 * starts over, so a peer sending endless new ids costs memory only up to it.
 */
const ID_CACHE_MAX = 4096;
const idBytes = new Map<string, Uint8Array>();
const idsByKey = new Map<string, string>();

/** The key of an id's bytes: the bytes as latin1 code units (one per byte, exact). */
function keyOf(raw: Uint8Array): string {
  return raw.byteLength <= 64 ? String.fromCharCode.apply(null, raw as unknown as number[]) : Buffer.from(raw).toString('latin1');
}

function lookupId(raw: Uint8Array): string | undefined {
  return idsByKey.size === 0 ? undefined : idsByKey.get(keyOf(raw));
}

function rememberId(id: string): string {
  encodedId(id);
  return id;
}

/** The UTF-8 form of a valid id, cached. */
function encodedId(id: string): Uint8Array {
  let b = idBytes.get(id);
  if (b === undefined) {
    if (idBytes.size >= ID_CACHE_MAX) {
      idBytes.clear();
      idsByKey.clear();
    }
    b = encoder.encode(id);
    idBytes.set(id, b);
    idsByKey.set(keyOf(b), id);
  }
  return b;
}

/** @internal Grows a byte buffer as varints and ids are appended (sized up front when told how much will come). */
export class StampWriter {
  #buf: Uint8Array;
  #length = 0;

  constructor(hint = 64) {
    // From Node's buffer pool: a stamp is small, and a fresh typed array per message costs more than the stamp.
    // Only the bytes written are ever handed out.
    this.#buf = Buffer.allocUnsafe(hint);
  }

  #room(n: number): void {
    if (this.#length + n <= this.#buf.byteLength) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.byteLength * 2, this.#length + n));
    next.set(this.#buf.subarray(0, this.#length));
    this.#buf = next;
  }

  byte(b: number): void {
    this.#room(1);
    this.#buf[this.#length++] = b;
  }

  varint(n: number): void {
    this.#room(MAX_VARINT_BYTES);
    let v = n;
    while (v >= 0x80) {
      this.#buf[this.#length++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.#buf[this.#length++] = v;
  }

  bytes(b: Uint8Array): void {
    this.#room(b.byteLength);
    this.#buf.set(b, this.#length);
    this.#length += b.byteLength;
  }

  /** Appends a valid id (validated by the caller: a clock's ids always are). */
  id(id: string): void {
    const b = encodedId(id);
    this.varint(b.byteLength);
    this.bytes(b);
  }

  /** The bytes written (a view: the writer is not used after). */
  done(): Uint8Array {
    return this.#buf.subarray(0, this.#length);
  }
}

function membersOf(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new TypeError('The "options.members" option must be an array of process ids');
  const ids = value.map((m: unknown) => validateProcessId(m, 'options.members[]'));
  return [...new Set(ids)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** @internal Appends `time`: the fixed form when `members` is given, else the growing one. */
export function writeVectorTime(w: StampWriter, time: VectorTime, members: readonly string[] | undefined): void {
  if (members === undefined) {
    w.byte(TAG_SPARSE);
    w.varint(time.size);
    for (const [id, count] of time.entries()) {
      w.id(id);
      w.varint(count);
    }
    return;
  }
  const set = new Set(members);
  for (const id of time.ids()) {
    if (!set.has(id)) throw new CausalityError('ERR_CAUSALITY_UNKNOWN_MEMBER', `The process "${id}" is not one of the members`);
  }
  w.byte(TAG_DENSE);
  w.varint(members.length);
  for (const id of members) w.varint(time.get(id));
}

/** @internal Reads one vector time at the reader's offset. `members` sorted. */
export function readVectorTime(r: StampReader, members: readonly string[] | undefined, maxEntries: number): VectorTime {
  const tag = r.byte();
  const n = r.varint();
  if (tag === TAG_DENSE) {
    if (members === undefined) throw bad('the fixed-membership form needs the members (options.members)');
    if (n !== members.length) throw bad(`it has ${n} counts for ${members.length} members`);
    const ids: string[] = [];
    const counts: number[] = [];
    for (const id of members) {
      const c = r.varint();
      if (c > 0) {
        ids.push(id);
        counts.push(c);
      }
    }
    return VectorTime.fromSorted(ids, counts);
  }
  if (tag !== TAG_SPARSE) throw bad(`unknown form 0x${tag.toString(16)}`);
  if (n > maxEntries) throw bad(`it has ${n} entries (at most ${maxEntries})`);
  // Each entry takes at least 3 bytes: refuse a count the buffer cannot hold before allocating.
  if (n * 3 > r.left) throw bad(`it announces ${n} entries but holds ${r.left} bytes`);
  const set = members === undefined ? undefined : new Set(members);
  const ids: string[] = [];
  const counts: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = r.id();
    const count = r.varint();
    if (count === 0) throw bad(`the count of "${id}" is 0 (zeros are left out)`);
    if (i > 0 && !(ids[i - 1]! < id)) throw bad('the ids are not in strictly increasing order');
    if (set !== undefined && !set.has(id))
      throw new CausalityError('ERR_CAUSALITY_UNKNOWN_MEMBER', `The process "${id}" is not one of the members`);
    ids.push(id);
    counts.push(count);
  }
  return VectorTime.fromSorted(ids, counts);
}

/**
 * The compact binary form of `time` (see the module's description). With
 * `options.members` (fixed membership) only the counts are written, in the
 * members' sorted order; a time counting anyone else throws
 * `ERR_CAUSALITY_UNKNOWN_MEMBER`.
 */
export function encodeVectorTime(time: VectorTime, options: { members?: readonly string[] } = {}): Uint8Array {
  if (!(time instanceof VectorTime)) throw new TypeError('The "time" argument must be a VectorTime');
  const w = new StampWriter();
  writeVectorTime(w, time, membersOf(options.members));
  return w.done();
}

/**
 * Reads a vector time from its binary form, which must fill `bytes` exactly.
 * Throws `ERR_CAUSALITY_BAD_STAMP` for anything malformed or over a bound.
 */
export function decodeVectorTime(bytes: Uint8Array, options: DecodeTimeOptions = {}): VectorTime {
  validateBytes(bytes, 'bytes');
  const maxEntries = validateInteger(options.maxEntries ?? MAX_VECTOR_ENTRIES, 'options.maxEntries', 0, 1 << 20);
  const r = new StampReader(bytes);
  const time = readVectorTime(r, membersOf(options.members), maxEntries);
  if (r.left !== 0) throw bad(`${r.left} bytes follow the time`);
  return time;
}

/**
 * Reads a vector time from its JSON form: an object `{ id: count }` (or its
 * text, at most 64 KiB), ids valid process ids, counts integers 0 to 2^53 - 1,
 * at most `maxEntries` keys. Throws `ERR_CAUSALITY_BAD_STAMP` otherwise.
 */
export function vectorTimeFromJSON(value: unknown, options: DecodeTimeOptions = {}): VectorTime {
  const maxEntries = validateInteger(options.maxEntries ?? MAX_VECTOR_ENTRIES, 'options.maxEntries', 0, 1 << 20);
  let v = value;
  if (typeof v === 'string') {
    if (v.length > 65536) throw bad('the JSON text is longer than 64 KiB');
    try {
      v = JSON.parse(v);
    } catch (err) {
      throw bad('not JSON', err);
    }
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad('the JSON form must be an object { id: count }');
  const keys = Object.keys(v);
  if (keys.length > maxEntries) throw bad(`it has ${keys.length} entries (at most ${maxEntries})`);
  const members = membersOf(options.members);
  const set = members === undefined ? undefined : new Set(members);
  const pairs: [string, number][] = [];
  for (const k of keys) {
    const count = (v as Record<string, unknown>)[k];
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0)
      throw bad(`the count of ${JSON.stringify(k.slice(0, 40))} is not an integer 0 to 2^53 - 1`);
    if (set !== undefined && count > 0 && !set.has(k))
      throw new CausalityError('ERR_CAUSALITY_UNKNOWN_MEMBER', `The process "${k}" is not one of the members`);
    pairs.push([k, count]);
  }
  try {
    return VectorTime.from(pairs);
  } catch (err) {
    throw bad(err instanceof Error ? err.message : String(err), err);
  }
}

/** The binary form of a Lamport time: `0x4C`, then the time as a varint. */
export function encodeLamportTime(time: number): Uint8Array {
  validateInteger(time, 'time', 0, Number.MAX_SAFE_INTEGER);
  const w = new StampWriter();
  w.byte(TAG_LAMPORT);
  w.varint(time);
  return w.done();
}

/** @internal Reads one Lamport time at the reader's offset. */
export function readLamportTime(r: StampReader): number {
  const tag = r.byte();
  if (tag !== TAG_LAMPORT) throw bad(`expected a Lamport time (0x4c), found 0x${tag.toString(16)}`);
  return r.varint();
}

/** Reads a Lamport time from its binary form, which must fill `bytes` exactly. */
export function decodeLamportTime(bytes: Uint8Array): number {
  validateBytes(bytes, 'bytes');
  const r = new StampReader(bytes);
  const t = readLamportTime(r);
  if (r.left !== 0) throw bad(`${r.left} bytes follow the time`);
  return t;
}

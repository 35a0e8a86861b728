/**
 * What every benchmark message carries, and how the receiving side proves it
 * got every message intact and in order. benchmarks/native/ceiling.c does the
 * same in C; keep the two in step.
 *
 * Layout (little-endian u32 words):
 *   [0] sequence number (0, 1, 2, ... per stream)
 *   [4] flags: FLAG_START marks the first message of a timed repetition,
 *       FLAG_END its last
 *   every 4 KiB (offset k*4096, k >= 1): stampValue(seq, k)
 *   last aligned word: tailValue(seq)
 *   everything else: a fixed a..z pattern
 *
 * The receiver checks each stamp exactly and folds sequence, tail and the
 * middle word into a checksum that must equal the producer's at the end.
 * That costs a few reads per message (4 KiB apart for large ones), so it
 * does not hide the transport's own cost.
 *
 * The per-message paths allocate nothing: the producer stamps in place into
 * one reused buffer (a batch: consecutive 8-byte aligned slots of one), the
 * consumer reads the words where the transport left them. Every value is an
 * int32 (`| 0`, `Math.imul`), never a uint32 above 2^31: V8 keeps int32s
 * unboxed, while a number outside the small-integer range crossing a call
 * is a heap allocation. The bits are those of ceiling.c's u32 words.
 * @module
 */

export const FLAG_START = 1;
export const FLAG_END = 2;
export const MIN_SIZE = 16;
export const STAMP_STRIDE = 4096;

export const tailOffset = (size: number): number => (size - 4) & ~3;
export const midOffset = (size: number): number => (size >>> 1) & ~3;
/** The tail word of message `seq` (int32; ceiling.c: the same bits as u32). */
export const tailValue = (seq: number): number => seq ^ 0xa5a5a5a5;
export const stampValue = (seq: number, k: number): number => (Math.imul(seq, 0x9e3779b1) + Math.imul(k, 0x85ebca77)) | 0;
export const mix = (cs: number, w: number): number => Math.imul(cs ^ w, 0x01000193);

/** Stamps every 4 KiB strictly before the tail word: k = 1 .. stampCount(size). */
export function stampCount(size: number): number {
  let n = 0;
  while ((n + 1) * STAMP_STRIDE + 4 <= tailOffset(size)) n++;
  return n;
}

/** Messages per `sendMany` in the batched workload: about 64 KiB, at most 1024. */
export function batchFor(size: number): number {
  return Math.max(1, Math.min(1024, Math.floor(65536 / size)));
}

/** Bytes of a ring frame: 8-byte header, payload padded to 8 (same in ceiling.c). */
export const frameBytes = (len: number): number => 8 + ((len + 7) & ~7);

/**
 * Capacity of a shared-memory ring for messages of `size` bytes: a power of
 * two, at least four frames and at least 2 MiB. Rings smaller than a core's
 * L2 cache measured slower here: the producer then writes lines the consumer
 * still holds, and each write waits for a cross-core snoop. Same in ceiling.c.
 */
export function ringCapacity(size: number): number {
  const want = Math.max(2 * 1024 * 1024, 4 * frameBytes(size));
  let cap = 1;
  while (cap < want) cap *= 2;
  return cap;
}

/** Reads a little-endian 32-bit word at any offset, as an int32. */
export function rd32(b: Uint8Array, p: number): number {
  return b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
}

/**
 * `count` message buffers the producer stamps in place and reuses: slots of
 * one ArrayBuffer, each 8-byte aligned and pattern-filled once. `views[i]` is
 * message i (made once: sending a batch allocates nothing).
 */
export class MessageBatch {
  readonly views: readonly Uint8Array[];
  private readonly words: Int32Array;
  /** Slot size in 32-bit words. */
  private readonly stride: number;
  private readonly tail: number;
  private readonly mid: number;
  private readonly stamps: number;

  constructor(
    readonly size: number,
    readonly count = 1,
  ) {
    if (!Number.isInteger(size) || size < MIN_SIZE) throw new RangeError(`message size must be an integer >= ${MIN_SIZE}, got ${size}`);
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`message count must be an integer >= 1, got ${count}`);
    const slot = (size + 7) & ~7;
    const buf = new ArrayBuffer(slot * count);
    const views: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const v = new Uint8Array(buf, i * slot, size);
      for (let j = 0; j < size; j++) v[j] = 0x61 + (j % 26);
      views.push(v);
    }
    this.views = views;
    this.words = new Int32Array(buf);
    this.stride = slot >>> 2;
    this.tail = tailOffset(size) >>> 2;
    this.mid = midOffset(size) >>> 2;
    this.stamps = stampCount(size);
  }

  /**
   * Stamps every message of the batch with sequence numbers `seq, seq + 1,
   * ...` and no flags; returns the producer's checksum `cs` advanced by them.
   */
  stampAll(seq: number, cs: number): number {
    const w = this.words;
    const stride = this.stride;
    const stamps = this.stamps;
    for (let i = 0, base = 0; i < this.count; i++, base += stride) {
      const s = (seq + i) | 0;
      w[base] = s;
      w[base + 1] = 0;
      for (let k = 1; k <= stamps; k++) w[base + ((k * STAMP_STRIDE) >>> 2)] = stampValue(s, k);
      const t = s ^ 0xa5a5a5a5;
      w[base + this.tail] = t;
      cs = Math.imul(Math.imul(Math.imul(cs ^ s, 0x01000193) ^ t, 0x01000193) ^ w[base + this.mid]!, 0x01000193);
    }
    return cs;
  }

  /** Stamps message `i` alone (sequence `seq`, `flags`); returns `cs` advanced by it. */
  stamp(i: number, seq: number, flags: number, cs: number): number {
    const w = this.words;
    const base = i * this.stride;
    w[base] = seq;
    w[base + 1] = flags;
    for (let k = 1; k <= this.stamps; k++) w[base + ((k * STAMP_STRIDE) >>> 2)] = stampValue(seq, k);
    const t = seq ^ 0xa5a5a5a5;
    w[base + this.tail] = t;
    return mix(mix(mix(cs, seq), t), w[base + this.mid]!);
  }

  /** Sets the flags of message `i` (not part of the checksum). */
  flag(i: number, flags: number): void {
    this.words[i * this.stride + 1] = flags;
  }
}

/** One message buffer (ping-pong, tests): a batch of one. */
export class MessageBuffer {
  readonly bytes: Uint8Array;
  private readonly batch: MessageBatch;

  constructor(readonly size: number) {
    this.batch = new MessageBatch(size, 1);
    this.bytes = this.batch.views[0]!;
  }

  /** Stamps `seq` and `flags`; returns the producer's checksum advanced by this message. */
  stamp(seq: number, flags: number, cs: number): number {
    return this.batch.stamp(0, seq, flags, cs);
  }
}

/** Thrown when a message arrives wrong: the run must not report a figure for it. */
export class VerificationError extends Error {
  override name = 'VerificationError';
}

/**
 * The consumer side of a stream: checks each message where it lies and
 * times the repetitions the producer marked with FLAG_START/FLAG_END.
 */
export class StreamVerifier {
  /** The sequence number the next message must carry (int32). */
  expected = 0;
  checksum = 0;
  private inRep = false;
  private startSeq = 0;
  private t0 = 0;
  readonly reps: { messages: number; seconds: number }[] = [];
  private readonly tail: number;
  private readonly mid: number;
  private readonly stamps: number;
  /**
   * The check, as the one stable function transports call for each message
   * (monomorphic call sites, nothing between the receive loop and the
   * reads). Only the common path is here, small enough to inline; a failed
   * check, the stamps of messages over 4 KiB and the START/END marks are
   * out of line.
   */
  readonly onMessage: (b: Uint8Array, o: number, len: number) => void;

  constructor(
    readonly size: number,
    private readonly batch: number,
  ) {
    const tail = (this.tail = tailOffset(size));
    const mid = (this.mid = midOffset(size));
    const stamps = (this.stamps = stampCount(size));
    this.onMessage = (b, o, len) => {
      if (len !== size) this.reject(b, o, len);
      const seq = b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
      const p = o + tail;
      const t = b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24);
      if (seq !== this.expected || t !== (seq ^ 0xa5a5a5a5) || (stamps !== 0 && !this.stampsOk(b, o, seq))) this.reject(b, o, len);
      const m = o + mid;
      const mw = b[m]! | (b[m + 1]! << 8) | (b[m + 2]! << 16) | (b[m + 3]! << 24);
      this.checksum = Math.imul(Math.imul(Math.imul(this.checksum ^ seq, 0x01000193) ^ t, 0x01000193) ^ mw, 0x01000193);
      this.expected = (seq + 1) | 0;
      const flags = b[o + 4]!;
      if (flags !== 0) this.flagged(seq, flags);
    };
  }

  /** Checks `b[o .. o + len)` as the next message (throws a VerificationError when it is not). */
  check(b: Uint8Array, o: number, len: number): void {
    this.onMessage(b, o, len);
  }

  private stampsOk(b: Uint8Array, o: number, seq: number): boolean {
    for (let k = 1; k <= this.stamps; k++) if (rd32(b, o + k * STAMP_STRIDE) !== stampValue(seq, k)) return false;
    return true;
  }

  /** Says what is wrong with a message that failed the check. */
  private reject(b: Uint8Array, o: number, len: number): never {
    const fail = (what: string): never => {
      throw new VerificationError(`message ${this.expected >>> 0}: ${what}`);
    };
    if (len !== this.size) fail(`${len} bytes, expected ${this.size}`);
    const seq = rd32(b, o);
    if (seq !== this.expected) fail(`sequence number ${seq >>> 0} (lost, repeated or reordered)`);
    if (rd32(b, o + this.tail) !== tailValue(seq)) fail('bad tail word (truncated or misframed)');
    for (let k = 1; k <= this.stamps; k++)
      if (rd32(b, o + k * STAMP_STRIDE) !== stampValue(seq, k)) fail(`bad stamp at ${k * STAMP_STRIDE}`);
    return fail('failed the check');
  }

  private flagged(seq: number, flags: number): void {
    if (flags & FLAG_START) {
      this.t0 = performance.now();
      this.startSeq = seq;
      this.inRep = true;
    }
    if (flags & FLAG_END) {
      const t1 = performance.now();
      if (!this.inRep) throw new VerificationError(`message ${seq >>> 0}: end of a repetition that never started`);
      // START..END inclusive; the first batch arrived at t0: only what came after it was timed.
      this.reps.push({ messages: seq - this.startSeq + 1 - this.batch, seconds: (t1 - this.t0) / 1000 });
      this.inRep = false;
    }
  }

  /** Messages checked so far. */
  get count(): number {
    return this.expected >>> 0;
  }
}

/** A ping or pong check: the echo must carry the sequence that was sent. */
export function checkEcho(b: Uint8Array, o: number, len: number, size: number, seq: number): void {
  if (len !== size) throw new VerificationError(`round trip ${seq}: ${len} bytes, expected ${size}`);
  const got = rd32(b, o);
  if (got !== (seq | 0)) throw new VerificationError(`round trip ${seq}: got sequence ${got >>> 0}`);
  if (rd32(b, o + tailOffset(size)) !== tailValue(seq)) throw new VerificationError(`round trip ${seq}: bad tail word`);
}

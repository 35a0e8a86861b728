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
 * @module
 */

export const FLAG_START = 1;
export const FLAG_END = 2;
export const MIN_SIZE = 16;
export const STAMP_STRIDE = 4096;

export const tailOffset = (size: number): number => (size - 4) & ~3;
export const midOffset = (size: number): number => (size >>> 1) & ~3;
export const tailValue = (seq: number): number => (seq ^ 0xa5a5a5a5) >>> 0;
export const stampValue = (seq: number, k: number): number => (Math.imul(seq, 0x9e3779b1) + Math.imul(k, 0x85ebca77)) >>> 0;
export const mix = (cs: number, w: number): number => Math.imul(cs ^ w, 0x01000193) >>> 0;

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

/** Reads a little-endian u32 at any offset. */
export function rd32(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}

/** A message buffer the producer stamps and reuses: 8-byte aligned, pattern-filled. */
export class MessageBuffer {
  readonly bytes: Uint8Array;
  private readonly words: Uint32Array;
  private readonly tail: number;
  private readonly mid: number;
  private readonly stamps: number;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < MIN_SIZE) throw new RangeError(`message size must be an integer >= ${MIN_SIZE}, got ${size}`);
    const buf = new ArrayBuffer((size + 7) & ~7);
    this.bytes = new Uint8Array(buf, 0, size);
    this.words = new Uint32Array(buf);
    for (let i = 0; i < size; i++) this.bytes[i] = 0x61 + (i % 26);
    this.tail = tailOffset(size) >>> 2;
    this.mid = midOffset(size) >>> 2;
    let n = 0;
    while ((n + 1) * STAMP_STRIDE + 4 <= tailOffset(size)) n++;
    this.stamps = n;
  }

  /** Stamps `seq` and `flags`; returns the producer's checksum advanced by this message. */
  stamp(seq: number, flags: number, cs: number): number {
    const w = this.words;
    w[0] = seq;
    w[1] = flags;
    for (let k = 1; k <= this.stamps; k++) w[(k * STAMP_STRIDE) >>> 2] = stampValue(seq, k);
    const t = tailValue(seq);
    w[this.tail] = t;
    return mix(mix(mix(cs, seq), t), w[this.mid]!);
  }
}

/** Thrown when a message arrives wrong: the run must not report a figure for it. */
export class VerificationError extends Error {
  override name = 'VerificationError';
}

/**
 * The consumer side of a stream: checks each message and times the
 * repetitions the producer marked with FLAG_START/FLAG_END.
 */
export class StreamVerifier {
  expected = 0;
  checksum = 0;
  private inRep = false;
  private repCount = 0;
  private t0 = 0;
  readonly reps: { messages: number; seconds: number }[] = [];
  private readonly tail: number;
  private readonly mid: number;
  private readonly stamps: number;
  /** Bound handler, so transports get one stable function (monomorphic call sites). */
  readonly onMessage: (b: Uint8Array, o: number, len: number) => void;

  constructor(
    readonly size: number,
    private readonly batch: number,
  ) {
    this.tail = tailOffset(size);
    this.mid = midOffset(size);
    let n = 0;
    while ((n + 1) * STAMP_STRIDE + 4 <= this.tail) n++;
    this.stamps = n;
    this.onMessage = (b, o, len) => this.check(b, o, len);
  }

  check(b: Uint8Array, o: number, len: number): void {
    const seq = rd32(b, o);
    if (len !== this.size) throw new VerificationError(`message ${this.expected}: ${len} bytes, expected ${this.size}`);
    if (seq !== this.expected) throw new VerificationError(`message ${this.expected}: sequence number ${seq} (lost, repeated or reordered)`);
    const t = rd32(b, o + this.tail);
    if (t !== tailValue(seq)) throw new VerificationError(`message ${seq}: bad tail word (truncated or misframed)`);
    for (let k = 1; k <= this.stamps; k++) {
      if (rd32(b, o + k * STAMP_STRIDE) !== stampValue(seq, k)) throw new VerificationError(`message ${seq}: bad stamp at ${k * STAMP_STRIDE}`);
    }
    this.checksum = mix(mix(mix(this.checksum, seq), t), rd32(b, o + this.mid));
    this.expected = (seq + 1) >>> 0;
    const flags = b[o + 4]!;
    if (flags === 0) {
      if (this.inRep) this.repCount++;
      return;
    }
    if (flags & FLAG_START) {
      this.t0 = performance.now();
      this.repCount = 0;
      this.inRep = true;
    }
    if (this.inRep) this.repCount++;
    if (flags & FLAG_END) {
      const t1 = performance.now();
      if (!this.inRep) throw new VerificationError(`message ${seq}: end of a repetition that never started`);
      // The first batch arrived at t0: only what came after it was timed.
      this.reps.push({ messages: this.repCount - this.batch, seconds: (t1 - this.t0) / 1000 });
      this.inRep = false;
    }
  }

  get count(): number {
    return this.expected;
  }
}

/** A ping or pong check: the echo must carry the sequence that was sent. */
export function checkEcho(b: Uint8Array, o: number, len: number, size: number, seq: number): void {
  if (len !== size) throw new VerificationError(`round trip ${seq}: ${len} bytes, expected ${size}`);
  const got = rd32(b, o);
  if (got !== seq >>> 0) throw new VerificationError(`round trip ${seq}: got sequence ${got}`);
  if (rd32(b, o + tailOffset(size)) !== tailValue(seq)) throw new VerificationError(`round trip ${seq}: bad tail word`);
}

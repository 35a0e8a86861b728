/**
 * A single-producer single-consumer ring of variable-length frames in a
 * SharedArrayBuffer, for the worker-thread baseline. Same layout and wake-up
 * protocol as the shared-memory ring of benchmarks/native/ceiling.c:
 *
 *   Int32 [0]  tail  (producer position, free-running u32)   -- own 64-byte line
 *   Int32 [16] head  (consumer position, free-running u32)   -- own line
 *   Int32 [32] consumer sleeping flag                         -- own line
 *   Int32 [48] producer sleeping flag                         -- own line
 *   bytes 256.. data: frames [u32 length][u32 0][payload, padded to 8 bytes]
 *
 * Frames stay 8-byte aligned: V8 copies into shared memory word by word only
 * when source and destination are aligned, byte by byte otherwise. A side
 * that finds nothing to do spins for a while, then raises its flag and sleeps
 * in Atomics.wait; the other side calls Atomics.notify only when the flag is
 * up, so a busy stream makes no wake-up calls at all.
 * @module
 */
import { VerificationError, frameBytes } from './payload.js';
import type { BenchReceiver, BenchSender, MessageHandler } from './types.js';

export const RING_HEADER = 256;
/** Int32 indices of the control words (exported for tests that start a ring mid-way). */
export const TAIL = 0;
export const HEAD = 16;
const CWAIT = 32;
const PWAIT = 48;
const WRAP = 0xffffffff;
const END = 0xfffffffe;
const SPIN_MS = 0.02;

/** Allocates a ring with `capacity` data bytes (a power of two). */
export function createRing(capacity: number): SharedArrayBuffer {
  if (capacity < 64 || (capacity & (capacity - 1)) !== 0 || capacity > 2 ** 30)
    throw new RangeError(`ring capacity must be a power of two, got ${capacity}`);
  return new SharedArrayBuffer(RING_HEADER + capacity);
}

/** Spins on `ctrl[index] === seen`, then sleeps until it changes; `flag` tells the peer we sleep. */
function waitChange(ctrl: Int32Array, index: number, seen: number, flag: number): void {
  const start = performance.now();
  for (let i = 1; ; i++) {
    if (Atomics.load(ctrl, index) !== seen) return;
    if ((i & 255) === 0 && performance.now() - start > SPIN_MS) break;
  }
  for (;;) {
    Atomics.store(ctrl, flag, 1);
    if (Atomics.load(ctrl, index) !== seen) break;
    // Bounded, so a vanished peer shows up as a harness timeout, never a lost wake-up.
    Atomics.wait(ctrl, index, seen, 100);
    if (Atomics.load(ctrl, index) !== seen) break;
  }
  Atomics.store(ctrl, flag, 0);
}

abstract class RingEnd {
  protected readonly ctrl: Int32Array;
  protected readonly data: Uint8Array;
  protected readonly words: Uint32Array;
  protected readonly cap: number;
  protected readonly mask: number;
  /** Our own position: tail for the writer, head for the reader. */
  protected pos = 0;
  /** The other side's position, as last read. */
  protected peer = 0;

  constructor(sab: SharedArrayBuffer, own: number, other: number) {
    this.ctrl = new Int32Array(sab, 0, RING_HEADER / 4);
    this.cap = sab.byteLength - RING_HEADER;
    this.mask = this.cap - 1;
    this.data = new Uint8Array(sab, RING_HEADER, this.cap);
    this.words = new Uint32Array(sab, RING_HEADER, this.cap / 4);
    // Attach where the ring stands (a new ring: both at 0).
    this.pos = Atomics.load(this.ctrl, own) >>> 0;
    this.peer = Atomics.load(this.ctrl, other) >>> 0;
  }
}

/** The producing end: `send` copies into the ring; `sendMany` publishes once per batch. */
export class RingWriter extends RingEnd implements BenchSender {
  constructor(sab: SharedArrayBuffer) {
    super(sab, TAIL, HEAD);
  }

  private reserve(total: number): void {
    while (this.cap - ((this.pos - this.peer) >>> 0) < total) {
      this.peer = Atomics.load(this.ctrl, HEAD) >>> 0;
      if (this.cap - ((this.pos - this.peer) >>> 0) >= total) return;
      this.publish(); // a batching writer must let the reader drain
      waitChange(this.ctrl, HEAD, this.peer | 0, PWAIT);
    }
  }

  private put(msg: Uint8Array): void {
    const len = msg.length;
    const need = frameBytes(len);
    let idx = this.pos & this.mask;
    const contig = this.cap - idx;
    this.reserve(contig < need ? contig + need : need);
    if (contig < need) {
      this.words[idx >>> 2] = WRAP;
      this.pos = (this.pos + contig) >>> 0;
      idx = 0;
    }
    this.words[idx >>> 2] = len;
    this.data.set(msg, idx + 8);
    this.pos = (this.pos + need) >>> 0;
  }

  private publish(): void {
    Atomics.store(this.ctrl, TAIL, this.pos | 0);
    if (Atomics.load(this.ctrl, CWAIT) !== 0 && Atomics.exchange(this.ctrl, CWAIT, 0) !== 0) Atomics.notify(this.ctrl, TAIL, 1);
  }

  send(msg: Uint8Array): void {
    this.put(msg);
    this.publish();
  }

  sendMany(msgs: readonly Uint8Array[]): void {
    for (let i = 0; i < msgs.length; i++) this.put(msgs[i]!);
    this.publish();
  }

  close(): void {
    const idx = this.pos & this.mask;
    const contig = this.cap - idx;
    this.reserve(contig < 8 ? contig + 8 : 8);
    if (contig < 8) {
      this.words[idx >>> 2] = WRAP;
      this.pos = (this.pos + contig) >>> 0;
    }
    this.words[(this.pos & this.mask) >>> 2] = END;
    this.pos = (this.pos + 8) >>> 0;
    this.publish();
  }
}

/**
 * The consuming end: copies each frame out into one reused buffer (as the C
 * ceiling's consumer and posix-ipc's receive-into-reused-memory do) and
 * hands that to the handler, so the ring space can be given back at once;
 * gives space back a quarter ring at a time or whenever it catches up with
 * the writer. Small frames are copied word by word: a subarray view per
 * message would cost an allocation.
 */
export class RingReader extends RingEnd implements BenchReceiver {
  private unreleased = 0;
  private readonly out: Uint8Array;
  private readonly out32: Uint32Array;

  constructor(sab: SharedArrayBuffer, maxMessage: number) {
    super(sab, HEAD, TAIL);
    const buf = new ArrayBuffer((maxMessage + 7) & ~7);
    this.out = new Uint8Array(buf);
    this.out32 = new Uint32Array(buf);
  }

  private release(): void {
    Atomics.store(this.ctrl, HEAD, this.pos | 0);
    this.unreleased = 0;
    if (Atomics.load(this.ctrl, PWAIT) !== 0 && Atomics.exchange(this.ctrl, PWAIT, 0) !== 0) Atomics.notify(this.ctrl, HEAD, 1);
  }

  async consume(onMessage: MessageHandler): Promise<void> {
    const words = this.words;
    const data = this.data;
    const out = this.out;
    const out32 = this.out32;
    const quarter = this.cap >>> 2;
    for (;;) {
      if (this.pos === this.peer) {
        this.release();
        this.peer = Atomics.load(this.ctrl, TAIL) >>> 0;
        if (this.pos === this.peer) {
          waitChange(this.ctrl, TAIL, this.pos | 0, CWAIT);
          this.peer = Atomics.load(this.ctrl, TAIL) >>> 0;
        }
        continue;
      }
      const idx = this.pos & this.mask;
      const len = words[idx >>> 2]!;
      if (len === WRAP) {
        this.pos = (this.pos + this.cap - idx) >>> 0;
        continue;
      }
      if (len === END) {
        this.pos = (this.pos + 8) >>> 0;
        this.release();
        return;
      }
      const need = frameBytes(len);
      // Never trust the other side: the frame must lie inside what it published.
      if (len > this.cap - idx - 8 || need > (this.peer - this.pos) >>> 0 || len > out.length)
        throw new VerificationError(`ring frame length ${len} out of bounds`);
      if (len <= 256) {
        // The padding to 8 bytes lies inside the frame: whole words are safe to read.
        const s = (idx + 8) >>> 2;
        for (let k = 0, n = (len + 3) >>> 2; k < n; k++) out32[k] = words[s + k]!;
      } else {
        out.set(data.subarray(idx + 8, idx + 8 + len));
      }
      this.pos = (this.pos + need) >>> 0;
      this.unreleased += need;
      if (this.unreleased >= quarter) this.release();
      const r = onMessage(out, 0, len);
      if (r) await r;
    }
  }
}

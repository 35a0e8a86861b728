/**
 * A single-producer, single-consumer ring of variable-length messages in
 * memory that two processes share. Pure TypeScript on the hot path: the
 * indices are published with `Atomics` and a native call happens only to put
 * a side to sleep or to wake a sleeper (see {@link Waker}).
 *
 * The words it uses (indices, sleep flags, futex sequences) are laid out in
 * ./header.ts, each side's hot words on a cache line of its own.
 *
 * The sleep words sit on lines of their own, written only around a sleep:
 * each side reads the other's sleep word after every publish, and that read
 * must not miss in cache because the other side just wrote its index there.
 *
 * Indices are free-running 32-bit byte counters: position = index & (capacity - 1),
 * bytes in use = (write - read) mod 2^32. A frame is an 8-byte header (u32
 * payload length, u32 reserved) and the payload, padded to 8 bytes, so every
 * frame and payload starts 8-byte aligned (V8 copies aligned memory fast). A
 * frame never wraps: where it would not fit before the end, the producer
 * writes a wrap marker (length 0xFFFFFFFF) and continues at position 0, so a
 * received payload is always one contiguous view.
 *
 * Memory ordering: the producer writes the frame, then stores the write index
 * (Atomics.store, sequentially consistent, so it also releases the frame's
 * bytes); the consumer loads the write index (acquire) before it reads the
 * frame. Symmetrically for the read index and the space it frees.
 *
 * Wake protocol (no lost wake-up, no wake per message): a side that finds
 * nothing to do reads its futex word's sequence, then announces that it
 * sleeps, then re-checks the index, and only then waits on the word for that
 * sequence. The other side stores its index first and then reads the
 * announcement: with sequentially consistent Atomics one of the two sees the
 * other's store. A waker bumps the sequence before waking, so a wait that
 * starts late returns at once. The consumer wakes a sleeping producer only
 * once the free space reaches the producer's need and half the ring
 * (hysteresis), so a full ring costs one wake per half ring, not per message.
 *
 * The other process can write anything here. Every index and length is
 * loaded once into a local and checked before use; a violation poisons the
 * channel (ERR_CHANNEL_CORRUPT) and never reads or writes outside the ring.
 * @internal
 * @module
 */
import { die, FAULTS, faultHere } from '../../internal/fault.js';
import {
  align8,
  corrupt,
  DATA_OFFSET,
  DATA_SEQ_OFFSET,
  FRAME_HEADER,
  I_CONSUMER_SLEEPING,
  I_DATA_SEQ,
  I_PRODUCER_NEED,
  I_READ,
  I_SPACE_SEQ,
  I_STATE,
  I_WRITE,
  readGeometry,
  SPACE_SEQ_OFFSET,
  STATE_POISONED,
  WRAP,
} from './header.js';
import type { ChannelError } from '../../errors.js';

/** How a ring side wakes the other: a futex wake on a word of the segment (the sleeps are the engine's). */
export interface Waker {
  wake(byteOffset: number): void;
}

/** One side's view of the ring's memory. */
abstract class RingSide {
  protected readonly h: Int32Array;
  readonly data: Uint8Array;
  protected readonly words: Uint32Array;
  readonly capacity: number;
  readonly maxMessage: number;
  protected readonly mask: number;
  protected readonly waker: Waker;

  constructor(memory: ArrayBufferLike, waker: Waker) {
    const { capacity, maxMessage } = readGeometry(memory);
    this.capacity = capacity;
    this.maxMessage = maxMessage;
    this.mask = capacity - 1;
    this.h = new Int32Array(memory, 0, DATA_OFFSET / 4);
    this.data = new Uint8Array(memory, DATA_OFFSET, capacity);
    this.words = new Uint32Array(memory, DATA_OFFSET, capacity / 4);
    this.waker = waker;
  }

  poison(reason: ChannelError): ChannelError {
    Atomics.store(this.h, I_STATE, STATE_POISONED);
    return reason;
  }

  get poisoned(): boolean {
    return Atomics.load(this.h, I_STATE) === STATE_POISONED;
  }

  /** Checks that `used` bytes between two indices is possible; returns it. */
  protected checkUsed(write: number, read: number): number {
    const used = (write - read) >>> 0;
    if (used > this.capacity || (write & 7) !== 0 || (read & 7) !== 0) {
      throw this.poison(corrupt(`indices write=${write >>> 0} read=${read >>> 0} out of range`));
    }
    return used;
  }
}

/** The producing side: reserve, copy, publish; wakes the consumer only when it sleeps. */
export class RingProducer extends RingSide {
  #write: number; // our own index: the peer never writes it, but we re-validate against read
  #readSeen: number; // last read index loaded; reloaded only when space seems short
  #written = 0; // messages written, counted only for test-only fault points (FAULTS)

  constructor(memory: ArrayBufferLike, waker: Waker) {
    super(memory, waker);
    this.#write = Atomics.load(this.h, I_WRITE) >>> 0;
    this.#readSeen = Atomics.load(this.h, I_READ) >>> 0;
    this.checkUsed(this.#write, this.#readSeen);
  }

  /**
   * The free bytes the next step needs: the frame, or first the wrap marker
   * when the frame does not fit before the end. Writing the marker on its own
   * guarantees progress: once the consumer passes it, a frame as large as the
   * whole ring fits at position 0.
   */
  #need(len: number): number {
    const frame = FRAME_HEADER + align8(len);
    const tail = this.capacity - (this.#write & this.mask);
    return frame <= tail ? frame : tail;
  }

  /** Free bytes, reloading the consumer's index (once) when the cached one is not enough. */
  #free(need: number): number {
    let free = this.capacity - this.checkUsed(this.#write, this.#readSeen);
    if (free < need) {
      this.#readSeen = Atomics.load(this.h, I_READ) >>> 0;
      free = this.capacity - this.checkUsed(this.#write, this.#readSeen);
    }
    return free;
  }

  /**
   * Copies one message in if it fits now. Does not publish: call
   * {@link publish} after one or many writes, and always before sleeping (a
   * wrap marker may have been written even when this returns false). The
   * caller checked `len <= maxMessage`.
   */
  tryWrite(bytes: Uint8Array): boolean {
    const len = bytes.byteLength;
    const frame = FRAME_HEADER + align8(len);
    let pos = this.#write & this.mask;
    const tail = this.capacity - pos;
    if (frame > tail) {
      if (this.#free(tail) < tail) return false;
      this.words[pos >>> 2] = WRAP;
      this.#write = (this.#write + tail) >>> 0;
      pos = 0;
    }
    if (this.#free(frame) < frame) return false;
    if (FAULTS && faultHere('reserve', this.#written)) die();
    this.words[pos >>> 2] = len;
    this.words[(pos >>> 2) + 1] = 0;
    if (FAULTS && faultHere('copy', this.#written)) {
      this.data.set(bytes.subarray(0, len >>> 1), pos + FRAME_HEADER);
      die();
    }
    this.data.set(bytes, pos + FRAME_HEADER);
    this.#write = (this.#write + frame) >>> 0;
    if (FAULTS) this.#written++;
    return true;
  }

  /**
   * {@link tryWrite} for a batch: copies `list[from]`, `list[from + 1]`, ...
   * while they fit, and returns how many it copied. The free space is
   * computed once and reloaded only when it runs short. Does not publish.
   */
  tryWriteMany(list: readonly Uint8Array[], from: number): number {
    const { capacity, mask, words, data } = this;
    let write = this.#write;
    let free = capacity - this.checkUsed(write, this.#readSeen);
    let i = from;
    for (; i < list.length; i++) {
      const bytes = list[i]!;
      const len = bytes.byteLength;
      const frame = FRAME_HEADER + align8(len);
      let pos = write & mask;
      const tail = capacity - pos;
      if (frame > tail) {
        if (free < tail) {
          this.#readSeen = Atomics.load(this.h, I_READ) >>> 0;
          free = capacity - this.checkUsed(write, this.#readSeen);
          if (free < tail) break;
        }
        words[pos >>> 2] = WRAP;
        write = (write + tail) >>> 0;
        free -= tail;
        pos = 0;
        this.#write = write;
      }
      if (free < frame) {
        this.#readSeen = Atomics.load(this.h, I_READ) >>> 0;
        free = capacity - this.checkUsed(write, this.#readSeen);
        if (free < frame) break;
      }
      if (FAULTS) {
        this.#write = write;
        if (!this.tryWrite(bytes)) break; // the fault points live there
        write = this.#write;
        free -= frame;
        continue;
      }
      words[pos >>> 2] = len;
      words[(pos >>> 2) + 1] = 0;
      data.set(bytes, pos + FRAME_HEADER);
      write = (write + frame) >>> 0;
      free -= frame;
    }
    this.#write = write;
    return i - from;
  }

  /** Makes written frames visible, and wakes the consumer if it announced sleep. */
  publish(): void {
    if (FAULTS && faultHere('publish', this.#written - 1)) die();
    Atomics.store(this.h, I_WRITE, this.#write | 0);
    if (Atomics.load(this.h, I_CONSUMER_SLEEPING) !== 0) {
      if (FAULTS && faultHere('wake', this.#written - 1)) die();
      Atomics.store(this.h, I_CONSUMER_SLEEPING, 0);
      Atomics.add(this.h, I_DATA_SEQ, 1);
      this.waker.wake(DATA_SEQ_OFFSET);
    }
  }

  /**
   * Prepares to sleep until `len` bytes fit: returns the sequence to wait on,
   * or null when space appeared meanwhile (no sleep needed).
   */
  prepareSleep(len: number): number | null {
    const need = this.#need(len);
    const seq = Atomics.load(this.h, I_SPACE_SEQ);
    Atomics.store(this.h, I_PRODUCER_NEED, need);
    if (this.#free(need) >= need) {
      Atomics.store(this.h, I_PRODUCER_NEED, 0);
      return null;
    }
    return seq;
  }

  endSleep(): void {
    Atomics.store(this.h, I_PRODUCER_NEED, 0);
  }

  /** Bytes queued that the consumer has not taken. */
  get queued(): number {
    return (this.#write - (Atomics.load(this.h, I_READ) >>> 0)) >>> 0;
  }
}

/** The consuming side: loads the write index, validates each frame, frees space. */
export class RingConsumer extends RingSide {
  #read: number;
  #writeSeen: number;

  constructor(memory: ArrayBufferLike, waker: Waker) {
    super(memory, waker);
    this.#read = Atomics.load(this.h, I_READ) >>> 0;
    this.#writeSeen = Atomics.load(this.h, I_WRITE) >>> 0;
    this.checkUsed(this.#writeSeen, this.#read);
  }

  /**
   * The next payload as a view into the ring, or null when empty. The bytes
   * stay valid until {@link release} frees them.
   */
  peek(): Uint8Array | null {
    const len = this.peekLength();
    return len < 0 ? null : this.data.subarray(this.offset, this.offset + len);
  }

  /** Where the payload found by {@link peekLength} starts in {@link data}. */
  offset = 0;

  /**
   * {@link peek} without a view: the next payload's length (its bytes are
   * `data[offset, offset + length)`), or -1 when empty.
   */
  peekLength(): number {
    for (;;) {
      let used = this.checkUsed(this.#writeSeen, this.#read);
      if (used === 0) {
        this.#writeSeen = Atomics.load(this.h, I_WRITE) >>> 0;
        used = this.checkUsed(this.#writeSeen, this.#read);
        if (used === 0) return -1;
      }
      const pos = this.#read & this.mask;
      const tail = this.capacity - pos;
      const len = this.words[pos >>> 2]!; // loaded once; only this local is used below
      if (len === WRAP) {
        if (tail > used) throw this.poison(corrupt(`wrap marker at ${pos} beyond the published bytes`));
        this.#read = (this.#read + tail) >>> 0;
        continue;
      }
      if (len > this.maxMessage) throw this.poison(corrupt(`frame length ${len} over the maximum ${this.maxMessage}`));
      const frame = FRAME_HEADER + align8(len);
      if (frame > tail || frame > used) throw this.poison(corrupt(`frame of ${frame} bytes at ${pos} overruns the ring`));
      this.#pending = frame;
      this.offset = pos + FRAME_HEADER;
      return len;
    }
  }

  #pending = 0;

  /** Frees the frame returned by the last {@link peek} (not yet visible to the producer: see publish). */
  release(): void {
    this.#read = (this.#read + this.#pending) >>> 0;
    this.#pending = 0;
  }

  /** Makes freed space visible, and wakes the producer once enough is free. */
  publish(): void {
    Atomics.store(this.h, I_READ, this.#read | 0);
    const need = Atomics.load(this.h, I_PRODUCER_NEED);
    if (need !== 0) {
      const free = this.capacity - ((this.#writeSeen - this.#read) >>> 0);
      if (free >= need && free >= this.capacity >>> 1) {
        Atomics.store(this.h, I_PRODUCER_NEED, 0);
        Atomics.add(this.h, I_SPACE_SEQ, 1);
        this.waker.wake(SPACE_SEQ_OFFSET);
      }
    }
  }

  /** Prepares to sleep until data arrives: the sequence to wait on, or null when data appeared. */
  prepareSleep(): number | null {
    const seq = Atomics.load(this.h, I_DATA_SEQ);
    Atomics.store(this.h, I_CONSUMER_SLEEPING, 1);
    this.#writeSeen = Atomics.load(this.h, I_WRITE) >>> 0;
    if (this.checkUsed(this.#writeSeen, this.#read) !== 0) {
      Atomics.store(this.h, I_CONSUMER_SLEEPING, 0);
      return null;
    }
    return seq;
  }

  endSleep(): void {
    Atomics.store(this.h, I_CONSUMER_SLEEPING, 0);
  }

  /** True when the producer published nothing we have not consumed. */
  get empty(): boolean {
    return this.checkUsed(Atomics.load(this.h, I_WRITE) >>> 0, this.#read) === 0;
  }
}

/**
 * A reusable barrier for `parties` processes, in a shared-memory segment
 * of its own, that breaks (rather than hangs) when a waiting party dies.
 *
 * Layout (little-endian; 64-byte header, then `parties` slots of 16 bytes):
 *
 *   0  magic 'PBAR'   4  version   8  header bytes (64)   12 parties
 *  16  wake seq (the futex word waiters sleep on)   20  generation ended by reset()
 *  24  state: 64 bits, generation << 32 | BROKEN (bit 31) | arrived count
 *  64 + 16 i: slot i: the arrived party's owner word (64 bits: pid << 42 | start time), then the generation it arrived in
 *
 * Arriving is one compare-and-swap of the state (count + 1 in the same
 * generation); the count before it is the party's slot, where it then
 * writes its owner word and, last, the generation: a slot is read only when
 * its generation is the current one. The last party moves the state to the
 * next generation (count 0) by a compare-and-swap, which fails if the
 * generation was broken meanwhile. A waiter checks the slots' owners once a
 * liveness slice; a dead one, a timeout or an abort sets BROKEN by a
 * compare-and-swap within the same generation. See docs/sync.md.
 * @module
 */
import { abortError, closedError, LockError, timeoutError } from '../errors.js';
import { futexWake } from '../futex.js';
import { validateAbortSignal, validateInteger, validateOptions, validateTimeout } from '../internal/validators.js';
import { deadlineAfter } from '../internal/waiting.js';
import { SharedMemory, type ShmCreateMode } from '../shm.js';
import { checkLockHeader, openLockSegment, type LockLayout } from './lock-segment.js';
import { corrupt, myToken, ownerGone } from './mutex-words.js';
import { acquireInSlices, acquireInSlicesSync, type SliceWait } from './slices.js';

function corruptBarrier(name: string, what: string): LockError {
  return corrupt(name, what, 'barrier');
}

const MAGIC = 0x52414250; // 'PBAR' little-endian
const VERSION = 1;
const HEADER_BYTES = 64;
const SLOT_BYTES = 16;
/** Most parties a barrier takes. */
export const BARRIER_MAX_PARTIES = 1024;
const LAYOUT: LockLayout = { kind: 'barrier', magic: MAGIC, version: VERSION, headerBytes: HEADER_BYTES };
const I_PARTIES = 3;
const I_SEQ = 4;
const I_RESET_GEN = 5;
const SEQ_OFFSET = I_SEQ * 4;
const I_STATE = 3; // BigUint64 index: byte 24
const BROKEN = 1n << 31n;
const COUNT_MASK = BROKEN - 1n;

/** Options of {@link Barrier.open}. */
export interface BarrierOpenOptions {
  /** Like {@link SharedMemoryOpenOptions.create}; default `'open'`. */
  create?: ShmCreateMode;
  /** Number of processes that must arrive before any passes, 1..1024. Required to create; when opening, if given, must match. */
  parties?: number;
  /** Permission bits of a segment this call creates (exactly, whatever the umask). Default `0o600`. */
  mode?: number;
}

/** Options of {@link Barrier.wait}. */
export interface BarrierWaitOptions {
  /** Give up after this many ms: `ETIMEDOUT`, and the generation is broken for the others. Default: no limit. */
  timeoutMs?: number;
  /** Cancels the wait: an `AbortError`, and the generation is broken for the others. */
  signal?: AbortSignal;
}

/** What {@link Barrier.wait} resolves with once every party arrived. */
export interface BarrierPassage {
  /** The generation passed (0 for the first, then 1, 2, ...; modulo 2^32). */
  readonly generation: number;
  /** True for exactly one party of each generation (the last to arrive), like `PTHREAD_BARRIER_SERIAL_THREAD`. */
  readonly serial: boolean;
}

const kConstruct = Symbol('Barrier.construct');

/**
 * A cyclic barrier across processes: each generation lets its `parties`
 * waiters pass once all have arrived. A party that dies while waiting, or
 * whose wait times out or is aborted, breaks the generation: every waiter
 * of it, and every later arrival, fails with `ERR_BARRIER_BROKEN` until
 * {@link reset}. See docs/sync.md.
 *
 * @example
 * using barrier = Barrier.open('/phase', { create: 'open-or-create', parties: 4 });
 * for (let phase = 0; phase < 10; phase++) {
 *   compute(phase);
 *   const { serial } = await barrier.wait({ timeoutMs: 10_000 });
 *   if (serial) publish(phase); // exactly one of the four
 * }
 */
export class Barrier implements Disposable {
  /** The segment's name. */
  readonly name: string;
  /** True when this call created the segment. */
  readonly created: boolean;
  /** The number of parties of each generation. */
  readonly parties: number;
  readonly #shm: SharedMemory;
  readonly #words: Int32Array;
  readonly #big: BigUint64Array;

  /** @internal Use {@link Barrier.open}. */
  constructor(token: symbol, shm: SharedMemory, parties: number) {
    if (token !== kConstruct) throw new TypeError('Use Barrier.open() to get a Barrier');
    this.name = shm.name;
    this.created = shm.created;
    this.parties = parties;
    this.#shm = shm;
    this.#words = new Int32Array(shm.buffer, 0, (HEADER_BYTES + parties * SLOT_BYTES) / 4);
    this.#big = new BigUint64Array(shm.buffer, 0, (HEADER_BYTES + parties * SLOT_BYTES) / 8);
  }

  /**
   * Opens (or creates, per `options.create`) the barrier in the segment
   * `name`. Creating needs `options.parties` (1..1024). An existing segment
   * is checked: `ERR_LOCK_CORRUPT` if it is not a barrier, RangeError if
   * `options.parties` is given and differs. Throws what
   * {@link SharedMemory.open} throws, and `EAGAIN` while its creator has
   * not finished writing it (retry shortly).
   */
  static open(name: string, options?: BarrierOpenOptions): Barrier {
    const opts = validateOptions(options);
    const create = opts.create ?? 'open';
    const parties = opts.parties === undefined ? undefined : validateInteger(opts.parties, 'options.parties', 1, BARRIER_MAX_PARTIES);
    if (create !== 'open' && parties === undefined) throw new TypeError('options.parties is required to create a barrier');
    const init = (words: Int32Array): void => {
      words[I_PARTIES] = parties!;
      words[I_RESET_GEN] = -1;
    };
    return openLockSegment(
      name,
      opts,
      LAYOUT,
      () => HEADER_BYTES + parties! * SLOT_BYTES,
      init,
      (shm, words) => {
        const recorded = words[I_PARTIES]!;
        if (!Number.isInteger(recorded) || recorded < 1 || recorded > BARRIER_MAX_PARTIES)
          throw corruptBarrier(name, `bad parties ${recorded}`);
        if (shm.size < HEADER_BYTES + recorded * SLOT_BYTES)
          throw corruptBarrier(name, `${shm.size} bytes cannot hold ${recorded} parties`);
        if (parties !== undefined && parties !== recorded) {
          throw new RangeError(`options.parties is ${parties} but the barrier '${name}' has ${recorded} parties`);
        }
        const barrier = new Barrier(kConstruct, shm, recorded);
        barrier.#state();
        return barrier;
      },
    );
  }

  /** Removes the name `name` (like {@link SharedMemory.unlink}). */
  static unlink(name: string): void {
    SharedMemory.unlink(name);
  }

  /** The header checked again (shared memory is untrusted), and the state word. */
  #state(): { gen: number; count: number; broken: boolean; word: bigint } {
    if (this.#shm.closed) throw closedError('Barrier');
    const w = this.#words;
    checkLockHeader(this.name, w, LAYOUT);
    if (w[I_PARTIES] !== this.parties) throw corruptBarrier(this.name, `parties changed to ${w[I_PARTIES]}`);
    const word = Atomics.load(this.#big, I_STATE);
    const count = Number(word & COUNT_MASK);
    if (count > this.parties) throw corruptBarrier(this.name, `${count} arrived of ${this.parties} parties`);
    return { gen: Number(word >> 32n), count, broken: (word & BROKEN) !== 0n, word };
  }

  #broken(gen: number, why: string): LockError {
    return new LockError('ERR_BARRIER_BROKEN', this.name, `The barrier '${this.name}' is broken (generation ${gen}): ${why}`);
  }

  /** Wakes every waiter after a change of the state. */
  #wakeAll(): void {
    Atomics.add(this.#words, I_SEQ, 1);
    futexWake(this.#shm, SEQ_OFFSET);
  }

  /** Breaks generation `gen` if it is still the current, unbroken one; false when it has moved on. */
  #breakGen(gen: number): boolean {
    for (;;) {
      const s = this.#state();
      if (s.gen !== gen) return false;
      if (s.broken) return true;
      if (Atomics.compareExchange(this.#big, I_STATE, s.word, s.word | BROKEN) === s.word) {
        this.#wakeAll();
        return true;
      }
    }
  }

  /** Arrives: the passage when this party is the last one, else the generation to wait for. */
  #arrive(): BarrierPassage | number {
    for (;;) {
      const s = this.#state();
      if (s.broken) throw this.#broken(s.gen, 'reset() it to use it again');
      if (s.count >= this.parties) throw corruptBarrier(this.name, `a full generation ${s.gen} did not move on`);
      const next = s.word + 1n;
      if (Atomics.compareExchange(this.#big, I_STATE, s.word, next) !== s.word) continue;
      const slot = s.count;
      const base = (HEADER_BYTES + slot * SLOT_BYTES) / 8;
      Atomics.store(this.#big, base, myToken());
      Atomics.store(this.#words, base * 2 + 2, s.gen | 0); // last: the slot is valid for this generation
      if (slot + 1 < this.parties) return s.gen;
      const moved = BigInt((s.gen + 1) >>> 0) << 32n;
      if (Atomics.compareExchange(this.#big, I_STATE, next, moved) !== next) {
        throw this.#broken(s.gen, 'a party died, timed out or was aborted before all arrived');
      }
      this.#wakeAll();
      return { generation: s.gen, serial: true };
    }
  }

  /** Where a waiter of `gen` stands: passed, broken (an error), or still waiting (undefined). */
  #look(gen: number, checkParties: boolean): BarrierPassage | undefined {
    const s = this.#state();
    if (s.gen !== gen) {
      if (Atomics.load(this.#words, I_RESET_GEN) === (gen | 0)) throw this.#broken(gen, 'reset() was called while it waited');
      return { generation: gen, serial: false };
    }
    if (s.broken) throw this.#broken(gen, 'a party died, timed out or was aborted before all arrived');
    if (checkParties) {
      for (let i = 0; i < s.count; i++) {
        const base = (HEADER_BYTES + i * SLOT_BYTES) / 8;
        if (Atomics.load(this.#words, base * 2 + 2) !== (gen | 0)) continue; // not written yet
        const token = Atomics.load(this.#big, base);
        if (token !== 0n && ownerGone(this.name, token)) {
          const pid = Number(token >> 42n);
          if (this.#breakGen(gen)) throw this.#broken(gen, `party pid ${pid} died while waiting`);
          return this.#look(gen, false);
        }
      }
    }
    return undefined;
  }

  /** Gives up waiting for `gen`: breaks it, unless it passed meanwhile (then the passage). */
  #giveUp(gen: number, err: Error): BarrierPassage {
    if (this.#breakGen(gen)) throw err;
    const passed = this.#look(gen, false);
    if (passed === undefined) throw err;
    return passed;
  }

  #validateWait(options: unknown): { deadline: number; signal: AbortSignal | undefined } {
    const opts = validateOptions(options);
    const timeout = validateTimeout(opts.timeoutMs, 'options.timeoutMs');
    const signal = validateAbortSignal(opts.signal, 'options.signal');
    return { deadline: deadlineAfter(timeout), signal };
  }

  #timedOut(): Error {
    return timeoutError('barrier', this.name, 'not every party arrived before the timeout');
  }

  /**
   * Arrives and waits, without blocking the event loop (native waiter
   * thread, one liveness slice at a time), until all `parties` arrived.
   * Rejects with `ERR_BARRIER_BROKEN` when the generation is or gets broken,
   * `ETIMEDOUT` after `timeoutMs` or an `AbortError` (both break the
   * generation for the others, unless it passed meanwhile: then it
   * resolves), `ERR_LOCK_CORRUPT`, `ERR_POSIX_IPC_CLOSED`. Throws
   * TypeError/RangeError synchronously for bad options.
   */
  wait(options?: BarrierWaitOptions): Promise<BarrierPassage> {
    const { deadline, signal } = this.#validateWait(options);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return this.#wait(deadline, signal);
  }

  /** The wait loop's view of generation `gen`, which this caller has arrived in. */
  #slices(gen: number): SliceWait<BarrierPassage> {
    return {
      shm: this.#shm,
      words: this.#words,
      seqIndex: I_SEQ,
      kind: 'Barrier',
      checkFirst: false,
      attempt: (checkParties) => this.#look(gen, checkParties),
      timedOut: () => this.#timedOut(),
      stopped: (err) => this.#giveUp(gen, err),
    };
  }

  async #wait(deadline: number, signal: AbortSignal | undefined): Promise<BarrierPassage> {
    const arrived = this.#arrive();
    if (typeof arrived !== 'number') return arrived;
    return acquireInSlices(this.#slices(arrived), deadline, signal);
  }

  /** {@link wait} blocking the thread: for a worker thread or a dedicated process. Throws as `wait` does. */
  waitSync(options?: { timeoutMs?: number }): BarrierPassage {
    const opts = validateOptions(options);
    const deadline = deadlineAfter(validateTimeout(opts.timeoutMs, 'options.timeoutMs'));
    const arrived = this.#arrive();
    if (typeof arrived !== 'number') return arrived;
    return acquireInSlicesSync(this.#slices(arrived), deadline);
  }

  /**
   * Restores the barrier: the current generation ends (its waiters fail
   * with `ERR_BARRIER_BROKEN`, if it was not broken already) and the next
   * starts empty and unbroken.
   */
  reset(): void {
    for (;;) {
      const s = this.#state();
      const moved = BigInt((s.gen + 1) >>> 0) << 32n;
      Atomics.store(this.#words, I_RESET_GEN, s.gen | 0);
      if (Atomics.compareExchange(this.#big, I_STATE, s.word, moved) === s.word) break;
    }
    this.#wakeAll();
  }

  /** The current generation's state, for diagnostics: its number, how many arrived, whether it is broken. */
  get status(): { generation: number; arrived: number; broken: boolean } {
    const s = this.#state();
    return { generation: s.gen, arrived: s.count, broken: s.broken };
  }

  /** Removes the segment's name (processes that opened it keep using it). */
  unlink(): void {
    this.#shm.unlink();
  }

  /** Rejects this object's pending waits with `ERR_POSIX_IPC_CLOSED` and unmaps the segment; idempotent; never unlinks. */
  close(): void {
    this.#shm.close();
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

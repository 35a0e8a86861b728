/**
 * A robust mutex across processes, in a shared-memory segment of its own:
 * the semantics of a robust, error-checking pthread mutex (`EOWNERDEAD`,
 * `pthread_mutex_consistent`, `ENOTRECOVERABLE`) for Node.js processes.
 *
 * Layout of the segment (64 bytes, little-endian words):
 *
 *   0  magic 'PRMX'   4  version   8  header bytes (64)   12 state
 *  16  wake seq (the futex word waiters sleep on)   20  waiters
 *  32  owner: 64 bits, 0 when free, else pid << 42 | (start time & 2^42-1)
 *
 * The owner word names the holder and its process start time in one atomic
 * word, so taking the lock and recording who took it are the same
 * compare-and-swap: no window where the lock is taken and the owner unknown.
 * A waiter sleeps on the wake seq for one liveness slice at most, then asks
 * whether the owner still runs (`isAlive`, and the same start time, so that
 * a reused pid does not pass for the dead owner); a dead owner's lock is
 * taken over by a compare-and-swap from that exact owner word, so exactly
 * one locker wins it and is told the owner died.
 * @module
 */
import { closedError, LockError, systemError, timeoutError } from '../errors.js';
import { futexWake } from '../futex.js';
import { validateAbortSignal, validateOptions, validateTimeout } from '../internal/validators.js';
import { deadlineAfter } from '../internal/waiting.js';
import { SharedMemory, type ShmCreateMode } from '../shm.js';
import { openLockSegment } from './lock-segment.js';
import {
  checkHeader,
  CONSISTENT,
  corrupt,
  HEADER_BYTES,
  I_OWNER,
  I_SEQ,
  I_STATE,
  I_WAITERS,
  MUTEX_LAYOUT,
  myToken,
  NOT_RECOVERABLE,
  notOwner,
  OWNER_DIED,
  ownerGone,
  ownerPidOf,
  SEQ_OFFSET,
} from './mutex-words.js';
import { kGrant, kRelease, kRelock, kRelockSync, type ReleaseKind, resumeGuard, RobustMutexGuard } from './robust-mutex-guard.js';
import { acquireInSlices, acquireInSlicesSync, type SliceWait } from './slices.js';

/** The state of a robust mutex's protected data, as {@link RobustMutex.state} reports it. */
export type RobustMutexState = 'consistent' | 'owner-died' | 'not-recoverable';

const STATES: readonly RobustMutexState[] = ['consistent', 'owner-died', 'not-recoverable'];

/** Options of {@link RobustMutex.open}. */
export interface RobustMutexOpenOptions {
  /** Like {@link SharedMemoryOpenOptions.create}; default `'open'`. A created mutex starts free and consistent. */
  create?: ShmCreateMode;
  /** Permission bits of a segment this call creates (exactly, whatever the umask). Default `0o600`. */
  mode?: number;
}

/** Options of {@link RobustMutex.lock}. */
export interface RobustMutexLockOptions {
  /** Give up after this many ms: the promise rejects with an `ETIMEDOUT` error. Default: no limit. */
  timeoutMs?: number;
  /** Cancels the wait: the promise rejects with an `AbortError`. */
  signal?: AbortSignal;
}

const kConstruct = Symbol('RobustMutex.construct');

/**
 * A mutex in a named shared-memory segment that survives the death of its
 * holder: the next locker gets it, with {@link RobustMutexGuard.ownerDied}
 * set, and decides whether the protected data can be repaired. See
 * docs/sync.md.
 *
 * @example
 * using mutex = RobustMutex.open('/orders-lock', { create: 'open-or-create' });
 * {
 *   using guard = await mutex.lock({ timeoutMs: 5000 });
 *   if (guard.ownerDied) {
 *     repairOrders(); // the previous holder was killed mid-update
 *     guard.markConsistent();
 *   }
 *   updateOrders();
 * } // unlocked here
 */
export class RobustMutex implements Disposable {
  /** The segment's name. */
  readonly name: string;
  /** True when this call created the segment (and so usually unlinks it). */
  readonly created: boolean;
  readonly #shm: SharedMemory;
  readonly #words: Int32Array;
  readonly #owner: BigUint64Array;
  #guard: RobustMutexGuard | null = null;

  /** @internal Use {@link RobustMutex.open}. */
  constructor(token: symbol, shm: SharedMemory) {
    if (token !== kConstruct) throw new TypeError('Use RobustMutex.open() to get a RobustMutex');
    this.name = shm.name;
    this.created = shm.created;
    this.#shm = shm;
    this.#words = new Int32Array(shm.buffer, 0, HEADER_BYTES / 4);
    this.#owner = new BigUint64Array(shm.buffer, 0, HEADER_BYTES / 8);
  }

  /**
   * Opens (or creates, per `options.create`) the robust mutex in the
   * segment `name` (a shared-memory name such as `'/my-lock'`). A segment
   * this call creates holds a free, consistent mutex; an existing one is
   * checked (magic, version, size, words): `ERR_LOCK_CORRUPT` if it is not a
   * robust mutex. Throws what {@link SharedMemory.open} throws (`EEXIST`,
   * `ENOENT`, `EACCES`, TypeError/RangeError for bad arguments), and
   * `EAGAIN` for a segment whose creator has not finished writing it yet
   * (retry shortly).
   */
  static open(name: string, options?: RobustMutexOpenOptions): RobustMutex {
    return openLockSegment(
      name,
      validateOptions(options),
      MUTEX_LAYOUT,
      () => HEADER_BYTES,
      undefined,
      (shm) => {
        const mutex = new RobustMutex(kConstruct, shm);
        mutex.#check();
        return mutex;
      },
    );
  }

  /** Removes the name `name` (like {@link SharedMemory.unlink}). */
  static unlink(name: string): void {
    SharedMemory.unlink(name);
  }

  /** Validates the header (again: another process may have scribbled on it); returns the state. */
  #check(): number {
    if (this.#shm.closed) throw closedError('RobustMutex');
    return checkHeader(this.name, this.#words, this.#owner);
  }

  /**
   * One attempt: the lock if free, or taken over from a dead owner when
   * `checkOwner`; undefined while a live owner holds it.
   */
  #attempt(checkOwner: boolean, again?: RobustMutexGuard): RobustMutexGuard | undefined {
    if (this.#check() === NOT_RECOVERABLE) throw this.#notRecoverable();
    const mine = myToken();
    const seen = Atomics.compareExchange(this.#owner, I_OWNER, 0n, mine);
    let ownerDied: boolean;
    if (seen === 0n) {
      ownerDied = Atomics.load(this.#words, I_STATE) === OWNER_DIED;
    } else if (checkOwner && ownerGone(this.name, seen) && Atomics.compareExchange(this.#owner, I_OWNER, seen, mine) === seen) {
      ownerDied = true;
    } else {
      return undefined;
    }
    const state = Atomics.load(this.#words, I_STATE);
    if (state === NOT_RECOVERABLE) {
      // An owner made it so and died before letting go: pass the lock on and refuse.
      this.#letGo(true);
      throw this.#notRecoverable();
    }
    if (ownerDied) Atomics.store(this.#words, I_STATE, OWNER_DIED);
    let guard: RobustMutexGuard;
    if (again === undefined) guard = new RobustMutexGuard(kGrant, this, ownerDied);
    else resumeGuard((guard = again), ownerDied);
    this.#guard = guard;
    return guard;
  }

  #notRecoverable(): LockError {
    return new LockError(
      'ERR_LOCK_NOT_RECOVERABLE',
      this.name,
      `The robust mutex '${this.name}' is not recoverable: an owner died holding it and the next owner unlocked it without markConsistent()`,
    );
  }

  /** Frees the owner word, bumps the wake seq and wakes one waiter (all when `all`). */
  #letGo(all: boolean): void {
    Atomics.store(this.#owner, I_OWNER, 0n);
    Atomics.add(this.#words, I_SEQ, 1);
    if (all || Atomics.load(this.#words, I_WAITERS) > 0) futexWake(this.#shm, SEQ_OFFSET, all ? Infinity : 1);
  }

  /** @internal What a guard's unlock, markConsistent and a condition wait's release ('suspend') do. */
  [kRelease](guard: RobustMutexGuard, how: ReleaseKind): void {
    const unlock = how !== 'consistent';
    if (this.#guard !== guard) throw notOwner(this.name, how === 'suspend' ? 'wait' : unlock ? 'unlock' : 'markConsistent');
    if (unlock) this.#guard = null; // whatever follows: this object holds nothing any more
    const word = Atomics.load(this.#owner, I_OWNER);
    // Only a scribbled segment (or a locker in another pid namespace) gets here: leave its word alone.
    if (word !== myToken()) throw corrupt(this.name, `the owner word 0x${word.toString(16)} is not this process's`);
    if (!unlock) {
      if (Atomics.load(this.#words, I_STATE) === OWNER_DIED) Atomics.store(this.#words, I_STATE, CONSISTENT);
      return;
    }
    // A condition wait lets go with the state as it is: an unrepaired owner death is the next owner's too.
    const lost = how === 'unlock' && Atomics.load(this.#words, I_STATE) === OWNER_DIED;
    if (lost) Atomics.store(this.#words, I_STATE, NOT_RECOVERABLE);
    this.#letGo(lost);
  }

  /** @internal A condition wait's re-lock of `guard`, without a time limit (a dead owner's lock is taken over). */
  [kRelock](guard: RobustMutexGuard): Promise<void> {
    return this.#lock(Infinity, undefined, guard).then(() => undefined);
  }

  /** @internal The blocking form of {@link kRelock}. */
  [kRelockSync](guard: RobustMutexGuard): void {
    this.#lockSync(Infinity, guard);
  }

  #validateLock(options: unknown): { deadline: number; signal: AbortSignal | undefined } {
    const opts = validateOptions(options);
    const timeout = validateTimeout(opts.timeoutMs, 'options.timeoutMs');
    const signal = validateAbortSignal(opts.signal, 'options.signal');
    return { deadline: deadlineAfter(timeout), signal };
  }

  #timedOut(): Error {
    return timeoutError('lock', this.name, 'the robust mutex stayed held by a live owner until the timeout');
  }

  /**
   * Takes the lock, waiting without blocking the event loop: the waits run
   * on a native waiter thread (never libuv's pool), one liveness slice
   * (`LIVENESS_SLICE_MS`) at a time, between which the owner's liveness is
   * checked. Several `lock()` calls of one process (on this object or
   * others) queue like any other lockers.
   *
   * Rejects with `ETIMEDOUT` after `timeoutMs`, an `AbortError` when
   * `signal` aborts, `ERR_LOCK_NOT_RECOVERABLE`, `ERR_LOCK_CORRUPT`,
   * `ERR_POSIX_IPC_CLOSED` when the mutex is closed meanwhile. Throws
   * TypeError/RangeError synchronously for bad options.
   */
  lock(options?: RobustMutexLockOptions): Promise<RobustMutexGuard> {
    const { deadline, signal } = this.#validateLock(options);
    return this.#lock(deadline, signal);
  }

  /** The wait loop's view of this mutex for a new holding, made once (a call makes no closures). */
  #plainSlices: SliceWait<RobustMutexGuard> | undefined;

  /** The wait loop's view of this mutex; `again`: the guard a condition wait takes the lock back for. */
  #slices(again?: RobustMutexGuard): SliceWait<RobustMutexGuard> {
    if (again === undefined) return (this.#plainSlices ??= this.#makeSlices(undefined));
    return this.#makeSlices(again);
  }

  #makeSlices(again: RobustMutexGuard | undefined): SliceWait<RobustMutexGuard> {
    return {
      shm: this.#shm,
      words: this.#words,
      seqIndex: I_SEQ,
      kind: 'RobustMutex',
      attempt: (checkOwner) => this.#attempt(checkOwner, again),
      waiting: (delta) => void Atomics.add(this.#words, I_WAITERS, delta),
      timedOut: () => this.#timedOut(),
    };
  }

  #lock(deadline: number, signal: AbortSignal | undefined, again?: RobustMutexGuard): Promise<RobustMutexGuard> {
    return acquireInSlices(this.#slices(again), deadline, signal);
  }

  /**
   * {@link lock} blocking the thread: for a worker thread or a dedicated
   * process. Throws `ETIMEDOUT`, `ERR_LOCK_NOT_RECOVERABLE`,
   * `ERR_LOCK_CORRUPT`, and `EDEADLK` when this object already holds the
   * lock (the thread would wait for itself).
   */
  lockSync(options?: { timeoutMs?: number }): RobustMutexGuard {
    const opts = validateOptions(options);
    const deadline = deadlineAfter(validateTimeout(opts.timeoutMs, 'options.timeoutMs'));
    if (this.#guard !== null) throw systemError('EDEADLK', 'lock', this.name, 'this RobustMutex already holds the lock');
    return this.#lockSync(deadline);
  }

  #lockSync(deadline: number, again?: RobustMutexGuard): RobustMutexGuard {
    return acquireInSlicesSync(this.#slices(again), deadline);
  }

  /**
   * Takes the lock if it is free, or held by an owner that died (then with
   * `ownerDied`); null while a live owner holds it. Never waits. Throws
   * `ERR_LOCK_NOT_RECOVERABLE`, `ERR_LOCK_CORRUPT`, `ERR_POSIX_IPC_CLOSED`.
   */
  tryLock(): RobustMutexGuard | null {
    return this.#attempt(true) ?? null;
  }

  /** Releases the holding this object has (its guard's {@link RobustMutexGuard.unlock}); `ERR_LOCK_NOT_OWNER` if none. */
  unlock(): void {
    if (this.#guard === null) throw notOwner(this.name, 'unlock');
    this.#guard.unlock();
  }

  /** Its guard's {@link RobustMutexGuard.markConsistent}; `ERR_LOCK_NOT_OWNER` when this object does not hold the lock. */
  markConsistent(): void {
    if (this.#guard === null) throw notOwner(this.name, 'markConsistent');
    this.#guard.markConsistent();
  }

  /** True while this object holds the lock. */
  get held(): boolean {
    return this.#guard !== null;
  }

  /** The pid of the lock's current owner (whether it still runs or not), 0 when free. Diagnostic. */
  get ownerPid(): number {
    this.#check();
    return ownerPidOf(this.name, Atomics.load(this.#owner, I_OWNER));
  }

  /** The protected data's state as the segment records it (see {@link RobustMutexState}). */
  get state(): RobustMutexState {
    return STATES[this.#check()]!;
  }

  /** Removes the segment's name (processes that opened it keep using it). */
  unlink(): void {
    this.#shm.unlink();
  }

  /**
   * Unlocks if this object holds the lock (as {@link unlock} does), rejects
   * its pending `lock()` calls with `ERR_POSIX_IPC_CLOSED`, and unmaps the
   * segment. Does not unlink the name. Idempotent.
   */
  close(): void {
    if (this.#shm.closed) return;
    try {
      this.#guard?.unlock();
    } finally {
      this.#shm.close();
    }
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

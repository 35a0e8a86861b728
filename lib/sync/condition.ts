/**
 * A condition variable across processes, used with a {@link RobustMutex},
 * in a shared-memory segment of its own.
 *
 * Layout (64 bytes, little-endian words):
 *
 *   0  magic 'PCND'   4  version   8  header bytes (64)
 *  12  wake seq (the futex word waiters sleep on)   16  waiters
 *
 * A wait reads the seq while it still holds the mutex, then unlocks, then
 * sleeps while the seq is unchanged; `signal` and `broadcast` bump the seq
 * before waking. A signal that comes after the waiter's unlock changes the
 * seq the waiter sleeps on, so the futex wait returns at once: no lost
 * wakeup. See docs/sync.md.
 * @module
 */
import { closedError, timeoutError } from '../errors.js';
import { futexWait, futexWaitSync, futexWake } from '../futex.js';
import { validateAbortSignal, validateOptions, validateTimeout } from '../internal/validators.js';
import { deadlineAfter, msLeft, throwIfAborted } from '../internal/waiting.js';
import { SharedMemory, type ShmCreateMode } from '../shm.js';
import { checkLockHeader, openLockSegment, type LockLayout } from './lock-segment.js';
import { kRelock, kRelockSync, kSuspend, RobustMutexGuard } from './robust-mutex-guard.js';

const MAGIC = 0x444e4350; // 'PCND' little-endian
const VERSION = 1;
const HEADER_BYTES = 64;
const LAYOUT: LockLayout = { kind: 'condition variable', magic: MAGIC, version: VERSION, headerBytes: HEADER_BYTES };
const I_SEQ = 3;
const I_WAITERS = 4;
const SEQ_OFFSET = I_SEQ * 4;

/** Options of {@link Condition.open}. */
export interface ConditionOpenOptions {
  /** Like {@link SharedMemoryOpenOptions.create}; default `'open'`. */
  create?: ShmCreateMode;
  /** Permission bits of a segment this call creates (exactly, whatever the umask). Default `0o600`. */
  mode?: number;
}

/** Options of {@link Condition.wait}. */
export interface ConditionWaitOptions {
  /** Stop waiting after this many ms: the mutex is taken again, then `ETIMEDOUT` is thrown. Default: no limit. */
  timeoutMs?: number;
  /** Cancels the wait: the mutex is taken again, then an `AbortError` is thrown. */
  signal?: AbortSignal;
}

const kConstruct = Symbol('Condition.construct');

/**
 * A process-shared condition variable: `wait(guard)` releases the guard's
 * {@link RobustMutex} and sleeps until a `signal()` or `broadcast()` (or a
 * spurious wakeup: always wait in a loop on your predicate), then takes the
 * mutex again before it returns. See docs/sync.md.
 *
 * @example
 * using notEmpty = Condition.open('/queue-not-empty', { create: 'open-or-create' });
 * {
 *   using guard = await mutex.lock();
 *   while (queueLength() === 0) await notEmpty.wait(guard, { timeoutMs: 5000 });
 *   if (guard.ownerDied) { repairQueue(); guard.markConsistent(); }
 *   takeOne();
 * }
 */
export class Condition implements Disposable {
  /** The segment's name. */
  readonly name: string;
  /** True when this call created the segment. */
  readonly created: boolean;
  readonly #shm: SharedMemory;
  readonly #words: Int32Array;

  /** @internal Use {@link Condition.open}. */
  constructor(token: symbol, shm: SharedMemory) {
    if (token !== kConstruct) throw new TypeError('Use Condition.open() to get a Condition');
    this.name = shm.name;
    this.created = shm.created;
    this.#shm = shm;
    this.#words = new Int32Array(shm.buffer, 0, HEADER_BYTES / 4);
  }

  /**
   * Opens (or creates, per `options.create`) the condition variable in the
   * segment `name`. An existing segment is checked: `ERR_LOCK_CORRUPT` if it
   * is not a condition variable. Throws what {@link SharedMemory.open}
   * throws, and `EAGAIN` while its creator has not finished writing it.
   */
  static open(name: string, options?: ConditionOpenOptions): Condition {
    return openLockSegment(
      name,
      validateOptions(options),
      LAYOUT,
      () => HEADER_BYTES,
      undefined,
      (shm) => {
        const cond = new Condition(kConstruct, shm);
        cond.#check();
        return cond;
      },
    );
  }

  /** Removes the name `name` (like {@link SharedMemory.unlink}). */
  static unlink(name: string): void {
    SharedMemory.unlink(name);
  }

  /** The header checked again: shared memory is untrusted. */
  #check(): void {
    if (this.#shm.closed) throw closedError('Condition');
    checkLockHeader(this.name, this.#words, LAYOUT);
  }

  #validateGuard(guard: unknown): RobustMutexGuard {
    if (!(guard instanceof RobustMutexGuard)) throw new TypeError('guard must be a RobustMutexGuard');
    return guard;
  }

  /** Registers a waiter and reads the seq, both while the mutex is held; then releases the mutex. */
  #enter(guard: RobustMutexGuard): { seq: number; relock: ReturnType<RobustMutexGuard[typeof kSuspend]> } {
    this.#check();
    Atomics.add(this.#words, I_WAITERS, 1); // before the seq read: a signaller that sees no waiter changed the seq first
    const seq = Atomics.load(this.#words, I_SEQ);
    try {
      return { seq, relock: guard[kSuspend]() };
    } catch (err) {
      Atomics.sub(this.#words, I_WAITERS, 1);
      throw err;
    }
  }

  #leave(): void {
    if (!this.#shm.closed) Atomics.sub(this.#words, I_WAITERS, 1);
  }

  /**
   * Releases `guard`'s mutex and waits, without blocking the event loop (a
   * native waiter thread), for a {@link signal} or {@link broadcast} after
   * this call, then takes the mutex again (waiting as long as it takes; a
   * dead owner's lock is taken over) and resolves with `guard`, held again:
   * check `guard.ownerDied`, which says whether this re-taking found an
   * owner dead. Wakeups may be spurious: loop on your predicate.
   *
   * After a timeout (`ETIMEDOUT`) or an abort (`AbortError`) the mutex is
   * taken again before the rejection, as `pthread_cond_timedwait` does:
   * `guard` is held either way. Rejects with `ERR_LOCK_NOT_OWNER` when
   * `guard` is not held (then nothing is released), and with what re-locking
   * throws (`ERR_LOCK_NOT_RECOVERABLE`, `ERR_POSIX_IPC_CLOSED`: then the
   * guard is not held). Throws TypeError/RangeError synchronously for bad
   * arguments.
   */
  wait(guard: RobustMutexGuard, options?: ConditionWaitOptions): Promise<RobustMutexGuard> {
    const g = this.#validateGuard(guard);
    const opts = validateOptions(options);
    const timeout = validateTimeout(opts.timeoutMs, 'options.timeoutMs');
    const signal = validateAbortSignal(opts.signal, 'options.signal');
    return this.#wait(g, deadlineAfter(timeout), signal);
  }

  async #wait(guard: RobustMutexGuard, deadline: number, signal: AbortSignal | undefined): Promise<RobustMutexGuard> {
    throwIfAborted(signal);
    const { seq, relock } = this.#enter(guard);
    let failure: unknown;
    try {
      const left = msLeft(deadline);
      const result = left <= 0 ? 'timed-out' : await futexWait(this.#shm, SEQ_OFFSET, seq, { timeoutMs: left, signal });
      if (result === 'timed-out') failure = this.#timedOut();
    } catch (err) {
      failure = err;
    } finally {
      this.#leave();
    }
    await relock[kRelock](guard);
    if (failure !== undefined) throw failure;
    return guard;
  }

  /** {@link wait} blocking the thread: for a worker thread or a dedicated process. Throws as `wait` rejects. */
  waitSync(guard: RobustMutexGuard, options?: { timeoutMs?: number }): RobustMutexGuard {
    const g = this.#validateGuard(guard);
    const opts = validateOptions(options);
    const deadline = deadlineAfter(validateTimeout(opts.timeoutMs, 'options.timeoutMs'));
    const { seq, relock } = this.#enter(g);
    let failure: unknown;
    try {
      const left = msLeft(deadline);
      if ((left <= 0 ? 'timed-out' : futexWaitSync(this.#shm, SEQ_OFFSET, seq, left)) === 'timed-out') failure = this.#timedOut();
    } catch (err) {
      failure = err;
    } finally {
      this.#leave();
    }
    relock[kRelockSync](g);
    if (failure !== undefined) throw failure;
    return g;
  }

  #timedOut(): Error {
    return timeoutError('wait', this.name, 'no signal before the timeout');
  }

  /** Wakes one waiter, in any process (none: nothing happens). Call it with or without holding the mutex, after changing the predicate. */
  signal(): void {
    this.#check();
    Atomics.add(this.#words, I_SEQ, 1);
    if (Atomics.load(this.#words, I_WAITERS) > 0) futexWake(this.#shm, SEQ_OFFSET, 1);
  }

  /** Wakes every waiter, in every process. */
  broadcast(): void {
    this.#check();
    Atomics.add(this.#words, I_SEQ, 1);
    if (Atomics.load(this.#words, I_WAITERS) > 0) futexWake(this.#shm, SEQ_OFFSET);
  }

  /** Removes the segment's name (processes that opened it keep using it). */
  unlink(): void {
    this.#shm.unlink();
  }

  /** Unmaps the segment: this object's pending waits end (they re-lock, then reject with `ERR_POSIX_IPC_CLOSED`); idempotent; never unlinks. */
  close(): void {
    this.#shm.close();
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

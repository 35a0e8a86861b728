/**
 * A readers/writer lock across processes, robust against the death of any
 * holder, in a shared-memory segment of its own (see docs/sync.md).
 *
 * Layout (little-endian; the word indices are in ./rwlock-words.ts):
 *
 *   0 magic 'PRWL'  4 version  8 header bytes (64)  12 state  16 wake seq
 *  20 waiters  24 reader slots S  28 readers waiting  32 read phase
 *  36 writer held  48 writer word (64 bits)  64 S reader slots (64 bits each)
 *
 * Every word that names a holder is an owner word (pid << 42 | start time),
 * taken and given back by compare-and-swap, as in the robust mutex:
 * - a **reader** takes a free slot, then looks at the writer word; if a
 *   writer claimed the lock meanwhile it gives the slot back and waits;
 * - a **writer** claims the writer word (which turns new readers away),
 *   then waits until every slot is free, then sets "writer held".
 * Both store then load sequentially consistent words, so a reader and a
 * writer never both go in. Writers are preferred over arriving readers (no
 * writer starvation); a writer's unlock opens a **read phase** for the
 * readers then waiting, which enter before the next writer may claim (no
 * reader starvation under a stream of writers).
 *
 * A dead reader's slot is freed by the first waiter that sees it (readers
 * change nothing: no "owner died" for them). A writer that died holding the
 * lock hands it over like the robust mutex: the next locker, writer or
 * reader, gets it exclusively with `ownerDied`, and repairs or not.
 * @module
 */
import { closedError, systemError, timeoutError } from '../errors.js';
import { validateAbortSignal, validateInteger, validateOptions, validateTimeout } from '../internal/validators.js';
import { deadlineAfter } from '../internal/waiting.js';
import { SharedMemory, type ShmCreateMode } from '../shm.js';
import { openLockSegment } from './lock-segment.js';
import { notOwner } from './mutex-words.js';
import { kGrant, kRelease, type ReleaseKind } from './robust-mutex-guard.js';
import { ReadWriteLockGuard } from './rwlock-guard.js';
import { newAcquisition, RwProtocol, type Acquisition, type Grant } from './rwlock-protocol.js';
import { checkRwHeader, DEFAULT_SLOTS, I_SEQ, I_SLOTS, KIND, MAX_SLOTS, RW_HEADER_BYTES, RW_LAYOUT, segmentBytes } from './rwlock-words.js';
import { acquireInSlices, acquireInSlicesSync, type SliceWait } from './slices.js';
import type { RobustMutexState } from './robust-mutex.js';

/** Options of {@link ReadWriteLock.open}. */
export interface ReadWriteLockOpenOptions {
  /** Like {@link SharedMemoryOpenOptions.create}; default `'open'`. */
  create?: ShmCreateMode;
  /** Permission bits of a segment this call creates (exactly). Default `0o600`. */
  mode?: number;
  /** How many readers can hold the lock at once (1 to 4096), fixed by the creator. Default 64. */
  readerSlots?: number;
}

/** Options of {@link ReadWriteLock.readLock} and {@link ReadWriteLock.writeLock}. */
export interface ReadWriteLockOptions {
  /** Give up after this many ms: `ETIMEDOUT`. Default: no limit. */
  timeoutMs?: number;
  /** Cancels the wait: an `AbortError`. */
  signal?: AbortSignal;
}

const STATES: readonly RobustMutexState[] = ['consistent', 'owner-died', 'not-recoverable'];
const kConstruct = Symbol('ReadWriteLock.construct');

/**
 * A lock that many readers hold at once, or one writer alone, across
 * processes; robust against the death of any holder. See docs/sync.md.
 *
 * @example
 * using rw = ReadWriteLock.open('/catalog-lock', { create: 'open-or-create' });
 * { using r = await rw.readLock(); lookUp(); }
 * { using w = await rw.writeLock({ timeoutMs: 5000 }); if (w.ownerDied) { repair(); w.markConsistent(); } update(); }
 */
export class ReadWriteLock implements Disposable {
  /** The segment's name. */
  readonly name: string;
  /** True when this call created the segment. */
  readonly created: boolean;
  /** How many readers can hold the lock at once. */
  readonly readerSlots: number;
  readonly #shm: SharedMemory;
  readonly #p: RwProtocol;
  /** The holdings of this object. */
  readonly #held = new Set<ReadWriteLockGuard>();

  /** @internal Use {@link ReadWriteLock.open}. */
  constructor(token: symbol, shm: SharedMemory, slots: number) {
    if (token !== kConstruct) throw new TypeError('Use ReadWriteLock.open() to get a ReadWriteLock');
    this.name = shm.name;
    this.created = shm.created;
    this.readerSlots = slots;
    this.#shm = shm;
    this.#p = new RwProtocol(shm.name, shm, slots);
  }

  /**
   * Opens (or creates, per `options.create`) the lock in the segment
   * `name`. A created lock is free and consistent, with `readerSlots`
   * slots; an existing one is checked (`ERR_LOCK_CORRUPT`). Throws what
   * {@link SharedMemory.open} throws, and `EAGAIN` while its creator is
   * still writing it.
   */
  static open(name: string, options?: ReadWriteLockOpenOptions): ReadWriteLock {
    const opts = validateOptions(options);
    const slots = opts.readerSlots === undefined ? DEFAULT_SLOTS : validateInteger(opts.readerSlots, 'options.readerSlots', 1, MAX_SLOTS);
    return openLockSegment(
      name,
      opts,
      RW_LAYOUT,
      () => segmentBytes(slots),
      (w) => void (w[I_SLOTS] = slots),
      (shm, w) => {
        checkRwHeader(name, shm.size, w, new BigUint64Array(shm.buffer, 0, RW_HEADER_BYTES / 8));
        return new ReadWriteLock(kConstruct, shm, w[I_SLOTS]!);
      },
    );
  }

  /** Removes the name `name` (like {@link SharedMemory.unlink}). */
  static unlink(name: string): void {
    SharedMemory.unlink(name);
  }

  /** @internal What a guard's unlock (`unlock` true) and markConsistent do. */
  [kRelease](guard: ReadWriteLockGuard, how: ReleaseKind): void {
    const unlock = how !== 'consistent'; // 'suspend' never comes: a condition refuses these guards
    if (!this.#held.has(guard)) throw notOwner(this.name, unlock ? 'unlock' : 'markConsistent', KIND);
    if (unlock) this.#held.delete(guard);
    if (this.#shm.closed) throw closedError('ReadWriteLock');
    if (guard.mode === 'write') this.#p.endWrite(unlock);
    else if (unlock) this.#p.releaseRead(guard.slot); // readers change nothing: markConsistent is a no-op
  }

  #grant(g: Grant | undefined): ReadWriteLockGuard | undefined {
    if (g === undefined) return undefined;
    const guard = new ReadWriteLockGuard(kGrant, this, g.mode, g.slot, g.ownerDied);
    this.#held.add(guard);
    return guard;
  }

  /** One attempt of acquisition `a`, before any wait loop is built: the uncontended path makes no closures. */
  #attemptOnce(reader: boolean, a: Acquisition): ReadWriteLockGuard | undefined {
    return this.#grant(reader ? this.#p.readAttempt(a, true) : this.#p.writeAttempt(a, true));
  }

  #acquire(reader: boolean, deadline: number, signal: AbortSignal | undefined): Promise<ReadWriteLockGuard> {
    const a = newAcquisition();
    if (!signal?.aborted) {
      try {
        const guard = this.#attemptOnce(reader, a);
        if (guard !== undefined) return Promise.resolve(guard);
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    return acquireInSlices(this.#slices(reader, a), deadline, signal);
  }

  #acquireSync(reader: boolean, deadline: number): ReadWriteLockGuard {
    const a = newAcquisition();
    return this.#attemptOnce(reader, a) ?? acquireInSlicesSync(this.#slices(reader, a), deadline);
  }

  /** The wait loop's view of acquisition `a` (a writer's may hold its claim already). */
  #slices(reader: boolean, a: Acquisition): SliceWait<ReadWriteLockGuard> {
    const p = this.#p;
    return {
      shm: this.#shm,
      words: p.words,
      seqIndex: I_SEQ,
      kind: 'ReadWriteLock',
      attempt: (checkOwners) => this.#grant(reader ? p.readAttempt(a, checkOwners) : p.writeAttempt(a, checkOwners)),
      waiting: (delta) => p.waiting(a, reader, delta),
      timedOut: () =>
        timeoutError('lock', this.name, `the readers/writer lock stayed held until the timeout (${reader ? 'read' : 'write'})`),
      ...(reader ? {} : { abandon: () => p.abandon(a) }),
    };
  }

  #options(options: unknown): { deadline: number; signal: AbortSignal | undefined } {
    const opts = validateOptions(options);
    const timeout = validateTimeout(opts.timeoutMs, 'options.timeoutMs');
    return { deadline: deadlineAfter(timeout), signal: validateAbortSignal(opts.signal, 'options.signal') };
  }

  #notDeadlocked(write: boolean): void {
    const writing = [...this.#held].some((g) => g.mode === 'write');
    if (writing || (write && this.#held.size > 0)) {
      throw systemError('EDEADLK', 'lock', this.name, `this ReadWriteLock already holds the lock (${writing ? 'write' : 'read'})`);
    }
  }

  /**
   * Takes a read holding, waiting without blocking the event loop (native
   * waiter thread, one liveness slice at a time). Waits while a writer holds
   * or has claimed the lock, or all reader slots are held. Rejects with
   * `ETIMEDOUT`, `ABORT_ERR`, `ERR_LOCK_NOT_RECOVERABLE`, `ERR_LOCK_CORRUPT`,
   * `ERR_POSIX_IPC_CLOSED`. A holding may be exclusive (`mode === 'write'`,
   * `ownerDied`): the one that took over from a writer that died.
   */
  readLock(options?: ReadWriteLockOptions): Promise<ReadWriteLockGuard> {
    const { deadline, signal } = this.#options(options);
    return this.#acquire(true, deadline, signal);
  }

  /** {@link readLock} blocking the thread; `EDEADLK` when this object holds the write lock. */
  readLockSync(options?: { timeoutMs?: number }): ReadWriteLockGuard {
    const { deadline } = this.#options(options);
    this.#notDeadlocked(false);
    return this.#acquireSync(true, deadline);
  }

  /** A read holding if one can be had now, else null. Never waits. */
  tryReadLock(): ReadWriteLockGuard | null {
    return this.#grant(this.#p.readAttempt(newAcquisition(), true)) ?? null;
  }

  /**
   * Takes the write holding: claims the lock (new readers then wait), then
   * waits for the readers inside to leave. Errors as {@link readLock}; on a
   * timeout or abort the claim is given back. `ownerDied` when the previous
   * writer died holding it: repair, then `markConsistent()`.
   */
  writeLock(options?: ReadWriteLockOptions): Promise<ReadWriteLockGuard> {
    const { deadline, signal } = this.#options(options);
    return this.#acquire(false, deadline, signal);
  }

  /** {@link writeLock} blocking the thread; `EDEADLK` when this object holds the lock in any mode. */
  writeLockSync(options?: { timeoutMs?: number }): ReadWriteLockGuard {
    const { deadline } = this.#options(options);
    this.#notDeadlocked(true);
    return this.#acquireSync(false, deadline);
  }

  /** The write holding if it can be had now (no writer, no reader inside), else null. Never waits. */
  tryWriteLock(): ReadWriteLockGuard | null {
    const a = newAcquisition();
    try {
      const guard = this.#grant(this.#p.writeAttempt(a, true)) ?? null;
      if (guard === null) this.#p.abandon(a);
      return guard;
    } catch (err) {
      this.#p.abandon(a);
      throw err;
    }
  }

  /** The pid of the writer that holds or has claimed the lock, 0 if none. Diagnostic. */
  get writerPid(): number {
    return this.#p.writerPid();
  }

  /** How many reader slots are held (dead readers' too, until a waiter frees them). Diagnostic. */
  get readers(): number {
    return this.#p.readers();
  }

  /** The protected data's state, as for {@link RobustMutex.state}. */
  get state(): RobustMutexState {
    return STATES[this.#p.check()]!;
  }

  /** Removes the segment's name. */
  unlink(): void {
    this.#shm.unlink();
  }

  /** Releases this object's holdings and a pending claim, rejects its pending waits with `ERR_POSIX_IPC_CLOSED`, unmaps. Idempotent. */
  close(): void {
    if (this.#shm.closed) return;
    try {
      this.#p.closing(); // its sleepers and claim are not counted once the segment is unmapped
      for (const guard of [...this.#held]) guard.unlock();
    } finally {
      this.#shm.close();
    }
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

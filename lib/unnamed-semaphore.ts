/**
 * Unnamed process-shared semaphores (`sem_init` with `pshared = 1`) placed
 * inside a {@link SharedMemory} segment: no name of their own to clean up;
 * they live and die with the segment. Linux only: macOS has no unnamed
 * process-shared semaphores, and {@link UnnamedSemaphore.init} /
 * {@link UnnamedSemaphore.attach} throw `ENOSYS` there.
 * @module
 */
import { closedError, systemError } from './errors.js';
import { validateAbortSignal, validateInteger, validateOptions, validateTimeout } from './internal/validators.js';
import { native } from './internal/native.js';
import { type SegmentState, segmentOf, validateSlice } from './internal/segment.js';
import { nativeWait, type PendingWait, WAIT_ACQUIRED } from './internal/waiting.js';
import type { SharedMemory } from './shm.js';

/** The largest semaphore value (SEM_VALUE_MAX on Linux). */
const SEM_VALUE_MAX = 2 ** 31 - 1;

const kConstruct = Symbol('UnnamedSemaphore.construct');

/** Options of {@link UnnamedSemaphore.waitSync}. */
export interface UnnamedSemaphoreWaitSyncOptions {
  /** Give up after this many ms (the call returns `false`). Default: no limit. */
  timeoutMs?: number;
}

/** Options of {@link UnnamedSemaphore.wait}. */
export interface UnnamedSemaphoreWaitOptions extends UnnamedSemaphoreWaitSyncOptions {
  /** Cancels the wait: the promise rejects with an `AbortError`. */
  signal?: AbortSignal;
}

/**
 * A counting semaphore stored in {@link UnnamedSemaphore.BYTES} bytes of a
 * shared-memory segment, usable from every process that maps the segment.
 *
 * @example
 * // Creator: reserve BYTES bytes at an offset aligned to ALIGNMENT.
 * const lock = UnnamedSemaphore.init(shm, 0, 1);
 * // Another process, same segment and offset:
 * const peer = UnnamedSemaphore.attach(shm2, 0);
 * if (peer.waitSync({ timeoutMs: 1000 })) { try { ... } finally { peer.post(); } }
 */
export class UnnamedSemaphore implements Disposable {
  /** Bytes a semaphore occupies in the segment: `sizeof(sem_t)` (32 on 64-bit glibc). */
  static readonly BYTES: number = native.unnamedSemBytes;
  /** Required alignment of its byte offset: `alignof(sem_t)` (8 on 64-bit glibc). */
  static readonly ALIGNMENT: number = native.unnamedSemAlignment;

  /** The segment holding the semaphore. */
  readonly shm: SharedMemory;
  /** Its byte offset in the segment. */
  readonly byteOffset: number;
  /** True for the object returned by {@link UnnamedSemaphore.init}, which alone may {@link destroy}. */
  readonly initialized: boolean;
  readonly #state: SegmentState;
  readonly #waits = new Set<PendingWait>();
  #closed = false;

  /** @internal Use {@link UnnamedSemaphore.init} or {@link UnnamedSemaphore.attach}. */
  constructor(token: symbol, shm: SharedMemory, state: SegmentState, byteOffset: number, initialized: boolean) {
    if (token !== kConstruct) throw new TypeError('Use UnnamedSemaphore.init() or UnnamedSemaphore.attach()');
    this.shm = shm;
    this.#state = state;
    this.byteOffset = byteOffset;
    this.initialized = initialized;
  }

  /**
   * Initialises a semaphore with `initialValue` (default 0) at `byteOffset`
   * of `shm` (`sem_init(pshared = 1)`): do it once, in one process, before
   * any other process attaches; initialising a semaphore in use is undefined
   * behaviour.
   *
   * Throws `RangeError` when `byteOffset` is not a multiple of
   * {@link UnnamedSemaphore.ALIGNMENT} or the {@link UnnamedSemaphore.BYTES}
   * bytes do not fit in the segment, or `initialValue` is not an integer in
   * 0..2^31-1; `ENOSYS` (syscall `sem_init`) on macOS; `ERR_POSIX_IPC_CLOSED`
   * when `shm` is closed.
   */
  static init(shm: SharedMemory, byteOffset: number, initialValue = 0): UnnamedSemaphore {
    const state = segmentOf(shm);
    const handle = state.open();
    validateSlice(state, byteOffset, UnnamedSemaphore.BYTES, UnnamedSemaphore.ALIGNMENT);
    validateInteger(initialValue, 'initialValue', 0, SEM_VALUE_MAX);
    native.unnamedSemInit(handle, byteOffset, initialValue);
    return new UnnamedSemaphore(kConstruct, shm, state, byteOffset, true);
  }

  /**
   * Uses the semaphore another process initialised at `byteOffset` of its
   * mapping of the same segment. Nothing can check that one was: attaching
   * to bytes that hold no semaphore gives meaningless results (never a
   * crash). Throws like {@link UnnamedSemaphore.init}.
   */
  static attach(shm: SharedMemory, byteOffset: number): UnnamedSemaphore {
    const state = segmentOf(shm);
    state.open();
    validateSlice(state, byteOffset, UnnamedSemaphore.BYTES, UnnamedSemaphore.ALIGNMENT);
    if (!native.unnamedSemSupported)
      throw systemError('ENOSYS', 'sem_init', undefined, 'no unnamed process-shared semaphores on this system');
    return new UnnamedSemaphore(kConstruct, shm, state, byteOffset, false);
  }

  #handle() {
    if (this.#closed) throw closedError('UnnamedSemaphore');
    return this.#state.open();
  }

  /**
   * Increments the semaphore, waking one waiter in any process (`sem_post`).
   * Throws `EOVERFLOW` at the maximum value, `ERR_POSIX_IPC_CLOSED` when this
   * object or its segment is closed.
   */
  post(): void {
    native.unnamedSemPost(this.#handle(), this.byteOffset);
  }

  /** Decrements the semaphore if it is above 0 and returns true; false (never blocks) when it is 0. */
  tryWait(): boolean {
    return native.unnamedSemTryWait(this.#handle(), this.byteOffset);
  }

  /**
   * Blocks the calling thread until the semaphore can be decremented (true),
   * or `timeoutMs` passes (false). Timeouts use the monotonic clock. Blocks
   * the event loop: prefer {@link wait} there.
   */
  waitSync(options?: UnnamedSemaphoreWaitSyncOptions): boolean {
    const handle = this.#handle();
    const timeout = validateTimeout(validateOptions(options).timeoutMs);
    return native.unnamedSemWaitSync(handle, this.byteOffset, timeout) === WAIT_ACQUIRED;
  }

  /**
   * Waits on a thread of its own (never libuv's pool) and resolves with true
   * once decremented, false after `timeoutMs`. Rejects with an `AbortError`
   * on `signal`, with `ERR_POSIX_IPC_CLOSED` when this object or the segment
   * is closed meanwhile. A cancelled wait never consumes a count: one its
   * thread took while the cancellation was on its way is given back (within
   * 50 ms), unless this process closed the segment meanwhile. The wait keeps
   * the segment's memory mapped until it ends.
   */
  wait(options?: UnnamedSemaphoreWaitOptions): Promise<boolean> {
    const handle = this.#handle();
    const opts = validateOptions(options);
    const timeout = validateTimeout(opts.timeoutMs);
    const signal = validateAbortSignal(opts.signal);
    const offset = this.byteOffset;
    return nativeWait((cb) => native.unnamedSemWait(handle, offset, timeout, cb), {
      signal,
      pending: [this.#state.waits, this.#waits],
      end: offset + UnnamedSemaphore.BYTES,
      // The thread took a count just before the cancellation reached it, and
      // the promise has already rejected: give the count back.
      giveBack: () => {
        try {
          native.unnamedSemPost(handle, offset);
        } catch {
          // the segment was closed meanwhile: nothing to post through
        }
      },
    }).then((code) => code === WAIT_ACQUIRED);
  }

  /** The current value (`sem_getvalue`; 0 while processes wait). */
  get value(): number {
    return native.unnamedSemGetValue(this.#handle(), this.byteOffset);
  }

  /** True once {@link close} or {@link destroy} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Forgets the semaphore in this object; the semaphore itself stays
   * usable by other processes (and other objects). Pending {@link wait}s of
   * this object reject with `ERR_POSIX_IPC_CLOSED`. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const wait of [...this.#waits]) wait.cancel(closedError('UnnamedSemaphore'));
  }

  /**
   * Destroys the semaphore (`sem_destroy`), then closes this object. Only
   * the object from {@link UnnamedSemaphore.init} may (`EPERM` otherwise),
   * once no process uses the semaphore any more: destroying one that others
   * wait on is undefined behaviour.
   */
  destroy(): void {
    const handle = this.#handle();
    if (!this.initialized) {
      throw systemError('EPERM', 'sem_destroy', undefined, 'only the object that initialised the semaphore may destroy it');
    }
    this.close();
    native.unnamedSemDestroy(handle, this.byteOffset);
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

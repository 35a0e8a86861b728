/**
 * Named POSIX semaphores (`sem_open`): a counter in the kernel's namespace
 * that unrelated processes open by name, to signal each other or to guard a
 * shared resource.
 *
 * Creation is explicit ({@link SemaphoreCreateMode}); the handle knows whether
 * it created the object ({@link Semaphore.created}), and only the creator
 * should unlink the name. See docs/semaphore.md.
 * @module
 */
import { closedError, isSystemError } from './errors.js';
import { validateAbortSignal, validateBoolean, validateInteger, validateOptions, validateTimeout } from './internal/validators.js';
import { native, type NativeNamedSemaphore, type WaitCallback, type WaitHandle } from './internal/native.js';
import { openOrCreate, validateIpcName } from './internal/names.js';
import { nativeWait, type PendingWait, WAIT_ACQUIRED, WAIT_TIMED_OUT } from './internal/waiting.js';

/**
 * How {@link Semaphore.open} treats the name:
 * - `'open'` (the default): open an existing semaphore; `ENOENT` when there is
 *   none. Never creates anything.
 * - `'exclusive'`: create a new one (`O_CREAT | O_EXCL`); `EEXIST` when the
 *   name is taken, so someone else's object is never opened by mistake.
 * - `'open-or-create'`: create it, or open it when it exists; `created` tells
 *   which happened.
 */
export type SemaphoreCreateMode = 'exclusive' | 'open-or-create' | 'open';

/** Options of {@link Semaphore.open}. */
export interface SemaphoreOpenOptions {
  /** See {@link SemaphoreCreateMode}. Default `'open'`. */
  create?: SemaphoreCreateMode;
  /**
   * The count of a semaphore this call creates, 0 to {@link Semaphore.VALUE_MAX}.
   * Default 0. Use 1 for a lock. Only with `create: 'exclusive'` or
   * `'open-or-create'` (ignored when an existing one is opened).
   */
  initialValue?: number;
  /**
   * Permission bits of a semaphore this call creates, 0 to 0o777. Default
   * `0o600`. Applied exactly whatever the umask on Linux; on macOS the umask
   * still removes bits. Only with `create: 'exclusive'` or `'open-or-create'`.
   */
  mode?: number;
  /**
   * Unlink the name in {@link Semaphore.close} — only if this handle created
   * the semaphore. Default `false`. Only with `create: 'exclusive'` or
   * `'open-or-create'`.
   */
  unlinkOnClose?: boolean;
}

/** Options of {@link Semaphore.waitSync}. */
export interface SemaphoreWaitSyncOptions {
  /** Give up after this many milliseconds (monotonic clock). Default: no limit. */
  timeoutMs?: number;
}

/** Options of {@link Semaphore.wait}. */
export interface SemaphoreWaitOptions extends SemaphoreWaitSyncOptions {
  /** Cancels the wait: the promise rejects with an `AbortError`. */
  signal?: AbortSignal;
}

const CREATE_MODES: readonly SemaphoreCreateMode[] = ['open', 'exclusive', 'open-or-create'];
const CREATION_OPTIONS = ['initialValue', 'mode', 'unlinkOnClose'] as const;

const constructing = Symbol('Semaphore');

/**
 * A named POSIX semaphore.
 *
 * @example
 * // Process A: create it, as a lock.
 * using lock = Semaphore.open('/jobs-lock', { create: 'exclusive', initialValue: 1, unlinkOnClose: true });
 * // Process B: open it by name.
 * using lock = Semaphore.open('/jobs-lock');
 * if (await lock.wait({ timeoutMs: 1000 })) {
 *   try { ... } finally { lock.post(); }
 * }
 */
export class Semaphore implements Disposable {
  /**
   * The largest count a semaphore can hold, `SEM_VALUE_MAX`: 2147483647 on
   * Linux, 32767 on macOS.
   */
  static readonly VALUE_MAX: number = native.SEM_VALUE_MAX;

  /** The name it was opened with, such as `'/jobs-lock'`. */
  readonly name: string;
  /**
   * True when this handle created the semaphore. Only the creator should
   * unlink it (see {@link SemaphoreOpenOptions.unlinkOnClose}).
   */
  readonly created: boolean;

  readonly #handle: NativeNamedSemaphore;
  #closed = false;
  readonly #unlinkOnClose: boolean;
  /** Pending async waits, cancelled by close(). */
  readonly #pending = new Set<PendingWait>();
  /** Native wait threads whose outcome has not been delivered yet. */
  #running = 0;

  /** Use {@link Semaphore.open}. */
  private constructor(token: symbol, handle: NativeNamedSemaphore, name: string, created: boolean, unlinkOnClose: boolean) {
    if (token !== constructing) throw new TypeError('Illegal constructor: use Semaphore.open()');
    this.#handle = handle;
    this.name = name;
    this.created = created;
    this.#unlinkOnClose = unlinkOnClose;
  }

  /**
   * Opens or creates the named semaphore `name`: `'/'` followed by up to 251
   * bytes on Linux, 29 on macOS, with no other `'/'`.
   *
   * Throws `TypeError`/`RangeError` for bad arguments (naming the argument;
   * a too-long name's message states the limit), and system errors with
   * `syscall: 'sem_open'` and `path: name`:
   * - `ENOENT`: `create: 'open'` and there is no such semaphore;
   * - `EEXIST`: `create: 'exclusive'` and the name exists;
   * - `EACCES`: the semaphore exists and its mode denies us;
   * - `EMFILE`/`ENFILE`/`ENOMEM`/`ENOSPC`: out of resources.
   * On Linux, a failure to make the mode exact is reported with
   * `syscall: 'chmod'` (the new object is unlinked again).
   */
  static open(name: string, options?: SemaphoreOpenOptions): Semaphore {
    validateIpcName(name, 'name', 'sem');
    const opts = validateOptions(options);
    const create = opts.create === undefined ? 'open' : (opts.create as SemaphoreCreateMode);
    if (!CREATE_MODES.includes(create)) {
      throw new TypeError(
        `The "options.create" option must be one of 'open', 'exclusive', 'open-or-create'. Received ${String(opts.create)}`,
      );
    }
    if (create === 'open') {
      for (const key of CREATION_OPTIONS) {
        if (opts[key] !== undefined) {
          throw new TypeError(`The "options.${key}" option applies only when creating: use create: 'exclusive' or 'open-or-create'`);
        }
      }
    }
    const initialValue =
      opts.initialValue === undefined ? 0 : validateInteger(opts.initialValue, 'options.initialValue', 0, Semaphore.VALUE_MAX);
    const mode = opts.mode === undefined ? 0o600 : validateInteger(opts.mode, 'options.mode', 0, 0o777);
    const unlinkOnClose = opts.unlinkOnClose === undefined ? false : validateBoolean(opts.unlinkOnClose, 'options.unlinkOnClose');

    const make = (handle: NativeNamedSemaphore, created: boolean): Semaphore =>
      new Semaphore(constructing, handle, name, created, unlinkOnClose);
    const openIt = (): Semaphore => make(new native.NamedSemaphore(name, false, 0, 0), false);
    const createIt = (): Semaphore => make(new native.NamedSemaphore(name, true, mode, initialValue), true);
    if (create === 'open') return openIt();
    if (create === 'exclusive') return createIt();
    return openOrCreate(createIt, openIt);
  }

  /**
   * Removes the name. Processes that have it open keep using it; the
   * semaphore goes away with the last handle. Only the creator should do
   * this. Throws `ENOENT` when there is no such semaphore, `EACCES` without
   * permission (`syscall: 'sem_unlink'`, `path: name`).
   */
  static unlink(name: string): void {
    native.semUnlink(validateIpcName(name, 'name', 'sem'));
  }

  /** True after {@link Semaphore.close}. */
  get closed(): boolean {
    return this.#closed;
  }

  #live(): NativeNamedSemaphore {
    if (this.#closed) throw closedError(`Semaphore ${this.name}`);
    return this.#handle;
  }

  /**
   * Increments the count, waking one waiter (`sem_post`). Throws `EOVERFLOW`
   * at {@link Semaphore.VALUE_MAX}.
   */
  post(): void {
    this.#live().post();
  }

  /** Decrements the count if it is above zero: true if so, false (never blocks) otherwise. */
  tryWait(): boolean {
    return this.#live().tryWait();
  }

  /**
   * Decrements the count, blocking the calling thread until it is above zero
   * or `timeoutMs` passes (measured on the monotonic clock). Returns true when
   * acquired, false on timeout. Signals never interrupt it. For scripts and
   * workers; event-loop code uses {@link Semaphore.wait}.
   */
  waitSync(options?: SemaphoreWaitSyncOptions): boolean {
    const handle = this.#live();
    const opts = validateOptions(options);
    return handle.waitSync(validateTimeout(opts.timeoutMs));
  }

  /**
   * Decrements the count without blocking the event loop: a free count is
   * taken at once (`sem_trywait`), else the wait runs on a dedicated thread,
   * never in libuv's pool. Resolves true when acquired,
   * false on timeout (monotonic clock).
   *
   * Rejects with an `AbortError` (its `cause` the signal's reason) when
   * `signal` aborts, and with `ERR_POSIX_IPC_CLOSED` when {@link close} is
   * called meanwhile. A cancelled wait never consumes a count: one its thread
   * took while the cancellation was on its way is given back (within 50 ms).
   */
  async wait(options?: SemaphoreWaitOptions): Promise<boolean> {
    const handle = this.#live();
    const opts = validateOptions(options);
    const timeoutMs = validateTimeout(opts.timeoutMs);
    const signal = validateAbortSignal(opts.signal);
    // A free count is taken at once, with no thread (unless this handle's own earlier waits are still pending: they go first).
    if (this.#pending.size === 0 && signal?.aborted !== true && handle.tryWait()) return true;
    const start = (callback: WaitCallback): WaitHandle => {
      const waitHandle = handle.startWait(timeoutMs, (err, result) => {
        // The outcome first (it may give a count back), then the end of the
        // thread (which may close the handle after close()).
        callback(err, result);
        this.#waitEnded();
      });
      this.#running++;
      return waitHandle;
    };
    const result = await nativeWait(start, {
      signal,
      pending: [this.#pending],
      // The thread took a count just before the cancellation reached it, and
      // the promise has already rejected: give the count back.
      giveBack: () => {
        try {
          handle.post();
        } catch {
          // cannot overflow: this wait just took one
        }
      },
    });
    if (result === WAIT_ACQUIRED) return true;
    if (result === WAIT_TIMED_OUT) return false;
    // Cancelled without our cancelling it: not expected, but a wait that did
    // not acquire must not resolve as if it had.
    throw closedError(`Semaphore ${this.name}`);
  }

  /**
   * The current count (`sem_getvalue`), never negative. A snapshot: other
   * processes may change it at once. Throws `ENOSYS` on macOS, which has no
   * `sem_getvalue`.
   */
  get value(): number {
    return this.#live().getValue();
  }

  /**
   * Closes this handle (`sem_close`) and, with `unlinkOnClose`, unlinks the
   * name if this handle created it (an `ENOENT` there is ignored: someone
   * already removed it). Pending {@link wait}s reject with
   * `ERR_POSIX_IPC_CLOSED` at once; `sem_close` follows when their threads
   * have finished (within 50 ms). Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const wait of [...this.#pending]) wait.cancel(closedError(`Semaphore ${this.name}`));
    // The native handle stays open until the cancelled waits have reported,
    // so that a count one of them took at the last moment can be given back.
    if (this.#running === 0) this.#handle.close();
    if (this.#unlinkOnClose && this.created) {
      try {
        native.semUnlink(this.name);
      } catch (err) {
        if (!isSystemError(err, 'ENOENT')) throw err;
      }
    }
  }

  #waitEnded(): void {
    this.#running--;
    if (this.#closed && this.#running === 0) this.#handle.close();
  }

  /** Same as {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * POSIX shared memory: a named segment (`shm_open`) mapped into this process
 * (`mmap(MAP_SHARED)`) and exposed as an `ArrayBuffer`, so typed arrays and
 * `Atomics` work on memory that other processes see too.
 *
 * Lifetime rules: {@link SharedMemory.close} detaches the `ArrayBuffer`
 * before the memory is unmapped, so a view kept past `close()` has length 0
 * and never reads unmapped memory. Closing never removes the name: call
 * {@link SharedMemory.unlink} (the creator usually does) or the segment stays
 * in `/dev/shm` (Linux) until reboot.
 * @module
 */
import { constants as bufferConstants } from 'node:buffer';
import { fstatSync } from 'node:fs';

import { closedError, isSystemError, systemError } from './errors.js';
import { validateFd, validateInteger, validateMode, validateOptions, validateString } from './internal/validators.js';
import { openOrCreate, validateIpcName } from './internal/names.js';
import { native, type ShmHandle } from './internal/native.js';
import { kSegment, SegmentState } from './internal/segment.js';

/**
 * How {@link SharedMemory.open} treats an existing segment:
 * - `'exclusive'`: create it; `EEXIST` if the name exists (`O_CREAT | O_EXCL`).
 * - `'open-or-create'`: create it, or open it if it already exists
 *   ({@link SharedMemory.created} tells which).
 * - `'open'` (the default): open an existing segment only; `ENOENT` if absent.
 */
export type ShmCreateMode = 'exclusive' | 'open-or-create' | 'open';

/** Options of {@link SharedMemory.open}. */
export interface SharedMemoryOpenOptions {
  /** Whether to create the segment. Default `'open'`: creating is never implicit. */
  create?: ShmCreateMode;
  /**
   * Size in bytes of a segment this call creates: required (an integer >= 1)
   * with `'exclusive'` and `'open-or-create'`, not allowed with `'open'`. An
   * existing segment keeps its own size, whatever this says.
   */
  size?: number;
  /**
   * Permission bits of a segment this call creates, applied exactly with
   * `fchmod` whatever the umask (macOS: less the umask). Default `0o600`.
   */
  mode?: number;
}

const CREATE_MODES: readonly ShmCreateMode[] = ['exclusive', 'open-or-create', 'open'];

const kConstruct = Symbol('SharedMemory.construct');

/**
 * A POSIX shared-memory segment mapped into this process.
 *
 * @example
 * // Process A
 * using shm = SharedMemory.open('/counters', { create: 'exclusive', size: 4096 });
 * const counters = new Int32Array(shm.buffer);
 * Atomics.add(counters, 0, 1);
 * // Process B
 * using peer = SharedMemory.open('/counters');
 * Atomics.load(new Int32Array(peer.buffer), 0); // 1
 */
export class SharedMemory implements Disposable {
  /** The segment's name, as given to {@link SharedMemory.open}. */
  readonly name: string;
  /** True when this object created the segment (and so usually unlinks it). */
  readonly created: boolean;
  readonly #state: SegmentState;
  #buffer: ArrayBuffer | null;

  /** @internal Use {@link SharedMemory.open}. */
  constructor(token: symbol, name: string, handle: ShmHandle, created: boolean) {
    if (token !== kConstruct) throw new TypeError('Use SharedMemory.open() to get a SharedMemory');
    this.name = name;
    this.created = created;
    this.#buffer = native.shmBuffer(handle);
    this.#state = new SegmentState(handle, this.#buffer);
  }

  /** @internal The private state, for lib/futex.ts and lib/unnamed-semaphore.ts (through `segmentOf`). */
  get [kSegment](): SegmentState | undefined {
    return #state in this ? this.#state : undefined;
  }

  /**
   * Opens (or creates, per `options.create`) the segment `name` and maps all
   * of it.
   *
   * Creating: `shm_open(O_CREAT | O_EXCL)`, `fchmod(mode)`, then the size is
   * reserved: on Linux with `posix_fallocate`, so that a size the system
   * cannot hold fails here with `ENOSPC` instead of killing a process with
   * `SIGBUS` when it first touches a page. Any failure removes the
   * half-made segment. Opening: the size is the segment's (`fstat`). A
   * segment that still has size 0 is one its creator has not sized yet:
   * this call never waits for it (it never sleeps), and throws `EAGAIN`
   * (syscall `mmap`) at once, with `'open'` and `'open-or-create'` alike;
   * retry shortly, with the policy (delay, deadline) of your choice.
   *
   * Throws:
   * - `TypeError`/`RangeError` for bad arguments (name format and length,
   *   `size` missing or given with `'open'`, ...); `RangeError` too when the
   *   size exceeds the largest ArrayBuffer of this Node.js
   *   (`buffer.constants.MAX_LENGTH`, 4 GiB on Node.js 20).
   * - `EEXIST` (`'exclusive'`), `ENOENT` (`'open'`), `EACCES` (permission),
   *   `EINVAL`/`ENAMETOOLONG` (name refused by the system), `EMFILE`/`ENFILE`:
   *   syscall `shm_open`.
   * - `ENOSPC` (syscall `posix_fallocate`): not enough room in `/dev/shm`.
   * - `EAGAIN` (syscall `mmap`): the segment exists with size 0, not sized
   *   by its creator yet.
   * - `EPERM`/`EFBIG`/`EINVAL` (syscall `ftruncate`), `ENOMEM` (syscall `mmap`).
   */
  static open(name: string, options?: SharedMemoryOpenOptions): SharedMemory {
    validateIpcName(name, 'name', 'shm');
    const opts = validateOptions(options);
    const create = opts.create === undefined ? 'open' : opts.create;
    if (!CREATE_MODES.includes(create as ShmCreateMode)) {
      throw new TypeError(
        `The "options.create" option must be one of ${CREATE_MODES.map((m) => `'${m}'`).join(', ')}. Received ${String(create)}`,
      );
    }
    let size = 0;
    let mode = 0o600;
    if (create === 'open') {
      if (opts.size !== undefined)
        throw new TypeError(`The "options.size" option is only valid when creating (options.create 'exclusive' or 'open-or-create')`);
      if (opts.mode !== undefined)
        throw new TypeError(`The "options.mode" option is only valid when creating (options.create 'exclusive' or 'open-or-create')`);
    } else {
      if (opts.size === undefined) throw new TypeError(`The "options.size" option is required when options.create is '${String(create)}'`);
      size = validateInteger(opts.size, 'options.size', 1);
      if (opts.mode !== undefined) mode = validateMode(opts.mode, 'options.mode');
    }

    const createIt = (): SharedMemory =>
      new SharedMemory(kConstruct, name, native.shmOpen(name, true, size, mode, bufferConstants.MAX_LENGTH)!, true);
    const openIt = (): SharedMemory => {
      const handle = native.shmOpen(name, false, 0, 0, bufferConstants.MAX_LENGTH);
      // Size 0: its creator is between shm_open and sizing it. Waiting here
      // would block the thread (an async caller's event loop); the caller
      // owns the retry policy.
      if (handle === null)
        throw systemError('EAGAIN', 'mmap', name, 'the segment has size 0 (its creator has not sized it yet; try again shortly)');
      return new SharedMemory(kConstruct, name, handle, false);
    };
    if (create === 'open') return openIt();
    if (create === 'exclusive') return createIt();
    return openOrCreate(createIt, openIt);
  }

  /**
   * Maps the whole segment behind a descriptor, as one received from another
   * process ({@link receiveWithFds}, a channel's `fds`): the descriptor of a
   * segment that process opened, or of an unlinked one only descriptors
   * reach. On success the `SharedMemory` owns `fd` (its `close()` closes it);
   * on a throw `fd` stays yours. `name` is only a label here (default `''`):
   * `unlink()` uses it, so leave it empty for a segment you did not name.
   *
   * Throws `TypeError`/`RangeError` for bad arguments; `EINVAL` (syscall
   * `fstat`) when `fd` is not a regular file or shared-memory object;
   * `EAGAIN` (syscall `mmap`) when its size is still 0; `EBADF`, `EACCES`
   * (opened read-only), `ENOMEM` (syscall `mmap`).
   *
   * @example
   * const { value, fds } = await ch.receiver.receive();
   * using seg = SharedMemory.fromFd(fds[0]!);
   */
  static fromFd(fd: number, options?: { name?: string }): SharedMemory {
    validateFd(fd);
    const opts = validateOptions(options);
    const name = opts.name === undefined ? '' : validateString(opts.name, 'options.name');
    let file: boolean;
    try {
      file = fstatSync(fd).isFile();
    } catch (err) {
      throw isSystemError(err) ? systemError(err.code, 'fstat', undefined, `${fd} is not an open descriptor`) : err;
    }
    if (!file) throw systemError('EINVAL', 'fstat', undefined, `descriptor ${fd} is not a shared-memory object or regular file`);
    const handle = native.shmFromFd(fd, bufferConstants.MAX_LENGTH);
    if (handle === null) throw systemError('EAGAIN', 'mmap', name || undefined, 'the segment has size 0 (not sized yet)');
    return new SharedMemory(kConstruct, name, handle, false);
  }

  /**
   * The segment's own descriptor, to pass to another process
   * ({@link sendWithFds}, a UNIX channel with `passFds`): that process gets
   * its own duplicate and can map it with {@link SharedMemory.fromFd}, even
   * after the name was unlinked. It stays this object's: do not close it.
   * Throws `ERR_POSIX_IPC_CLOSED` after close.
   */
  get fd(): number {
    return native.shmFd(this.#state.open());
  }

  /**
   * Removes the name `name`. Processes that have the segment open keep
   * using it; the memory is freed when the last one closes it. Throws
   * `ENOENT` when there is no such segment, `EACCES` without permission
   * (syscall `shm_unlink`).
   */
  static unlink(name: string): void {
    native.shmUnlink(validateIpcName(name, 'name', 'shm'));
  }

  /**
   * The mapped memory. Use typed-array views and `Atomics` on it; the
   * memory is zero-filled when created. Detached (length 0) after
   * {@link close} or {@link resize}, so take it again after a resize.
   * Throws `ERR_POSIX_IPC_CLOSED` after close.
   */
  get buffer(): ArrayBuffer {
    if (this.#buffer === null) throw closedError('SharedMemory');
    return this.#buffer;
  }

  /**
   * The size in bytes this process maps. Another process's later
   * {@link resize} does not change it: call `resize()` with the new size to
   * follow. Throws `ERR_POSIX_IPC_CLOSED` after close.
   */
  get size(): number {
    this.#state.open();
    return this.#state.size;
  }

  /** True once {@link close} has been called. */
  get closed(): boolean {
    return this.#state.handle === null;
  }

  /**
   * Changes the segment's size and remaps it; returns the new buffer. The
   * old `buffer` (and every view on it) is detached; data is preserved up
   * to the smaller of the two sizes, and grown bytes read as zero. Growing
   * reserves the pages like {@link open} (`ENOSPC`).
   *
   * Other processes keep their mapping and its size: a grown segment shows
   * them nothing new until they call `resize()` themselves (with the new
   * size, which then only remaps), and **shrinking under a peer's mapping
   * makes its accesses past the new end raise `SIGBUS`** (the peer is killed).
   * Agree on sizes through the data you share before shrinking.
   *
   * Throws `RangeError` for a bad size, `EBUSY` (syscall `ftruncate`) when
   * shrinking below a pending {@link futexWait} or semaphore wait of this
   * process, `ENOSPC` (syscall `posix_fallocate`), `EINVAL` (syscall
   * `ftruncate`) on macOS, which sizes a segment only once,
   * `ERR_POSIX_IPC_CLOSED` after close.
   */
  resize(bytes: number): ArrayBuffer {
    const handle = this.#state.open();
    validateInteger(bytes, 'bytes', 1);
    for (const wait of this.#state.waits) {
      if (wait.end > bytes) {
        throw systemError('EBUSY', 'ftruncate', this.name, 'a pending wait of this process uses bytes past the new size');
      }
    }
    const buffer = native.shmResize(handle, bytes, bufferConstants.MAX_LENGTH);
    this.#buffer = buffer;
    this.#state.setBuffer(buffer);
    return buffer;
  }

  /**
   * Removes this segment's name, like {@link SharedMemory.unlink}: the
   * mapping stays usable until closed. Beware that if the name was removed
   * and made again by someone else, this removes theirs. Throws `ENOENT`,
   * `EACCES`, `ERR_POSIX_IPC_CLOSED` after close.
   */
  unlink(): void {
    this.#state.open();
    native.shmUnlink(this.name);
  }

  /**
   * Unmaps the segment and closes its descriptor. The `ArrayBuffer` is
   * detached first, so stale views read as empty instead of crashing; pending
   * async waits on the segment reject with `ERR_POSIX_IPC_CLOSED` (their
   * threads let go of the memory within 50 ms). Does not unlink the name.
   * Idempotent.
   */
  close(): void {
    const handle = this.#state.handle;
    if (handle === null) return;
    this.#state.handle = null;
    this.#buffer = null;
    for (const wait of [...this.#state.waits]) wait.cancel(closedError('SharedMemory'));
    native.shmClose(handle);
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

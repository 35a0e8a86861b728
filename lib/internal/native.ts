/**
 * The raw surface of the native addon, declared in one place. Nothing outside
 * `lib/` imports this: the public API validates arguments and applies policy
 * before calling into it.
 * @internal
 * @module
 */
import { createRequire } from 'node:module';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An opaque handle to a wait running on a dedicated native thread. */
export type WaitHandle = { readonly __brand: 'WaitHandle' };
/** An opaque handle to a shared-memory segment (native/binding/shm.cc). */
export type ShmHandle = { readonly __brand: 'ShmHandle' };
/** Callback of a native wait: `err` is a SystemError or null. */
export type WaitCallback = (err: Error | null, result: number) => void;
/** An opaque handle to a child process started by spawnChild. */
export type ChildHandle = { readonly __brand: 'ChildHandle' };
/** Exit report of a child: `code` is -1 when `signal` (a number) killed it; `err` if the wait failed. */
export type ExitCallback = (err: Error | null, code: number, signal: number) => void;

/** A libuv poll handle on one descriptor (native/binding/poller.cc). */
export interface NativeFdPoller {
  /** Starts (or changes) watching: bit 1 readable, bit 2 writable. */
  start(events: number): void;
  stop(): void;
  close(): void;
}

export const POLL_READABLE = 1;
export const POLL_WRITABLE = 2;

export interface NativeBinding {
  // waiter.cc
  cancelWait(handle: WaitHandle): void;

  // fd.cc
  pipe(cloexec: boolean, nonBlockingRead: boolean, nonBlockingWrite: boolean): [number, number];
  getPipeCapacity(fd: number): number;
  setPipeCapacity(fd: number, size: number): number;
  mkfifo(path: string, mode: number): void;
  openFifo(path: string, writeEnd: boolean): number;
  read(fd: number, buffer: Uint8Array): number | null;
  write(fd: number, buffer: Uint8Array): number | null;
  writev(fd: number, buffers: Uint8Array[]): number | null;
  close(fd: number): void;
  poll(fd: number, wantWrite: boolean, timeoutMs: number): boolean;
  setNonBlocking(fd: number, on: boolean): void;
  setCloexec(fd: number, on: boolean): void;
  getFlags(fd: number): { nonBlocking: boolean; cloexec: boolean };
  /** flock(LOCK_EX | LOCK_NB), or LOCK_UN when !exclusive: false when another open file holds the lock. */
  tryFlock(fd: number, exclusive: boolean): boolean;

  // poller.cc: readiness of a descriptor on the event loop
  FdPoller: new (fd: number, callback: (err: Error | null, events: number) => void) => NativeFdPoller;

  // socket.cc — UNIX-domain stream sockets; listen, accept and connect give non-blocking descriptors
  unixListen(path: string, backlog: number, mode: number): number;
  /** -1 when no connection is pending. */
  unixAccept(fd: number): number;
  unixConnect(path: string): [fd: number, inProgress: boolean];
  finishConnect(fd: number): void;
  /** Both ends blocking and close-on-exec. */
  /** sendmsg with SCM_RIGHTS (1 to 253 descriptors, at least 1 byte): bytes written, null when full. */
  sendFds(fd: number, buffer: Uint8Array, fds: readonly number[]): number | null;
  /** recvmsg with room for `maxFds`: null when nothing is there, else [bytes, ...descriptors]; EMSGSIZE on MSG_CTRUNC. */
  recvFds(fd: number, buffer: Uint8Array, maxFds: number): number[] | null;
  /** fcntl(F_DUPFD_CLOEXEC). */
  dupCloexec(fd: number): number;
  socketPair(): [number, number];
  shutdown(fd: number, read: boolean, write: boolean): void;
  /** The peer of a connected UNIX socket; pid -1 where the system does not say (macOS). */
  peerCredentials(fd: number): { pid: number; uid: number; gid: number };

  // tcp.cc — numeric addresses only (lib/tcp.ts resolves names first); descriptors non-blocking, close-on-exec.
  // The options are (noDelay, keepAliveIdleS, keepAliveIntervalS, keepAliveCount, userTimeoutMs); idle 0: keep-alive off.
  tcpListen(family: 4 | 6, host: string, port: number, backlog: number, v6Only: boolean): number;
  /** -1 when no connection is pending. */
  tcpAccept(fd: number, noDelay: boolean, idleS: number, intervalS: number, count: number, userTimeoutMs: number): number;
  tcpConnect(
    family: 4 | 6,
    host: string,
    port: number,
    noDelay: boolean,
    idleS: number,
    intervalS: number,
    count: number,
    userTimeoutMs: number,
  ): [fd: number, inProgress: boolean];
  /** SO_ERROR of a connection in progress; its failure carries `address` and `port`. */
  tcpFinishConnect(fd: number, host: string, port: number): void;
  tcpConfigure(fd: number, noDelay: boolean, idleS: number, intervalS: number, count: number, userTimeoutMs: number): void;
  tcpLocalAddress(fd: number): { family: 4 | 6; address: string; port: number };
  tcpPeerAddress(fd: number): { family: 4 | 6; address: string; port: number };

  // process.cc
  /** fdMap is flat: [childFd, parentFd, ...]; cwd '' keeps the parent's. Returns [handle, pid]. */
  spawnChild(
    file: string,
    candidates: string[],
    argv: string[],
    env: string[],
    cwd: string,
    fdMap: number[],
    usePidfd: boolean,
    onExit: ExitCallback,
  ): [ChildHandle, number];
  childKill(handle: ChildHandle, signal: number): boolean;
  /** Blocks until the child exits: [code, signal] as in ExitCallback. */
  childWaitSync(handle: ChildHandle): [number, number];
  childSetRef(handle: ChildHandle, on: boolean): void;

  // semaphore.cc
  /**
   * Opens a named semaphore: `create` true is `O_CREAT | O_EXCL` with an exact
   * `mode` (EEXIST when the name exists); false opens an existing one (ENOENT
   * otherwise) and ignores `mode` and `initialValue`.
   */
  NamedSemaphore: new (name: string, create: boolean, mode: number, initialValue: number) => NativeNamedSemaphore;
  semUnlink(name: string): void;
  /** The largest count a semaphore can hold (glibc: 2147483647, macOS: 32767). */
  SEM_VALUE_MAX: number;

  // shm.cc — `maxBytes` is buffer.constants.MAX_LENGTH.
  /** Creates exclusively (`create`) or opens; null when an existing segment still has size 0. */
  shmOpen(name: string, create: boolean, size: number, mode: number, maxBytes: number): ShmHandle | null;
  shmBuffer(handle: ShmHandle): ArrayBuffer;
  /** Resizes and remaps; the old ArrayBuffer is detached. */
  shmResize(handle: ShmHandle, size: number, maxBytes: number): ArrayBuffer;
  /** Detaches the ArrayBuffer, drops this owner of the mapping, closes the fd. Idempotent. */
  shmClose(handle: ShmHandle): void;
  shmUnlink(name: string): void;
  /** The segment's own descriptor (for descriptor passing). */
  shmFd(handle: ShmHandle): number;
  /** Maps the object behind a received descriptor; owns `fd` on success only. null: size 0. */
  shmFromFd(fd: number, maxBytes: number): ShmHandle | null;

  // futex.cc — results 0 'ok', 1 'not-equal', 2 'timed-out'
  futexWaitSync(handle: ShmHandle, byteOffset: number, expected: number, timeoutMs: number): number;
  futexWait(handle: ShmHandle, byteOffset: number, expected: number, timeoutMs: number, callback: WaitCallback): WaitHandle;
  futexWake(handle: ShmHandle, byteOffset: number, count: number): number;

  // unnamed_semaphore.cc — wait results as in waiting.ts (0 acquired, 1 timed out)
  readonly unnamedSemSupported: boolean;
  readonly unnamedSemBytes: number;
  readonly unnamedSemAlignment: number;
  unnamedSemInit(handle: ShmHandle, byteOffset: number, value: number): void;
  unnamedSemDestroy(handle: ShmHandle, byteOffset: number): void;
  unnamedSemPost(handle: ShmHandle, byteOffset: number): void;
  unnamedSemTryWait(handle: ShmHandle, byteOffset: number): boolean;
  unnamedSemGetValue(handle: ShmHandle, byteOffset: number): number;
  unnamedSemWaitSync(handle: ShmHandle, byteOffset: number, timeoutMs: number): number;
  unnamedSemWait(handle: ShmHandle, byteOffset: number, timeoutMs: number, callback: WaitCallback): WaitHandle;

  // teardown.cc — kind 0: a file path (FIFO, socket), 1: a shared-memory name.
  /**
   * Removes `name` when this environment is torn down (a terminated worker),
   * if it still names the object it names now. Returns an id, or 0 when the
   * name does not exist.
   */
  unlinkAtTeardown(kind: 0 | 1, name: string): number;
  cancelUnlinkAtTeardown(id: number): void;
  /** The environment's teardown closes `fd` unless disownFd(fd) came first (channel descriptors). */
  ownFd(fd: number): void;
  disownFd(fd: number): void;
  /** `"dev:ino"` of what `name` (0: a path, lstat; 1: a shared-memory name) names now, or null. */
  nameIdentity(kind: 0 | 1, name: string): string | null;

  // addon.cc, AddressSanitizer builds only (npm run test:asan)
  /** LeakSanitizer's check now; reports go where ASAN_OPTIONS says. True when it found leaks. */
  sanitizerLeakCheck?(): boolean;
}

/** A sem_open() handle (native/binding/semaphore.cc). */
export interface NativeNamedSemaphore {
  post(): void;
  /** False when the count was 0. */
  tryWait(): boolean;
  /** Blocks the calling thread: true when acquired, false on timeout (Infinity: no limit). */
  waitSync(timeoutMs: number): boolean;
  /** A cancellable wait on a dedicated thread; `result` is a waiting.ts WAIT_* code. */
  startWait(timeoutMs: number, callback: WaitCallback): WaitHandle;
  /** ENOSYS on macOS. */
  getValue(): number;
  /** Idempotent; sem_close runs once the last pending wait thread has finished. */
  close(): void;
}

const require = createRequire(import.meta.url);
const loadBinding = require('node-gyp-build') as (dir: string) => unknown;

/** The package root: this file lives in `lib/internal/` (source) or `dist/internal/` (built). */
const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Development aid: `POSIX_IPC_ADDON=/abs/path/posix_ipc.node` loads that file
 * instead of the normal lookup (e.g. the sanitizer build of `npm run
 * test:asan`, which lives outside `build/` so it never shadows the normal
 * build). An absolute path only, and no fallback: a failure to load it throws.
 */
function loadOverride(path: string): NativeBinding {
  if (!isAbsolute(path)) {
    throw new Error(`posix-ipc: POSIX_IPC_ADDON must be an absolute path to a .node file, not '${path}'`);
  }
  return require(path) as NativeBinding;
}

function load(): NativeBinding {
  const override = process.env.POSIX_IPC_ADDON;
  if (override !== undefined && override !== '') return loadOverride(override);
  try {
    return loadBinding(packageRoot) as NativeBinding;
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new Error(
      `posix-ipc: could not load its native addon (${detail}). ` +
        `Looked in ${packageRoot}prebuilds/ and ${packageRoot}build/. ` +
        'Build it from source with `npm rebuild posix-ipc` (needs python3, make and a C++17 compiler).',
      { cause },
    );
  }
}

export const native: NativeBinding = load();

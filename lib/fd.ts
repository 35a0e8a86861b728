/**
 * Pipes, named pipes (FIFOs) and plain descriptor I/O.
 *
 * Descriptors are plain numbers, as in C and in Node's `fs`. For event-loop
 * I/O hand a descriptor to Node with {@link streamFromFd}; the `...Sync`
 * calls here block the calling thread and exist for scripts and labs.
 * @module
 */
import * as fs from 'node:fs';
import * as net from 'node:net';

import { isSystemError, systemError, timeoutError } from './errors.js';
import {
  validateAbortSignal,
  validateBoolean,
  validateBytes,
  validateFd,
  validateInteger,
  validateMode,
  validateOptions,
  validateString,
  validateTimeout,
} from './internal/validators.js';
import { native } from './internal/native.js';
import { backoff, type BackoffOptions, backoffSync, deadlineAfter, msLeft } from './internal/waiting.js';

/** The two ends of a pipe: `[readFd, writeFd]`, as `pipe_fd[0]` and `pipe_fd[1]` in C. */
export type PipeFds = readonly [readFd: number, writeFd: number];

/** Options of {@link pipe}. */
export interface PipeOptions {
  /**
   * Close both ends in programs started by exec (`O_CLOEXEC`). Default `true`:
   * a descriptor reaches a child only through an explicit fd map
   * ({@link spawn}'s `fds`), never by accident.
   */
  cloexec?: boolean;
  /** Make the ends non-blocking (`O_NONBLOCK`): `true` for both, or per end. Default `false`. */
  nonBlocking?: boolean | { read?: boolean; write?: boolean };
}

/**
 * Creates an anonymous pipe: a one-way, kernel-buffered byte stream.
 * Throws `EMFILE`/`ENFILE` when out of descriptors.
 *
 * @example
 * const [r, w] = pipe();
 * writeSync(w, Buffer.from('Message in a pipe.\n'));
 */
export function pipe(options?: PipeOptions): PipeFds {
  const opts = validateOptions(options);
  const cloexec = opts.cloexec === undefined ? true : validateBoolean(opts.cloexec, 'options.cloexec');
  let nbRead = false;
  let nbWrite = false;
  const nb = opts.nonBlocking;
  if (typeof nb === 'boolean') {
    nbRead = nbWrite = nb;
  } else if (nb !== undefined) {
    const ends = validateOptions(nb, 'options.nonBlocking');
    nbRead = ends.read === undefined ? false : validateBoolean(ends.read, 'options.nonBlocking.read');
    nbWrite = ends.write === undefined ? false : validateBoolean(ends.write, 'options.nonBlocking.write');
  }
  const [r, w] = native.pipe(cloexec, nbRead, nbWrite);
  return [r, w] as const;
}

/**
 * The capacity in bytes of the pipe or FIFO behind `fd` (Linux: `F_GETPIPE_SZ`).
 * Throws `ENOTSUP` on systems without it (macOS), `EBADF` for a bad descriptor.
 */
export function getPipeCapacity(fd: number): number {
  return native.getPipeCapacity(validateFd(fd));
}

/**
 * Sets the capacity of a pipe or FIFO (Linux: `F_SETPIPE_SZ`) and returns the
 * capacity the kernel chose (rounded up to a power-of-two number of pages).
 * Throws `EPERM` above `/proc/sys/fs/pipe-max-size` for an unprivileged
 * process, `EBUSY` when shrinking below the bytes already buffered, `ENOTSUP`
 * on macOS.
 */
export function setPipeCapacity(fd: number, bytes: number): number {
  return native.setPipeCapacity(validateFd(fd), validateInteger(bytes, 'bytes', 1, 2 ** 31 - 1));
}

/**
 * Creates a named pipe at `path` with exactly `mode` (default `0o600`,
 * whatever the umask). Throws `EEXIST` when the path exists, `ENOENT` when
 * its directory does not, `EACCES` without permission.
 */
export function mkfifo(path: string, mode = 0o600): void {
  native.mkfifo(validateString(path, 'path'), validateMode(mode));
}

/** Which end of a FIFO to open: `'r'` to read, `'w'` to write. */
export type FifoEnd = 'r' | 'w';

/** Options of {@link openFifo} and {@link openFifoSync}. */
export interface OpenFifoOptions {
  /** How long a writer waits for a reader to appear, in ms. Default: no limit. */
  timeoutMs?: number;
  /** Cancels the wait (async form only). */
  signal?: AbortSignal;
  /**
   * Leave the descriptor non-blocking (async form: always). Default `false`
   * for {@link openFifoSync}, so `readSync`/`writeSync` block like C's.
   */
  nonBlocking?: boolean;
}

function validateEnd(end: unknown): FifoEnd {
  if (end !== 'r' && end !== 'w') {
    throw new TypeError(`The "end" argument must be 'r' or 'w'. Received ${String(end)}`);
  }
  return end;
}

/** One non-blocking open attempt: the fd, or undefined when a writer finds no reader (ENXIO). */
function tryOpenFifo(path: string, end: FifoEnd): number | undefined {
  let fd: number;
  try {
    fd = native.openFifo(path, end === 'w');
  } catch (err) {
    if (end === 'w' && isSystemError(err, 'ENXIO')) return undefined;
    throw err;
  }
  if (fd === -1) throw systemError('EFTYPE', 'open', path, 'not a FIFO');
  return fd;
}

// A writer waits for a reader by retrying its non-blocking open: the kernel
// offers no event for "a reader appeared". Backoff (1 to 50 ms) keeps the
// cost negligible.
function fifoRetry(path: string, deadline: number): BackoffOptions {
  return {
    deadline,
    onTimeout: () => timeoutError('open', path, 'no reader opened the FIFO in time'),
    firstMs: 1,
    maxMs: 50,
  };
}

/**
 * Opens a named pipe without ever blocking the event loop or a libuv thread.
 *
 * - `'r'` returns at once. Until a writer connects, an event-loop read of the
 *   descriptor (through {@link streamFromFd}) simply waits (Linux); after the
 *   last writer closes, the reader sees end-of-file.
 * - `'w'` resolves once a reader has the FIFO open, retrying with backoff;
 *   rejects with `ETIMEDOUT` after `timeoutMs`, or an `AbortError`.
 *
 * The descriptor is non-blocking and close-on-exec. A symlink at `path` is
 * refused (`ELOOP`); a path that is not a FIFO gives `EFTYPE`; a missing one
 * `ENOENT`.
 */
export async function openFifo(path: string, end: FifoEnd, options?: OpenFifoOptions): Promise<number> {
  validateString(path, 'path');
  validateEnd(end);
  const opts = validateOptions(options);
  const timeoutMs = validateTimeout(opts.timeoutMs);
  const signal = validateAbortSignal(opts.signal);
  return backoff(() => tryOpenFifo(path, end), { ...fifoRetry(path, deadlineAfter(timeoutMs)), signal });
}

/**
 * Opens a named pipe, blocking the calling thread like C's `open()`: a writer
 * waits for a reader; a reader waits for a writer's first bytes or close
 * (up to `timeoutMs`, then `ETIMEDOUT`). For scripts and labs; event-loop code
 * uses {@link openFifo}.
 */
export function openFifoSync(path: string, end: FifoEnd, options?: Omit<OpenFifoOptions, 'signal'>): number {
  validateString(path, 'path');
  validateEnd(end);
  const opts = validateOptions(options);
  const timeoutMs = validateTimeout(opts.timeoutMs);
  const nonBlocking = opts.nonBlocking === undefined ? false : validateBoolean(opts.nonBlocking, 'options.nonBlocking');
  const deadline = deadlineAfter(timeoutMs);
  const fd = backoffSync(() => tryOpenFifo(path, end), fifoRetry(path, deadline));
  try {
    // A reader waits for a writer, as C's blocking open() would: on Linux a
    // FIFO reader that never had a writer polls as not ready, whereas read()
    // would report end-of-file at once.
    if (end === 'r' && !native.poll(fd, false, msLeft(deadline))) {
      throw timeoutError('open', path, 'no writer opened the FIFO in time');
    }
    if (!nonBlocking) native.setNonBlocking(fd, false);
  } catch (err) {
    native.close(fd);
    throw err;
  }
  return fd;
}

function validateRange(buffer: Uint8Array, offset: unknown, length: unknown): Uint8Array {
  const off = offset === undefined ? 0 : validateInteger(offset, 'offset', 0, buffer.byteLength);
  const len = length === undefined ? buffer.byteLength - off : validateInteger(length, 'length', 0, buffer.byteLength - off);
  return off === 0 && len === buffer.byteLength ? buffer : buffer.subarray(off, off + len);
}

/**
 * Reads up to `length` bytes from `fd` into `buffer` at `offset`, like
 * `read(2)`: returns the count (0 at end of file), or `null` when a
 * non-blocking descriptor has nothing to read. Blocks on a blocking
 * descriptor. Signals are retried (never `EINTR`).
 */
export function readSync(fd: number, buffer: Uint8Array, offset?: number, length?: number): number | null {
  validateFd(fd);
  validateBytes(buffer, 'buffer');
  return native.read(fd, validateRange(buffer, offset, length));
}

/**
 * Writes bytes to `fd`, like `write(2)`: returns how many were written
 * (possibly fewer than asked on a pipe), or `null` when a non-blocking
 * descriptor has no room. Writing to a pipe with no reader throws `EPIPE`
 * (Node ignores SIGPIPE, so the process survives).
 */
export function writeSync(fd: number, buffer: Uint8Array, offset?: number, length?: number): number | null {
  validateFd(fd);
  validateBytes(buffer, 'buffer');
  return native.write(fd, validateRange(buffer, offset, length));
}

/** Closes a descriptor. Throws `EBADF` when it is not open. */
export function closeSync(fd: number): void {
  native.close(validateFd(fd));
}

/**
 * Blocks until `fd` is readable (`'r'`) or writable (`'w'`), or hung up or in
 * error (the next read or write tells which), for at most `timeoutMs`.
 * Returns `false` on timeout. Signals are retried with the time left.
 */
export function pollSync(fd: number, end: FifoEnd, timeoutMs?: number): boolean {
  validateFd(fd);
  validateEnd(end);
  return native.poll(fd, end === 'w', validateTimeout(timeoutMs));
}

/** Switches `O_NONBLOCK` on or off for `fd`. */
export function setNonBlocking(fd: number, on: boolean): void {
  native.setNonBlocking(validateFd(fd), validateBoolean(on, 'on'));
}

/** Switches close-on-exec (`FD_CLOEXEC`) on or off for `fd`. */
export function setCloexec(fd: number, on: boolean): void {
  native.setCloexec(validateFd(fd), validateBoolean(on, 'on'));
}

/** The `O_NONBLOCK` and `FD_CLOEXEC` state of `fd`. */
export function getFdFlags(fd: number): { nonBlocking: boolean; cloexec: boolean } {
  return native.getFlags(validateFd(fd));
}

/**
 * Hands a pipe, FIFO or socket descriptor to Node as a stream, for event-loop
 * I/O (`'r'` readable, `'w'` writable). Node owns the descriptor from then on:
 * destroying the stream closes it. Regular files are refused (`TypeError`):
 * use `fs` for those.
 */
export function streamFromFd(fd: number, end: FifoEnd): net.Socket {
  validateFd(fd);
  validateEnd(end);
  const st = fs.fstatSync(fd);
  if (!st.isFIFO() && !st.isSocket()) {
    throw new TypeError(`The "fd" argument must be a pipe, FIFO or socket descriptor. Received fd ${fd}`);
  }
  return new net.Socket({ fd, readable: end === 'r', writable: end === 'w', allowHalfOpen: true });
}

/**
 * Held files: small files in the runtime directory that their owner keeps
 * open with an exclusive `flock` for as long as the thing they describe
 * lives (a registered name, a process's object ledger). The kernel drops the
 * lock when the owner's last descriptor closes, on `kill -9` too, so "is the
 * owner alive" is one non-blocking lock attempt: exact, with no pid to be
 * reused and no daemon. The descriptors are close-on-exec (libuv opens every
 * file so), so a child started with exec never holds a parent's lock, and
 * each is owned by its environment (a terminated worker's are closed by the
 * native teardown, which releases the lock).
 *
 * Whoever removes a dead owner's file holds that file's lock while it checks
 * that the path still names the same inode: two cleaners, or a cleaner and a
 * new owner, never remove each other's file.
 * @internal
 * @module
 */
import { closeSync, constants, fstatSync, linkSync, lstatSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';

import { isSystemError, systemError } from '../errors.js';
import { native } from './native.js';

/** The largest held file read back: entries are a few hundred bytes. */
export const HELD_FILE_MAX_BYTES = 16 * 1024;

/** What a look at a held file found. A dead one comes with its lock taken: pass it to {@link removeDead} or {@link releaseProbe}. */
export type HeldProbe = { state: 'missing' } | { state: 'alive'; text: string } | { state: 'dead'; text: string; fd: number; path: string };

function sameFile(fd: number, path: string): boolean {
  try {
    const a = fstatSync(fd, { bigint: true });
    const b = lstatSync(path, { bigint: true });
    return a.dev === b.dev && a.ino === b.ino;
  } catch (err) {
    if (isSystemError(err, 'ENOENT')) return false;
    throw err;
  }
}

function closeQuietly(fd: number): void {
  native.disownFd(fd);
  try {
    closeSync(fd);
  } catch {
    // EBADF cannot happen for a descriptor we own; nothing else to do
  }
}

/**
 * Creates `path` exclusively (mode 0600, never through a symbolic link),
 * writes `text` and takes its lock. Returns the descriptor that holds it.
 */
export function createHeld(path: string, text: string): number {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    const bytes = Buffer.from(text, 'utf8');
    for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, bytes.length - off, off);
    if (!native.tryFlock(fd, true)) throw new Error(`a new file is locked by someone else: ${path}`);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
    throw err;
  }
  native.ownFd(fd);
  return fd;
}

/** Gives `path` (a held file) the second name `target`: false when `target` exists (`link(2)` never replaces). */
export function linkHeld(path: string, target: string): boolean {
  try {
    linkSync(path, target);
    return true;
  } catch (err) {
    if (isSystemError(err, 'EEXIST')) return false;
    throw err;
  }
}

/** Removes the name `path` if it still names the file `fd` holds; `fd` keeps the lock. */
export function unlinkHeld(fd: number, path: string): void {
  try {
    if (sameFile(fd, path)) unlinkSync(path);
  } catch (err) {
    if (!isSystemError(err, 'ENOENT')) throw err;
  }
}

/** Removes `path` if it still names the file `fd` holds, then lets go of the lock. */
export function releaseHeld(fd: number, path: string): void {
  try {
    unlinkHeld(fd, path);
  } finally {
    closeQuietly(fd);
  }
}

/** Lets go of a held descriptor without removing anything (the path now names a newer file). */
export function dropHeld(fd: number): void {
  closeQuietly(fd);
}

/**
 * Reads `path` (at most {@link HELD_FILE_MAX_BYTES}) and tries its lock:
 * `'alive'` while its owner holds it, `'dead'` (lock now taken by the
 * caller) when nobody does, `'missing'` when there is no such file, or not
 * a regular file.
 */
export function probeHeld(path: string): HeldProbe {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (isSystemError(err, 'ENOENT') || isSystemError(err, 'ELOOP')) return { state: 'missing' };
    throw err;
  }
  native.ownFd(fd);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeQuietly(fd);
      return { state: 'missing' };
    }
    const buf = Buffer.alloc(Math.min(st.size, HELD_FILE_MAX_BYTES));
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    const text = buf.toString('utf8', 0, got);
    if (!native.tryFlock(fd, true)) {
      closeQuietly(fd);
      return { state: 'alive', text };
    }
    return { state: 'dead', text, fd, path };
  } catch (err) {
    closeQuietly(fd);
    throw err;
  }
}

/** Removes a dead file found by {@link probeHeld} (only while the path still names it); true when it did. */
export function removeDead(probe: Extract<HeldProbe, { state: 'dead' }>): boolean {
  try {
    if (!sameFile(probe.fd, probe.path)) return false;
    unlinkSync(probe.path);
    return true;
  } catch (err) {
    if (isSystemError(err, 'ENOENT')) return false;
    throw err;
  } finally {
    closeQuietly(probe.fd);
  }
}

/** Lets go of a probe's lock without removing anything. */
export function releaseProbe(probe: HeldProbe): void {
  if (probe.state === 'dead') closeQuietly(probe.fd);
}

/**
 * Takes the lock file at `path` (a dead owner's is replaced) and returns the
 * descriptor that holds it: `EBUSY` (syscall `flock`) while a live process
 * holds it. `what` names the thing locked in that message (`'activity log'`).
 * Release it with {@link releaseHeld}.
 */
export function lockHeldFile(path: string, what: string): number {
  for (let n = 0; n < 3; n++) {
    const probe = probeHeld(path);
    if (probe.state === 'alive') break;
    if (probe.state === 'dead') removeDead(probe);
    try {
      return createHeld(path, `${process.pid}\n`);
    } catch (err) {
      if (!isSystemError(err, 'EEXIST')) throw err; // another process just made it: look again
    }
  }
  throw systemError('EBUSY', 'flock', path, `Another process holds this ${what}`);
}

/**
 * Is a process alive: the one answer used by the shared-memory channel's
 * peer checks and by the tests.
 * @internal
 * @module
 */
import { readFileSync } from 'node:fs';

import { isSystemError } from '../errors.js';

/** Whether the process `pid` exists (`kill(pid, 0)`): a zombie still does. */
export function pidExists(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isSystemError(err, 'EPERM'); // exists, owned by another user
  }
}

/**
 * The fields of /proc/<pid>/stat after the command name (field 3, the state,
 * first), or undefined off Linux, for a reaped process, or when /proc hides
 * it (hidepid). The name, in parentheses, may itself hold spaces and ')'.
 */
function procStatFields(pid: number): string[] | undefined {
  if (process.platform !== 'linux' || pid <= 0) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined; // reaped meanwhile (the next look says so), or hidden (hidepid)
  }
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * Whether `pid`, which exists, has exited and waits to be reaped. A dead
 * peer that is our own child stays a zombie while this thread is blocked in
 * a `...Sync` call (the event loop reaps it), and kill(pid, 0) cannot tell.
 * Linux only (/proc); elsewhere, or when /proc hides the process, false.
 */
export function isZombie(pid: number): boolean {
  const state = procStatFields(pid)?.[0];
  return state === 'Z' || state === 'X';
}

/**
 * When `pid` started, in clock ticks after boot (field 22 of
 * /proc/<pid>/stat): with the pid, it names one process for good, so that a
 * pid the system gave again to a newer process is not taken for the old
 * one. Linux only; undefined elsewhere, or when /proc does not show it.
 */
export function processStartTime(pid: number): number | undefined {
  const field = procStatFields(pid)?.[19];
  if (field === undefined || !/^\d+$/.test(field)) return undefined;
  return Number(field);
}

/** Whether `pid` runs: it exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  return pidExists(pid) && !isZombie(pid);
}

/**
 * Longest a waiting side (a channel end, a robust mutex's locker) goes
 * without checking that its peer, or the lock's owner, is alive.
 */
export const LIVENESS_SLICE_MS = 100;

/** How long a peer seen running is taken to be running without asking the OS again. */
export const RUNNING_CACHE_MS = 10;

/**
 * {@link isAlive} with a short memory: the answer "running" is reused for
 * {@link RUNNING_CACHE_MS}. kill(pid, 0) costs a system call (over 1 us
 * through Node) and the zombie check a read of /proc, too much for every
 * message of a fast path; a dead peer is still noticed within that bound.
 */
export class LivenessCache {
  #pid = 0;
  #since = 0;

  running(pid: number): boolean {
    const now = performance.now();
    if (pid === this.#pid && now - this.#since < RUNNING_CACHE_MS) return true;
    const running = isAlive(pid);
    this.#pid = running ? pid : 0;
    this.#since = now;
    return running;
  }
}

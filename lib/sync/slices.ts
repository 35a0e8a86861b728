/**
 * The wait loop of every robust lock in lib/sync: attempt, and while the
 * lock stays held sleep on the lock's wake sequence word for one liveness
 * slice at most, then attempt again, checking its owners' liveness after a
 * slice that ran out. Written once, async and `Sync`.
 * @internal
 * @module
 */
import { closedError } from '../errors.js';
import { futexWait, futexWaitSync } from '../futex.js';
import { LIVENESS_SLICE_MS } from '../internal/liveness.js';
import { msLeft, throwIfAborted } from '../internal/waiting.js';
import type { SharedMemory } from '../shm.js';

/** What a lock gives the loop. */
export interface SliceWait<T> {
  readonly shm: SharedMemory;
  /** The lock's header words, holding the wake sequence word at `seqIndex`. */
  readonly words: Int32Array;
  readonly seqIndex: number;
  /** What a closed segment is called in the closed error (`'RobustMutex'`). */
  readonly kind: string;
  /**
   * One attempt: the holding, or undefined while the lock stays held.
   * `checkOwners` is true at the first attempt and after a slice ran out:
   * then ask whether the holders still run.
   */
  attempt(checkOwners: boolean): T | undefined;
  /** Counts this caller in (+1) or out (-1) of the waiters, around each sleep. */
  waiting(delta: 1 | -1): void;
  /** The error of a wait that ran out of time. */
  timedOut(): Error;
  /** Called when the wait ends without the holding (timeout, abort, error): undo what attempts left behind. */
  abandon?(): void;
}

function seqOf(w: SliceWait<unknown>): number {
  if (w.shm.closed) throw closedError(w.kind);
  return Atomics.load(w.words, w.seqIndex);
}

/** Waits for `w` without blocking the event loop (the sleeps run on the native waiter thread). */
export async function acquireInSlices<T>(w: SliceWait<T>, deadline: number, signal: AbortSignal | undefined): Promise<T> {
  try {
    return await slicesAsync(w, deadline, signal);
  } catch (err) {
    w.abandon?.();
    throw err;
  }
}

async function slicesAsync<T>(w: SliceWait<T>, deadline: number, signal: AbortSignal | undefined): Promise<T> {
  const offset = w.seqIndex * 4;
  for (let checkOwners = true; ;) {
    throwIfAborted(signal);
    const seq = seqOf(w);
    const got = w.attempt(checkOwners);
    if (got !== undefined) return got;
    const left = msLeft(deadline);
    if (left <= 0) throw w.timedOut();
    w.waiting(1);
    let result: string;
    try {
      result = await futexWait(w.shm, offset, seq, { timeoutMs: Math.min(left, LIVENESS_SLICE_MS), signal });
    } finally {
      if (!w.shm.closed) w.waiting(-1);
    }
    checkOwners = result === 'timed-out';
  }
}

/** {@link acquireInSlices} blocking the thread. */
export function acquireInSlicesSync<T>(w: SliceWait<T>, deadline: number): T {
  try {
    return slicesSync(w, deadline);
  } catch (err) {
    w.abandon?.();
    throw err;
  }
}

function slicesSync<T>(w: SliceWait<T>, deadline: number): T {
  const offset = w.seqIndex * 4;
  for (let checkOwners = true; ;) {
    const seq = seqOf(w);
    const got = w.attempt(checkOwners);
    if (got !== undefined) return got;
    const left = msLeft(deadline);
    if (left <= 0) throw w.timedOut();
    w.waiting(1);
    let result: string;
    try {
      result = futexWaitSync(w.shm, offset, seq, Math.min(left, LIVENESS_SLICE_MS));
    } finally {
      w.waiting(-1);
    }
    checkOwners = result === 'timed-out';
  }
}

/**
 * The wait loop of every robust lock in lib/sync (mutex, readers/writer
 * lock, barrier): attempt, and while the attempt fails sleep on the lock's
 * wake sequence word for one liveness slice at most, then attempt again,
 * checking the holders' (or parties') liveness after a slice that ran out.
 * Written once, async and `Sync`.
 * @internal
 * @module
 */
import { abortError, closedError } from '../errors.js';
import { futexWait, futexWaitSync } from '../futex.js';
import { LIVENESS_SLICE_MS } from '../internal/liveness.js';
import { msLeft } from '../internal/waiting.js';
import type { SharedMemory } from '../shm.js';

/** What a lock gives the loop. */
export interface SliceWait<T> {
  readonly shm: SharedMemory;
  /** The lock's header words, holding the wake sequence word at `seqIndex`. */
  readonly words: Int32Array;
  readonly seqIndex: number;
  /** What a closed segment is called in the closed error (`'RobustMutex'`). */
  readonly kind: string;
  /** Whether the first attempt checks liveness too (default true). */
  readonly checkFirst?: boolean;
  /**
   * One attempt: the result, or undefined to wait on. `checkOwners` is true
   * at the first attempt (unless `checkFirst` is false) and after a slice
   * ran out: then ask whether the holders still run.
   */
  attempt(checkOwners: boolean): T | undefined;
  /** Counts this caller in (+1) or out (-1) of the waiters, around each sleep. */
  waiting?(delta: 1 | -1): void;
  /** The error of a wait that ran out of time. */
  timedOut(): Error;
  /**
   * A wait that ran out of time or was aborted (the error given): the
   * result to return instead, or a throw. Default: throw the error.
   */
  stopped?(err: Error): T;
  /** Called when the wait ends with a throw: undo what attempts left behind. */
  abandon?(): void;
}

function seqOf(w: SliceWait<unknown>): number {
  if (w.shm.closed) throw closedError(w.kind);
  return Atomics.load(w.words, w.seqIndex);
}

function stop<T>(w: SliceWait<T>, err: Error): T {
  if (w.stopped === undefined) throw err;
  return w.stopped(err);
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
  for (let checkOwners = w.checkFirst ?? true; ;) {
    if (signal?.aborted) return stop(w, abortError(signal));
    const seq = seqOf(w);
    const got = w.attempt(checkOwners);
    if (got !== undefined) return got;
    const left = msLeft(deadline);
    if (left <= 0) return stop(w, w.timedOut());
    w.waiting?.(1);
    let result: string;
    try {
      result = await futexWait(w.shm, offset, seq, { timeoutMs: Math.min(left, LIVENESS_SLICE_MS), signal });
    } catch (err) {
      if (w.shm.closed || !signal?.aborted) throw err;
      return stop(w, err as Error);
    } finally {
      if (!w.shm.closed) w.waiting?.(-1);
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
  for (let checkOwners = w.checkFirst ?? true; ;) {
    const seq = seqOf(w);
    const got = w.attempt(checkOwners);
    if (got !== undefined) return got;
    const left = msLeft(deadline);
    if (left <= 0) return stop(w, w.timedOut());
    w.waiting?.(1);
    let result: string;
    try {
      result = futexWaitSync(w.shm, offset, seq, Math.min(left, LIVENESS_SLICE_MS));
    } finally {
      w.waiting?.(-1);
    }
    checkOwners = result === 'timed-out';
  }
}

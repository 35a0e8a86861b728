/**
 * The handoff loop both sides of a contended run execute: take the lock;
 * when the turn word says it is this side's turn, pass the turn; release.
 * A side passes the turn `rounds` times, so a run is 2 x rounds handoffs.
 * @module
 */
import type { BenchLock } from './primitives.js';

/** Runs side `me` (0 or 1) for `rounds` passes of the turn, or throws past `deadline` (performance.now()). Returns the lock acquisitions it made. */
export async function handoffLoop(lock: BenchLock, words: Int32Array, me: number, rounds: number, deadline: number): Promise<number> {
  let passes = 0;
  let acquisitions = 0;
  while (passes < rounds) {
    const p = lock.acquire();
    if (p !== undefined) await p;
    acquisitions++;
    if (Atomics.load(words, 0) === me) {
      Atomics.store(words, 0, 1 - me);
      passes++;
    }
    lock.release();
    if ((acquisitions & 1023) === 0 && performance.now() > deadline)
      throw new Error(`handoff side ${me}: ${passes} of ${rounds} passes by the deadline`);
  }
  return acquisitions;
}

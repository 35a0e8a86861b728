/**
 * The protected resource's side of fencing: a gate that admits a write only
 * if its fence is no lower than the highest fence it has admitted. A holder
 * that lost the lock without knowing it (its lease ran out while it was
 * stopped, its link was taken for dead) carries a stale fence, and its
 * writes are refused. Keep one gate per resource, where the resource is.
 * @module
 */
import { validateInteger } from '../../internal/validators.js';

/** Admits writes by fence: see the module doc. */
export class FenceGate {
  #highest = -1;
  #refused = 0;

  /** The highest fence admitted so far (-1 before the first). */
  get highest(): number {
    return this.#highest;
  }

  /** Writes refused so far. */
  get refused(): number {
    return this.#refused;
  }

  /** True (and the fence remembered) if a write with `fence` may go ahead; false if a newer holder has written. */
  admit(fence: number): boolean {
    validateInteger(fence, 'fence', 0, Number.MAX_SAFE_INTEGER);
    if (fence < this.#highest) {
      this.#refused++;
      return false;
    }
    this.#highest = fence;
    return true;
  }
}

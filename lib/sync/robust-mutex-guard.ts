/**
 * One holding of a robust mutex: what `lock`, `lockSync` and `tryLock`
 * return, and what `using` disposes.
 * @module
 */
import { notOwner } from './mutex-words.js';

/** @internal The key of the mutex's release, which only the guard calls. */
export const kRelease: unique symbol = Symbol('RobustMutex.release');

/** @internal What a guard needs from its mutex. */
export interface GuardOwner {
  readonly name: string;
  [kRelease](guard: RobustMutexGuard, unlock: boolean): void;
}

/** @internal Only the mutex makes guards. */
export const kGrant: unique symbol = Symbol('RobustMutexGuard.grant');

/**
 * One holding of a {@link RobustMutex}, returned by its `lock`, `lockSync`
 * and `tryLock`. Dispose it (`using guard = await mutex.lock()`) or call
 * {@link unlock} to release the lock.
 */
export class RobustMutexGuard implements Disposable {
  /**
   * True when the previous owner died holding the lock (its process ended:
   * `kill -9`, a crash) and this holding took it over: the protected data
   * may be half-updated. Repair it, then call {@link markConsistent} before
   * unlocking, or the mutex becomes not recoverable.
   */
  readonly ownerDied: boolean;
  readonly #mutex: GuardOwner;
  #held = true;

  /** @internal Use {@link RobustMutex.lock}. */
  constructor(token: symbol, mutex: GuardOwner, ownerDied: boolean) {
    if (token !== kGrant) throw new TypeError('Use RobustMutex.lock() to get a RobustMutexGuard');
    this.#mutex = mutex;
    this.ownerDied = ownerDied;
  }

  /** True until this holding is released. */
  get held(): boolean {
    return this.#held;
  }

  /**
   * Marks the protected data consistent again after an owner died (see
   * {@link ownerDied}); a no-op when it already is. Throws
   * `ERR_LOCK_NOT_OWNER` once this holding was released.
   */
  markConsistent(): void {
    if (!this.#held) throw notOwner(this.#mutex.name, 'markConsistent');
    this.#mutex[kRelease](this, false);
  }

  /**
   * Releases the lock and wakes a waiter. After an owner died, unlocking
   * without {@link markConsistent} makes the mutex not recoverable: every
   * later lock attempt throws `ERR_LOCK_NOT_RECOVERABLE`. Throws
   * `ERR_LOCK_NOT_OWNER` when this holding was already released.
   */
  unlock(): void {
    if (!this.#held) throw notOwner(this.#mutex.name, 'unlock');
    this.#held = false;
    this.#mutex[kRelease](this, true);
  }

  /** {@link unlock} if still held; idempotent. */
  [Symbol.dispose](): void {
    if (this.#held) this.unlock();
  }
}

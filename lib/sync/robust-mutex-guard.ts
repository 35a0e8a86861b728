/**
 * One holding of a robust mutex: what `lock`, `lockSync` and `tryLock`
 * return, and what `using` disposes.
 * @module
 */
import { notOwner } from './mutex-words.js';

/** @internal The key of the mutex's release, which only the guard calls. */
export const kRelease: unique symbol = Symbol('RobustMutex.release');

/** @internal Keys of the release and re-lock a condition variable's wait does (lib/sync/condition.ts). */
export const kSuspend: unique symbol = Symbol('RobustMutexGuard.suspend');
export const kRelock: unique symbol = Symbol('RobustMutex.relock');
export const kRelockSync: unique symbol = Symbol('RobustMutex.relockSync');
const kResume: unique symbol = Symbol('RobustMutexGuard.resume');

/** @internal How a guard lets go: unlock, markConsistent, or suspend (unlock for a condition wait, the state left as it is). */
export type ReleaseKind = 'unlock' | 'consistent' | 'suspend';

/** @internal What a guard needs from its lock (a robust mutex, a readers/writer lock). */
export interface GuardOwner {
  readonly name: string;
  [kRelease](guard: RobustMutexGuard, how: ReleaseKind): void;
}

/** @internal A lock a condition variable can wait with: the robust mutex. */
export interface RelockingOwner extends GuardOwner {
  /** Takes the lock again for `guard` (waiting without a limit); resolves once it holds it. */
  [kRelock](guard: RobustMutexGuard): Promise<void>;
  [kRelockSync](guard: RobustMutexGuard): void;
}

/** @internal What the mutex calls when it gave `guard` the lock again; `ownerDied` of that taking. */
export function resumeGuard(guard: RobustMutexGuard, ownerDied: boolean): void {
  guard[kResume](ownerDied);
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
  get ownerDied(): boolean {
    return this.#ownerDied;
  }

  #ownerDied: boolean;
  readonly #mutex: GuardOwner;
  #held = true;

  /** @internal Use {@link RobustMutex.lock}. */
  constructor(token: symbol, mutex: GuardOwner, ownerDied: boolean) {
    if (token !== kGrant) throw new TypeError('Use RobustMutex.lock() to get a RobustMutexGuard');
    this.#mutex = mutex;
    this.#ownerDied = ownerDied;
  }

  /** @internal The mutex's release for a condition wait: the guard no longer holds it. */
  [kSuspend](): RelockingOwner {
    const mutex = this.#mutex;
    if (!(kRelock in mutex)) throw new TypeError('guard must be a holding of a RobustMutex (a readers/writer lock cannot be waited with)');
    if (!this.#held) throw notOwner(mutex.name, 'wait');
    this.#held = false;
    mutex[kRelease](this, 'suspend');
    return mutex as RelockingOwner;
  }

  /** @internal Held again, with the owner-died indication of the new taking. */
  [kResume](ownerDied: boolean): void {
    this.#held = true;
    this.#ownerDied = ownerDied;
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
    this.#mutex[kRelease](this, 'consistent');
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
    this.#mutex[kRelease](this, 'unlock');
  }

  /** {@link unlock} if still held; idempotent. */
  [Symbol.dispose](): void {
    if (this.#held) this.unlock();
  }
}

/**
 * One holding of a readers/writer lock: what its `readLock`, `writeLock`
 * and their `Sync`/`try` forms return, and what `using` disposes.
 * @module
 */
import { RobustMutexGuard, type GuardOwner } from './robust-mutex-guard.js';

/**
 * One holding of a {@link ReadWriteLock}: shared (`mode === 'read'`) or
 * exclusive (`'write'`). Dispose it or call `unlock()`. `ownerDied` and
 * `markConsistent()` are those of {@link RobustMutexGuard}: only an
 * exclusive holding can have `ownerDied` (a writer died holding the lock);
 * a read holding's `markConsistent()` is a no-op.
 */
export class ReadWriteLockGuard extends RobustMutexGuard {
  /**
   * `'read'`, or `'write'`: exclusive, either from `writeLock` or from a
   * `readLock` that took over the lock of a writer that died (then
   * `ownerDied` is true, and this holding repairs before anyone reads).
   */
  readonly mode: 'read' | 'write';
  /** @internal The reader slot held (-1 for a write holding). */
  readonly slot: number;

  /** @internal Use {@link ReadWriteLock.readLock} or {@link ReadWriteLock.writeLock}. */
  constructor(token: symbol, lock: GuardOwner, mode: 'read' | 'write', slot: number, ownerDied: boolean) {
    super(token, lock, ownerDied);
    this.mode = mode;
    this.slot = slot;
  }
}

/**
 * Cross-process synchronization built on shared memory and futexes.
 * @module
 */
export { RobustMutex, type RobustMutexLockOptions, type RobustMutexOpenOptions, type RobustMutexState } from './robust-mutex.js';
export { RobustMutexGuard } from './robust-mutex-guard.js';
export { ReadWriteLock, type ReadWriteLockOpenOptions, type ReadWriteLockOptions } from './rwlock.js';
export { ReadWriteLockGuard } from './rwlock-guard.js';

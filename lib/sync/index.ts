/**
 * Cross-process synchronization built on shared memory and futexes.
 * @module
 */
export { RobustMutex, type RobustMutexLockOptions, type RobustMutexOpenOptions, type RobustMutexState } from './robust-mutex.js';
export { RobustMutexGuard } from './robust-mutex-guard.js';
export { ReadWriteLock, type ReadWriteLockOpenOptions, type ReadWriteLockOptions } from './rwlock.js';
export { ReadWriteLockGuard } from './rwlock-guard.js';
export { Barrier, BARRIER_MAX_PARTIES, type BarrierOpenOptions, type BarrierPassage, type BarrierWaitOptions } from './barrier.js';
export { Condition, type ConditionOpenOptions, type ConditionWaitOptions } from './condition.js';

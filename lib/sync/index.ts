/**
 * Cross-process synchronization built on shared memory and futexes.
 * @module
 */
export {
  RobustMutex,
  RobustMutexGuard,
  type RobustMutexLockOptions,
  type RobustMutexOpenOptions,
  type RobustMutexState,
} from './robust-mutex.js';

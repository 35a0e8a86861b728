/**
 * Distributed mutual exclusion: a central coordinator, a token ring,
 * Ricart-Agrawala and Suzuki-Kasami over the channels, with fencing tokens
 * and a checker of recorded runs. See docs/dmutex.md.
 * @module
 */
export { CentralMutex } from './central.js';
export {
  checkCriticalSections,
  describeMutexViolations,
  type CheckMutexOptions,
  type CriticalSection,
  type MutexCheck,
  type MutexProperty,
  type MutexViolation,
} from './checker.js';
export { FenceGate } from './fence.js';
export { joinMutex } from './join.js';
export {
  DistributedLockGuard,
  DistributedMutex,
  mutexMessages,
  type DistributedAcquireOptions,
  type DistributedMutexStats,
} from './mutex.js';
export type { DistributedMutexOptions, MutexAlgorithm, MutexPeer } from './options.js';
export { RicartAgrawalaMutex } from './ricart-agrawala.js';
export { SuzukiKasamiMutex } from './suzuki-kasami.js';
export { TokenRingMutex } from './token-ring.js';

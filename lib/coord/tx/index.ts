/**
 * Transactions: two-phase commit between processes (presumed abort, a
 * durable activity log per site, recovery, cooperative termination), the
 * resource-manager interface, and a transactional partitioned key-value
 * store on it. Built on the channels' public index. See docs/transactions.md.
 * @module
 */
export { type FaultPoints, type TxSiteOptions } from './common.js';
export { Coordinator, type CommitOptions, type CoordinatorOptions, type TxBranch } from './coordinator.js';
export { OUTCOMES_KEPT, Participant, type ParticipantOptions } from './participant.js';
export { KV_MAX_KEY_LENGTH, KV_MAX_VALUE_LENGTH, KvPartition, type KvWork, type ResourceManager } from './resource.js';
export { KvClient, KvTransaction, openKvPartition, type KvClientOptions, type KvPartitionSite } from './kv.js';
export { type MessageSource, type SiteLink, type SiteOptions, type SiteStats } from './site.js';
export {
  MAX_PARTICIPANTS,
  Msg as TxMessageType,
  decodeMessage as decodeTxMessage,
  messageName as txMessageName,
  type Decision,
  type Message as TxMessage,
  type Status,
} from './wire.js';

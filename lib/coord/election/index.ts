/**
 * Leader election: the bully and ring algorithms over the channels. See docs/election.md.
 * @module
 */
export { BullyElection } from './bully.js';
export { Election, electionMessages, type ElectionEvents, type ElectionStats } from './election.js';
export { joinElection } from './join.js';
export type { ElectionAlgorithm, ElectionOptions, ElectionPeer } from './options.js';
export { RingElection } from './ring.js';

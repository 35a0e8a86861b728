/**
 * `joinElection`: the member of the chosen algorithm, listening.
 * @module
 */
import { BullyElection } from './bully.js';
import type { Election } from './election.js';
import { electionSettings, type ElectionOptions } from './options.js';
import { RingElection } from './ring.js';

/**
 * Joins a leader election: listens at `options.listen` for the peers and,
 * unless `start: false`, starts an election at once. `e.leader` is the
 * leader this member knows, `e.on('leader', id)` hears each change, and
 * the leader's silence for `failureTimeoutMs` starts a new election. The
 * member's timers and connections keep the process alive until `close()`.
 * See docs/election.md.
 * @example
 * ```ts
 * const e = await joinElection({ algorithm: 'bully', id: 3, listen: 'unix:/tmp/e3', peers: [{ id: 1, address: 'unix:/tmp/e1' }] });
 * e.on('leader', (id) => console.log('leader', id));
 * ```
 */
export async function joinElection(options: ElectionOptions): Promise<Election> {
  const settings = electionSettings(options);
  const e = settings.algorithm === 'bully' ? new BullyElection(settings) : new RingElection(settings);
  await e.open({
    listen: options.listen,
    listenOptions: options.listenOptions,
    connectOptions: options.connectOptions,
    onLink: options.onLink,
    maxMessageSize: options.maxMessageSize ?? 256,
  });
  return e;
}

/**
 * The options of {@link joinElection}, checked once into settings.
 * @module
 */
import { validateBoolean, validateFunction, validateInteger, validateOptions } from '../../internal/validators.js';
import { memberPeers, type MemberPeer } from '../members.js';
import type { MeshOptions } from '../mesh.js';

/** The election algorithms. */
export type ElectionAlgorithm = 'bully' | 'ring';

/** Another member of the election: its id and where it listens. */
export type ElectionPeer = MemberPeer;

/** Options of {@link joinElection}. Every time is in milliseconds. */
export interface ElectionOptions extends MeshOptions {
  algorithm: ElectionAlgorithm;
  /** This member's id (0 to 2^31-1), unique among the members: the highest live id wins. */
  id: number;
  /** The other members (at most 1024). The ring's order is the ids' order, wrapping around. */
  peers: readonly ElectionPeer[];
  /** Start an election at once (default true). False: wait for {@link Election.elect} or a peer's message. */
  start?: boolean;
  /** The leader sends a heartbeat to every member this often (default 100). */
  heartbeatMs?: number;
  /** A leader not heard from for this long is taken for dead and an election starts (default 1000). */
  failureTimeoutMs?: number;
  /** Bully: how long an ELECTION waits for an ANSWER before the sender takes the lead (default 500). */
  answerTimeoutMs?: number;
  /** Ring: how long a ring message waits for its successor's ACK before the next one is tried (default 500). */
  ackTimeoutMs?: number;
  /** An election with no COORDINATOR after this long starts again (default 3000). */
  electionTimeoutMs?: number;
  /**
   * Test only: a broken bully (the ring ignores it), for the checkers: a
   * member takes the lead at once, without asking the higher ids, and keeps
   * the first leader it settles on. The agreement check must fail with it.
   */
  brokenForTest?: boolean;
}

/** The checked options. @internal */
export interface ElectionSettings {
  readonly algorithm: ElectionAlgorithm;
  readonly id: number;
  readonly peers: ReadonlyMap<number, string>;
  readonly start: boolean;
  readonly heartbeatMs: number;
  readonly failureTimeoutMs: number;
  readonly answerTimeoutMs: number;
  readonly ackTimeoutMs: number;
  readonly electionTimeoutMs: number;
  readonly broken: boolean;
}

/** Checks `options` into settings; a bad one throws a TypeError/RangeError naming it. @internal */
export function electionSettings(options: ElectionOptions): ElectionSettings {
  validateOptions(options);
  if (options.algorithm !== 'bully' && options.algorithm !== 'ring')
    throw new TypeError(`The "options.algorithm" option must be 'bully' or 'ring'. Received ${String(options.algorithm)}`);
  const { id, peers } = memberPeers(options.id, options.peers);
  validateFunction(options.onLink, 'options.onLink');
  const ms = (v: unknown, name: string, d: number): number => validateInteger(v ?? d, `options.${name}`, 1, 3_600_000);
  const heartbeatMs = ms(options.heartbeatMs, 'heartbeatMs', 100);
  const failureTimeoutMs = ms(options.failureTimeoutMs, 'failureTimeoutMs', 1000);
  if (failureTimeoutMs <= heartbeatMs)
    throw new RangeError(
      `The "options.failureTimeoutMs" option must be more than heartbeatMs (${heartbeatMs}). Received ${failureTimeoutMs}`,
    );
  return {
    algorithm: options.algorithm,
    id,
    peers,
    start: validateBoolean(options.start ?? true, 'options.start'),
    heartbeatMs,
    failureTimeoutMs,
    answerTimeoutMs: ms(options.answerTimeoutMs, 'answerTimeoutMs', 500),
    ackTimeoutMs: ms(options.ackTimeoutMs, 'ackTimeoutMs', 500),
    electionTimeoutMs: ms(options.electionTimeoutMs, 'electionTimeoutMs', 3000),
    broken: validateBoolean(options.brokenForTest ?? false, 'options.brokenForTest'),
  };
}

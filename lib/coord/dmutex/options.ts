/**
 * The options of {@link joinMutex}, checked once into settings.
 * @module
 */
import { validateBoolean, validateFunction, validateInteger, validateOptions } from '../../internal/validators.js';
import type { TraceRecorder } from '../causality/index.js';
import { memberPeers, type MemberPeer } from '../members.js';
import type { MeshOptions } from '../mesh.js';

/** The distributed mutual exclusion algorithms. */
export type MutexAlgorithm = 'central' | 'token-ring' | 'ricart-agrawala' | 'suzuki-kasami';

const ALGORITHMS: readonly MutexAlgorithm[] = ['central', 'token-ring', 'ricart-agrawala', 'suzuki-kasami'];

/** Another member of the mutex: its id and where it listens. */
export type MutexPeer = MemberPeer;

/** Options of {@link joinMutex}. Every time is in milliseconds. */
export interface DistributedMutexOptions extends MeshOptions {
  algorithm: MutexAlgorithm;
  /** This member's id (0 to 2^31-1), unique among the members. */
  id: number;
  /** The other members (at most 1024): the same membership at every member. */
  peers: readonly MutexPeer[];
  /** Central: the coordinator's id (default: the lowest id of all members). */
  coordinator?: number;
  /**
   * Central: how long a holder keeps the lock before the coordinator takes it
   * back and grants it to the next member, whose fence is higher (default:
   * no lease, the holder keeps it until it releases or its connection to the
   * coordinator ends). The holder hears of it: its guard's `signal` aborts.
   */
  leaseMs?: number;
  /** Token ring: how long a member keeps a token it does not want before it passes it on (default 2): the idle ring's pace. */
  idleMs?: number;
  /**
   * How soon a message that may have been lost is sent again (default 250):
   * when a member's link goes down or cannot connect (a member not yet
   * listening, a broken connection), what that member still needs from
   * this one (a pending REQUEST, a REPLY or RELEASE it may not have had)
   * goes again, until it answers or the request ends.
   */
  retryMs?: number;
  /**
   * Records `cs:request`, `cs:enter` and `cs:exit` (with the fence) and every
   * message of the mutex with vector times: what {@link checkCriticalSections}
   * judges. Give every member a recorder, or none (a recorder stamps each
   * message, and a member without one cannot read them).
   */
  recorder?: TraceRecorder;
  /**
   * Test only: a broken Ricart-Agrawala (the other algorithms ignore it),
   * for the checkers: a member answers every request at once, even from
   * inside its critical section. The mutual exclusion check must fail with it.
   */
  brokenForTest?: boolean;
}

/** The checked options. @internal */
export interface MutexSettings {
  readonly algorithm: MutexAlgorithm;
  readonly id: number;
  readonly peers: ReadonlyMap<number, string>;
  /** Every member's id, this one's too, ascending. */
  readonly members: readonly number[];
  readonly coordinator: number;
  readonly leaseMs: number | undefined;
  readonly idleMs: number;
  readonly retryMs: number;
  readonly recorder: TraceRecorder | undefined;
  readonly broken: boolean;
}

/** The largest Suzuki-Kasami TOKEN for `n` members: the head, every member's served number, a queue of all but one. */
export function tokenBytes(n: number): number {
  return 17 + 2 + n * 12 + 2 + n * 4;
}

/** Checks `options` into settings; a bad one throws a TypeError/RangeError naming it. @internal */
export function mutexSettings(options: DistributedMutexOptions): MutexSettings {
  validateOptions(options);
  if (!ALGORITHMS.includes(options.algorithm))
    throw new TypeError(`The "options.algorithm" option must be one of ${ALGORITHMS.join(', ')}. Received ${String(options.algorithm)}`);
  const { id, peers } = memberPeers(options.id, options.peers);
  validateFunction(options.onLink, 'options.onLink');
  const members = [id, ...peers.keys()].sort((a, b) => a - b);
  const coordinator = options.coordinator === undefined ? members[0]! : validateInteger(options.coordinator, 'options.coordinator');
  if (!members.includes(coordinator))
    throw new RangeError(`The "options.coordinator" option must be a member's id. Received ${coordinator}`);
  if (options.algorithm === 'suzuki-kasami' && options.maxMessageSize !== undefined && options.maxMessageSize < tokenBytes(members.length))
    throw new RangeError(
      `The "options.maxMessageSize" option must be at least ${tokenBytes(members.length)} for a Suzuki-Kasami token of ${members.length} members. Received ${options.maxMessageSize}`,
    );
  const recorder = options.recorder;
  if (recorder !== undefined && (typeof recorder !== 'object' || recorder === null || typeof recorder.annotate !== 'function'))
    throw new TypeError('The "options.recorder" option must be a TraceRecorder');
  return {
    algorithm: options.algorithm,
    id,
    peers,
    members,
    coordinator,
    leaseMs: options.leaseMs === undefined ? undefined : validateInteger(options.leaseMs, 'options.leaseMs', 1, 3_600_000),
    idleMs: validateInteger(options.idleMs ?? 2, 'options.idleMs', 0, 60_000),
    retryMs: validateInteger(options.retryMs ?? 250, 'options.retryMs', 1, 60_000),
    recorder,
    broken: validateBoolean(options.brokenForTest ?? false, 'options.brokenForTest'),
  };
}

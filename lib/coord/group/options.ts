/**
 * A group member's options, checked once into settings.
 * @module
 */
import { validateFunction, validateInteger, validateObject, validateOptions, validateString } from '../../internal/validators.js';
import { validateProcessId } from '../causality/clocks.js';
import type { MeshOptions } from '../mesh.js';
import { MAX_ADDRESS_LENGTH, MAX_ID_LENGTH, MAX_MEMBERS } from './wire.js';

/**
 * The delivery order of a group: `'none'` is best-effort multicast (sent
 * once to the reachable members, delivered on arrival, no completion at a
 * view change); the others are reliable. See docs/groups.md.
 */
export type GroupOrder = 'none' | 'fifo' | 'causal' | 'total' | 'sequencer';

/** Options of {@link joinGroup}. */
export interface GroupOptions extends MeshOptions {
  /** The group's name (1 to 64 letters, digits, `_`, `-`, `.`); every member gives the same. */
  group: string;
  /** This member's id, unique in the group (a process id: see `validateProcessId`). */
  member: string;
  /**
   * Addresses of members to join through (any member: it forwards to the
   * leader), e.g. `name:chat-a` through the name service. Absent or empty:
   * this member founds the group (its first view has it alone).
   */
  contact?: string | readonly string[];
  /** The delivery order, the same at every member (default `'fifo'`). */
  order?: GroupOrder;
  /** Heartbeats to each member every this many ms (default 200). */
  heartbeatMs?: number;
  /** A member not heard from for this long is suspected and excluded by a view change (default 2000). */
  failureTimeoutMs?: number;
  /** A member's deliveries that do not move for this long make the origin send again (default 100). */
  retransmitMs?: number;
  /** This member's multicasts not yet delivered everywhere before `multicast()` waits (default 256). */
  window?: number;
  /** How long a join may take before it fails `ERR_GROUP_JOIN_TIMEOUT` (default 10000). */
  joinTimeoutMs?: number;
  /**
   * Deliveries waiting for the application (their payload bytes, plus 128
   * each) past which this member takes no new multicast of the others: they
   * stay unacknowledged and their origins send them again, so every sender's
   * window fills and its `multicast()` waits (best effort: they are lost).
   * What is already held still completes: at most this plus `window` messages
   * of each member wait. Default 64 MiB.
   */
  maxQueuedBytes?: number;
  /** Record this member's sends, deliveries and views (see {@link GroupEvent}); `path` appends them to a file as they happen. */
  trace?: { path?: string; maxEvents?: number; payloads?: boolean };
}

/** A group's name: 1 to 64 letters, digits, `_`, `-`, `.` (a group member's, and each group of a spanning tree). @internal */
export const GROUP_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const ORDERS: ReadonlySet<string> = new Set(['none', 'fifo', 'causal', 'total', 'sequencer']);

/** The options a group member and a spanning-tree node share: timers, window, trace, and the mesh's. @internal */
export type CommonOptions = Omit<MeshOptions, 'listen'> &
  Pick<GroupOptions, 'heartbeatMs' | 'failureTimeoutMs' | 'retransmitMs' | 'window' | 'joinTimeoutMs' | 'trace'>;

/** {@link CommonOptions}, checked. @internal */
export interface CommonSettings {
  heartbeatMs: number;
  failureTimeoutMs: number;
  retransmitMs: number;
  window: number;
  joinTimeoutMs: number;
  trace: { path?: string; maxEvents?: number; payloads: boolean } | undefined;
  mesh: MeshOptions;
}

/** Checks `options.trace` (a group member's, a tree node's, a JetStream group member's). @internal */
export function traceSettings(value: unknown): CommonSettings['trace'] {
  if (value === undefined) return undefined;
  const t = validateOptions(value, 'options.trace');
  if (t.path !== undefined) validateString(t.path, 'options.trace.path');
  return { path: t.path as string | undefined, maxEvents: t.maxEvents as number | undefined, payloads: t.payloads === true };
}

/** Checks {@link CommonOptions} (with the defaults both kinds of node take); `listen`: where the mesh listens. @internal */
export function commonSettings(options: CommonOptions, listen: string): CommonSettings {
  const heartbeatMs = validateInteger(options.heartbeatMs ?? 200, 'options.heartbeatMs', 5, 60_000);
  const failureTimeoutMs = validateInteger(options.failureTimeoutMs ?? 2000, 'options.failureTimeoutMs', 2 * heartbeatMs, 600_000);
  const trace = traceSettings(options.trace);
  validateFunction(options.onLink, 'options.onLink');
  return {
    heartbeatMs,
    failureTimeoutMs,
    retransmitMs: validateInteger(options.retransmitMs ?? 100, 'options.retransmitMs', 1, 60_000),
    window: validateInteger(options.window ?? 256, 'options.window', 1, 1 << 16),
    joinTimeoutMs: validateInteger(options.joinTimeoutMs ?? 10_000, 'options.joinTimeoutMs', 1, 3_600_000),
    trace,
    mesh: {
      listen,
      listenOptions: options.listenOptions,
      connectOptions: options.connectOptions,
      onLink: options.onLink,
      maxMessageSize: options.maxMessageSize ?? 1023 * 1024, // every transport takes it with its defaults (a shared-memory ring: up to 1 MiB less 8 bytes)
    },
  };
}

/** The checked options. @internal */
export interface GroupSettings extends CommonSettings {
  group: string;
  member: string;
  contact: string[];
  order: GroupOrder;
  maxQueuedBytes: number;
}

/** Checks {@link GroupOptions}. @internal */
export function groupSettings(options: GroupOptions): GroupSettings {
  validateObject(options, 'options');
  const group = validateString(options.group, 'options.group');
  if (!GROUP_NAME.test(group))
    throw new RangeError(`The "options.group" must be 1 to 64 letters, digits, "_", "-" or ".". Received '${group}'`);
  const member = validateProcessId(options.member, 'options.member');
  if (member.length > MAX_ID_LENGTH) throw new RangeError(`The "options.member" must be at most ${MAX_ID_LENGTH} characters`);
  const raw = options.contact === undefined ? [] : typeof options.contact === 'string' ? [options.contact] : options.contact;
  if (!Array.isArray(raw) || raw.length > MAX_MEMBERS)
    throw new TypeError(`The "options.contact" must be an address or a list of at most ${MAX_MEMBERS}`);
  const contact = raw.map((a, i) => {
    validateString(a, `options.contact[${i}]`);
    if (a.length === 0 || a.length > MAX_ADDRESS_LENGTH)
      throw new RangeError(`The "options.contact[${i}]" must be 1 to ${MAX_ADDRESS_LENGTH} characters`);
    return a;
  });
  const order = options.order ?? 'fifo';
  if (typeof order !== 'string' || !ORDERS.has(order))
    throw new RangeError(`The "options.order" must be one of none, fifo, causal, total, sequencer. Received ${String(order)}`);
  const maxQueuedBytes = validateInteger(options.maxQueuedBytes ?? 64 * 1024 * 1024, 'options.maxQueuedBytes', 1024, 2 ** 45);
  return { group, member, contact, order: order as GroupOrder, maxQueuedBytes, ...commonSettings(options, options.listen) };
}

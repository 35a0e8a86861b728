/**
 * The options of a spanning-tree node ({@link joinOverlappingGroups}),
 * checked once into settings, and the shapes of what it gives.
 * @module
 */
import { createHash } from 'node:crypto';

import { validateInteger, validateObject, validateString } from '../../internal/validators.js';
import type { MeshOptions, SiteStats } from '../mesh.js';
import { commonSettings, type CommonSettings } from './options.js';
import { spanningTree, TreePlan, type OverlapGroups, type TreeParents } from './tree-topology.js';
import { MAX_ADDRESS_LENGTH } from './wire.js';

/** A message delivered to a process of overlapping groups. */
export interface OverlapMessage {
  /** The group it was multicast to. */
  readonly group: string;
  /** `<sender>@1:<seq>` (unique in its group; see `groupMessageId`). */
  readonly id: string;
  readonly sender: string;
  /** Its number among the sender's multicasts to this group, from 1. */
  readonly seq: number;
  /** Its number among the messages its group's primary ordered (the order of one primary's messages). */
  readonly ts: number;
  readonly payload: Uint8Array;
}

/** Counters of a tree node. */
export interface OverlapStats extends SiteStats {
  /** Messages delivered to this process. */
  delivered: number;
  /** Tree messages this node sent on to a neighbour (its own included). */
  forwarded: number;
  /** Messages this node ordered as the primary of their group. */
  ordered: number;
}

/** The tree as every process of it computed it. */
export interface OverlapTree {
  readonly root: string;
  /** Each process's parent (the root's: `null`). */
  readonly parents: Readonly<Record<string, string | null>>;
  /** Each group's primary: where its messages are ordered. */
  readonly primaries: Readonly<Record<string, string>>;
}

/** Options of {@link joinOverlappingGroups}. Every process of the tree gives the same `groups`, `addresses` keys and tree. */
export interface OverlapOptions extends Omit<MeshOptions, 'listen'> {
  /** This process's id: a key of `addresses`, and a node of the tree. */
  self: string;
  /** The groups, each with its members (static). A process may be in several; one group's messages and another's are ordered consistently wherever they meet. */
  groups: OverlapGroups;
  /** Where each process of the tree listens (`unix:`, `shm:`, `tcp://host:port`, `tls://`, `name:`); this process listens at its own unless `listen` is given. */
  addresses: Readonly<Record<string, string>>;
  /** Where this process listens, when not at `addresses[self]` (e.g. a `name:` address it registers under another transport). */
  listen?: string;
  /**
   * The spanning tree, each process's parent (the root's: `null`). It may hold
   * processes in no group (relays). Default: {@link spanningTree} of the groups
   * (with `root` first, if given).
   */
  tree?: TreeParents;
  /** The default tree's root (ignored with `tree`). */
  root?: string;
  /** Heartbeats to each tree neighbour every this many ms (default 200). */
  heartbeatMs?: number;
  /** A tree neighbour not heard from for this long is taken as failed, which ends the structure (default 2000). */
  failureTimeoutMs?: number;
  /** An edge's messages not acknowledged for this long are sent again (default 100). */
  retransmitMs?: number;
  /** This process's multicasts not yet delivered back to it before `multicast()` waits (default 256). */
  window?: number;
  /**
   * The messages a node may have sent on one tree edge and not had
   * acknowledged by the neighbour (default 1024; the same at every process:
   * it is in the digest the heartbeats compare). A node whose edge is full
   * sends nothing more on it: it leaves what comes for that edge
   * unacknowledged, which in turn fills the edges that bring it, up to the
   * senders, whose `multicast()` waits. This bounds each node's memory;
   * a neighbour that sends more than this many past what was acknowledged
   * breaks the protocol.
   */
  edgeBacklog?: number;
  /** How long to wait until every tree neighbour answered, before `ERR_GROUP_JOIN_TIMEOUT` (default 10000). */
  joinTimeoutMs?: number;
  /** Record this process's sends, deliveries and (one per group) views, as a group member does (see `GroupEvent`). */
  trace?: { path?: string; maxEvents?: number; payloads?: boolean };
}

/** The checked options. @internal */
export interface OverlapSettings extends CommonSettings {
  self: string;
  plan: TreePlan;
  selfIx: number;
  addresses: readonly string[];
  edgeBacklog: number;
  /** The plan's digest with `edgeBacklog`: what the heartbeats carry. */
  digest: string;
}

/** Checks {@link OverlapOptions}. @internal */
export function overlapSettings(options: OverlapOptions): OverlapSettings {
  validateObject(options, 'options');
  const self = validateString(options.self, 'options.self');
  if (options.tree !== undefined && options.root !== undefined)
    throw new TypeError('The "options.root" and "options.tree" options are exclusive (the tree names its root)');
  const plan = new TreePlan(
    options.groups,
    options.tree ?? (options.root === undefined ? undefined : spanningTree(options.groups, options.root)),
  );
  const selfIx = plan.indexOf(self);
  if (selfIx < 0) throw new RangeError(`The "options.self" (${self}) is not a process of the tree`);
  const a = validateObject(options.addresses, 'options.addresses');
  const addresses = plan.nodes.map((n) => {
    const v = validateString(a[n], `options.addresses.${n}`);
    if (v.length === 0 || v.length > MAX_ADDRESS_LENGTH)
      throw new RangeError(`The "options.addresses.${n}" must be 1 to ${MAX_ADDRESS_LENGTH} characters`);
    return v;
  });
  if (new Set(addresses).size !== addresses.length) throw new RangeError('The "options.addresses" give one address to two processes');
  const listen = options.listen === undefined ? addresses[selfIx]! : validateString(options.listen, 'options.listen');
  const edgeBacklog = validateInteger(options.edgeBacklog ?? 1024, 'options.edgeBacklog', 1, 1 << 16);
  return {
    self,
    plan,
    selfIx,
    addresses,
    edgeBacklog,
    digest: createHash('sha256').update(`${plan.digest}/${edgeBacklog}`).digest('hex').slice(0, 32),
    ...commonSettings(options, listen),
  };
}

/**
 * Overlapping groups kept in one consistent order through a spanning tree,
 * as the slides describe it: the processes of all the groups form a static
 * tree; a message multicast to a group goes up the tree to the group's
 * primary (the lowest common ancestor of its members: for the slides'
 * groups, the root), which numbers it, then down the tree to the group's
 * members. Every edge is a reliable FIFO link and every node forwards in the
 * order it received, so two processes that deliver both m and m' (sent to
 * the same group or to two different ones) deliver them in the same order.
 * The topology is in `tree-topology.ts`, the edges in `tree-link.ts`; see
 * docs/group-tree.md for the guarantee, the cost and what is not guaranteed.
 * @module
 */
import type { CallOptions } from '../../channels/index.js';
import { GroupError } from '../../errors.js';
import { validateString } from '../../internal/validators.js';
import { Mesh } from '../mesh.js';
import { CastQueue } from './casts.js';
import { Inbox } from './inbox.js';
import { Outbox } from './outbox.js';
import { groupMessageId, GroupTraceWriter, type GroupEvent } from './trace.js';
import { TreeEdges } from './tree-edges.js';
import { decodeTreeHeader, DOWN, encodeTreeMessage, HEADER_BYTES, UP, type TreeHeader } from './tree-link.js';
import {
  overlapSettings,
  type OverlapMessage,
  type OverlapOptions,
  type OverlapSettings,
  type OverlapStats,
  type OverlapTree,
} from './tree-options.js';
import type { TreePlan } from './tree-topology.js';
import { decodeFrame, type Message } from './wire.js';

/** The view id of every event a tree node records (its groups are static: one view each). */
export const TREE_VIEW = 1;
const TICK_MS = 10;

interface Cast {
  readonly group: number;
  readonly payload: Uint8Array;
}

/**
 * One process of a set of overlapping groups on a spanning tree. Get one
 * with {@link joinOverlappingGroups}; multicast with `multicast(group,
 * bytes)` to any group this process is in; take deliveries (of every group it
 * is in, in the one order) with `receive()`, `tryReceive()` or `for await`.
 *
 * The tree is static: when a tree neighbour fails (its connections refused,
 * or silent for `failureTimeoutMs`) the node ends with `ERR_GROUP_TREE_BROKEN`
 * and tells its other neighbours, which end too; `close()` ends this node
 * and, through the same notice, the structure (`ERR_GROUP_CLOSED` at the
 * others). Deliveries already queued stay receivable.
 */
export class OverlappingGroups implements AsyncIterable<OverlapMessage> {
  readonly #s: OverlapSettings;
  readonly #plan: TreePlan;
  readonly #self: number;
  readonly #mesh: Mesh;
  readonly #outbox: Outbox;
  readonly #inbox = new Inbox<OverlapMessage>('overlapping groups');
  readonly #trace: GroupTraceWriter | undefined;
  readonly #edges: TreeEdges;
  /** Own multicasts per group so far. */
  readonly #sent: Float64Array;
  /** Per (group, origin): the last seq that passed this node going down (or, at its primary, was ordered). */
  readonly #last: Float64Array;
  /** Per (group, origin): the last seq that passed this node going up to a primary above it. */
  readonly #lastUp: Float64Array;
  /** Per group: deliveries per sender (the trace's vector). */
  readonly #counts: Map<string, number>[];
  readonly #casts: CastQueue<Cast>;
  readonly #timer: NodeJS.Timeout;
  readonly #ready: Promise<void>;
  #onReady: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  #ts = 0;
  #inflight = 0;
  #closed: Error | undefined;
  /** Counters: the mesh's, and deliveries, forwards and orderings. */
  readonly stats: OverlapStats;

  private constructor(s: OverlapSettings, mesh: Mesh) {
    this.#s = s;
    this.#plan = s.plan;
    this.#self = s.selfIx;
    this.#mesh = mesh;
    this.#outbox = new Outbox(mesh);
    this.#casts = new CastQueue<Cast>(
      'overlapping groups multicast',
      'the window or a full tree edge',
      mesh.maxMessageSize - 1024,
      (c) => this.#canSend(c),
      (c) => this.#cast(c),
    );
    this.stats = Object.assign(mesh.stats, { delivered: 0, forwarded: 0, ordered: 0 });
    const plan = this.#plan;
    this.#sent = new Float64Array(plan.groups.length);
    this.#last = new Float64Array(plan.groups.length * plan.nodes.length);
    this.#lastUp = new Float64Array(plan.groups.length * plan.nodes.length);
    this.#counts = plan.groups.map(() => new Map<string, number>());
    this.#edges = new TreeEdges(s, this.#outbox, {
      message: (ix, bytes) => this.#fromNeighbor(ix, bytes),
      ready: () => {
        this.#onReady?.resolve();
        this.#pump();
      },
      end: (err, failed, closed) => this.#fail(err, failed, closed),
      violation: (why) => this.#violation(why),
      room: (bytes) => this.#room(bytes),
    });
    this.#ready = new Promise((resolve, reject) => (this.#onReady = { resolve, reject }));
    this.#ready.catch(() => undefined);
    if (s.trace !== undefined) {
      this.#trace = new GroupTraceWriter(s.trace);
      plan.groups.forEach((group, k) => {
        if (plan.members[k]!.has(this.#self)) this.#record({ group, kind: 'view', members: this.#memberIds(k) });
      });
    }
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#edges.checkReady(); // a tree of one
  }

  /** Starts this process's node: resolves once every tree neighbour answered. Bad options throw at once. */
  static join(options: OverlapOptions): Promise<OverlappingGroups> {
    return OverlappingGroups.#start(overlapSettings(options));
  }

  static async #start(s: OverlapSettings): Promise<OverlappingGroups> {
    const made: { n?: OverlappingGroups } = {};
    const mesh = await Mesh.open(
      s.mesh,
      (bytes) => {
        const frame = decodeFrame(bytes); // throws on a malformed frame: the mesh ends that connection
        if (made.n !== undefined) made.n.#onFrame(frame);
        return true;
      },
      (address, why) => {
        if (made.n !== undefined) made.n.#edges.linkDown(address, why);
      },
    );
    const n = (made.n = new OverlappingGroups(s, mesh));
    try {
      await n.#ready;
    } catch (err) {
      await n.close();
      throw err;
    }
    return n;
  }

  /** This process's id. */
  get self(): string {
    return this.#s.self;
  }

  /** Where this process listens. */
  get url(): string {
    return this.#mesh.url;
  }

  /** The groups this process is in, sorted. */
  get groups(): readonly string[] {
    return this.#plan.groups.filter((_, k) => this.#plan.members[k]!.has(this.#self));
  }

  /** The spanning tree and each group's primary. */
  get tree(): OverlapTree {
    const p = this.#plan;
    const parents: Record<string, string | null> = {};
    p.nodes.forEach((n, i) => (parents[n] = p.parent[i]! < 0 ? null : p.nodes[p.parent[i]!]!));
    const primaries: Record<string, string> = {};
    p.groups.forEach((g, k) => (primaries[g] = p.nodes[p.primary[k]!]!));
    return { root: p.nodes[p.root]!, parents, primaries };
  }

  /** This process's events so far (with `trace` set): one `view` per group it is in, its sends and deliveries. */
  get trace(): readonly GroupEvent[] {
    return this.#trace?.events ?? [];
  }

  /**
   * Multicasts `payload` to `group` (one this process is in), after this
   * process's earlier multicasts. Resolves once the message left for the
   * group's primary; waits while `window` of this process's multicasts have
   * not come back to it yet, or while the edge it goes on is full
   * (`edgeBacklog`: a slow node anywhere on the way holds it); abortable.
   */
  multicast(group: string, payload: Uint8Array, options?: CallOptions): Promise<void> {
    const k = this.#plan.groupIndex(validateString(group, 'group'));
    if (k < 0 || !this.#plan.members[k]!.has(this.#self))
      throw new RangeError(`The "group" must be one of the groups ${this.#s.self} is in (${this.groups.join(', ')}). Received '${group}'`);
    return this.#casts.submit({ group: k, payload: this.#casts.checkPayload(payload) }, options);
  }

  /** The next delivery, of any of this process's groups. Rejects with the node's end (`ERR_GROUP_CLOSED`, `ERR_GROUP_TREE_BROKEN`, ...) once all before it were taken. */
  receive(options?: CallOptions): Promise<OverlapMessage> {
    return this.#inbox.receive(options);
  }

  /** The next delivery if one is waiting. */
  tryReceive(): OverlapMessage | undefined {
    return this.#inbox.tryReceive();
  }

  /** The deliveries in order; ends at `close()` (or a neighbour's), throws when the tree broke. */
  [Symbol.asyncIterator](): AsyncIterator<OverlapMessage> {
    return this.#inbox.iterate((err) => err instanceof GroupError && err.code === 'ERR_GROUP_CLOSED');
  }

  #memberIds(k: number): string[] {
    return [...this.#plan.members[k]!].sort((a, b) => a - b).map((x) => this.#plan.nodes[x]!);
  }

  #record(e: Omit<GroupEvent, 'member' | 'view'>, payload?: Uint8Array): void {
    const ev: GroupEvent = { member: this.#s.self, view: TREE_VIEW, ...e };
    this.#trace!.record(this.#s.trace!.payloads && payload !== undefined ? { ...ev, payload: Buffer.from(payload).toString('hex') } : ev);
  }

  #pump(): void {
    this.#casts.pump();
  }

  /** The next own multicast may go: the tree is up, the window has room, and so has the edge it goes on (else its ACKS pump again). */
  #canSend(c: Cast): boolean {
    return (
      this.#edges.ready && this.#closed === undefined && this.#inflight < this.#s.window && this.#edges.room(this.#targets(UP, c.group))
    );
  }

  #cast(c: Cast): void {
    const seq = ++this.#sent[c.group]!;
    const group = this.#plan.groups[c.group]!;
    if (this.#trace !== undefined)
      this.#record({ group, kind: 'send', message: groupMessageId(this.#s.self, TREE_VIEW, seq), sender: this.#s.self, seq }, c.payload);
    this.#inflight++;
    const h: TreeHeader = { kind: UP, group: c.group, origin: this.#self, seq, ts: 0 };
    this.#up(h, encodeTreeMessage(h, c.payload));
  }

  /** The neighbours a message of `group` going `kind` is sent to from here: the parent, or (down, or ordered here) the children with members below. */
  #targets(kind: TreeHeader['kind'], group: number): readonly number[] {
    if (kind === UP && this.#plan.primary[group] !== this.#self) return this.#edges.parent === undefined ? [] : [this.#edges.parent.ix];
    return this.#plan.down[this.#self]![group]!;
  }

  /** True when the edges a neighbour's message goes on to have room (else its link holds it, unacknowledged: backpressure). */
  #room(bytes: Uint8Array): boolean {
    if (this.#closed !== undefined) return true;
    try {
      const h = decodeTreeHeader(bytes, this.#plan);
      return this.#edges.room(this.#targets(h.kind, h.group));
    } catch {
      return true; // taken, and refused by #fromNeighbor
    }
  }

  /** Towards the group's primary: ordered here, or sent to the parent. */
  #up(h: TreeHeader, bytes: Uint8Array): void {
    if (this.#plan.primary[h.group] === this.#self) return this.#order(h, bytes);
    if (!this.#next(h, this.#lastUp)) return; // checked at each relay too: a gap is caught next to the neighbour that made it
    this.#lastUp[h.group * this.#plan.nodes.length + h.origin] = h.seq;
    this.#edges.send(this.#edges.parent!.ix, bytes); // the origin is under its group's primary: a node below it has a parent
    this.stats.forwarded++;
  }

  #order(h: TreeHeader, bytes: Uint8Array): void {
    if (!this.#next(h)) return;
    const d: TreeHeader = { ...h, kind: DOWN, ts: ++this.#ts };
    this.stats.ordered++;
    this.#down(d, encodeTreeMessage(d, bytes.subarray(HEADER_BYTES)));
  }

  /** True when `h` is the next message of its origin in its group here; else the neighbour broke the protocol (this node ends). */
  #next(h: TreeHeader, last = this.#last): boolean {
    const at = h.group * this.#plan.nodes.length + h.origin;
    if (h.seq === last[at]! + 1) return true;
    const what = `message ${h.seq} of ${this.#plan.nodes[h.origin]} in ${this.#plan.groups[h.group]}`;
    this.#violation(`${what} going ${h.kind === UP ? 'up' : 'down'} came after ${last[at]}`);
    return false;
  }

  /** On to the children with members below, and delivered here if this process is in the group: in the order they come. */
  #down(h: TreeHeader, bytes: Uint8Array): void {
    this.#last[h.group * this.#plan.nodes.length + h.origin] = h.seq;
    for (const c of this.#plan.down[this.#self]![h.group]!) {
      this.#edges.send(c, bytes);
      this.stats.forwarded++;
    }
    if (this.#plan.members[h.group]!.has(this.#self)) this.#deliver(h, bytes.slice(HEADER_BYTES));
  }

  #deliver(h: TreeHeader, payload: Uint8Array): void {
    const group = this.#plan.groups[h.group]!;
    const sender = this.#plan.nodes[h.origin]!;
    const id = groupMessageId(sender, TREE_VIEW, h.seq);
    const counts = this.#counts[h.group]!;
    counts.set(sender, h.seq);
    if (h.origin === this.#self) this.#inflight--;
    this.stats.delivered++;
    if (this.#trace !== undefined) {
      const time: Record<string, number> = {};
      for (const m of this.#memberIds(h.group)) time[m] = counts.get(m) ?? 0;
      this.#record({ group, kind: 'deliver', message: id, sender, seq: h.seq, time, ts: h.ts }, payload);
    }
    this.#inbox.push({ group, id, sender, seq: h.seq, ts: h.ts, payload }); // the window moves at the next #pump (not here: no recursion)
  }

  /** A tree message from neighbour `ix`, in its edge's order. */
  #fromNeighbor(ix: number, bytes: Uint8Array): void {
    if (this.#closed !== undefined) return;
    let h: TreeHeader;
    try {
      h = decodeTreeHeader(bytes, this.#plan);
    } catch (err) {
      return this.#violation((err as Error).message);
    }
    const plan = this.#plan;
    const p = plan.primary[h.group]!;
    const from = this.#edges.neighbors.get(ix)!;
    if (h.kind === UP) {
      if (
        from.role !== 'child' ||
        !plan.members[h.group]!.has(h.origin) ||
        !plan.isAncestor(ix, h.origin) ||
        !plan.isAncestor(p, this.#self)
      )
        return this.#violation(
          `${from.id} sent up a message of ${plan.nodes[h.origin]} in ${plan.groups[h.group]}, which does not pass it`,
        );
      this.#up(h, bytes);
    } else {
      if (from.role !== 'parent' || p === this.#self || !plan.isAncestor(p, this.#self) || !plan.below[this.#self]![h.group])
        return this.#violation(`${from.id} sent down a message of ${plan.groups[h.group]}, which does not pass this node`);
      if (this.#next(h)) this.#down(h, bytes);
    }
  }

  #onFrame(frame: readonly Message[]): void {
    if (this.#closed !== undefined) return;
    this.#edges.onFrame(frame);
    this.#pump();
  }

  #tick(): void {
    if (this.#closed !== undefined) return;
    this.#edges.tick(Date.now());
    this.#pump();
  }

  #violation(why: string): void {
    this.#fail(new GroupError('ERR_GROUP_PROTOCOL', `${this.#s.self}: a tree neighbour broke the protocol: ${why}`), this.#s.self);
  }

  /** Ends this node, telling the neighbours (`failed`: the process whose end started it; `closed`: it closed, it did not fail). */
  #fail(err: Error, failed: string, closed = false): void {
    if (this.#closed !== undefined) return;
    this.#closed = err;
    clearInterval(this.#timer);
    this.#casts.end(err);
    this.#onReady?.reject(err);
    this.#inbox.end(err);
    this.#trace?.close();
    this.#edges.end(failed, closed);
    void Mesh.turn()
      .then(() => Mesh.turn())
      .then(() => this.#mesh.close());
  }

  /** Ends this node at once, and with it the structure (its neighbours end `ERR_GROUP_CLOSED`, and theirs). Deliveries already queued stay receivable. */
  async close(): Promise<void> {
    this.#fail(new GroupError('ERR_GROUP_CLOSED', `${this.#s.self}: closed`), this.#s.self, true);
    await Mesh.turn();
    await Mesh.turn();
    await this.#mesh.close();
  }
}

/**
 * Starts this process's node of a set of overlapping groups on a spanning
 * tree (see {@link OverlappingGroups}); resolves once every tree neighbour
 * answered, rejects `ERR_GROUP_JOIN_TIMEOUT` after `joinTimeoutMs`. Bad
 * options (groups, tree, addresses) are a `TypeError` or `RangeError`,
 * thrown at once.
 */
export function joinOverlappingGroups(options: OverlapOptions): Promise<OverlappingGroups> {
  return OverlappingGroups.join(options);
}

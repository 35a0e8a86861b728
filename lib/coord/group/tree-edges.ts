/**
 * A tree node's edges to its neighbours (parent and children): one reliable
 * FIFO link each ({@link TreeLink}), heartbeats carrying the digest of the
 * groups, the tree and `edgeBacklog` (two processes configured differently refuse each
 * other), the failure detector (a neighbour whose address refuses
 * connections after it answered once, or that is silent for
 * `failureTimeoutMs`, has failed), and the end notice a node sends its
 * neighbours when it ends (a SUSPECT message: `[SUSPECT, sender + 1,
 * 'closed' | 'failed', [the process that ended first]]`), so that the whole
 * structure ends instead of hanging.
 * @internal
 * @module
 */
import { GroupError } from '../../errors.js';
import type { LinkDown } from '../mesh.js';
import type { Outbox } from './outbox.js';
import { TreeLink } from './tree-link.js';
import type { OverlapSettings } from './tree-options.js';
import { G, type Message } from './wire.js';

/** One neighbour in the tree. */
export interface Neighbor {
  readonly ix: number;
  readonly id: string;
  readonly address: string;
  readonly role: 'parent' | 'child';
  readonly link: TreeLink;
  /** When a frame of it last came (0: never). */
  heardAt: number;
}

/** What the edges need of their node. */
export interface EdgeHost {
  /** A tree message from neighbour `ix`, in the edge's order. */
  message(ix: number, bytes: Uint8Array): void;
  /** Every neighbour answered once. */
  ready(): void;
  /** The node must end with `err`; `failed`: the process whose end started it; `closed`: it closed (it did not fail). */
  end(err: Error, failed: string, closed: boolean): void;
  /** A neighbour broke the protocol. */
  violation(why: string): void;
  /** True when the node has room to send on a tree message from a neighbour (see `LinkHost.room`). */
  room(bytes: Uint8Array): boolean;
}

/** The edges of one node. @internal */
export class TreeEdges {
  readonly neighbors = new Map<number, Neighbor>();
  readonly parent: Neighbor | undefined;
  readonly #s: OverlapSettings;
  readonly #outbox: Outbox;
  readonly #host: EdgeHost;
  readonly #started = Date.now();
  #ready = false;
  #beatAt = 0;
  #tickAt = Date.now();
  #ended = false;

  constructor(s: OverlapSettings, outbox: Outbox, host: EdgeHost) {
    this.#s = s;
    this.#outbox = outbox;
    this.#host = host;
    const { plan, selfIx: self } = s;
    const up = plan.parent[self]!;
    for (const ix of up < 0 ? plan.children[self]! : [up, ...plan.children[self]!]) {
      const address = s.addresses[ix]!;
      const rank = self < ix ? 0 : 1;
      const link = new TreeLink(
        {
          view: self + 1,
          self: rank,
          n: 2,
          retransmitMs: s.retransmitMs,
          send: (_to, m) => outbox.push(address, m),
          afterSent: (fn) => setImmediate(() => setImmediate(fn)),
          deliver: (o, _seq, bytes) => {
            if (o !== rank && !this.#ended) host.message(ix, bytes); // own messages come back at once: not for the node
          },
        },
        s.edgeBacklog,
        { room: (bytes) => host.room(bytes), violation: (why) => host.violation(`${plan.nodes[ix]!}: ${why}`) },
      );
      this.neighbors.set(ix, { ix, id: plan.nodes[ix]!, address, role: ix === up ? 'parent' : 'child', link, heardAt: 0 });
    }
    this.parent = up < 0 ? undefined : this.neighbors.get(up);
  }

  /** Every neighbour answered once. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Sends a tree message to neighbour `ix`, after the ones before it. */
  send(ix: number, bytes: Uint8Array): void {
    this.neighbors.get(ix)!.link.send(bytes);
  }

  /** True when none of the edges to `ixs` has `edgeBacklog` messages unacknowledged (a message to them may be sent now). */
  room(ixs: readonly number[]): boolean {
    for (const ix of ixs) if (this.neighbors.get(ix)?.link.full === true) return false;
    return true;
  }

  /** A frame from the network. Throws `ERR_GROUP_PROTOCOL` for a message that no neighbour sent (the mesh ends its connection). */
  onFrame(frame: readonly Message[]): void {
    const now = Date.now();
    for (const m of frame) {
      if (this.#ended) return;
      // Every message names its sending node at [1]: one that is no neighbour is a stranger.
      const n = typeof m[1] === 'number' ? this.neighbors.get(m[1] - 1) : undefined;
      if (n === undefined)
        throw new GroupError('ERR_GROUP_PROTOCOL', `A tree message from a process that is not a tree neighbour of ${this.#s.self}`);
      n.heardAt = now;
      switch (m[0]) {
        case G.DATA:
        case G.ACKS:
          n.link.onMessage(m, -1);
          break;
        case G.HEARTBEAT:
          if (m[2] !== this.#s.digest)
            return this.#host.violation(
              `${n.id} has other groups, another tree or another edgeBacklog (digest ${m[2]}, here ${this.#s.digest})`,
            );
          break;
        case G.SUSPECT:
          return this.#notice(n, m[2], m[3][0] ?? n.id);
        default:
          throw new GroupError('ERR_GROUP_PROTOCOL', `A message of type ${m[0]} on a tree edge`);
      }
    }
    for (const n of this.neighbors.values()) n.link.resume(); // ACKS may have made room for what a link holds back
    this.checkReady();
  }

  /** Tells the node once every neighbour answered. */
  checkReady(): void {
    if (this.#ready || this.#ended) return;
    for (const n of this.neighbors.values()) if (n.heardAt === 0) return;
    this.#ready = true;
    this.#host.ready();
  }

  /** The mesh's peer-death signal: a neighbour that answered once and now refuses connections has ended. */
  linkDown(address: string, why: LinkDown): void {
    if (this.#ended || why !== 'unreachable') return; // a closed connection is opened again by the next send
    for (const n of this.neighbors.values())
      if (n.address === address && n.heardAt > 0) return this.#broken(n, 'refuses connections (its process ended)', n.id);
  }

  /** The periodic work: the links' ACKS and retransmissions, heartbeats, and the failure detector. */
  tick(now: number): void {
    if (this.#ended) return;
    // After a stall of this process (its timers run before it reads what came meanwhile), the failure detector judges at the next tick.
    const stalled = now - this.#tickAt > this.#s.failureTimeoutMs / 4;
    this.#tickAt = now;
    for (const n of this.neighbors.values()) n.link.tick(now);
    if (now - this.#beatAt >= this.#s.heartbeatMs) {
      this.#beatAt = now;
      for (const n of this.neighbors.values()) this.#outbox.push(n.address, [G.HEARTBEAT, this.#s.selfIx + 1, this.#s.digest]);
    }
    if (!this.#ready) {
      if (now - this.#started <= this.#s.joinTimeoutMs) return;
      const silent = [...this.neighbors.values()].filter((n) => n.heardAt === 0).map((n) => n.id);
      const why = `${this.#s.self}: no word from tree neighbours ${silent.join(', ')} in ${this.#s.joinTimeoutMs} ms`;
      return this.#host.end(new GroupError('ERR_GROUP_JOIN_TIMEOUT', why), this.#s.self, false);
    }
    if (stalled) return;
    for (const n of this.neighbors.values())
      if (now - n.heardAt > this.#s.failureTimeoutMs) return this.#broken(n, `was not heard from for ${now - n.heardAt} ms`, n.id);
  }

  #broken(n: Neighbor, why: string, failed: string): void {
    const cut = n.role === 'child' ? `its subtree (under ${this.#s.self})` : `the tree above ${this.#s.self}`;
    const text = `${this.#s.self}: tree ${n.role} ${n.id} ${why}: ${cut} can no longer be reached and the tree is static, so the overlapping groups end`;
    this.#host.end(new GroupError('ERR_GROUP_TREE_BROKEN', text), failed, false);
  }

  /** A neighbour's end notice: `failed` ended first; `how`: it closed, or failed. */
  #notice(n: Neighbor, how: string, failed: string): void {
    if (how !== 'closed') return this.#broken(n, failed === n.id ? 'ended' : `reports that ${failed} failed`, failed);
    const by = failed === n.id ? '' : ` (through ${n.id})`;
    const text = `${this.#s.self}: tree node ${failed} closed${by}, which ends the overlapping groups`;
    this.#host.end(new GroupError('ERR_GROUP_CLOSED', text), failed, true);
  }

  /** Stops the links and sends the end notice to every neighbour but `failed`. */
  end(failed: string, closed: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const n of this.neighbors.values()) {
      n.link.close();
      if (n.id !== failed) this.#outbox.push(n.address, [G.SUSPECT, this.#s.selfIx + 1, closed ? 'closed' : 'failed', [failed]]);
    }
    this.#outbox.flush();
  }
}

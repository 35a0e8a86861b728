/**
 * What both election algorithms share: the mesh to the peers, the leader
 * and its change events, the leader's heartbeats and the failure detector
 * that starts an election when they stop, the message counters, and
 * `close()`. The algorithms ({@link BullyElection}, {@link RingElection})
 * say what an election is.
 * @module
 */
import { EventEmitter } from 'node:events';

import { MemberMesh, zeroCounts } from '../members.js';
import type { LinkDown, MeshOptions } from '../mesh.js';
import type { ElectionSettings } from './options.js';
import { decodeElection, encodeElection, Kind, type ElectionMessage, type KindValue } from './wire.js';

/** Messages sent and received, by kind, and the elections this member started. */
export interface ElectionStats {
  sent: Record<keyof typeof Kind, number>;
  received: Record<keyof typeof Kind, number>;
  /** Elections this member started (its own failure detector, a timeout, or {@link Election.elect}). */
  started: number;
  /** Messages dropped as malformed, from an unknown id, or undeliverable. */
  dropped: number;
}

type KindName = keyof typeof Kind;
const NAMES = Object.fromEntries(Object.entries(Kind).map(([k, v]) => [v, k])) as Record<KindValue, KindName>;
const KIND_NAMES = Object.keys(Kind) as KindName[];

/** The election messages (all kinds but HEARTBEAT and ACK) in a stats record: what the theory's bounds count. */
export function electionMessages(counts: Record<keyof typeof Kind, number>): number {
  return counts.ELECTION + counts.ANSWER + counts.COORDINATOR + counts.RING_ELECTION;
}

/** The events of an {@link Election}. */
export interface ElectionEvents {
  /** The leader changed: its id. */
  leader: [leader: number];
}

/** One member of a leader election. Made by {@link joinElection}. */
export abstract class Election extends EventEmitter<ElectionEvents> {
  /** This member's id. */
  readonly id: number;
  /** Message counts. */
  readonly stats: ElectionStats = { sent: zeroCounts(KIND_NAMES), received: zeroCounts(KIND_NAMES), started: 0, dropped: 0 };
  protected readonly settings: ElectionSettings;
  readonly #mesh: MemberMesh<KindName, ElectionMessage & { kindName: KindName }>;
  #leader: number | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #watch: NodeJS.Timeout | undefined;
  #closed = false;
  /** True once an election began here or a message came: from then on the failure detector watches the leader. */
  #active = false;

  protected constructor(settings: ElectionSettings) {
    super();
    this.id = settings.id;
    this.settings = settings;
    this.#mesh = new MemberMesh(settings.peers, this.stats);
  }

  /** @internal */
  async open(options: MeshOptions): Promise<void> {
    await this.#mesh.open(
      options,
      (bytes) => {
        const m = decodeElection(bytes);
        return m === undefined ? undefined : { ...m, kindName: NAMES[m.kind] };
      },
      { message: (m) => this.#heard(m), peerDown: (id, why) => this.peerDown(id, why) },
    );
    if (this.settings.start) this.elect();
  }

  /** Where the peers reach this member. */
  get url(): string {
    return this.#mesh.url;
  }

  /** The leader this member knows, or undefined (before the first election ends, and while one runs after a failure). */
  get leader(): number | undefined {
    return this.#leader;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Starts an election now (what the failure detector does when the leader falls silent). */
  elect(): void {
    if (this.#closed) return;
    this.#active = true;
    this.stats.started++;
    this.#armWatch();
    this.startElection();
  }

  /** The algorithm: begin an election. */
  protected abstract startElection(): void;
  /** The algorithm: one message from a peer (HEARTBEAT is handled here, then passed on). */
  protected abstract receive(m: ElectionMessage): void;
  /** The algorithm: the link to `peer` broke or could not connect. */
  protected abstract peerDown(peer: number, why: LinkDown): void;

  /** Sends a message of `kind` to member `to`. */
  protected send(to: number, kind: KindValue, value = 0, seq = 0, hops = 0): void {
    if (this.#closed) return;
    this.#mesh.send(to, NAMES[kind], encodeElection({ kind, from: this.id, value, seq, hops }));
  }

  /** The peers' ids, ascending. */
  protected get peerIds(): number[] {
    return this.#mesh.peerIds;
  }

  /** Settles on `leader`: the event if it changed, and heartbeats if it is this member. */
  protected setLeader(leader: number | undefined): void {
    const was = this.#leader;
    this.#leader = leader;
    if (leader === this.id && this.#heartbeat === undefined && !this.#closed) {
      this.#heartbeat = setInterval(() => {
        for (const p of this.peerIds) this.send(p, Kind.HEARTBEAT);
      }, this.settings.heartbeatMs);
    } else if (leader !== this.id && this.#heartbeat !== undefined) {
      clearInterval(this.#heartbeat);
      this.#heartbeat = undefined;
    }
    this.#armWatch();
    if (leader !== undefined && leader !== was) this.emit('leader', leader);
  }

  #heard(m: ElectionMessage): void {
    this.#active = true;
    if (m.kind === Kind.HEARTBEAT && m.from === this.#leader) this.#armWatch();
    this.receive(m);
  }

  /** The failure detector: no heartbeat from the leader within failureTimeoutMs, or no leader within electionTimeoutMs, starts an election. */
  #armWatch(): void {
    if (this.#watch !== undefined) clearTimeout(this.#watch);
    this.#watch = undefined;
    if (this.#closed || !this.#active || this.#leader === this.id) return;
    const ms = this.#leader === undefined ? this.settings.electionTimeoutMs : this.settings.failureTimeoutMs;
    this.#watch = setTimeout(() => {
      this.#watch = undefined;
      this.#leader = undefined;
      this.elect();
    }, ms);
  }

  /** Stops the timers, the listener and every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#watch);
    this.closeAlgorithm();
    await this.#mesh.close();
  }

  /** The algorithm: clear its timers. */
  protected abstract closeAlgorithm(): void;

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

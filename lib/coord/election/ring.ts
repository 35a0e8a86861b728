/**
 * The ring algorithm (Chang and Roberts): the members form a ring in the
 * order of their ids. A member that starts an election marks itself a
 * participant and sends its id to its successor (RING_ELECTION); each
 * member forwards the higher of the id it received and its own (a
 * participant drops a lower one); the member that gets its own id back is
 * the highest and sends COORDINATOR once around. One starter, no failure:
 * from 2n (the highest starts) to 3n-1 messages (its successor starts).
 * Failures: each ring message is acknowledged (ACK) by the successor; with
 * no ACK within `ackTimeoutMs` the successor is skipped (suspected until
 * it is heard from again). A message past twice the ring's size is dropped
 * (its candidate died on the way): the starter's electionTimeoutMs restarts.
 * @module
 */
import type { LinkDown } from '../mesh.js';
import { Election } from './election.js';
import type { ElectionSettings } from './options.js';
import { Kind, type ElectionMessage, type KindValue } from './wire.js';

interface Pending {
  readonly to: number;
  readonly kind: KindValue;
  readonly value: number;
  readonly hops: number;
  readonly timer: NodeJS.Timeout;
}

/** A member of a ring election. */
export class RingElection extends Election {
  #participant = false;
  readonly #suspected = new Set<number>();
  readonly #pending = new Map<number, Pending>();
  #seq = 0;

  /** @internal */
  constructor(settings: ElectionSettings) {
    super(settings);
  }

  /** The next live member after this one in the ring (undefined: this member is alone). */
  #successor(): number | undefined {
    const ids = this.peerIds.filter((p) => !this.#suspected.has(p));
    return ids.find((p) => p > this.id) ?? ids[0];
  }

  #forward(kind: KindValue, value: number, hops: number): void {
    const to = this.#successor();
    if (to === undefined) {
      // Alone in the ring: this member is the highest live id.
      this.#participant = false;
      this.setLeader(this.id);
      return;
    }
    this.#seq = this.#seq >= 0x7fffffff ? 1 : this.#seq + 1;
    const seq = this.#seq;
    const timer = setTimeout(() => {
      this.#pending.delete(seq);
      this.#suspected.add(to);
      this.#forward(kind, value, hops);
    }, this.settings.ackTimeoutMs);
    this.#pending.set(seq, { to, kind, value, hops, timer });
    this.send(to, kind, value, seq, hops);
  }

  protected startElection(): void {
    this.#participant = true;
    this.#forward(Kind.RING_ELECTION, this.id, 1);
  }

  protected receive(m: ElectionMessage): void {
    this.#suspected.delete(m.from);
    const limit = 2 * (this.settings.peers.size + 1);
    switch (m.kind) {
      case Kind.ACK: {
        const p = this.#pending.get(m.value);
        if (p !== undefined && p.to === m.from) {
          clearTimeout(p.timer);
          this.#pending.delete(m.value);
        }
        return;
      }
      case Kind.RING_ELECTION:
        this.send(m.from, Kind.ACK, m.seq);
        if (m.hops > limit) return;
        if (m.value > this.id) {
          this.#participant = true;
          this.#forward(Kind.RING_ELECTION, m.value, m.hops + 1);
        } else if (m.value < this.id) {
          if (this.#participant) return; // a lower candidate: drop it
          this.#participant = true;
          this.#forward(Kind.RING_ELECTION, this.id, m.hops + 1);
        } else {
          // Its own id came back: the highest live id.
          this.#participant = false;
          this.setLeader(this.id);
          this.#forward(Kind.COORDINATOR, this.id, 1);
        }
        return;
      case Kind.COORDINATOR:
        this.send(m.from, Kind.ACK, m.seq);
        if (m.value === this.id || m.hops > limit) return; // around the ring
        this.#participant = false;
        this.setLeader(m.value);
        this.#forward(Kind.COORDINATOR, m.value, m.hops + 1);
        return;
      case Kind.HEARTBEAT:
        // A live leader above the one known (two sides of a healed partition): the higher one stays.
        if (!this.#participant && this.leader !== undefined && m.from > this.leader) this.setLeader(m.from);
        return;
      default:
        return; // the bully's kinds
    }
  }

  protected peerDown(peer: number, why: LinkDown): void {
    if (why === 'unreachable') this.#suspected.add(peer);
  }

  protected closeAlgorithm(): void {
    for (const p of this.#pending.values()) clearTimeout(p.timer);
    this.#pending.clear();
  }
}

/**
 * Ricart and Agrawala: a member that wants the critical section stamps a
 * REQUEST with its Lamport clock and sends it to every other member; it
 * enters once every one has sent REPLY. A member answers at once unless it
 * is inside, or wants it too with an earlier request (lower timestamp, ties
 * to the lower id): then it defers the REPLY until it leaves. Exactly
 * 2(N-1) messages per critical section; requests are served in timestamp
 * order, so nobody starves. The fence is the request's place in that order
 * (timestamp × 2048 + the member's rank), which rises from one holding to
 * the next.
 * Lost messages: when a link goes down, what that member still needs goes
 * again after `retryMs`: this member's REQUEST while its REPLY is missing,
 * and the last REPLY this member sent it until it asks again (a copy of
 * either is harmless: a REQUEST already deferred or answered is answered
 * again, a REPLY to no outstanding request is ignored). A timestamp beyond
 * what a fence can hold is refused: a peer cannot push the clock past it.
 * Crashes: every member is needed. A member that died never answers, and
 * every `acquire()` after it times out; the algorithm has no way to tell a
 * dead member from a slow one, which is the price of having no coordinator.
 * @module
 */
import type { MeshSource } from '../mesh.js';
import { DistributedMutex } from './mutex.js';
import type { MutexSettings } from './options.js';
import { Kind, type DmutexMessage } from './wire.js';

/** Members fit below this in a fence (at most 1025 members). */
const RANKS = 2048;
/** The highest timestamp: its fence is still a safe integer. */
const MAX_TS = Math.floor(Number.MAX_SAFE_INTEGER / RANKS) - 1;
/** How often a REPLY goes again to a member whose link stays down. */
const MAX_RESENDS = 20;

/** A member of a Ricart-Agrawala mutex. */
export class RicartAgrawalaMutex extends DistributedMutex {
  #clock = 0;
  /** The timestamp of this member's outstanding request, or undefined. */
  #asked: number | undefined;
  #inCs = false;
  readonly #waitingFor = new Set<number>();
  /** The requests answered when this member leaves: [member, timestamp]. */
  readonly #deferred: [number, number][] = [];
  /** The last REPLY sent to each member (its request's timestamp), until that member asks again; and how often it went again. */
  readonly #replied = new Map<number, { ts: number; resends: number }>();

  /** @internal */
  constructor(settings: MutexSettings) {
    super(settings);
  }

  protected start(): void {}

  protected request(): void {
    if (this.#clock >= MAX_TS) throw new RangeError('the Lamport clock reached its limit'); // 2^42 requests: not in practice
    const ts = ++this.#clock;
    this.#asked = ts;
    for (const p of this.peerIds) this.#waitingFor.add(p);
    for (const p of this.peerIds) this.send(p, Kind.REQUEST, ts);
    this.#maybeEnter();
  }

  #maybeEnter(): void {
    if (this.#asked === undefined || this.#waitingFor.size > 0) return;
    const fence = this.#asked * RANKS + this.settings.members.indexOf(this.id);
    this.#asked = undefined;
    this.#inCs = true;
    this.granted(fence);
  }

  protected release(): void {
    this.#inCs = false;
    for (const [p, ts] of this.#deferred.splice(0)) this.#reply(p, ts);
  }

  protected receive(m: DmutexMessage, _source: MeshSource): void {
    if (m.value > MAX_TS) {
      this.stats.dropped++; // no member's clock gets there
      return;
    }
    if (m.kind === Kind.REQUEST) {
      this.#clock = Math.max(this.#clock, m.value);
      const last = this.#replied.get(m.from);
      if (last !== undefined && last.ts < m.value) this.#replied.delete(m.from); // it asks again: it had the last REPLY
      if (this.#deferred.some(([p, ts]) => p === m.from && ts === m.value)) return; // a copy of a request already deferred
      const mineFirst = this.#asked !== undefined && (this.#asked < m.value || (this.#asked === m.value && this.id < m.from));
      if (!this.settings.broken && (this.#inCs || mineFirst)) this.#deferred.push([m.from, m.value]);
      else this.#reply(m.from, m.value);
    } else if (m.kind === Kind.REPLY) {
      if (m.value !== this.#asked) return; // not an answer to the outstanding request
      this.#waitingFor.delete(m.from);
      this.#maybeEnter();
    }
  }

  #reply(to: number, ts: number): void {
    this.#replied.set(to, { ts, resends: 0 });
    this.send(to, Kind.REPLY, ts);
  }

  /** What `peer` may have missed goes again (a dead member blocks the others all the same: see the module doc). */
  protected peerDown(peer: number): void {
    this.after(this.settings.retryMs, () => {
      if (this.#asked !== undefined && this.#waitingFor.has(peer)) this.send(peer, Kind.REQUEST, this.#asked);
      const last = this.#replied.get(peer);
      if (last !== undefined && last.resends++ < MAX_RESENDS) this.send(peer, Kind.REPLY, last.ts);
    });
  }
}

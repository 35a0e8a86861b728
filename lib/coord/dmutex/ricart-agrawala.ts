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

/** A member of a Ricart-Agrawala mutex. */
export class RicartAgrawalaMutex extends DistributedMutex {
  #clock = 0;
  /** The timestamp of this member's outstanding request, or undefined. */
  #asked: number | undefined;
  #inCs = false;
  readonly #waitingFor = new Set<number>();
  /** The requests answered when this member leaves: [member, timestamp]. */
  readonly #deferred: [number, number][] = [];

  /** @internal */
  constructor(settings: MutexSettings) {
    super(settings);
  }

  protected start(): void {}

  protected request(): void {
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
    for (const [p, ts] of this.#deferred.splice(0)) this.send(p, Kind.REPLY, ts);
  }

  protected receive(m: DmutexMessage, _source: MeshSource): void {
    if (m.kind === Kind.REQUEST) {
      this.#clock = Math.max(this.#clock, m.value);
      const mineFirst = this.#asked !== undefined && (this.#asked < m.value || (this.#asked === m.value && this.id < m.from));
      if (!this.settings.broken && (this.#inCs || mineFirst)) this.#deferred.push([m.from, m.value]);
      else this.send(m.from, Kind.REPLY, m.value);
    } else if (m.kind === Kind.REPLY) {
      if (m.value !== this.#asked) return; // not an answer to the outstanding request
      this.#waitingFor.delete(m.from);
      this.#maybeEnter();
    }
  }

  protected peerDown(): void {} // see the module doc: a dead member blocks the others

  protected closeAlgorithm(): void {}
}

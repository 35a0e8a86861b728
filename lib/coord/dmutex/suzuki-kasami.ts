/**
 * Suzuki and Kasami: one token, asked for by broadcast. Each member keeps
 * RN, the highest request number it has heard from every member; the token
 * carries LN, the number of every member's last served request, and the
 * queue of members it goes to next. A member without the token sends
 * REQUEST(n) to every other; the holder, once outside its critical section,
 * sends the token to a member whose request is outstanding (RN = LN + 1).
 * On leaving, the holder records its request served and queues every member
 * with an outstanding request, then sends the token to the queue's head.
 * N messages per critical section (N-1 REQUEST + 1 TOKEN), none when the
 * token is already here; the queue is first come, first served, so nobody
 * starves. The fence is the token's count of entries.
 * Lost messages: a REQUEST to a member whose link went down goes again
 * after `retryMs` while the request is outstanding (a copy is harmless: RN
 * keeps the highest number). Crashes: a handoff whose target's link goes
 * down unacknowledged comes back, its target is marked served (dropped),
 * and the token goes on to the next member waiting. A member that dies
 * holding the token takes it with it (as in the token ring: docs/dmutex.md).
 * `close()` hands the token on first.
 * @module
 */
import type { MeshSource } from '../mesh.js';
import { TokenHandoff } from './handoff.js';
import { DistributedMutex } from './mutex.js';
import type { MutexSettings } from './options.js';
import { Kind, type DmutexMessage } from './wire.js';

interface Token {
  fence: number;
  readonly served: Map<number, number>;
  readonly queue: number[];
}

/** How long close() waits for the next member to take the token. */
const LEAVE_MS = 2_000;

/** A member of a Suzuki-Kasami mutex. */
export class SuzukiKasamiMutex extends DistributedMutex {
  /** RN: the highest request number heard from each member (this one's too). */
  readonly #rn = new Map<number, number>();
  #token: Token | undefined;
  #inCs = false;
  readonly #handoff = new TokenHandoff(
    (to, value, seq, state) => this.send(to, Kind.TOKEN, value, seq, state),
    (to, fence, state) => {
      // The target is gone: its request counts as served, and the token goes to the next one waiting.
      const served = new Map(state!.served);
      served.set(to, this.#rn.get(to) ?? 0);
      this.#take(
        fence,
        served,
        state!.queue.filter((id) => id !== to),
        to,
      );
    },
  );

  /** @internal */
  constructor(settings: MutexSettings) {
    super(settings);
    for (const id of settings.members) this.#rn.set(id, 0);
  }

  protected start(): void {
    if (this.settings.members[0] === this.id) this.#token = { fence: 0, served: new Map(this.#rn), queue: [] };
  }

  protected request(): void {
    if (this.#token !== undefined) return this.#enter();
    const n = this.#rn.get(this.id)! + 1;
    this.#rn.set(this.id, n);
    for (const p of this.peerIds) this.send(p, Kind.REQUEST, n);
  }

  #enter(): void {
    this.#inCs = true;
    this.#token!.fence += 1;
    this.granted(this.#token!.fence);
  }

  protected release(): void {
    this.#inCs = false;
    const t = this.#token!;
    t.served.set(this.id, this.#rn.get(this.id)!);
    this.#queueWaiting(t);
    this.#forward();
  }

  #outstanding(id: number, t: Token): boolean {
    return this.#rn.get(id)! === (t.served.get(id) ?? 0) + 1;
  }

  /** Appends to the token's queue every member whose request this member knows is outstanding. */
  #queueWaiting(t: Token, except?: number): void {
    for (const id of this.settings.members)
      if (id !== this.id && id !== except && !t.queue.includes(id) && this.#outstanding(id, t)) t.queue.push(id);
  }

  /** The token is here (it arrived, or a handoff came back): enter if this member wants it, else send it on. */
  #take(fence: number, served: Map<number, number>, queue: number[], failed?: number): void {
    const t: Token = { fence, served, queue };
    this.#queueWaiting(t, failed);
    this.#token = t;
    if (this.wanting) return this.#enter();
    this.#forward();
    if (this.#token !== undefined && this.closed && !this.#handoff.inFlight) {
      // Leaving with nobody waiting: the token goes to the next member after the one that failed.
      const ring = this.successors;
      const next = failed === undefined ? ring[0] : ring[ring.indexOf(failed) + 1];
      if (next !== undefined) this.#give(next);
    }
  }

  /** Sends the token to the head of its queue, if any (this member is outside its critical section). */
  #forward(): void {
    const t = this.#token;
    if (t === undefined || this.#inCs) return;
    const next = t.queue.shift();
    if (next !== undefined) this.#give(next);
  }

  #give(to: number): void {
    const t = this.#token!;
    this.#token = undefined;
    this.#handoff.give(to, t.fence, { served: t.served, queue: t.queue.filter((id) => id !== to) });
  }

  protected receive(m: DmutexMessage, source: MeshSource): void {
    if (m.kind === Kind.ACK) return this.#handoff.acked(m.from, m.seq);
    if (m.kind === Kind.REQUEST) {
      if (m.value <= this.#rn.get(m.from)!) return; // an old request, or a copy
      this.#rn.set(m.from, m.value);
      const t = this.#token;
      if (t !== undefined && !this.#inCs && this.#outstanding(m.from, t)) {
        if (!t.queue.includes(m.from)) t.queue.push(m.from);
        this.#forward();
      }
      return;
    }
    if (m.kind !== Kind.TOKEN || m.token === undefined || this.closed) return; // leaving: not acknowledged, so the giver tries the next
    this.reply(source, Kind.ACK, 0, m.seq);
    const served = new Map(m.token.served);
    const queue = m.token.queue.filter((id) => this.#rn.has(id) && id !== this.id);
    const had = this.#token;
    if (had !== undefined) {
      // Two tokens (a handoff believed lost was not): merged into one that forgets nothing.
      for (const [id, n] of had.served) served.set(id, Math.max(n, served.get(id) ?? 0));
      for (const id of had.queue) if (!queue.includes(id)) queue.push(id);
      this.#token = { fence: Math.max(had.fence, m.value), served, queue };
      return;
    }
    this.#take(m.value, served, queue);
  }

  protected peerDown(peer: number): void {
    this.#handoff.peerDown(peer);
    // A REQUEST it may have missed goes again while this member's request is outstanding.
    const n = this.#rn.get(this.id)!;
    this.after(this.settings.retryMs, () => {
      if (this.wanting && this.#token === undefined && this.#rn.get(this.id) === n && n > 0) this.send(peer, Kind.REQUEST, n);
    });
  }

  protected override async leave(): Promise<void> {
    if (this.#token !== undefined && !this.#inCs) {
      this.#queueWaiting(this.#token);
      if (this.#token.queue.length > 0) this.#forward();
      else if (this.successors.length > 0) this.#give(this.successors[0]!);
    }
    await this.#handoff.settled(LEAVE_MS);
  }
}

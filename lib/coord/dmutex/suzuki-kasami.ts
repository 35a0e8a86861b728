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
 * Crashes: a handoff whose target's link goes down unacknowledged comes
 * back, its target is marked served (dropped), and the token goes on to the
 * next in the queue. A member that dies holding the token takes it with it
 * (as in the token ring: docs/dmutex.md).
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

/** A member of a Suzuki-Kasami mutex. */
export class SuzukiKasamiMutex extends DistributedMutex {
  /** RN: the highest request number heard from each member (this one's too). */
  readonly #rn = new Map<number, number>();
  #token: Token | undefined;
  #inCs = false;
  readonly #handoff = new TokenHandoff(
    (to, value, seq, state) => this.send(to, Kind.TOKEN, value, seq, state),
    (to, fence, state) => {
      // The target is gone: its request counts as served, and the token goes to the next one.
      const served = new Map(state!.served);
      served.set(to, this.#rn.get(to) ?? 0);
      this.#token = { fence, served, queue: state!.queue.filter((id) => id !== to) };
      this.#forward();
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
    for (const id of this.settings.members) if (id !== this.id && !t.queue.includes(id) && this.#outstanding(id, t)) t.queue.push(id);
    this.#forward();
  }

  #outstanding(id: number, t: Token): boolean {
    return this.#rn.get(id)! === (t.served.get(id) ?? 0) + 1;
  }

  /** Sends the token to the head of its queue, if any (this member is outside its critical section). */
  #forward(): void {
    const t = this.#token;
    if (t === undefined || this.#inCs || this.closed) return;
    const next = t.queue.shift();
    if (next === undefined) return;
    this.#token = undefined;
    this.#handoff.give(next, t.fence, { served: t.served, queue: t.queue });
  }

  protected receive(m: DmutexMessage, source: MeshSource): void {
    if (m.kind === Kind.ACK) return this.#handoff.acked(m.from, m.seq);
    if (m.kind === Kind.REQUEST) {
      if (m.value <= this.#rn.get(m.from)!) return; // an old request
      this.#rn.set(m.from, m.value);
      const t = this.#token;
      if (t !== undefined && !this.#inCs && this.#outstanding(m.from, t)) {
        if (!t.queue.includes(m.from)) t.queue.push(m.from);
        this.#forward();
      }
      return;
    }
    if (m.kind !== Kind.TOKEN || m.token === undefined) return;
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
    this.#token = { fence: m.value, served, queue };
    if (this.wanting) this.#enter();
    else this.#forward();
  }

  protected peerDown(peer: number): void {
    this.#handoff.peerDown(peer);
  }

  protected closeAlgorithm(): void {}
}

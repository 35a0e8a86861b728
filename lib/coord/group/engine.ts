/**
 * What every reliable order shares, inside one view: each member keeps the
 * messages it received that are not yet stable (delivered by every member),
 * counts its deliveries per origin and tells the others (ACKS, batched), and
 * an origin sends its messages again to a member whose count for it has not
 * moved for `retransmitMs`. FIFO order is this base as it is: an origin
 * numbers its multicasts, a member holds back a message until the one before
 * it from the same origin was delivered, and drops duplicates.
 *
 * A view's engine is replaced at each view change: `flush()` gives what it
 * holds, `finish(entries)` delivers what the leader's completion adds.
 * @module
 */
import { G, type Entry, type Message } from './wire.js';

/** What an engine needs of its member: the view, the network (batched per turn) and the delivery to the application. @internal */
export interface Net {
  readonly view: number;
  /** This member's index in the view. */
  readonly self: number;
  /** The view's size. */
  readonly n: number;
  readonly retransmitMs: number;
  send(to: number, m: Message): void;
  /** Runs `fn` once what was sent so far was handed to the channels (a member delivers its own commit only then: see total.ts). */
  afterSent(fn: () => void): void;
  /**
   * Runs `fn` once the work in progress is done (a microtask: before anything of a later turn, so
   * before `afterSent`'s callbacks): an engine gathers its small answers until then and sends them
   * as one message. Absent (a network without turns, as the lab's), they are sent at once.
   */
  endOfTurn?(fn: () => void): void;
  deliver(origin: number, seq: number, payload: Uint8Array, extra?: { ts?: number; stamp?: readonly number[] }): void;
}

/** Deliveries between two ACKS at most (more go at the next tick). */
const ACK_EVERY = 64;
/** The most messages sent again to one member per tick. */
const RETRANSMIT_BATCH = 256;

/** The reliable base, and FIFO order. @internal */
export class FifoEngine {
  protected readonly net: Net;
  /** Deliveries so far, per origin (each a prefix 1..D[o]). */
  protected readonly D: number[];
  /** Received and not yet known stable, per origin, by seq (own multicasts included). */
  protected readonly store: Map<number, Entry>[];
  /** acked[j][o]: the deliveries of member j from origin o, as j last said (acked[self] is D). */
  protected readonly acked: number[][];
  readonly #collected: number[];
  readonly #progressAt: number[];
  protected sent = 0;
  #sinceAck = 0;
  #ackedTotal = 0;
  #ackOwed = false;
  #frozen = false;
  #closed = false;

  constructor(net: Net) {
    this.net = net;
    const n = net.n;
    this.D = new Array<number>(n).fill(0);
    this.store = Array.from({ length: n }, () => new Map<number, Entry>());
    this.acked = Array.from({ length: n }, (_, j) => (j === net.self ? this.D : new Array<number>(n).fill(0)));
    this.#collected = new Array<number>(n).fill(0);
    this.#progressAt = new Array<number>(n).fill(Date.now());
  }

  /** Own multicasts not yet stable (the sender's window counts them). */
  get backlog(): number {
    let low = this.sent;
    for (let j = 0; j < this.net.n; j++) low = Math.min(low, this.acked[j]![this.net.self]!);
    return this.sent - low;
  }

  /** The seq the next own multicast gets. */
  get nextSeq(): number {
    return this.sent + 1;
  }

  multicast(p: Uint8Array): void {
    const s = ++this.sent;
    const e: Entry = { o: this.net.self, s, p, v: null, q: null, c: -1, a: -1 };
    this.store[this.net.self]!.set(s, e);
    this.sendAll(this.dataOf(e));
    this.deliverOwn(e);
  }

  /** The DATA message of an entry. */
  protected dataOf(e: Entry): Message {
    return [G.DATA, this.net.view, e.o, e.s, e.p, e.v, e.q];
  }

  protected sendAll(m: Message): void {
    for (let j = 0; j < this.net.n; j++) if (j !== this.net.self) this.net.send(j, m);
  }

  protected deliverOwn(e: Entry): void {
    this.D[e.o] = e.s;
    this.net.deliver(e.o, e.s, e.p);
    this.delivered();
  }

  /** Counts a delivery for the next ACKS. */
  protected delivered(): void {
    if (++this.#sinceAck >= ACK_EVERY) this.sendAcks();
  }

  /** A message of this view from a peer. */
  onMessage(m: Message, from: number): void {
    if (this.#closed) return;
    switch (m[0]) {
      case G.DATA:
        if (m[2] === this.net.self || m[2] >= this.net.n) return; // own messages come back only through a peer's retransmission mix-up
        this.onData({ o: m[2], s: m[3], p: m[4], v: m[5], q: m[6], c: -1, a: -1 }, from);
        return;
      case G.ACKS:
        this.onAcks(m[2], m[3]);
        return;
      default:
        this.onOther(m, from);
    }
  }

  /** True (and kept) when the message is new; false for a duplicate. */
  protected keep(e: Entry): boolean {
    if (e.s <= this.D[e.o]!) {
      // A copy of a delivered message: its origin did not hear this member's ACKS (lost), so the next tick says them
      // again even if nothing new was delivered (else the origin resends its tail forever and it never becomes stable).
      this.#ackOwed = true;
      return false;
    }
    if (this.store[e.o]!.has(e.s)) return false;
    this.store[e.o]!.set(e.s, e);
    return true;
  }

  protected onData(e: Entry, _from: number): void {
    if (this.keep(e)) this.drain(e.o);
  }

  /** FIFO: delivers origin o's messages while the next one is here. */
  protected drain(o: number): void {
    const st = this.store[o]!;
    for (let e = st.get(this.D[o]! + 1); e !== undefined; e = st.get(this.D[o]! + 1)) {
      this.D[o] = e.s;
      this.net.deliver(o, e.s, e.p);
      this.delivered();
    }
  }

  protected onOther(_m: Message, _from: number): void {}

  protected onAcks(j: number, counts: readonly number[]): void {
    if (j === this.net.self || j >= this.net.n || counts.length !== this.net.n) return;
    const a = this.acked[j]!;
    if (counts[this.net.self]! > a[this.net.self]!) this.#progressAt[j] = Date.now();
    for (let o = 0; o < this.net.n; o++)
      if (counts[o]! > a[o]!) a[o] = Math.min(counts[o]!, o === this.net.self ? this.sent : Number.MAX_SAFE_INTEGER);
    this.#collect();
  }

  /** Drops what every member has delivered. */
  #collect(): void {
    for (let o = 0; o < this.net.n; o++) {
      let low = this.D[o]!;
      for (let j = 0; j < this.net.n; j++) low = Math.min(low, this.acked[j]![o]!);
      const st = this.store[o]!;
      for (let s = this.#collected[o]! + 1; s <= low; s++) st.delete(s);
      if (low > this.#collected[o]!) this.#collected[o] = low;
    }
  }

  sendAcks(): void {
    this.#sinceAck = 0;
    let total = 0;
    for (const d of this.D) total += d;
    if (total === this.#ackedTotal && !this.#ackOwed) return;
    this.#ackedTotal = total;
    this.#ackOwed = false;
    this.sendAll([G.ACKS, this.net.view, this.net.self, this.D.slice()]);
    this.#collect();
  }

  /** The periodic work: ACKS, and own messages sent again to members that did not move. */
  tick(now: number): void {
    if (this.#closed) return;
    this.sendAcks();
    for (let j = 0; j < this.net.n; j++) {
      if (j === this.net.self) continue;
      const has = this.acked[j]![this.net.self]!;
      if (has >= this.sent || now - this.#progressAt[j]! < this.net.retransmitMs) continue;
      this.#progressAt[j] = now;
      this.retransmit(j, has);
    }
  }

  /** Sends own messages after `has` again to member j. */
  protected retransmit(j: number, has: number): void {
    const own = this.store[this.net.self]!;
    for (let s = has + 1; s <= Math.min(this.sent, has + RETRANSMIT_BATCH); s++) {
      const e = own.get(s);
      if (e !== undefined) this.net.send(j, this.dataOf(e));
    }
  }

  /** What this member holds of the view, for the leader's FLUSH. */
  flush(): Entry[] {
    this.freeze();
    const out: Entry[] = [];
    for (const st of this.store) for (const e of st.values()) out.push(e);
    return out;
  }

  /** Deliveries per origin, for the FLUSH. */
  get deliveredCounts(): readonly number[] {
    return this.D;
  }

  /** Delivers what the completion adds (in this order's rule); the rest of the view is dropped. */
  finish(entries: readonly Entry[]): void {
    for (const e of entries) if (e.o !== this.net.self || e.s > this.D[e.o]!) this.onData({ ...e }, -1);
    this.close();
  }

  close(): void {
    this.#closed = true;
  }

  protected get closed(): boolean {
    return this.#closed;
  }

  /**
   * Reported in a FLUSH: from now on the view ends only through the leader's
   * completion. A delivery decided before and still waiting for `afterSent`
   * must not happen after the report (the completion, built without it, could
   * order it elsewhere at the others).
   */
  protected freeze(): void {
    this.#frozen = true;
  }

  protected get frozen(): boolean {
    return this.#frozen;
  }

  /**
   * The leader's completion of a view from every survivor's FLUSH: the union
   * of what they hold (each member then delivers what its order allows of it).
   */
  static complete(reports: readonly (readonly Entry[])[], _delivered: readonly (readonly number[])[]): Entry[] {
    const seen = new Map<string, Entry>();
    for (const r of reports) for (const e of r) seen.set(`${e.o}:${e.s}`, e);
    return [...seen.values()].sort((a, b) => a.o - b.o || a.s - b.s);
  }
}

/**
 * Best-effort multicast: sent once to every reachable member, delivered on
 * arrival (no order), duplicates dropped; nothing is sent again and a view
 * change completes nothing. @internal
 */
export class BestEffortEngine extends FifoEngine {
  readonly #seen: Set<number>[];

  constructor(net: Net) {
    super(net);
    this.#seen = Array.from({ length: net.n }, () => new Set<number>());
  }

  override get backlog(): number {
    return 0;
  }

  override multicast(p: Uint8Array): void {
    const s = ++this.sent;
    this.sendAll([G.DATA, this.net.view, this.net.self, s, p, null, null]);
    this.net.deliver(this.net.self, s, p);
  }

  protected override onData(e: Entry): void {
    const seen = this.#seen[e.o]!;
    if (seen.has(e.s)) return;
    seen.add(e.s);
    if (seen.size > 65536) seen.delete(seen.values().next().value!); // a bounded memory of what came (duplicates are rare and late)
    this.net.deliver(e.o, e.s, e.p);
  }

  override tick(): void {}

  override flush(): Entry[] {
    return [];
  }

  override finish(): void {
    this.close();
  }
}

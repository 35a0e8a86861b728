/**
 * Total order, two ways.
 *
 * **Two-phase** (the slides' protocol): the origin multicasts m; each member
 * takes it (in the origin's FIFO order), ticks its logical clock and answers
 * an ack with that time (its local ack stamp); when every member of the view
 * acked, the origin sends the commit with the highest ack time. A member
 * does not deliver a message with commit time t until every message with a
 * local ack stamp below t has been committed, and delivers in commit-time
 * order (ties broken by origin, then seq). A member whose held message waits
 * for a commit for `retransmitMs` acks it again, and the origin answers a
 * repeated ack of a committed message with its commit: lost acks and
 * commits are recovered that way.
 *
 * **Fixed sequencer** (for comparison): the view's leader numbers every
 * message and multicasts it on its own FIFO stream; members deliver that
 * stream in order.
 * @module
 */
import { FifoEngine, type Net } from './engine.js';
import { Heap, type Pending } from './pending.js';
import { G, type Entry, type Message } from './wire.js';

/** The most (seq, time) pairs one TACK or COMMIT carries (well under the wire's bound, and a frame's). */
const PAIRS_PER_MESSAGE = 4096;

/** A heap node is live while the message is held and the node has its current key. */
const live = (p: Pending, key: number): boolean => !p.done && key === p.key;

/** The two-phase total order. `clock` is the member's logical clock, kept across views. @internal */
export class TwoPhaseEngine extends FifoEngine {
  readonly #clock: { time: number };
  /** Accepted (acked) per origin, in FIFO order. */
  readonly #accepted: number[];
  /** Held (acked, not delivered), per origin, by seq. */
  readonly #pending: Map<number, Pending>[];
  readonly #heap = new Heap();
  /** Own messages: the acks collected. */
  readonly #acks = new Map<number, { from: Set<number>; max: number; commit: number }>();
  /**
   * What this turn's work has to say, sent together once it is done (`net.endOfTurn`): the acks for
   * each origin, and this member's commits, as the lists of (seq, time) pairs TACK and COMMIT
   * carry. A frame of a hundred DATA is answered by one TACK, not a hundred.
   */
  readonly #tacksOut: number[][];
  #commitsOut: number[] = [];
  #flushQueued = false;

  constructor(net: Net, clock: { time: number }) {
    super(net);
    this.#clock = clock;
    this.#accepted = new Array<number>(net.n).fill(0);
    this.#pending = Array.from({ length: net.n }, () => new Map<number, Pending>());
    this.#tacksOut = Array.from({ length: net.n }, () => []);
  }

  #queueFlush(): void {
    if (this.net.endOfTurn === undefined) return this.#flushOut(); // a network without turns (the lab): at once
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    this.net.endOfTurn(() => this.#flushOut());
  }

  /** Sends the acks and commits this turn gathered (nothing once the engine is closed: the view change completes it). */
  #flushOut(): void {
    this.#flushQueued = false;
    if (this.closed) return;
    for (let o = 0; o < this.net.n; o++) {
      const l = this.#tacksOut[o]!;
      if (l.length === 0) continue;
      this.net.send(o, [G.TACK, this.net.view, this.net.self, l]);
      this.#tacksOut[o] = [];
    }
    if (this.#commitsOut.length > 0) {
      this.sendAll([G.COMMIT, this.net.view, this.net.self, this.#commitsOut]);
      this.#commitsOut = [];
    }
  }

  #tack(o: number, s: number, time: number): void {
    const l = this.#tacksOut[o]!;
    l.push(s, time);
    if (l.length >= 2 * PAIRS_PER_MESSAGE) {
      this.net.send(o, [G.TACK, this.net.view, this.net.self, l]);
      this.#tacksOut[o] = [];
    } else this.#queueFlush();
  }

  #commit(s: number, time: number): void {
    this.#commitsOut.push(s, time);
    if (this.#commitsOut.length >= 2 * PAIRS_PER_MESSAGE) {
      this.sendAll([G.COMMIT, this.net.view, this.net.self, this.#commitsOut]);
      this.#commitsOut = [];
    } else this.#queueFlush();
  }

  override multicast(p: Uint8Array): void {
    const s = ++this.sent;
    const e: Entry = { o: this.net.self, s, p, v: null, q: null, c: -1, a: -1 };
    this.store[this.net.self]!.set(s, e);
    this.#acks.set(s, { from: new Set(), max: 0, commit: -1 });
    this.sendAll(this.dataOf(e));
    this.#accept(this.net.self);
  }

  protected override onData(e: Entry, _from: number): void {
    const known = this.store[e.o]!.get(e.s);
    if (known !== undefined || e.s <= this.D[e.o]!) {
      // Sent again: the origin lacks our ack (or a commit was lost). Ack again.
      const p = this.#pending[e.o]!.get(e.s);
      if (p !== undefined) this.#tack(e.o, e.s, p.e.a);
      return;
    }
    this.store[e.o]!.set(e.s, e);
    this.#accept(e.o);
  }

  /** Acks origin o's messages in its FIFO order, each with the next clock time. */
  #accept(o: number): void {
    const st = this.store[o]!;
    const now = Date.now();
    for (let e = st.get(this.#accepted[o]! + 1); e !== undefined; e = st.get(this.#accepted[o]! + 1)) {
      this.#accepted[o] = e.s;
      e.a = ++this.#clock.time;
      const p: Pending = { e, key: e.a, committed: false, done: false, at: now };
      this.#pending[o]!.set(e.s, p);
      this.#heap.push(p);
      if (o === this.net.self) this.#onAck(this.net.self, e.s, e.a);
      else this.#tack(o, e.s, e.a);
    }
  }

  protected override onOther(m: Message): void {
    if (m[0] === G.TACK) {
      if (m[2] >= this.net.n) return;
      for (let i = 0; i < m[3].length; i += 2) this.#onAck(m[2], m[3][i]!, m[3][i + 1]!);
    } else if (m[0] === G.COMMIT) {
      if (m[2] >= this.net.n) return;
      for (let i = 0; i < m[3].length; i += 2) this.#onCommit(m[2], m[3][i]!, m[3][i + 1]!);
    }
  }

  #onAck(j: number, s: number, time: number): void {
    const a = this.#acks.get(s);
    if (a === undefined) return; // stable and forgotten, or never sent
    if (a.commit >= 0) {
      if (j !== this.net.self) this.net.send(j, [G.COMMIT, this.net.view, this.net.self, [s, a.commit]]); // its commit was lost (rare: sent at once)
      return;
    }
    if (a.from.has(j)) return;
    a.from.add(j);
    a.max = Math.max(a.max, time);
    if (a.from.size < this.net.n) return;
    a.commit = a.max;
    this.#commit(s, a.commit);
    // Delivered here once the commit left for every member: a kill -9 of this member after its own
    // delivery cannot leave the others without the commit time it delivered by. (The commit goes
    // to the outbox at the end of this turn's microtasks, before any later turn: before this runs.)
    this.net.afterSent(() => {
      if (!this.closed && !this.frozen) this.#onCommit(this.net.self, s, a.commit);
    });
  }

  #onCommit(o: number, s: number, time: number): void {
    const p = this.#pending[o]!.get(s);
    if (p === undefined || p.committed || time < p.e.a) return; // unknown, done, or not a commit of our ack
    if (time > this.#clock.time) this.#clock.time = time;
    p.committed = true;
    p.key = time;
    p.e.c = time;
    this.#heap.push(p);
    this.#deliverReady();
  }

  #deliverReady(): void {
    for (let p = this.#heap.peek(live); p !== undefined && p.committed; p = this.#heap.peek(live)) {
      this.#heap.pop();
      p.done = true;
      this.#pending[p.e.o]!.delete(p.e.s);
      this.D[p.e.o] = p.e.s; // commit times of one origin rise with its seq (FIFO acks): D stays a prefix
      this.net.deliver(p.e.o, p.e.s, p.e.p, { ts: p.key });
      this.delivered();
    }
  }

  /** The held messages (acked, not delivered): origin, seq, this member's ack time, the commit time or -1. */
  buffer(): { origin: number; seq: number; ack: number; commit: number }[] {
    return this.#pending
      .flatMap((m) => [...m.values()])
      .map((p) => ({ origin: p.e.o, seq: p.e.s, ack: p.e.a, commit: p.committed ? p.key : -1 }));
  }

  override tick(now: number): void {
    super.tick(now);
    // Held too long waiting for a commit: ack again (the origin answers with the commit if it has one).
    for (const m of this.#pending)
      for (const p of m.values()) {
        if (p.committed || now - p.at < this.net.retransmitMs) continue;
        p.at = now;
        if (p.e.o === this.net.self) continue;
        this.#tack(p.e.o, p.e.s, p.e.a);
      }
    for (const [s] of this.#acks) if (s <= this.#stableOwn()) this.#acks.delete(s);
  }

  #stableOwn(): number {
    let low = this.sent;
    for (let j = 0; j < this.net.n; j++) low = Math.min(low, this.acked[j]![this.net.self]!);
    return low;
  }

  protected override retransmit(j: number, has: number): void {
    super.retransmit(j, has);
    for (let s = has + 1; s <= this.sent; s++) {
      const a = this.#acks.get(s);
      if (a !== undefined && a.commit >= 0) this.net.send(j, [G.COMMIT, this.net.view, this.net.self, [s, a.commit]]);
    }
  }

  override flush(): Entry[] {
    // Every message held and not delivered (with its commit or ack time), and every other one not yet
    // stable: own messages, and those delivered here with their commit time. A commit that reached
    // only some members before its origin crashed is known to the completion that way: the members
    // without it deliver the message at its commit time, as those with it did (not after every
    // commit, which would put it after messages the others delivered after it). An own message whose
    // commit left but which is not delivered here yet (afterSent pending) goes with that commit time.
    this.freeze();
    const out: Entry[] = [];
    for (const m of this.#pending)
      for (const p of m.values()) {
        const commit = p.e.o === this.net.self ? (this.#acks.get(p.e.s)?.commit ?? -1) : -1;
        out.push(commit >= 0 && p.e.c < 0 ? { ...p.e, c: commit } : p.e);
      }
    for (const st of this.store) for (const e of st.values()) if (!this.#pending[e.o]!.has(e.s)) out.push(e);
    return out;
  }

  /** The completion is an ordered list: deliver, in it order, what was not delivered here. */
  override finish(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.s <= this.D[e.o]!) continue;
      this.D[e.o] = e.s;
      const p = this.#pending[e.o]!.get(e.s);
      if (p !== undefined) p.done = true;
      this.#pending[e.o]!.delete(e.s);
      this.net.deliver(e.o, e.s, e.p, { ts: e.c });
    }
    this.close();
  }

  /**
   * The committed messages in commit order, then the uncommitted (no member
   * delivered them) by origin and seq, numbered after every commit time.
   */
  static override complete(reports: readonly (readonly Entry[])[]): Entry[] {
    const all = new Map<string, Entry>();
    for (const r of reports)
      for (const e of r) {
        const k = `${e.o}:${e.s}`;
        const had = all.get(k);
        if (had === undefined) all.set(k, { ...e });
        else {
          if (e.c >= 0) had.c = e.c;
          had.a = Math.max(had.a, e.a);
        }
      }
    const list = [...all.values()];
    const committed = list.filter((e) => e.c >= 0).sort((x, y) => x.c - y.c || x.o - y.o || x.s - y.s);
    const open = list.filter((e) => e.c < 0).sort((x, y) => x.o - y.o || x.s - y.s);
    let t = committed.reduce((m, e) => Math.max(m, e.c), 0);
    for (const e of open) e.c = t = Math.max(t + 1, e.a);
    return [...committed, ...open];
  }
}

/** The fixed-sequencer total order: the view's leader (index 0) numbers and multicasts. @internal */
export class SequencerEngine extends FifoEngine {
  #submitted = 0;
  readonly #pending = new Map<number, { p: Uint8Array; at: number }>();
  /** At the sequencer: submissions taken per origin, and those that came early. */
  readonly #taken: number[];
  readonly #early: Map<number, Uint8Array>[];

  constructor(net: Net) {
    super(net);
    this.#taken = new Array<number>(net.n).fill(0);
    this.#early = Array.from({ length: net.n }, () => new Map());
  }

  override get backlog(): number {
    return this.#pending.size + (this.net.self === 0 ? super.backlog : 0);
  }

  override get nextSeq(): number {
    return this.#submitted + 1;
  }

  override multicast(p: Uint8Array): void {
    const s = ++this.#submitted;
    this.#pending.set(s, { p, at: Date.now() });
    if (this.net.self === 0) this.#onSubmit(0, s, p);
    else this.net.send(0, [G.SUBMIT, this.net.view, this.net.self, s, p]);
  }

  protected override onOther(m: Message): void {
    if (m[0] === G.SUBMIT && this.net.self === 0 && m[2] < this.net.n && m[2] !== 0) this.#onSubmit(m[2], m[3], m[4]);
  }

  #onSubmit(o: number, s: number, p: Uint8Array): void {
    if (s <= this.#taken[o]!) return; // a duplicate: numbered already
    const early = this.#early[o]!;
    early.set(s, p);
    for (let q = early.get(this.#taken[o]! + 1); q !== undefined; q = early.get(this.#taken[o]! + 1)) {
      early.delete(++this.#taken[o]!);
      const e: Entry = { o: 0, s: ++this.sent, p: q, v: null, q: [o, this.#taken[o]!], c: -1, a: -1 };
      this.store[0]!.set(e.s, e);
      this.sendAll(this.dataOf(e));
      // Delivered here once sent (as the two-phase origin's commit): see TwoPhaseEngine.
      this.net.afterSent(() => {
        if (!this.closed && !this.frozen && e.s === this.D[0]! + 1) this.deliverOwn(e);
      });
    }
  }

  protected override deliverOwn(e: Entry): void {
    this.D[0] = e.s;
    this.#deliverStream(e);
    this.delivered();
  }

  protected override drain(o: number): void {
    const st = this.store[o]!;
    for (let e = st.get(this.D[o]! + 1); e !== undefined && e.q !== null; e = st.get(this.D[o]! + 1)) {
      this.D[o] = e.s;
      this.#deliverStream(e);
      this.delivered();
    }
  }

  #deliverStream(e: Entry): void {
    const [o, s] = e.q!;
    if (o === this.net.self) this.#pending.delete(s);
    this.net.deliver(o, s, e.p, { ts: e.s });
  }

  override tick(now: number): void {
    super.tick(now);
    if (this.net.self === 0) return;
    for (const [s, w] of this.#pending) {
      if (now - w.at < this.net.retransmitMs) continue;
      w.at = now;
      this.net.send(0, [G.SUBMIT, this.net.view, this.net.self, s, w.p]);
    }
  }

  override flush(): Entry[] {
    const out = super.flush();
    for (const [s, w] of this.#pending) out.push({ o: this.net.self, s, p: w.p, v: null, q: null, c: -1, a: -1 });
    return out;
  }

  /** Undelivered stream messages are dropped first: the completion numbers the stream again after what every survivor delivered. */
  override finish(entries: readonly Entry[]): void {
    const st = this.store[0]!;
    for (const s of [...st.keys()]) if (s > this.D[0]!) st.delete(s);
    super.finish(entries);
  }

  /**
   * The stream as far as it has no gap (from what every survivor delivered),
   * then the submissions still pending, numbered after it in origin and seq order.
   */
  static override complete(reports: readonly (readonly Entry[])[], delivered: readonly (readonly number[])[]): Entry[] {
    const stream = new Map<number, Entry>();
    const pending = new Map<string, Entry>();
    for (const r of reports)
      for (const e of r) {
        if (e.q !== null) stream.set(e.s, e);
        else pending.set(`${e.o}:${e.s}`, e);
      }
    let end = Math.min(...delivered.map((d) => d[0] ?? 0));
    const out: Entry[] = [];
    const numbered = new Set<string>();
    for (let e = stream.get(end + 1); e !== undefined; e = stream.get(end + 1)) {
      end++;
      out.push(e);
      numbered.add(`${e.q![0]}:${e.q![1]}`);
    }
    const rest = [...pending.values()].filter((e) => !numbered.has(`${e.o}:${e.s}`)).sort((x, y) => x.o - y.o || x.s - y.s);
    for (const e of rest) out.push({ o: 0, s: ++end, p: e.p, v: null, q: [e.o, e.s], c: -1, a: -1 });
    return out;
  }
}

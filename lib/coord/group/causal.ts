/**
 * Causal order, by the Birman-Schiper-Stephenson protocol: a multicast
 * carries its origin's sequence vector S (the messages it delivered from
 * each member, its own entry counting this one); a member accepts m from i
 * with vector T when T_i = S_i + 1 and T_k <= S_k for every k != i, delays
 * it otherwise, and rejects it when T_i <= S_i (a duplicate). The rule of the
 * causality layer's `HoldBackQueue` (causality/holdback.ts), here on the view's vectors as they
 * travel (counts by member index) and the engine's own per-origin store of
 * received messages: causal order is FIFO, so only the next message of each
 * origin can become deliverable, and a delivery looks at one message per
 * origin (the general queue compares every held message, with string-keyed
 * vector times: most of a member's time at high rates).
 * @module
 */
import { FifoEngine, type Net } from './engine.js';
import type { Entry } from './wire.js';

/** Causal order over the reliable base. @internal */
export class CausalEngine extends FifoEngine {
  /** Messages of other members kept and not delivered (bounded: beyond, a new one is dropped, and its origin sends it again). */
  #held = 0;
  readonly #maxHeld: number;

  /** `maxHeld`: the most messages held back. */
  constructor(net: Net, maxHeld: number) {
    super(net);
    this.#maxHeld = maxHeld;
  }

  override multicast(p: Uint8Array): void {
    const s = ++this.sent;
    const v = this.D.slice();
    v[this.net.self] = s;
    const e: Entry = { o: this.net.self, s, p, v, q: null, c: -1, a: -1 };
    this.store[this.net.self]!.set(s, e);
    this.sendAll(this.dataOf(e));
    this.D[e.o] = s;
    this.net.deliver(e.o, s, p, { stamp: v });
    this.delivered();
  }

  protected override onData(e: Entry): void {
    if (e.v === null || e.v.length !== this.net.n || e.v[e.o] !== e.s) return; // a causal message carries its vector, own entry = seq
    if (this.#held >= this.#maxHeld && e.s !== this.D[e.o]! + 1) return; // full: only a message that may be next is kept
    if (!this.keep(e)) return;
    this.#held++;
    if (e.s !== this.D[e.o]! + 1 || !this.#ready(e)) return;
    this.#deliver(e);
    // Each delivery may free the next message of any origin: until none moves.
    for (let moved = true; moved;) {
      moved = false;
      for (let o = 0; o < this.net.n; o++) {
        if (o === this.net.self) continue;
        const st = this.store[o]!;
        for (let h = st.get(this.D[o]! + 1); h !== undefined && this.#ready(h); h = st.get(this.D[o]! + 1)) {
          this.#deliver(h);
          moved = true;
        }
      }
    }
  }

  /** The BSS condition for the next message of its origin: nothing it depends on is missing here. */
  #ready(e: Entry): boolean {
    const v = e.v!;
    const D = this.D;
    for (let k = 0; k < v.length; k++) if (k !== e.o && v[k]! > D[k]!) return false;
    return true;
  }

  #deliver(m: Entry): void {
    this.#held--;
    this.D[m.o] = m.s;
    this.net.deliver(m.o, m.s, m.p, { stamp: m.v! });
    this.delivered();
  }
}

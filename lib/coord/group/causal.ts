/**
 * Causal order, by the Birman-Schiper-Stephenson protocol: a multicast
 * carries its origin's sequence vector S (the messages it delivered from
 * each member, its own entry counting this one); a member accepts m from i
 * with vector T when T_i = S_i + 1 and T_k <= S_k for every k != i, delays
 * it otherwise, and rejects it when T_i <= S_i (a duplicate). The rule is
 * the causality layer's {@link HoldBackQueue}, used here as it is.
 * @module
 */
import { HoldBackQueue } from '../causality/holdback.js';
import { VectorTime } from '../causality/clocks.js';
import { FifoEngine, type Net } from './engine.js';
import type { Entry } from './wire.js';

/** Causal order over the reliable base. @internal */
export class CausalEngine extends FifoEngine {
  readonly #queue: HoldBackQueue<Entry>;
  /** The view's member ids, sorted (a VectorTime's order), and each one's index in the view. */
  readonly #sorted: string[];
  readonly #indexOf: Map<string, number>;
  readonly #ids: readonly string[];

  constructor(net: Net, ids: readonly string[], maxHeld: number) {
    super(net);
    this.#ids = ids;
    this.#sorted = [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.#indexOf = new Map(ids.map((id, i) => [id, i]));
    this.#queue = new HoldBackQueue<Entry>(ids[net.self]!, { members: ids, maxHeld });
  }

  /** A stamp as it travels: counts in view order. */
  #toWire(t: VectorTime): number[] {
    return this.#ids.map((id) => t.get(id));
  }

  #fromWire(v: readonly number[]): VectorTime {
    const ids: string[] = [];
    const counts: number[] = [];
    for (const id of this.#sorted) {
      const c = v[this.#indexOf.get(id)!]!;
      if (c > 0) {
        ids.push(id);
        counts.push(c);
      }
    }
    return VectorTime.fromSorted(ids, counts);
  }

  override multicast(p: Uint8Array): void {
    const v = this.#toWire(this.#queue.stamp());
    const s = ++this.sent;
    const e: Entry = { o: this.net.self, s, p, v, q: null, c: -1, a: -1 };
    this.store[this.net.self]!.set(s, e);
    this.sendAll(this.dataOf(e));
    this.D[e.o] = s;
    this.net.deliver(e.o, s, p, { stamp: v });
    this.delivered();
  }

  protected override onData(e: Entry): void {
    if (e.v === null || e.v.length !== this.net.n || e.v[e.o] !== e.s) return; // a causal message carries its vector, own entry = seq
    if (!this.keep(e)) return;
    const r = this.#queue.receive(this.#ids[e.o]!, this.#fromWire(e.v), e);
    for (const d of r.delivered) {
      const m = d.message;
      this.D[m.o] = m.s;
      this.net.deliver(m.o, m.s, m.p, { stamp: m.v! });
      this.delivered();
    }
  }
}

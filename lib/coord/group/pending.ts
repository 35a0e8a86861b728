/**
 * The two-phase total order's held messages (total.ts): each with its
 * ordering key, and a min-heap of them by key, then origin, then seq.
 * @internal
 * @module
 */
import type { Entry } from './wire.js';

/** A message held by a two-phase member: acked, not yet delivered. @internal */
export interface Pending {
  e: Entry;
  /** The ordering key now: the commit time once committed, else the local ack stamp (a lower bound of it). */
  key: number;
  committed: boolean;
  /** Delivered (or dropped by the completion): its heap nodes are dead. */
  done: boolean;
  at: number;
}

/** A binary min-heap of held messages; a message whose key grows is pushed again and its old node skipped. @internal */
export class Heap {
  readonly #a: { p: Pending; key: number }[] = [];
  get size(): number {
    return this.#a.length;
  }
  push(p: Pending): void {
    const a = this.#a;
    a.push({ p, key: p.key });
    for (let i = a.length - 1; i > 0;) {
      const up = (i - 1) >> 1;
      if (!this.#less(a[i]!, a[up]!)) break;
      [a[i], a[up]] = [a[up]!, a[i]!];
      i = up;
    }
  }
  #less(x: { p: Pending; key: number }, y: { p: Pending; key: number }): boolean {
    return x.key !== y.key ? x.key < y.key : x.p.e.o !== y.p.e.o ? x.p.e.o < y.p.e.o : x.p.e.s < y.p.e.s;
  }
  /** The least live message (`live`: the node's key is the message's key and it is not delivered). */
  peek(live: (p: Pending, key: number) => boolean): Pending | undefined {
    while (this.#a.length > 0 && !live(this.#a[0]!.p, this.#a[0]!.key)) this.pop();
    return this.#a[0]?.p;
  }
  pop(): void {
    const a = this.#a;
    const last = a.pop()!;
    if (a.length === 0) return;
    a[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && this.#less(a[l]!, a[m]!)) m = l;
      if (r < a.length && this.#less(a[r]!, a[m]!)) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }
}

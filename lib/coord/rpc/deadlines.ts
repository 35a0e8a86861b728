/**
 * Deadlines of many calls with one timer: a binary min-heap of items by
 * expiry time and a single `setTimeout` for the earliest (no timer per call).
 * @module
 */
import { TIMER_MAX_MS } from '../../internal/waiting.js';

/** Something with a deadline. `heapIndex` is the heap's bookkeeping (-1: not in it). */
export interface Timed {
  deadlineAt: number;
  heapIndex: number;
  /** Called once the deadline passed (the item is already out of the heap). */
  expire(): void;
}

/** A set of deadlines served by one timer, unref'd (it never keeps the process alive). */
export class Deadlines {
  readonly #heap: Timed[] = [];
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;

  /** Number of pending deadlines. */
  get size(): number {
    return this.#heap.length;
  }

  /** Adds `item` (its `deadlineAt` set, in `performance.now()` ms). */
  add(item: Timed): void {
    const h = this.#heap;
    item.heapIndex = h.length;
    h.push(item);
    this.#up(item.heapIndex);
    if (item.deadlineAt < this.#timerAt) this.#arm();
  }

  /** Removes `item` if present (its deadline no longer matters). */
  remove(item: Timed): void {
    const i = item.heapIndex;
    if (i < 0) return;
    const h = this.#heap;
    item.heapIndex = -1;
    const last = h.pop()!;
    if (i < h.length) {
      h[i] = last;
      last.heapIndex = i;
      this.#down(i);
      this.#up(last.heapIndex);
    }
    if (h.length === 0) this.#disarm();
  }

  /** Drops every deadline without firing it. */
  clear(): void {
    for (const item of this.#heap) item.heapIndex = -1;
    this.#heap.length = 0;
    this.#disarm();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #arm(): void {
    const first = this.#heap[0];
    if (first === undefined) return this.#disarm();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = first.deadlineAt;
    // Node clamps a delay over 2^31-1 ms to 1 ms: a far deadline is reached in steps (#fire re-arms).
    this.#timer = setTimeout(() => this.#fire(), Math.min(TIMER_MAX_MS, Math.max(0, Math.ceil(first.deadlineAt - performance.now()))));
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = performance.now();
    const h = this.#heap;
    for (let n = 0; h.length > 0 && h[0]!.deadlineAt <= now && n < 100_000; n++) {
      const item = h[0]!;
      this.remove(item);
      item.expire();
    }
    if (h.length > 0) this.#arm();
  }

  #up(i: number): void {
    const h = this.#heap;
    const item = h[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (parent.deadlineAt <= item.deadlineAt) break;
      h[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    h[i] = item;
    item.heapIndex = i;
  }

  #down(i: number): void {
    const h = this.#heap;
    const n = h.length;
    const item = h[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && h[c + 1]!.deadlineAt < h[c]!.deadlineAt) c++;
      const child = h[c]!;
      if (child.deadlineAt >= item.deadlineAt) break;
      h[i] = child;
      child.heapIndex = i;
      i = c;
    }
    h[i] = item;
    item.heapIndex = i;
  }
}

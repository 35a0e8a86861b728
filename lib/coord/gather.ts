/**
 * Many senders into one bounded FIFO queue: the receiving half that a
 * mailbox's owner and a port's owner share. The sources' receivers are read
 * by one `select` loop (fair: the least recently picked source first); when
 * the queue is full the loop stops reading, so each source's own channel
 * fills up and its sends wait (backpressure, nothing dropped).
 * @internal
 * @module
 */
import { select, type Receiver } from '../channels/index.js';

/** One message and where it came from. */
export interface Gathered<S> {
  readonly source: S;
  readonly bytes: Uint8Array;
}

/** Called when a source ends (`error` undefined: end of stream) or fails; it has been removed. */
export type SourceEnd<S> = (source: S, error: unknown) => void;

/** Messages one select hands over from the same source before the next select (fairness vs. cost). */
const BURST = 64;
/**
 * select() does not return when one of several sources ends (it goes on
 * waiting for the others): each select is bounded by this, so an ended
 * source is noticed and released within it even when the others are silent.
 */
const SWEEP_MS = 200;

export class Gather<S> {
  readonly #capacity: number;
  readonly #onItem: () => void;
  readonly #onEnd: SourceEnd<S>;
  readonly #sources = new Map<Receiver<Uint8Array>, S>();
  readonly #queue: Gathered<S>[] = [];
  #head = 0;
  #kick: (() => void) | undefined;
  #reselect: AbortController | undefined;
  #closed = false;

  constructor(capacity: number, onItem: () => void, onEnd: SourceEnd<S>) {
    this.#capacity = capacity;
    this.#onItem = onItem;
    this.#onEnd = onEnd;
    void this.#run();
  }

  /** Messages queued (may pass the capacity by one burst per source, never more). */
  get length(): number {
    return this.#queue.length - this.#head;
  }

  get sources(): number {
    return this.#sources.size;
  }

  add(receiver: Receiver<Uint8Array>, source: S): void {
    this.#sources.set(receiver, source);
    this.#wake();
  }

  /** Stops reading `receiver` (it is not closed here). */
  remove(receiver: Receiver<Uint8Array>): void {
    if (this.#sources.delete(receiver)) this.#wake();
  }

  /** The oldest message, or undefined. */
  shift(): Gathered<S> | undefined {
    if (this.#head === this.#queue.length) return undefined;
    const item = this.#queue[this.#head]!;
    this.#queue[this.#head++] = undefined as unknown as Gathered<S>;
    if (this.#head === this.#queue.length || this.#head > 1024) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
    if (this.length === this.#capacity - 1) this.#wake();
    return item;
  }

  /** Puts messages back at the front, in order (a consumer returned them). */
  unshift(items: readonly Gathered<S>[]): void {
    if (items.length === 0) return;
    this.#queue.splice(this.#head, 0, ...items);
  }

  /** Drops every queued message (returned) and stops reading. */
  close(): Gathered<S>[] {
    this.#closed = true;
    this.#wake();
    const rest = this.#queue.slice(this.#head);
    this.#queue.length = 0;
    this.#head = 0;
    this.#sources.clear();
    return rest;
  }

  #wake(): void {
    const kick = this.#kick;
    this.#kick = undefined;
    kick?.();
    this.#reselect?.abort();
  }

  #idle(): Promise<void> {
    return new Promise<void>((resolve) => (this.#kick = resolve));
  }

  #push(r: Receiver<Uint8Array>, bytes: Uint8Array): void {
    const source = this.#sources.get(r);
    if (source === undefined) return;
    this.#queue.push({ source, bytes });
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      if (this.length >= this.#capacity || this.#sources.size === 0) {
        await this.#idle();
        continue;
      }
      const list = [...this.#sources.keys()];
      const ctl = new AbortController();
      this.#reselect = ctl;
      let got: [Receiver<Uint8Array>, Uint8Array] | undefined;
      try {
        got = await select(list, { signal: ctl.signal, timeoutMs: SWEEP_MS });
      } catch (err) {
        if (this.#closed) return;
        if ((err as { code?: string }).code === 'ETIMEDOUT') {
          for (const r of list) if (r.ended) this.#end(r, undefined);
        } else if (!ctl.signal.aborted) this.#dropFailed(list, err);
        continue;
      } finally {
        this.#reselect = undefined;
      }
      const before = this.length;
      if (got !== undefined) {
        this.#push(got[0], got[1]);
        for (let n = 1; n < BURST && this.length < this.#capacity; n++) {
          let more: Uint8Array | undefined;
          try {
            more = got[0].tryReceive();
          } catch (err) {
            this.#end(got[0], err);
            break;
          }
          if (more === undefined) break;
          this.#push(got[0], more);
        }
      }
      for (const r of list) if (r.ended) this.#end(r, undefined);
      if (this.length > before) this.#onItem();
    }
  }

  /** select reported a failure without saying whose: find the failed ones (a healthy source's message is kept). */
  #dropFailed(list: readonly Receiver<Uint8Array>[], first: unknown): void {
    let found = false;
    for (const r of list) {
      try {
        const m = r.tryReceive();
        if (m !== undefined) this.#push(r, m);
        if (r.ended) this.#end(r, undefined);
      } catch (err) {
        found = true;
        this.#end(r, err);
      }
    }
    if (!found && list.length > 0) this.#end(list[0]!, first); // never spin on an error nobody owns
    this.#onItem();
  }

  #end(r: Receiver<Uint8Array>, error: unknown): void {
    const source = this.#sources.get(r);
    if (source === undefined) return;
    this.#sources.delete(r);
    this.#onEnd(source, error);
  }
}

/**
 * A member's deliveries waiting for the application: a FIFO queue with an
 * abortable, bounded `receive`, `tryReceive`, and iteration; closing it with
 * an error makes every later receive reject with it once the queue is empty
 * (nothing delivered is lost).
 * @internal
 * @module
 */
import type { CallOptions } from '../../channels/index.js';
import { timeoutError } from '../../errors.js';
import { validateAbortSignal, validateOptions, validateTimeout } from '../../internal/validators.js';
import { deadlineAfter, waitInList } from '../../internal/waiting.js';

export class Inbox<T> {
  readonly #items: T[] = [];
  #head = 0;
  #bytes = 0;
  readonly #weigh: (item: T) => number;
  readonly #waiters: (() => void)[] = [];
  #end: Error | undefined;
  readonly #what: string;

  /** `weigh`: an item's share of {@link bytes} (default: none). */
  constructor(what: string, weigh: (item: T) => number = () => 0) {
    this.#what = what;
    this.#weigh = weigh;
  }

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** The items' total weight (their payload bytes, say): what a bounded owner checks before taking more. */
  get bytes(): number {
    return this.#bytes;
  }

  push(item: T): void {
    this.#bytes += this.#weigh(item);
    this.#items.push(item);
    this.#wake();
  }

  #wake(): void {
    if (this.#waiters.length === 0) return; // the usual case under load: no array made per push
    for (const w of this.#waiters.splice(0)) w();
  }

  /** No more items: receives reject with `err` once the queue is drained. */
  end(err: Error): void {
    this.#end ??= err;
    this.#wake();
  }

  tryReceive(): T | undefined {
    if (this.#head === this.#items.length) {
      if (this.#end !== undefined) throw this.#end;
      return undefined;
    }
    const item = this.#items[this.#head]!;
    this.#items[this.#head++] = undefined as T;
    this.#bytes -= this.#weigh(item);
    if (this.#head === this.#items.length || this.#head > 1024) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
    return item;
  }

  async receive(options?: CallOptions): Promise<T> {
    const opts = validateOptions(options);
    const signal = validateAbortSignal(opts.signal, 'options.signal');
    const deadline = deadlineAfter(validateTimeout(opts.timeoutMs, 'options.timeoutMs'));
    for (;;) {
      const item = this.tryReceive();
      if (item !== undefined) return item;
      await waitInList<void, () => void>(
        this.#waiters,
        (resolve) => () => resolve(),
        signal,
        deadline,
        () => timeoutError(`${this.#what}.receive`, undefined, 'nothing was delivered in time'),
      );
    }
  }

  /** The items in order; ends when the queue ends with an error `isEnd` accepts (a close), throws any other. */
  async *iterate(isEnd: (err: unknown) => boolean): AsyncGenerator<T, void, undefined> {
    for (;;) {
      let item: T;
      try {
        item = await this.receive();
      } catch (err) {
        if (isEnd(err)) return;
        throw err;
      }
      yield item;
    }
  }
}

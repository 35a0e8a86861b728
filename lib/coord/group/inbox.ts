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
  readonly #waiters: (() => void)[] = [];
  #end: Error | undefined;
  readonly #what: string;

  constructor(what: string) {
    this.#what = what;
  }

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
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
}

/**
 * A member's multicasts waiting to be taken by its protocol, in call order:
 * what a group member and a spanning-tree node share. A multicast with room
 * (nothing queued before it, and the owner's `canSend` true) is sent at once
 * with no wait set up; else it waits in the queue, abortable and with a
 * deadline, until `pump()` finds room. `end(err)` rejects every waiting one.
 * @internal
 * @module
 */
import type { CallOptions } from '../../channels/index.js';
import { timeoutError } from '../../errors.js';
import { validateAbortSignal, validateBytes, validateOptions, validateTimeout } from '../../internal/validators.js';
import { deadlineAfter, waitInList } from '../../internal/waiting.js';

const RESOLVED = Promise.resolve();

interface Queued<T> {
  readonly item: T;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export class CastQueue<T> {
  readonly #queue: Queued<T>[] = [];
  readonly #what: string;
  readonly #held: string;
  readonly #maxPayload: number;
  /** Whether the next item may be sent now (it is given: a tree node's room depends on the item's group). */
  readonly #canSend: (item: T) => boolean;
  readonly #send: (item: T) => void;
  #end: Error | undefined;

  /**
   * `what`: the call a timeout names (`group.multicast`); `held`: what can
   * hold a multicast, for its message; `maxPayload`: the largest payload taken.
   */
  constructor(what: string, held: string, maxPayload: number, canSend: (item: T) => boolean, send: (item: T) => void) {
    this.#what = what;
    this.#held = held;
    this.#maxPayload = maxPayload;
    this.#canSend = canSend;
    this.#send = send;
  }

  /** Checks `payload` (the argument of the public call) against the bound: a `RangeError` naming it. */
  checkPayload(payload: unknown): Uint8Array {
    const p = validateBytes(payload, 'payload');
    if (p.length > this.#maxPayload)
      throw new RangeError(`The "payload" must be at most ${this.#maxPayload} bytes (options.maxMessageSize less 1 KiB)`);
    return p;
  }

  /** Sends `item` now if it can, else queues it; resolves once it was sent. */
  submit(item: T, options: CallOptions | undefined): Promise<void> {
    const opts = validateOptions(options);
    const signal = validateAbortSignal(opts.signal, 'options.signal');
    const deadline = deadlineAfter(validateTimeout(opts.timeoutMs, 'options.timeoutMs'));
    if (this.#end !== undefined) return Promise.reject(this.#end);
    if (this.#queue.length === 0 && this.#canSend(item)) {
      this.#send(item);
      return RESOLVED;
    }
    // Taken out of the queue when it is sent (then it resolves) or when it is aborted or times out.
    const done = waitInList<void, Queued<T>>(
      this.#queue,
      (resolve, reject) => ({ item, resolve, reject }),
      signal,
      deadline,
      () => timeoutError(this.#what, undefined, `${this.#held} held the multicast past its deadline`),
    );
    this.pump();
    return done;
  }

  /** Sends what waits, in order, while there is room. */
  pump(): void {
    while (this.#end === undefined && this.#queue.length > 0 && this.#canSend(this.#queue[0]!.item)) {
      const q = this.#queue.shift()!;
      this.#send(q.item);
      q.resolve();
    }
  }

  /** No more multicasts: every waiting one and every later one rejects with `err`. */
  end(err: Error): void {
    this.#end ??= err;
    for (const q of this.#queue.splice(0)) q.reject(err);
  }
}

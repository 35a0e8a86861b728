/**
 * Causal delivery by holding back messages that arrive too soon: the
 * Birman-Schiper-Stephenson rule for broadcasts in a group. Each member
 * counts the broadcasts it delivered from each member; a broadcast carries
 * its sender's counts (its own entry is that broadcast's number).
 * @module
 */
import { validateInteger, validateOptions } from '../../internal/validators.js';
import { validateProcessId, VectorClock, VectorTime } from './clocks.js';

/** A message released by the {@link HoldBackQueue}, in causal order. */
export interface Delivery<T> {
  readonly sender: string;
  readonly stamp: VectorTime;
  readonly message: T;
}

/** What {@link HoldBackQueue.receive} did with one message. */
export interface HoldBackResult<T> {
  /** The messages now deliverable, in causal order (this one and any it released); empty when it is held back. */
  readonly delivered: Delivery<T>[];
  /** True when the message was a duplicate (already delivered or held): it is dropped. */
  readonly duplicate: boolean;
}

/**
 * The hold-back queue of one group member. `stamp()` when broadcasting (send
 * the stamp with the message); `receive(sender, stamp, message)` for each
 * broadcast that arrives: it is delivered when its sender's entry is one more
 * than the broadcasts delivered from that sender and no other entry is
 * ahead of ours; otherwise it is held back until it is. Duplicates are dropped.
 */
export class HoldBackQueue<T> {
  readonly self: string;
  readonly #clock: VectorClock;
  readonly #held: Delivery<T>[] = [];
  readonly #maxHeld: number;

  constructor(self: string, options: { members?: readonly string[]; maxHeld?: number } = {}) {
    validateOptions(options);
    this.self = validateProcessId(self, 'self');
    this.#clock = new VectorClock(self, options.members === undefined ? {} : { members: options.members });
    this.#maxHeld = validateInteger(options.maxHeld ?? 4096, 'options.maxHeld', 1, 1 << 24);
  }

  /** Broadcasts delivered from each member (own entry: own broadcasts). */
  get delivered(): VectorTime {
    return this.#clock.time;
  }

  /** Messages held back now. */
  get held(): number {
    return this.#held.length;
  }

  /** The stamp of this member's next broadcast (its own entry goes up by one). */
  stamp(): VectorTime {
    return this.#clock.tick();
  }

  #deliverable(sender: string, stamp: VectorTime): boolean {
    const mine = this.#clock.time;
    if (stamp.get(sender) !== mine.get(sender) + 1) return false;
    for (const [id, n] of stamp.entries()) if (id !== sender && n > mine.get(id)) return false;
    return true;
  }

  /**
   * Takes one received broadcast. A message that would be held beyond
   * `maxHeld` (default 4,096) is a `RangeError`, so a lost message cannot grow
   * the queue without limit.
   */
  receive(sender: string, stamp: VectorTime, message: T): HoldBackResult<T> {
    validateProcessId(sender, 'sender');
    if (!(stamp instanceof VectorTime)) throw new TypeError('The "stamp" argument must be a VectorTime');
    if (sender === this.self) throw new RangeError('A member does not receive its own broadcasts through the queue');
    const n = stamp.get(sender);
    if (n === 0) throw new RangeError(`The stamp does not count its sender "${sender}"`);
    if (n <= this.#clock.time.get(sender) || this.#held.some((h) => h.sender === sender && h.stamp.get(sender) === n)) {
      return { delivered: [], duplicate: true };
    }
    if (!this.#deliverable(sender, stamp)) {
      if (this.#held.length >= this.#maxHeld)
        throw new RangeError(`The hold-back queue of "${this.self}" is full (${this.#maxHeld} messages)`);
      this.#held.push({ sender, stamp, message });
      return { delivered: [], duplicate: false };
    }
    const delivered: Delivery<T>[] = [];
    const deliver = (d: Delivery<T>): void => {
      this.#clock.merge(VectorTime.from([[d.sender, d.stamp.get(d.sender)]]));
      delivered.push(d);
    };
    deliver({ sender, stamp, message });
    for (let progress = true; progress;) {
      progress = false;
      for (let i = 0; i < this.#held.length; i++) {
        const h = this.#held[i]!;
        if (this.#deliverable(h.sender, h.stamp)) {
          this.#held.splice(i, 1);
          deliver(h);
          progress = true;
          break;
        }
      }
    }
    return { delivered, duplicate: false };
  }
}

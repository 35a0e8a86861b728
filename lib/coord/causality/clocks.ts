/**
 * Logical clocks: Lamport clocks, and vector clocks keyed by process id with
 * fixed or growing membership. A {@link VectorTime} is an immutable value
 * (compare, merge); a {@link VectorClock} is one process's mutable clock.
 * @module
 */
import { CausalityError } from '../../errors.js';
import { validateInteger, validateString } from '../../internal/validators.js';

/** How two vector times relate: `a` before `b`, after it, concurrent with it, or equal. */
export type Ordering = 'before' | 'after' | 'concurrent' | 'equal';

/** The longest process id, in UTF-16 code units. */
export const MAX_PROCESS_ID_LENGTH = 128;
/** The most entries a vector time decoded from a peer may have, unless a call sets its own bound. */
export const MAX_VECTOR_ENTRIES = 1024;

// eslint-disable-next-line no-control-regex -- control characters are exactly what the pattern refuses
const ID_PATTERN = /^[^\s"\\\u0000-\u001f\u007f]+$/u;

/**
 * Checks a process id: 1 to {@link MAX_PROCESS_ID_LENGTH} characters, no
 * whitespace, control characters, `"` or `\` (ids appear as hosts in ShiViz
 * logs, whose parser reads a host as `\S*`). Throws a `TypeError`/`RangeError`
 * naming `name`.
 */
export function validateProcessId(value: unknown, name = 'process'): string {
  const id = validateString(value, name);
  if (id.length === 0 || id.length > MAX_PROCESS_ID_LENGTH) {
    throw new RangeError(`The "${name}" argument must be 1 to ${MAX_PROCESS_ID_LENGTH} characters long. Received ${id.length}`);
  }
  if (!ID_PATTERN.test(id)) throw new TypeError(`The "${name}" argument must not contain whitespace, control characters, '"' or '\\'`);
  return id;
}

function checkCount(value: unknown, name: string): number {
  return validateInteger(value, name, 0, Number.MAX_SAFE_INTEGER);
}

/** Code-unit order, the same in every locale: the canonical order of ids. */
function byId(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * An immutable vector timestamp: a count per process id, zero for every id
 * not listed. Entries are kept sorted by id with zeros left out, so two equal
 * times have one form (and one JSON and binary encoding).
 */
export class VectorTime {
  /** The time before any event: every count 0. */
  static readonly zero = new VectorTime([], []);

  readonly #ids: readonly string[];
  readonly #counts: readonly number[];

  private constructor(ids: readonly string[], counts: readonly number[]) {
    this.#ids = ids;
    this.#counts = counts;
  }

  /** @internal Builds from entries already sorted by id, with no zeros and no repeats. */
  static fromSorted(ids: readonly string[], counts: readonly number[]): VectorTime {
    return ids.length === 0 ? VectorTime.zero : new VectorTime(ids, counts);
  }

  /**
   * A vector time from `{ id: count }` or `[id, count]` pairs. Ids are checked
   * with {@link validateProcessId}, counts are integers 0 to 2^53 - 1; zeros
   * are dropped. A repeated id is a `RangeError`.
   */
  static from(entries: Readonly<Record<string, number>> | Iterable<readonly [string, number]>): VectorTime {
    const pairs: (readonly [string, number])[] =
      Symbol.iterator in Object(entries) ? [...(entries as Iterable<readonly [string, number]>)] : Object.entries(entries);
    const seen = new Set<string>();
    const kept: [string, number][] = [];
    for (const [id, count] of pairs) {
      validateProcessId(id, 'id');
      checkCount(count, `count of "${id}"`);
      if (seen.has(id)) throw new RangeError(`The id "${id}" appears twice in a vector time`);
      seen.add(id);
      if (count > 0) kept.push([id, count]);
    }
    kept.sort((a, b) => byId(a[0], b[0]));
    return VectorTime.fromSorted(
      kept.map((e) => e[0]),
      kept.map((e) => e[1]),
    );
  }

  /** How many processes have a count above zero. */
  get size(): number {
    return this.#ids.length;
  }

  /** The count of `id` (0 when absent). */
  get(id: string): number {
    const i = this.#indexOf(id);
    return i < 0 ? 0 : this.#counts[i]!;
  }

  /** The ids with a count above zero, sorted. */
  ids(): string[] {
    return [...this.#ids];
  }

  /** `[id, count]` pairs, sorted by id, zeros left out. */
  entries(): [string, number][] {
    return this.#ids.map((id, i) => [id, this.#counts[i]!]);
  }

  /** The sum of every count: strictly larger for any time after this one. */
  get total(): number {
    let sum = 0;
    for (const c of this.#counts) sum += c;
    return sum;
  }

  /**
   * `'before'` when every count of this time is at most `other`'s and one is
   * smaller (this happened before), `'after'` the other way round, `'equal'`,
   * or `'concurrent'` when each has a count larger than the other's.
   */
  compare(other: VectorTime): Ordering {
    let less = false;
    let greater = false;
    const a = this.#ids;
    const b = other.#ids;
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      const c = i >= a.length ? 1 : j >= b.length ? -1 : byId(a[i]!, b[j]!);
      if (c < 0) {
        greater = true; // this has an id the other lacks (count > 0 against 0)
        i++;
      } else if (c > 0) {
        less = true;
        j++;
      } else {
        const x = this.#counts[i++]!;
        const y = other.#counts[j++]!;
        if (x < y) less = true;
        else if (x > y) greater = true;
      }
      if (less && greater) return 'concurrent';
    }
    return less ? 'before' : greater ? 'after' : 'equal';
  }

  /** True when this time happened before `other` (strictly). */
  before(other: VectorTime): boolean {
    return this.compare(other) === 'before';
  }

  /** True when neither time happened before the other and they differ. */
  concurrentWith(other: VectorTime): boolean {
    return this.compare(other) === 'concurrent';
  }

  /** True when both times have the same counts. */
  equals(other: VectorTime): boolean {
    return this.compare(other) === 'equal';
  }

  /** The entry-wise maximum of the two times (commutative, associative, idempotent). */
  merge(other: VectorTime): VectorTime {
    const ids: string[] = [];
    const counts: number[] = [];
    const a = this.#ids;
    const b = other.#ids;
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      const c = i >= a.length ? 1 : j >= b.length ? -1 : byId(a[i]!, b[j]!);
      if (c < 0) {
        ids.push(a[i]!);
        counts.push(this.#counts[i++]!);
      } else if (c > 0) {
        ids.push(b[j]!);
        counts.push(other.#counts[j++]!);
      } else {
        ids.push(a[i]!);
        counts.push(Math.max(this.#counts[i++]!, other.#counts[j++]!));
      }
    }
    return VectorTime.fromSorted(ids, counts);
  }

  /** This time with `id`'s count one higher. A count at 2^53 - 1 is a `RangeError`. */
  increment(id: string): VectorTime {
    const i = this.#indexOf(id);
    if (i >= 0) {
      const counts = [...this.#counts];
      if (counts[i]! >= Number.MAX_SAFE_INTEGER) throw new RangeError(`The count of "${id}" cannot grow past 2^53 - 1`);
      counts[i]! += 1;
      return new VectorTime(this.#ids, counts);
    }
    validateProcessId(id, 'id');
    const at = -i - 1;
    return new VectorTime(
      [...this.#ids.slice(0, at), id, ...this.#ids.slice(at)],
      [...this.#counts.slice(0, at), 1, ...this.#counts.slice(at)],
    );
  }

  /** `{ id: count }` with ids sorted, zeros left out: the JSON form (a prototype-free object). */
  toJSON(): Record<string, number> {
    const out = Object.create(null) as Record<string, number>;
    for (let i = 0; i < this.#ids.length; i++) out[this.#ids[i]!] = this.#counts[i]!;
    return out;
  }

  /** The JSON form as text, such as `{"p1":2,"p2":1}`. */
  toString(): string {
    return JSON.stringify(this.toJSON());
  }

  /** Binary search: the index of `id`, or -(insertion point) - 1. */
  #indexOf(id: string): number {
    let lo = 0;
    let hi = this.#ids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = byId(this.#ids[mid]!, id);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -lo - 1;
  }
}

/** Options of {@link VectorClock}. */
export interface VectorClockOptions {
  /**
   * Fixed membership: the only process ids this clock may count (its own
   * included). Merging a time that counts anyone else throws
   * `ERR_CAUSALITY_UNKNOWN_MEMBER`. Default: growing membership (any id).
   */
  members?: readonly string[];
  /** The time to start from (default {@link VectorTime.zero}). */
  start?: VectorTime;
}

/**
 * One process's vector clock: `tick()` for a local or send event, `receive()`
 * for a receive (merge, then tick). Not shared between processes: each has
 * its own, and stamps travel in messages (see `vectorClockHook`).
 */
export class VectorClock {
  /** This process's id. */
  readonly self: string;
  /** The fixed members (sorted), or `undefined` for growing membership. */
  readonly members: readonly string[] | undefined;
  readonly #memberSet: ReadonlySet<string> | undefined;
  #time: VectorTime;

  constructor(self: string, options: VectorClockOptions = {}) {
    this.self = validateProcessId(self, 'self');
    if (options.members !== undefined) {
      if (!Array.isArray(options.members)) throw new TypeError('The "options.members" option must be an array of process ids');
      const set = new Set(options.members.map((m: unknown) => validateProcessId(m, 'options.members[]')));
      if (set.size !== options.members.length) throw new RangeError('The "options.members" option must not repeat an id');
      if (!set.has(this.self)) throw new RangeError(`The "options.members" option must include this clock's own id "${this.self}"`);
      this.#memberSet = set;
      this.members = Object.freeze([...set].sort(byId));
    } else {
      this.members = undefined;
      this.#memberSet = undefined;
    }
    const start = options.start ?? VectorTime.zero;
    if (!(start instanceof VectorTime)) throw new TypeError('The "options.start" option must be a VectorTime');
    this.#check(start);
    this.#time = start;
  }

  /** The current time (the last event's). */
  get time(): VectorTime {
    return this.#time;
  }

  /** A local or send event: this process's count goes up by one. Returns the event's time. */
  tick(): VectorTime {
    this.#time = this.#time.increment(this.self);
    return this.#time;
  }

  /** Folds `time` in without an event of its own (entry-wise maximum). */
  merge(time: VectorTime): VectorTime {
    if (!(time instanceof VectorTime)) throw new TypeError('The "time" argument must be a VectorTime');
    this.#check(time);
    this.#time = this.#time.merge(time);
    return this.#time;
  }

  /** A receive event of a message stamped `time`: merge, then tick. Returns the event's time. */
  receive(time: VectorTime): VectorTime {
    this.merge(time);
    return this.tick();
  }

  #check(time: VectorTime): void {
    if (this.#memberSet === undefined) return;
    for (const id of time.ids()) {
      if (!this.#memberSet.has(id)) {
        throw new CausalityError(
          'ERR_CAUSALITY_UNKNOWN_MEMBER',
          `The process "${id}" is not a member of this clock (${this.members!.join(', ')})`,
        );
      }
    }
  }
}

/**
 * A Lamport clock: one counter, `tick()` for a local or send event,
 * `receive(t)` sets it past `t`. Lamport times order events consistently
 * with happens-before (a before b implies time(a) < time(b)) but not the
 * converse: compare vector times to tell concurrency.
 */
export class LamportClock {
  #time: number;

  constructor(start = 0) {
    this.#time = checkCount(start, 'start');
  }

  /** The last event's time. */
  get time(): number {
    return this.#time;
  }

  /** A local or send event. Returns its time. */
  tick(): number {
    if (this.#time >= Number.MAX_SAFE_INTEGER) throw new RangeError('A Lamport clock cannot grow past 2^53 - 1');
    return ++this.#time;
  }

  /** A receive event of a message stamped `time`: max(own, time) + 1. Returns its time. */
  receive(time: number): number {
    checkCount(time, 'time');
    this.#time = Math.max(this.#time, time);
    return this.tick();
  }
}

/**
 * The total order of Lamport stamps: by time, ties broken by process id, so
 * every process sorts the same events the same way (as total-order
 * multicast and Lamport's mutual exclusion need). Negative, zero or positive.
 */
export function compareLamport(
  a: { readonly time: number; readonly process: string },
  b: { readonly time: number; readonly process: string },
): number {
  return a.time !== b.time ? a.time - b.time : byId(a.process, b.process);
}

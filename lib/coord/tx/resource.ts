/**
 * Resource managers: what a participant's transactions change. The
 * interface, and the key-value partition the transactional store is made
 * of (optimistic reads validated at prepare, locks held from prepare to the
 * decision: serializable).
 * @module
 */
import { TxError } from '../../errors.js';
import { packr, unpackBounded } from '../msgpack.js';

/**
 * What a participant's transactions change. `prepare` votes: it checks that
 * `work` can commit and locks what it touches, without waiting (a conflict
 * is a NO); from a YES on, `commit` must succeed. Calls for one transaction
 * come in protocol order; the participant logs before it acts on the vote.
 */
export interface ResourceManager {
  /** Votes on `work` of transaction `tx`: `undefined` is YES (and its locks are held), a string is NO and its reason. */
  prepare(tx: string, work: Uint8Array): string | undefined;
  /** Takes again the locks of a transaction prepared before a restart (log replay): never fails. */
  recover(tx: string, work: Uint8Array): void;
  /** Applies `work` and releases its locks. */
  commit(tx: string, work: Uint8Array): void;
  /** Releases the locks of `tx` (nothing was applied). */
  abort(tx: string): void;
  /** The committed state, for a checkpoint of the log. */
  snapshot(): Uint8Array;
  /** Loads a {@link ResourceManager.snapshot} (at the start of a replay). */
  restore(snapshot: Uint8Array): void;
  /** Answers a request outside transactions (the store's reads); a throw is sent back as the error. */
  request?(body: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/** The work of one partition: keys read with the version seen, keys written (`null`: deleted). */
export interface KvWork {
  r: Array<[string, number]>;
  w: Array<[string, string | null]>;
}

/** The longest key and value of the store. */
export const KV_MAX_KEY_LENGTH = 1024;
export const KV_MAX_VALUE_LENGTH = 1024 * 1024;

/** Encodes a value of the store's wire (work, reads, snapshots). @internal */
export function pack(v: unknown): Buffer {
  return packr.pack(v);
}

/** Decodes bytes from a peer, bounded (`ERR_TX_PROTOCOL` when malformed). @internal */
export function unpack(b: Uint8Array): unknown {
  return unpackBounded(b, 4, (why) => {
    throw new TxError('ERR_TX_PROTOCOL', `Malformed key-value message: ${why}`);
  });
}

function isKey(k: unknown): k is string {
  return typeof k === 'string' && k.length > 0 && k.length <= KV_MAX_KEY_LENGTH;
}

/** Checks a partition's work from a coordinator. @internal */
export function decodeWork(b: Uint8Array): KvWork {
  const w = unpack(b) as KvWork;
  const ok =
    typeof w === 'object' &&
    w !== null &&
    Array.isArray(w.r) &&
    Array.isArray(w.w) &&
    w.r.every((e) => Array.isArray(e) && e.length === 2 && isKey(e[0]) && Number.isSafeInteger(e[1]) && e[1] >= 0) &&
    w.w.every(
      (e) =>
        Array.isArray(e) &&
        e.length === 2 &&
        isKey(e[0]) &&
        (e[1] === null || (typeof e[1] === 'string' && e[1].length <= KV_MAX_VALUE_LENGTH)),
    );
  if (!ok) throw new TxError('ERR_TX_PROTOCOL', 'Malformed key-value work');
  return w;
}

interface Entry {
  value: string | null;
  version: number;
}

/**
 * One partition of the transactional key-value store: a
 * {@link ResourceManager} over an in-memory map whose durability is the
 * participant's log (prepared writes are redone at replay; checkpoints
 * snapshot the map). Every key has a version (the number of committed
 * writes to it, deletes included). A transaction's reads are validated at
 * prepare (the version must not have changed) under the locks it then
 * takes (shared for reads, exclusive for writes) until the decision: with
 * no waiting, a conflict votes NO. Read requests see committed values only.
 */
export class KvPartition implements ResourceManager {
  readonly #data = new Map<string, Entry>();
  /** Per key, the transactions holding it and whether each holds it exclusively (a key is exclusive while any holder's lock is). */
  readonly #locks = new Map<string, Map<string, boolean>>();
  readonly #held = new Map<string, string[]>();

  /** The committed value of `key` and its version (0: never written). */
  read(key: string): { value: string | null; version: number } {
    const e = this.#data.get(key);
    return { value: e?.value ?? null, version: e?.version ?? 0 };
  }

  /** Every committed key with a value, sorted. */
  entries(): Array<[string, string]> {
    return [...this.#data]
      .filter(([, e]) => e.value !== null)
      .map(([k, e]) => [k, e.value!] as [string, string])
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Transactions holding locks here. */
  get lockHolders(): string[] {
    return [...this.#held.keys()];
  }

  prepare(tx: string, work: Uint8Array): string | undefined {
    let w: KvWork;
    try {
      w = decodeWork(work);
    } catch (err) {
      return (err as Error).message;
    }
    const writes = new Set(w.w.map(([k]) => k));
    for (const [k, version] of w.r) {
      const l = this.#locks.get(k);
      if (l !== undefined && [...l].some(([h, exclusive]) => exclusive && h !== tx)) return `conflict on ${JSON.stringify(k)}`;
      if (this.read(k).version !== version) return `${JSON.stringify(k)} changed since it was read`;
    }
    for (const k of writes) {
      const l = this.#locks.get(k);
      if (l !== undefined && [...l.keys()].some((h) => h !== tx)) return `conflict on ${JSON.stringify(k)}`;
    }
    this.recover(tx, work);
    return undefined;
  }

  recover(tx: string, work: Uint8Array): void {
    const w = decodeWork(work);
    const keys: string[] = [];
    const take = (k: string, exclusive: boolean): void => {
      let l = this.#locks.get(k);
      if (l === undefined) this.#locks.set(k, (l = new Map()));
      l.set(tx, (l.get(tx) ?? false) || exclusive);
      keys.push(k);
    };
    for (const [k] of w.w) take(k, true);
    for (const [k] of w.r) take(k, false);
    this.#held.set(tx, keys);
  }

  commit(tx: string, work: Uint8Array): void {
    for (const [k, value] of decodeWork(work).w) this.#data.set(k, { value, version: this.read(k).version + 1 });
    this.#release(tx);
  }

  abort(tx: string): void {
    this.#release(tx);
  }

  #release(tx: string): void {
    for (const k of this.#held.get(tx) ?? []) {
      const l = this.#locks.get(k);
      l?.delete(tx);
      if (l !== undefined && l.size === 0) this.#locks.delete(k);
    }
    this.#held.delete(tx);
  }

  snapshot(): Uint8Array {
    return pack([...this.#data].map(([k, e]) => [k, e.value, e.version]));
  }

  restore(snapshot: Uint8Array): void {
    this.#data.clear();
    for (const [k, value, version] of unpack(snapshot) as Array<[string, string | null, number]>) this.#data.set(k, { value, version });
  }

  /** A read request: `{ k: key }` → `{ v: value | null, n: version }`. */
  request(body: Uint8Array): Uint8Array {
    const q = unpack(body) as { k?: unknown };
    if (typeof q !== 'object' || q === null || !isKey(q.k)) throw new TxError('ERR_TX_PROTOCOL', 'A read request names one key');
    const { value, version } = this.read(q.k);
    return pack({ v: value, n: version });
  }
}

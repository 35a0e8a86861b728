/**
 * The transactional, partitioned key-value store (the slides' KVSTORE
 * across partitions): each partition a participant process with its own
 * log ({@link openKvPartition}), and a client that is the coordinator of its
 * transactions ({@link KvClient}: `tx.get`, `tx.put`, `tx.commit()`).
 * @module
 */
import { crc32 } from 'node:zlib';

import { TxError } from '../../errors.js';
import { validateInteger, validateOptions, validateString } from '../../internal/validators.js';
import { Coordinator, type CommitOptions, type CoordinatorOptions } from './coordinator.js';
import { Participant, type ParticipantOptions } from './participant.js';
import { KV_MAX_KEY_LENGTH, KV_MAX_VALUE_LENGTH, KvPartition, pack, unpack, type KvWork } from './resource.js';

/** Options of {@link KvClient.open}: a coordinator's, and the partitions. */
export interface KvClientOptions extends CoordinatorOptions {
  /** The partitions' addresses, in the same order in every client: key `k` lives in partition `crc32(k) % n`. */
  partitions: readonly string[];
  /** How long a read waits for its partition, ms (default 5000). */
  readTimeoutMs?: number;
}

/** A partition process's store and its participant. */
export interface KvPartitionSite {
  readonly participant: Participant;
  readonly store: KvPartition;
  close(): Promise<void>;
}

/** Opens one partition of the store: a {@link Participant} over a {@link KvPartition}, recovered from its log. */
export async function openKvPartition(options: Omit<ParticipantOptions, 'resource'>): Promise<KvPartitionSite> {
  const store = new KvPartition();
  const participant = await Participant.open({ ...options, resource: store });
  return { participant, store, close: () => participant.close() };
}

function validateKey(key: unknown): string {
  validateString(key, 'key');
  const k = key as string;
  if (k.length === 0 || k.length > KV_MAX_KEY_LENGTH) throw new RangeError(`The "key" must be 1 to ${KV_MAX_KEY_LENGTH} characters`);
  return k;
}

/**
 * One transaction of a {@link KvClient}. Reads go to the key's partition
 * (committed values) and are remembered with their version; writes are
 * buffered here. `commit()` runs two-phase commit over the partitions
 * touched: each validates the reads and locks the keys, so a committed
 * transaction is serializable; a conflict aborts it (`ERR_TX_ABORTED`:
 * retry it, or use {@link KvClient.transact}).
 */
export class KvTransaction {
  readonly id: string;
  readonly #client: KvClient;
  readonly #reads = new Map<string, number>();
  readonly #writes = new Map<string, string | null>();
  #done = false;

  /** @internal */
  constructor(client: KvClient, id: string) {
    this.#client = client;
    this.id = id;
  }

  #check(): void {
    if (this.#done) throw new TxError('ERR_TX_CLOSED', `The transaction ${this.id} is finished`);
  }

  /** The value of `key` as this transaction sees it (its own writes first), or `null`. */
  async get(key: string): Promise<string | null> {
    validateKey(key);
    this.#check();
    if (this.#writes.has(key)) return this.#writes.get(key)!;
    const { value, version } = await this.#client.read(key);
    if (!this.#reads.has(key)) this.#reads.set(key, version);
    return value;
  }

  /** Writes `value` at `key` (on commit). */
  put(key: string, value: string): void {
    validateKey(key);
    validateString(value, 'value');
    if (value.length > KV_MAX_VALUE_LENGTH) throw new RangeError(`The "value" is longer than ${KV_MAX_VALUE_LENGTH} characters`);
    this.#check();
    this.#writes.set(key, value);
  }

  /** Deletes `key` (on commit). */
  delete(key: string): void {
    validateKey(key);
    this.#check();
    this.#writes.set(key, null);
  }

  /** Commits: resolves once the decision commit is durable; rejects `ERR_TX_ABORTED` (see the class doc). */
  async commit(options?: CommitOptions): Promise<void> {
    this.#check();
    this.#done = true;
    const work = new Map<number, KvWork>();
    const of = (key: string): KvWork => {
      const i = this.#client.partitionOf(key);
      let w = work.get(i);
      if (w === undefined) work.set(i, (w = { r: [], w: [] }));
      return w;
    };
    for (const [k, v] of this.#reads) of(k).r.push([k, v]);
    for (const [k, v] of this.#writes) of(k).w.push([k, v]);
    if (work.size === 0) return;
    const branches = [...work].map(([i, w]) => ({ address: this.#client.partitions[i]!, work: pack(w) }));
    await this.#client.coordinator.commit(this.id, branches, options);
  }

  /** Gives the transaction up (nothing was prepared, so nothing is sent). */
  abort(): void {
    this.#done = true;
  }
}

/** A client of the store, and the coordinator of its transactions (it has its own log and address). */
export class KvClient {
  readonly coordinator: Coordinator;
  readonly partitions: readonly string[];
  readonly #readTimeoutMs: number;

  private constructor(coordinator: Coordinator, partitions: readonly string[], readTimeoutMs: number) {
    this.coordinator = coordinator;
    this.partitions = partitions;
    this.#readTimeoutMs = readTimeoutMs;
  }

  /** Opens the client's coordinator (recovering its log). */
  static async open(options: KvClientOptions): Promise<KvClient> {
    validateOptions(options);
    if (!Array.isArray(options.partitions) || options.partitions.length === 0)
      throw new TypeError('The "options.partitions" option must list the partitions');
    options.partitions.forEach((p, i) => validateString(p, `options.partitions[${i}]`));
    const readTimeoutMs = validateInteger(options.readTimeoutMs ?? 5000, 'options.readTimeoutMs', 1, 3_600_000);
    const { partitions, readTimeoutMs: _, ...rest } = options;
    return new KvClient(await Coordinator.open(rest), [...partitions], readTimeoutMs);
  }

  /** The partition (index) that holds `key`. */
  partitionOf(key: string): number {
    return crc32(key) % this.partitions.length;
  }

  /** The committed value and version of `key`, from its partition. @internal */
  async read(key: string): Promise<{ value: string | null; version: number }> {
    const reply = unpack(
      await this.coordinator.request(this.partitions[this.partitionOf(key)]!, pack({ k: key }), this.#readTimeoutMs),
    ) as { v?: unknown; n?: unknown };
    if (typeof reply !== 'object' || reply === null || !(reply.v === null || typeof reply.v === 'string') || !Number.isSafeInteger(reply.n))
      throw new TxError('ERR_TX_PROTOCOL', 'Malformed read reply');
    return { value: reply.v as string | null, version: reply.n as number };
  }

  /** A new transaction. */
  begin(): KvTransaction {
    return new KvTransaction(this, this.coordinator.newTxId());
  }

  /**
   * Runs `fn` in a transaction and commits it, again (up to `attempts`,
   * default 10) when it aborts (a conflict, a vote that timed out) or a
   * read timed out (`ERR_TX_TIMEOUT`: a partition down or restarting).
   */
  async transact<R>(fn: (tx: KvTransaction) => Promise<R>, options: { attempts?: number } & CommitOptions = {}): Promise<R> {
    const attempts = validateInteger(options.attempts ?? 10, 'options.attempts', 1, 1000);
    for (let n = 1; ; n++) {
      const tx = this.begin();
      try {
        const r = await fn(tx);
        await tx.commit(options);
        return r;
      } catch (err) {
        // An abort (a conflict, a vote timeout) or a read that timed out (a partition restarting) is worth another try.
        if (!(err instanceof TxError) || (err.code !== 'ERR_TX_ABORTED' && err.code !== 'ERR_TX_TIMEOUT') || n >= attempts) throw err;
        await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 2 ** Math.min(n, 6))));
      }
    }
  }

  /** Closes the coordinator (what is committed stays committed; participants learn decisions still owed when it is opened again). */
  close(): Promise<void> {
    return this.coordinator.close();
  }
}

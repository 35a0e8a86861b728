/**
 * A fixed membership of numbered peers over a {@link Mesh}: the checked
 * list of members (an id each, unique, and an address), and the member's
 * side of the network: send to a member by id, hear a member's message (its
 * sender checked against the list), learn which member's link went down,
 * and count every message by kind. What leader election and distributed
 * mutual exclusion share.
 * @internal
 * @module
 */
import { validateInteger, validateObject, validateString } from '../internal/validators.js';
import { Mesh, type LinkDown, type MeshOptions, type MeshSource } from './mesh.js';

/** Another member: its id and where it listens. */
export interface MemberPeer {
  readonly id: number;
  readonly address: string;
}

/** The highest member id: ids are 31-bit unsigned integers. */
export const MAX_MEMBER_ID = 0x7fffffff;

/** The most peers a member may list. */
export const MAX_PEERS = 1024;

/** Checks `id` and `peers` (options named `options.id`, `options.peers[i]`) into a map id → address. @internal */
export function memberPeers(id: unknown, peers: unknown): { id: number; peers: Map<number, string> } {
  const self = validateInteger(id, 'options.id', 0, MAX_MEMBER_ID);
  if (!Array.isArray(peers)) throw new TypeError('The "options.peers" option must be an array');
  if (peers.length > MAX_PEERS) throw new RangeError(`The "options.peers" option has more than ${MAX_PEERS} members`);
  const map = new Map<number, string>();
  peers.forEach((p: unknown, i) => {
    const o = validateObject(p, `options.peers[${i}]`);
    const pid = validateInteger(o.id, `options.peers[${i}].id`, 0, MAX_MEMBER_ID);
    const address = validateString(o.address, `options.peers[${i}].address`);
    if (pid === self || map.has(pid)) throw new RangeError(`The "options.peers[${i}].id" option repeats id ${pid}`);
    map.set(pid, address);
  });
  return { id: self, peers: map };
}

/** Messages sent and received by kind, and the ones dropped. */
export interface MemberCounts<K extends string> {
  sent: Record<K, number>;
  received: Record<K, number>;
  /** Messages dropped as malformed or from an unknown member. */
  dropped: number;
}

/** A zeroed count for each kind. @internal */
export function zeroCounts<K extends string>(kinds: readonly K[]): Record<K, number> {
  return Object.fromEntries(kinds.map((k) => [k, 0])) as Record<K, number>;
}

/** What a member's decoder gives: the sender and the kind's name (for the counts). */
export interface MemberMessage<K extends string> {
  readonly from: number;
  readonly kindName: K;
}

/** The handlers of a {@link MemberMesh}. */
export interface MemberHandlers<M> {
  /** A well-formed message from a listed member; `source` answers on the connection it came on. */
  message(m: M, source: MeshSource): void;
  /** The link to member `id` broke or could not connect. */
  peerDown(id: number, why: LinkDown): void;
}

/** One member's network: see the module doc. @internal */
export class MemberMesh<K extends string, M extends MemberMessage<K>> {
  readonly #peers: ReadonlyMap<number, string>;
  readonly #counts: MemberCounts<K>;
  #mesh: Mesh | undefined;
  #closed = false;

  constructor(peers: ReadonlyMap<number, string>, counts: MemberCounts<K>) {
    this.#peers = peers;
    this.#counts = counts;
  }

  /** Listens; every message is decoded (undefined: malformed, and the connection is ended) and checked against the members. */
  async open(options: MeshOptions, decode: (bytes: Uint8Array) => M | undefined, handlers: MemberHandlers<M>): Promise<void> {
    this.#mesh = await Mesh.open(
      options,
      (bytes, source) => {
        const m = decode(bytes);
        if (m === undefined || !this.#peers.has(m.from)) {
          this.#counts.dropped++;
          return false;
        }
        if (this.#closed) return true;
        this.#counts.received[m.kindName]++;
        handlers.message(m, source);
        return true;
      },
      (address, why) => {
        if (this.#closed) return;
        for (const [id, a] of this.#peers) if (a === address) handlers.peerDown(id, why);
      },
    );
  }

  /** Where the peers reach this member. */
  get url(): string {
    return this.#mesh!.url;
  }

  /** The peers' ids, ascending. */
  get peerIds(): number[] {
    return [...this.#peers.keys()].sort((a, b) => a - b);
  }

  /** Sends `bytes` (a message of `kind`) to member `to` (best effort: see {@link Mesh}). */
  send(to: number, kind: K, bytes: Uint8Array): void {
    const address = this.#peers.get(to);
    if (address === undefined || this.#closed) return;
    this.#counts.sent[kind]++;
    this.#mesh!.send(address, bytes);
  }

  /** Answers on the connection a message came on (counted as a message of `kind`). */
  reply(source: MeshSource, kind: K, bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#counts.sent[kind]++;
    source.reply(bytes);
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#mesh?.close();
  }
}

/**
 * The distributed mutual exclusion messages: a kind, the sender, a number
 * (a timestamp, a sequence number or a fence) and a handoff sequence, 17
 * bytes; a Suzuki-Kasami token adds its last-served numbers and its queue.
 * Every length and count is checked against the bytes: a peer's message is
 * untrusted.
 * @module
 */
import { MAX_MEMBER_ID, MAX_PEERS } from '../members.js';

/** The kinds of message. */
export const Kind = {
  /** "I want the critical section" (`value`: the Lamport timestamp (Ricart-Agrawala), the request number (Suzuki-Kasami), 0 (central)). */
  REQUEST: 1,
  /** Ricart-Agrawala: "go ahead" (`value`: the timestamp of the request it answers). */
  REPLY: 2,
  /** Central: the coordinator grants the lock (`value`: the fence). */
  GRANT: 3,
  /** Central: the holder gives the lock back (`value`: the fence it held). */
  RELEASE: 4,
  /** Token ring, Suzuki-Kasami: the token (`value`: the last fence given, `seq`: the handoff number for its ACK). */
  TOKEN: 5,
  /** The receipt of a TOKEN, on the connection it came on (`seq`: the handoff acknowledged). */
  ACK: 6,
  /** Central: the holder's lease ran out and the lock went to the next member (`value`: the fence revoked). */
  REVOKE: 7,
} as const;

/** One of the {@link Kind} values. */
export type KindValue = (typeof Kind)[keyof typeof Kind];
/** The name of a kind, as the counts use it. */
export type KindName = keyof typeof Kind;

const NAMES = Object.fromEntries(Object.entries(Kind).map(([k, v]) => [v, k])) as Record<KindValue, KindName>;
/** Every kind's name. */
export const KIND_NAMES = Object.keys(Kind) as KindName[];

/** A Suzuki-Kasami token's own state: the request number last served per member, and the members waiting for it. */
export interface TokenState {
  /** Member id → the number of its last request that was served. */
  readonly served: ReadonlyMap<number, number>;
  /** The members the token goes to next, in order. */
  readonly queue: readonly number[];
}

/** One message. */
export interface DmutexMessage {
  readonly kind: KindValue;
  readonly kindName: KindName;
  readonly from: number;
  /** A non-negative safe integer: see {@link Kind}. */
  readonly value: number;
  readonly seq: number;
  /** Suzuki-Kasami's TOKEN only. */
  readonly token?: TokenState;
}

const HEAD = 17;

/** The bytes of a message. */
export function encodeDmutex(kind: KindValue, from: number, value: number, seq = 0, token?: TokenState): Uint8Array {
  const served = token === undefined ? [] : [...token.served];
  const queue = token?.queue ?? [];
  const size = HEAD + (token === undefined ? 0 : 4 + served.length * 12 + queue.length * 4);
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  v.setUint8(0, kind);
  v.setUint32(1, from);
  v.setFloat64(5, value);
  v.setUint32(13, seq);
  if (token === undefined) return b;
  let at = HEAD;
  v.setUint16(at, served.length);
  at += 2;
  for (const [id, n] of served) {
    v.setUint32(at, id);
    v.setFloat64(at + 4, n);
    at += 12;
  }
  v.setUint16(at, queue.length);
  at += 2;
  for (const id of queue) {
    v.setUint32(at, id);
    at += 4;
  }
  return b;
}

const count = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/** The message in `bytes`, or undefined for anything malformed (a wrong kind, length, id, number or count). */
export function decodeDmutex(bytes: Uint8Array): DmutexMessage | undefined {
  if (bytes.length < HEAD) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const kind = v.getUint8(0) as KindValue;
  if (kind < Kind.REQUEST || kind > Kind.REVOKE) return undefined;
  const from = v.getUint32(1);
  const value = v.getFloat64(5);
  const seq = v.getUint32(13);
  if (from > MAX_MEMBER_ID || !count(value)) return undefined;
  const base = { kind, kindName: NAMES[kind], from, value, seq };
  if (bytes.length === HEAD) return base;
  // Only a TOKEN carries more: a Suzuki-Kasami token's state, every count bounded by the membership's limit.
  if (kind !== Kind.TOKEN || bytes.length < HEAD + 4) return undefined;
  let at = HEAD;
  const n = v.getUint16(at);
  at += 2;
  if (n > MAX_PEERS + 1 || bytes.length < at + n * 12 + 2) return undefined;
  const served = new Map<number, number>();
  for (let i = 0; i < n; i++, at += 12) {
    const id = v.getUint32(at);
    const s = v.getFloat64(at + 4);
    if (id > MAX_MEMBER_ID || !count(s) || served.has(id)) return undefined;
    served.set(id, s);
  }
  const q = v.getUint16(at);
  at += 2;
  if (q > MAX_PEERS + 1 || bytes.length !== at + q * 4) return undefined;
  const queue = new Set<number>();
  for (let i = 0; i < q; i++, at += 4) {
    const id = v.getUint32(at);
    if (id > MAX_MEMBER_ID || queue.has(id)) return undefined;
    queue.add(id);
  }
  return { ...base, token: { served, queue: [...queue] } };
}

/**
 * The election messages: 17 bytes each, a kind and four 32-bit numbers, so
 * a peer's bytes are checked by length and kind alone.
 * @module
 */
import { MAX_MEMBER_ID } from '../members.js';

/** The kinds of election message. */
export const Kind = {
  /** Bully: "I am electing" (`a`: sender), to every higher id. */
  ELECTION: 1,
  /** Bully: "I am alive and higher, stop" (`a`: sender), the answer to ELECTION. */
  ANSWER: 2,
  /** Bully and ring: "`b` is the leader" (`a`: sender). */
  COORDINATOR: 3,
  /** The leader's periodic "I am alive" (`a`: sender). */
  HEARTBEAT: 4,
  /** Ring: the circulating candidate (`a`: sender, `b`: the highest id seen). */
  RING_ELECTION: 5,
  /** Ring: the receipt of a ring message from the successor (`a`: sender, `b`: the sequence acknowledged). */
  ACK: 6,
} as const;

/** One of the {@link Kind} values. */
export type KindValue = (typeof Kind)[keyof typeof Kind];

/** One election message: its kind, its sender, and a number whose meaning the kind gives. Every field but `hops` is at most {@link MAX_ID}. */
export interface ElectionMessage {
  readonly kind: KindValue;
  readonly from: number;
  readonly value: number;
  /** Ring messages: the sender's sequence number, for its ACK (0 otherwise). */
  readonly seq: number;
  /** Ring messages: how many links the message has crossed (a ring message past twice the ring's size is dropped). */
  readonly hops: number;
}

const SIZE = 17;

/** The highest member id: ids are 31-bit unsigned integers. */
export const MAX_ID = MAX_MEMBER_ID;

/** The 17 bytes of `m`. */
export function encodeElection(m: ElectionMessage): Uint8Array {
  const b = new Uint8Array(SIZE);
  const v = new DataView(b.buffer);
  v.setUint8(0, m.kind);
  v.setUint32(1, m.from);
  v.setUint32(5, m.value);
  v.setUint32(9, m.seq);
  v.setUint32(13, m.hops);
  return b;
}

/** The message in `bytes`, or undefined for anything malformed (a wrong length, kind or id). */
export function decodeElection(bytes: Uint8Array): ElectionMessage | undefined {
  if (bytes.length !== SIZE) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const kind = v.getUint8(0);
  if (kind < Kind.ELECTION || kind > Kind.ACK) return undefined;
  const from = v.getUint32(1);
  const value = v.getUint32(5);
  const seq = v.getUint32(9);
  if (from > MAX_ID || value > MAX_ID || seq > MAX_ID) return undefined;
  return { kind: kind as KindValue, from, value, seq, hops: v.getUint32(13) };
}

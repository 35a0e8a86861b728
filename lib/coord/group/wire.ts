/**
 * The group members' messages. One channel message (a frame) carries every
 * message a member has for one peer in one event-loop turn: a MessagePack
 * array of messages, each an array `[type, ...fields]` (compact: a data
 * message costs a few bytes besides its payload). Every frame from a peer is
 * bounded (size by the channel, nesting by `checkDepth`, lists and strings
 * by the limits below) and checked field by field before the protocol sees
 * it; a malformed one is a {@link GroupError} `ERR_GROUP_PROTOCOL` and ends
 * its connection.
 *
 * Inside a view, members are named by their index in the view's member list
 * (the view's id says which list).
 * @module
 */
import { GroupError } from '../../errors.js';
import { packr, unpackBounded } from '../msgpack.js';

/** Message types. */
export const G = {
  /** A multicast: `[DATA, view, origin index, seq, payload, stamp | null, [submitter, its seq] | null]`. */
  DATA: 1,
  /** To the sequencer: `[SUBMIT, view, origin index, seq, payload]`. */
  SUBMIT: 2,
  /** Deliveries so far, per origin: `[ACKS, view, from index, counts[]]` (stability and retransmission). */
  ACKS: 3,
  /** Two-phase total order, phase 1 answers: `[TACK, view, from index, [seq, ack time, ...]]` to the origin. */
  TACK: 4,
  /** Two-phase total order, phase 2: `[COMMIT, view, origin index, [seq, commit time, ...]]`. */
  COMMIT: 5,
  /** `[HEARTBEAT, view, from id]`. */
  HEARTBEAT: 6,
  /** `[JOIN, id, address]`: to any member, forwarded to the leader. */
  JOIN: 7,
  /** `[LEAVE, view, id]`: to the leader. */
  LEAVE: 8,
  /** `[SUSPECT, view, from id, ids[]]`: to the leader. */
  SUSPECT: 9,
  /** `[PROPOSE, new view, leader id, base view, members]`: stop sending, flush. */
  PROPOSE: 10,
  /** `[FLUSH, new view, from id, base view, entries, deliveries per origin]`: what the member holds of the base view. */
  FLUSH: 11,
  /** `[INSTALL, new view, leader id, base view, members, entries]`: finish the base view with `entries`, then install. */
  INSTALL: 12,
} as const;

/** The most members a group may have. */
export const MAX_MEMBERS = 64;
/** The longest member id or group name. */
export const MAX_ID_LENGTH = 64;
/** The longest member address. */
export const MAX_ADDRESS_LENGTH = 1024;
/** The most entries a FLUSH or an INSTALL carries (the unstable messages of a view are bounded by the senders' windows). */
export const MAX_ENTRIES = 1 << 16;
const MAX_DEPTH = 6;
const MAX_SEQ = 2 ** 48;

/** A member of a view: its id and where it listens. */
export interface ViewMember {
  readonly id: string;
  readonly address: string;
}

/** A message of a view as a FLUSH or an INSTALL carries it. */
export interface Entry {
  /** Origin index in the base view. */
  o: number;
  s: number;
  p: Uint8Array;
  /** Causal stamp (per member index). */
  v: number[] | null;
  /** Sequencer stream: the submitter's index and seq. */
  q: [number, number] | null;
  /** Two-phase total order: the commit time, or -1 when not committed. */
  c: number;
  /** Two-phase total order: the highest ack time known, or -1. */
  a: number;
}

export type Message =
  | [typeof G.DATA, number, number, number, Uint8Array, number[] | null, [number, number] | null]
  | [typeof G.SUBMIT, number, number, number, Uint8Array]
  | [typeof G.ACKS, number, number, number[]]
  | [typeof G.TACK | typeof G.COMMIT, number, number, number[]]
  | [typeof G.HEARTBEAT, number, string]
  | [typeof G.JOIN, string, string]
  | [typeof G.LEAVE, number, string]
  | [typeof G.SUSPECT, number, string, string[]]
  | [typeof G.PROPOSE, number, string, number, ViewMember[]]
  | [typeof G.FLUSH, number, string, number, Entry[], number[]]
  | [typeof G.INSTALL, number, string, number, ViewMember[], Entry[]];

/**
 * Encodes a frame of messages. Members go as `[id, address]` pairs and entries as arrays.
 * `parts` keeps each message's encoding for the frames to the other peers of the same turn:
 * a multicast (one message object sent to every member) is encoded once, and each frame is an
 * array header and the parts (a MessagePack array is its items one after the other).
 */
export function encodeFrame(messages: readonly Message[], parts: Map<Message, Uint8Array> = new Map()): Buffer {
  const n = messages.length;
  const bytes: Uint8Array[] = new Array<Uint8Array>(n);
  let length = n < 16 ? 1 : n < 65536 ? 3 : 5;
  for (let i = 0; i < n; i++) {
    const m = messages[i]!;
    let b = parts.get(m);
    if (b === undefined) parts.set(m, (b = packr.pack(toWire(m))));
    bytes[i] = b;
    length += b.length;
  }
  const out = Buffer.allocUnsafe(length);
  let at: number;
  if (n < 16) {
    out[0] = 0x90 | n;
    at = 1;
  } else if (n < 65536) {
    out[0] = 0xdc;
    out.writeUInt16BE(n, 1);
    at = 3;
  } else {
    out[0] = 0xdd;
    out.writeUInt32BE(n, 1);
    at = 5;
  }
  for (const b of bytes) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

function toWire(m: Message): unknown[] {
  switch (m[0]) {
    case G.PROPOSE:
      return [m[0], m[1], m[2], m[3], m[4].map((x) => [x.id, x.address])];
    case G.FLUSH:
      return [m[0], m[1], m[2], m[3], m[4].map(entryToWire), m[5]];
    case G.INSTALL:
      return [m[0], m[1], m[2], m[3], m[4].map((x) => [x.id, x.address]), m[5].map(entryToWire)];
    default:
      return m;
  }
}

function entryToWire(e: Entry): unknown[] {
  return [e.o, e.s, e.p, e.v, e.q, e.c, e.a];
}

function bad(why: string): never {
  throw new GroupError('ERR_GROUP_PROTOCOL', `Malformed group message: ${why}`);
}

function int(v: unknown, field: string, min = 0, max = MAX_SEQ): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(`"${field}" must be an integer ${min} to ${max}`);
  return v;
}

function str(v: unknown, field: string, max: number): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max) bad(`"${field}" must be a string of 1 to ${max} characters`);
  return v;
}

function bytes(v: unknown, field: string): Uint8Array {
  if (!(v instanceof Uint8Array)) bad(`"${field}" must be bytes`);
  return v;
}

function ints(v: unknown, field: string, maxLength: number, min = 0): number[] {
  if (!Array.isArray(v) || v.length > maxLength) bad(`"${field}" must be a list of at most ${maxLength} integers`);
  for (let i = 0; i < v.length; i++) int(v[i], `${field}[${i}]`, min);
  return v as number[];
}

function list(v: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(v) || v.length > max) bad(`"${field}" must be a list of at most ${max} items`);
  return v;
}

function members(v: unknown): ViewMember[] {
  const l = list(v, 'members', MAX_MEMBERS);
  if (l.length === 0) bad('a view has at least one member');
  return l.map((x, i) => {
    const pair = list(x, `members[${i}]`, 2);
    return { id: str(pair[0], `members[${i}].id`, MAX_ID_LENGTH), address: str(pair[1], `members[${i}].address`, MAX_ADDRESS_LENGTH) };
  });
}

function pair(v: unknown, field: string): [number, number] | null {
  if (v === null) return null;
  const p = ints(v, field, 2);
  if (p.length !== 2) bad(`"${field}" must be a pair`);
  return [p[0]!, p[1]!];
}

function entries(v: unknown): Entry[] {
  return list(v, 'entries', MAX_ENTRIES).map((x, i) => {
    const e = list(x, `entries[${i}]`, 7);
    return {
      o: int(e[0], 'entry.origin', 0, MAX_MEMBERS - 1),
      s: int(e[1], 'entry.seq', 1),
      p: bytes(e[2], 'entry.payload'),
      v: e[3] === null ? null : ints(e[3], 'entry.stamp', MAX_MEMBERS),
      q: pair(e[4], 'entry.submitter'),
      c: int(e[5], 'entry.commit', -1),
      a: int(e[6], 'entry.ack', -1),
    };
  });
}

/** Decodes and checks a frame from a peer: a `GroupError` (`ERR_GROUP_PROTOCOL`) when it is not one. */
export function decodeFrame(b: Uint8Array): Message[] {
  const frame = list(unpackBounded(b, MAX_DEPTH, bad), 'frame', 1 << 20);
  return frame.map(decodeMessage);
}

function decodeMessage(raw: unknown): Message {
  const m = list(raw, 'message', 7);
  const t = m[0];
  switch (t) {
    case G.DATA: {
      const stamp = m[5] === null ? null : ints(m[5], 'stamp', MAX_MEMBERS);
      return [
        t,
        int(m[1], 'view', 1),
        int(m[2], 'origin', 0, MAX_MEMBERS - 1),
        int(m[3], 'seq', 1),
        bytes(m[4], 'payload'),
        stamp,
        pair(m[6], 'submitter'),
      ];
    }
    case G.SUBMIT:
      return [t, int(m[1], 'view', 1), int(m[2], 'origin', 0, MAX_MEMBERS - 1), int(m[3], 'seq', 1), bytes(m[4], 'payload')];
    case G.ACKS:
      return [t, int(m[1], 'view', 1), int(m[2], 'from', 0, MAX_MEMBERS - 1), ints(m[3], 'counts', MAX_MEMBERS)];
    case G.TACK:
    case G.COMMIT: {
      const l = ints(m[3], 'times', 2 * MAX_ENTRIES);
      if (l.length % 2 !== 0) bad('"times" must hold pairs');
      return [t, int(m[1], 'view', 1), int(m[2], 'member', 0, MAX_MEMBERS - 1), l];
    }
    case G.HEARTBEAT:
    case G.LEAVE:
      return [t, int(m[1], 'view', 0), str(m[2], 'id', MAX_ID_LENGTH)];
    case G.JOIN:
      return [t, str(m[1], 'id', MAX_ID_LENGTH), str(m[2], 'address', MAX_ADDRESS_LENGTH)];
    case G.SUSPECT:
      return [
        t,
        int(m[1], 'view', 1),
        str(m[2], 'id', MAX_ID_LENGTH),
        list(m[3], 'ids', MAX_MEMBERS).map((x) => str(x, 'ids[]', MAX_ID_LENGTH)),
      ];
    case G.PROPOSE:
      return [t, int(m[1], 'view', 1), str(m[2], 'leader', MAX_ID_LENGTH), int(m[3], 'base', 0), members(m[4])];
    case G.FLUSH:
      return [
        t,
        int(m[1], 'view', 1),
        str(m[2], 'id', MAX_ID_LENGTH),
        int(m[3], 'base', 0),
        entries(m[4]),
        ints(m[5], 'delivered', MAX_MEMBERS),
      ];
    case G.INSTALL:
      return [t, int(m[1], 'view', 1), str(m[2], 'leader', MAX_ID_LENGTH), int(m[3], 'base', 0), members(m[4]), entries(m[5])];
    default:
      return bad(`unknown type ${String(t)}`);
  }
}

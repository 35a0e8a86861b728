/**
 * The two-phase commit's messages: one channel message each, a MessagePack
 * map (`msgpackr`) with a type `t` and the transaction id `x`. Every message
 * from a peer is bounded (size by the channel, nesting by `checkDepth`,
 * strings and lists by the limits below) and checked field by field before
 * the protocol sees it; a malformed one is a {@link TxError}
 * `ERR_TX_PROTOCOL` and ends that connection.
 * @module
 */
import { TxError } from '../../errors.js';
import { packr, unpackBounded } from '../msgpack.js';

/** Message types. */
export const Msg = {
  /** Coordinator → participant: prepare `work` and vote. */
  VOTE_REQ: 1,
  /** Participant → coordinator: YES (`y: true`) or NO with a reason. */
  VOTE: 2,
  /** Coordinator → participant: the decision is commit. */
  COMMIT: 3,
  /** Coordinator → participant: the decision is abort. */
  ABORT: 4,
  /** Participant → coordinator: the commit is applied and logged. */
  ACK: 5,
  /** In-doubt participant → coordinator: what was decided? */
  DECISION_REQ: 6,
  /** Coordinator → participant: `d` is 'commit', 'abort' or 'pending' (still voting). */
  DECISION: 7,
  /** In-doubt participant → another participant (cooperative termination): what do you know? */
  STATUS_REQ: 8,
  /** `s`: 'committed', 'aborted', 'prepared' (in doubt too) or 'unknown' (forgotten, or not yet known). */
  STATUS: 9,
  /** A request to the participant's resource manager (reads of the key-value store), answered by REPLY. */
  REQUEST: 10,
  /** The answer to REQUEST `r`, or its error (`e`). */
  REPLY: 11,
} as const;

/** The most participants one transaction may have. */
export const MAX_PARTICIPANTS = 64;
/** The longest transaction id. */
export const MAX_TX_ID_LENGTH = 160;
/** The longest site address carried in a message. */
export const MAX_ADDRESS_LENGTH = 1024;
/** The deepest nesting a message may have (they are flat: 3 is plenty). */
const MAX_DEPTH = 4;

export type Decision = 'commit' | 'abort' | 'pending';
export type Status = 'committed' | 'aborted' | 'prepared' | 'unknown';

/** A decoded message. */
export type Message =
  | { t: typeof Msg.VOTE_REQ; x: string; c: string; p: string[]; i: number; w: Uint8Array }
  | { t: typeof Msg.VOTE; x: string; a: string; y: boolean; why?: string }
  /** ACK and COMMIT name the participant by the address the coordinator has for it (`p[i]`), so the ACK of a participant that forgot the transaction is still matched. */
  | { t: typeof Msg.ACK | typeof Msg.COMMIT; x: string; a: string }
  | { t: typeof Msg.ABORT | typeof Msg.DECISION_REQ | typeof Msg.STATUS_REQ; x: string }
  | { t: typeof Msg.DECISION; x: string; d: Decision }
  | { t: typeof Msg.STATUS; x: string; s: Status }
  | { t: typeof Msg.REQUEST; x: ''; r: number; b: Uint8Array }
  | { t: typeof Msg.REPLY; x: ''; r: number; b?: Uint8Array; e?: string };

/** Encodes a message. */
export function encodeMessage(m: Message): Buffer {
  return packr.pack(m);
}

function bad(why: string): never {
  throw new TxError('ERR_TX_PROTOCOL', `Malformed transaction message: ${why}`);
}

function str(v: unknown, field: string, max: number, empty = false): string {
  if (typeof v !== 'string' || v.length > max || (!empty && v.length === 0)) bad(`"${field}" must be a string of 1 to ${max} characters`);
  return v;
}

function bytes(v: unknown, field: string): Uint8Array {
  if (!(v instanceof Uint8Array)) bad(`"${field}" must be bytes`);
  return v;
}

function reqId(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 0xffffffff) bad('"r" must be a request id');
  return v;
}

const DECISIONS: ReadonlySet<string> = new Set(['commit', 'abort', 'pending']);
const STATUSES: ReadonlySet<string> = new Set(['committed', 'aborted', 'prepared', 'unknown']);

/** Decodes and checks a message from a peer: a `TxError` (`ERR_TX_PROTOCOL`) when it is not one. */
export function decodeMessage(b: Uint8Array): Message {
  const m = unpackBounded(b, MAX_DEPTH, bad);
  if (typeof m !== 'object' || m === null || Array.isArray(m)) bad('not a map');
  const o = m as Record<string, unknown>;
  const t = o.t;
  if (t === Msg.REQUEST) return { t, x: '', r: reqId(o.r), b: bytes(o.b, 'b') };
  if (t === Msg.REPLY) {
    const r = reqId(o.r);
    if (o.e !== undefined) return { t, x: '', r, e: str(o.e, 'e', 4096) };
    return { t, x: '', r, b: bytes(o.b, 'b') };
  }
  const x = str(o.x, 'x', MAX_TX_ID_LENGTH);
  switch (t) {
    case Msg.VOTE_REQ: {
      const p = o.p;
      if (!Array.isArray(p) || p.length < 1 || p.length > MAX_PARTICIPANTS) bad(`"p" must list 1 to ${MAX_PARTICIPANTS} participants`);
      const i = o.i;
      if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= p.length) bad('"i" must index "p"');
      return {
        t,
        x,
        c: str(o.c, 'c', MAX_ADDRESS_LENGTH),
        p: p.map((a, j) => str(a, `p[${j}]`, MAX_ADDRESS_LENGTH)),
        i,
        w: bytes(o.w, 'w'),
      };
    }
    case Msg.VOTE: {
      if (typeof o.y !== 'boolean') bad('"y" must be a boolean');
      const a = str(o.a, 'a', MAX_ADDRESS_LENGTH);
      return o.why === undefined ? { t, x, a, y: o.y } : { t, x, a, y: o.y, why: str(o.why, 'why', 4096, true) };
    }
    case Msg.ACK:
    case Msg.COMMIT:
      return { t, x, a: str(o.a, 'a', MAX_ADDRESS_LENGTH) };
    case Msg.ABORT:
    case Msg.DECISION_REQ:
    case Msg.STATUS_REQ:
      return { t, x };
    case Msg.DECISION:
      if (typeof o.d !== 'string' || !DECISIONS.has(o.d)) bad('"d" must be commit, abort or pending');
      return { t, x, d: o.d as Decision };
    case Msg.STATUS:
      if (typeof o.s !== 'string' || !STATUSES.has(o.s)) bad('"s" must be committed, aborted, prepared or unknown');
      return { t, x, s: o.s as Status };
    default:
      return bad(`unknown type ${String(t)}`);
  }
}

/** The name of a message type, for traces and errors. */
export function messageName(t: number): string {
  for (const [k, v] of Object.entries(Msg)) if (v === t) return k;
  return `type ${t}`;
}

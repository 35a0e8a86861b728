/**
 * The activity log records of the coordinator and of the participants
 * (MessagePack maps, one per log record: the log adds the length and the
 * checksum). Which are forced (fdatasync'ed before the message that depends
 * on them) and which are lazy is the protocol's business: see
 * docs/transactions.md, "Log records".
 * @module
 */
import { TxError } from '../../errors.js';
import { packr, unpackBounded } from '../msgpack.js';

/** Coordinator records. */
export type CoordinatorRecord =
  /** Precommit: the transaction and its participants (lazy: under presumed abort, losing it aborts). */
  | { k: 'B'; x: string; p: string[] }
  /** The decision commit (forced before any COMMIT is sent and before the caller is told). */
  | { k: 'C'; x: string; p: string[] }
  /** The decision abort (lazy: no record means abort). */
  | { k: 'A'; x: string }
  /** Every participant acknowledged the commit: the transaction is forgotten (lazy). */
  | { k: 'E'; x: string };

/** Participant records. */
export type ParticipantRecord =
  /** Prepared, vote YES (forced before the YES is sent): the work, the coordinator and the other participants. */
  | { k: 'P'; x: string; c: string; p: string[]; a: string; w: Uint8Array }
  /** Committed (forced before the ACK). */
  | { k: 'C'; x: string }
  /** Aborted: after a YES (lazy), or refused before any vote to end another participant's doubt (forced). */
  | { k: 'A'; x: string }
  /** A checkpoint: the resource manager's committed state, and what this site has forgotten (first record of a compacted log). */
  | { k: 'S'; s: Uint8Array; f: Array<[string, number]>; b: number };

/** A record as read back: its kind `k`, its transaction `x` (none for `S`), the rest unchecked. */
export type DecodedRecord = Record<string, unknown> & { k: string; x: string };

/** Encodes a record. */
export function encodeRecord(r: CoordinatorRecord | ParticipantRecord): Buffer {
  return packr.pack(r);
}

/**
 * Decodes a record the log read back (its checksum held, so a failure here
 * is a log written by something else: `ERR_TX_LOG_CORRUPT`, never a guess).
 */
export function decodeRecord(b: Uint8Array, path: string): DecodedRecord {
  const corrupt = (why: string): never => {
    throw new TxError('ERR_TX_LOG_CORRUPT', `The activity log ${path} holds a record that is not a transaction record: ${why}`);
  };
  const r = unpackBounded(b, 8, corrupt);
  if (typeof r !== 'object' || r === null || typeof (r as { k?: unknown }).k !== 'string') corrupt('no kind');
  const o = r as DecodedRecord;
  if (o.k !== 'S' && typeof o.x !== 'string') corrupt('no transaction id');
  return o;
}

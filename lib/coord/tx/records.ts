/**
 * The activity log records of the coordinator and of the participants
 * (MessagePack maps, one per log record: the log adds the length and the
 * checksum). Which are forced (fdatasync'ed before the message that depends
 * on them) and which are lazy is the protocol's business: see
 * docs/transactions.md, "Log records".
 * @module
 */
import { Packr, Unpackr } from 'msgpackr';

import { TxError } from '../../errors.js';
import { checkDepth } from '../rpc/wire.js';

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

const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, copyBuffers: true, int64AsType: 'number' });

/** Encodes a record. */
export function encodeRecord(r: CoordinatorRecord | ParticipantRecord): Buffer {
  return packr.pack(r);
}

/**
 * Decodes a record the log read back (its checksum held, so a failure here
 * is a log written by something else: `ERR_TX_LOG_CORRUPT`, never a guess).
 */
export function decodeRecord(b: Uint8Array, path: string): Record<string, unknown> & { k: string; x: string } {
  const corrupt = (why: string): never => {
    throw new TxError('ERR_TX_LOG_CORRUPT', `The activity log ${path} holds a record that is not a transaction record: ${why}`);
  };
  checkDepth(b, 0, b.length, 8, corrupt);
  let r: unknown;
  try {
    r = unpackr.unpack(b);
  } catch (err) {
    corrupt((err as Error).message);
  }
  if (typeof r !== 'object' || r === null || typeof (r as { k?: unknown }).k !== 'string') corrupt('no kind');
  const o = r as Record<string, unknown> & { k: string; x: string };
  if (o.k !== 'S' && typeof o.x !== 'string') corrupt('no transaction id');
  return o;
}

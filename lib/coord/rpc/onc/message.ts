/**
 * ONC RPC messages (RFC 5531 section 9): `rpc_msg`, a call or a reply, as
 * bytes. A call carries the program, version and procedure, a credential
 * and a verifier, then the arguments; a reply is accepted (with a status:
 * the results on `SUCCESS`, the versions served on `PROG_MISMATCH`) or
 * denied (`RPC_MISMATCH` with the RPC versions served, or `AUTH_ERROR` with
 * an `auth_stat`). Decoding checks every field from the peer; the
 * arguments and results are left as bytes for the procedure's XDR types.
 * @module
 */
import { XdrError } from '../../../errors.js';
import { XdrReader, XdrWriter } from '../xdr/stream.js';
import { AUTH_NONE, readOpaqueAuth, writeOpaqueAuth, type OpaqueAuth } from './auth.js';

/** The RPC protocol version of RFC 5531. */
export const ONC_RPC_VERSION = 2;

/** `msg_type`. */
export const MsgType = Object.freeze({ CALL: 0, REPLY: 1 } as const);
/** `reply_stat`. */
export const ReplyStat = Object.freeze({ MSG_ACCEPTED: 0, MSG_DENIED: 1 } as const);
/** `accept_stat`. */
export const AcceptStat = Object.freeze({
  SUCCESS: 0,
  PROG_UNAVAIL: 1,
  PROG_MISMATCH: 2,
  PROC_UNAVAIL: 3,
  GARBAGE_ARGS: 4,
  SYSTEM_ERR: 5,
} as const);
/** `reject_stat`. */
export const RejectStat = Object.freeze({ RPC_MISMATCH: 0, AUTH_ERROR: 1 } as const);

/** A call message, decoded; `args` are the argument's bytes (a view of the message). */
export interface RpcCallMessage {
  readonly type: 'call';
  readonly xid: number;
  /** The caller's RPC version: a server answers anything but 2 with `RPC_MISMATCH`. */
  readonly rpcvers: number;
  readonly prog: number;
  readonly vers: number;
  readonly proc: number;
  readonly cred: OpaqueAuth;
  readonly verf: OpaqueAuth;
  readonly args: Uint8Array;
}

/** What an accepted reply says (`results` only on `SUCCESS`, `low`/`high` only on `PROG_MISMATCH`). */
export type AcceptedBody =
  | { readonly stat: 'SUCCESS'; readonly results: Uint8Array }
  | { readonly stat: 'PROG_MISMATCH'; readonly low: number; readonly high: number }
  | { readonly stat: 'PROG_UNAVAIL' | 'PROC_UNAVAIL' | 'GARBAGE_ARGS' | 'SYSTEM_ERR' };

/** What a denied reply says. */
export type DeniedBody =
  { readonly stat: 'RPC_MISMATCH'; readonly low: number; readonly high: number } | { readonly stat: 'AUTH_ERROR'; readonly auth: number };

/** A reply message, decoded. */
export type RpcReplyMessage =
  | ({ readonly type: 'reply'; readonly xid: number; readonly accepted: true; readonly verf: OpaqueAuth } & AcceptedBody)
  | ({ readonly type: 'reply'; readonly xid: number; readonly accepted: false } & DeniedBody);

/** Either message. */
export type RpcMessage = RpcCallMessage | RpcReplyMessage;

/** The fields of a call to encode; the arguments are written by `writeArgs`. */
export interface RpcCallHeader {
  readonly xid: number;
  readonly prog: number;
  readonly vers: number;
  readonly proc: number;
  readonly cred?: OpaqueAuth;
  readonly verf?: OpaqueAuth;
}

/** Encodes a call: the header, then what `writeArgs` appends. */
export function encodeCall(header: RpcCallHeader, writeArgs: (w: XdrWriter) => void, w = new XdrWriter(128)): Uint8Array {
  w.reset();
  w.uint(header.xid).uint(MsgType.CALL).uint(ONC_RPC_VERSION).uint(header.prog).uint(header.vers).uint(header.proc);
  writeOpaqueAuth(w, header.cred ?? AUTH_NONE);
  writeOpaqueAuth(w, header.verf ?? AUTH_NONE);
  writeArgs(w);
  return w.finish();
}

/** A reply to encode: accepted (`SUCCESS` with `writeResults`) or denied. */
export type RpcReplyInput =
  | ({ readonly accepted: true; readonly verf?: OpaqueAuth } & (
      | { readonly stat: 'SUCCESS'; readonly writeResults: (w: XdrWriter) => void }
      | { readonly stat: 'PROG_MISMATCH'; readonly low: number; readonly high: number }
      | { readonly stat: 'PROG_UNAVAIL' | 'PROC_UNAVAIL' | 'GARBAGE_ARGS' | 'SYSTEM_ERR' }
    ))
  | ({ readonly accepted: false } & DeniedBody);

/** Encodes a reply to the call `xid`. */
export function encodeReply(xid: number, reply: RpcReplyInput, w = new XdrWriter(64)): Uint8Array {
  w.reset();
  w.uint(xid).uint(MsgType.REPLY);
  if (reply.accepted) {
    w.uint(ReplyStat.MSG_ACCEPTED);
    writeOpaqueAuth(w, reply.verf ?? AUTH_NONE);
    w.uint(AcceptStat[reply.stat]);
    if (reply.stat === 'SUCCESS') reply.writeResults(w);
    else if (reply.stat === 'PROG_MISMATCH') w.uint(reply.low).uint(reply.high);
  } else {
    w.uint(ReplyStat.MSG_DENIED).uint(RejectStat[reply.stat]);
    if (reply.stat === 'RPC_MISMATCH') w.uint(reply.low).uint(reply.high);
    else w.uint(reply.auth);
  }
  return w.finish();
}

const ACCEPT_NAMES = ['SUCCESS', 'PROG_UNAVAIL', 'PROG_MISMATCH', 'PROC_UNAVAIL', 'GARBAGE_ARGS', 'SYSTEM_ERR'] as const;

/**
 * Decodes one `rpc_msg` from a peer. Throws an `XdrError` for bytes that
 * are not one: too short, an unknown message type or status, an
 * `opaque_auth` over 400 bytes, bytes left over after a reply's fixed
 * fields. A call's `args` and a `SUCCESS` reply's `results` are the rest
 * of the message, for the procedure's type to decode.
 */
export function decodeMessage(bytes: Uint8Array): RpcMessage {
  const r = new XdrReader(bytes);
  const xid = r.uint();
  const type = r.uint();
  if (type === MsgType.CALL) {
    const rpcvers = r.uint();
    const prog = r.uint();
    const vers = r.uint();
    const proc = r.uint();
    const cred = readOpaqueAuth(r);
    const verf = readOpaqueAuth(r);
    return { type: 'call', xid, rpcvers, prog, vers, proc, cred, verf, args: r.rest() };
  }
  if (type !== MsgType.REPLY) throw new XdrError('ERR_XDR_INVALID', `msg_type ${type} is neither CALL (0) nor REPLY (1)`);
  const replyStat = r.uint();
  if (replyStat === ReplyStat.MSG_ACCEPTED) {
    const verf = readOpaqueAuth(r);
    const code = r.uint();
    const stat = ACCEPT_NAMES[code];
    if (stat === undefined) throw new XdrError('ERR_XDR_INVALID', `accept_stat ${code} is not one RFC 5531 defines`);
    if (stat === 'SUCCESS') return { type: 'reply', xid, accepted: true, verf, stat, results: r.rest() };
    if (stat === 'PROG_MISMATCH') {
      const low = r.uint();
      const high = r.uint();
      r.done();
      return { type: 'reply', xid, accepted: true, verf, stat, low, high };
    }
    r.done();
    return { type: 'reply', xid, accepted: true, verf, stat };
  }
  if (replyStat !== ReplyStat.MSG_DENIED)
    throw new XdrError('ERR_XDR_INVALID', `reply_stat ${replyStat} is neither MSG_ACCEPTED nor MSG_DENIED`);
  const reject = r.uint();
  if (reject === RejectStat.RPC_MISMATCH) {
    const low = r.uint();
    const high = r.uint();
    r.done();
    return { type: 'reply', xid, accepted: false, stat: 'RPC_MISMATCH', low, high };
  }
  if (reject !== RejectStat.AUTH_ERROR)
    throw new XdrError('ERR_XDR_INVALID', `reject_stat ${reject} is neither RPC_MISMATCH nor AUTH_ERROR`);
  const auth = r.uint();
  r.done();
  return { type: 'reply', xid, accepted: false, stat: 'AUTH_ERROR', auth };
}

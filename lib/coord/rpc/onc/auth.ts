/**
 * ONC RPC authentication (RFC 5531 section 8 and appendix A): the
 * `opaque_auth` every call and reply carries (a flavor and at most 400
 * bytes of body), and the two flavors this runtime speaks, `AUTH_NONE` and
 * `AUTH_SYS` (`authsys_parms`: what the caller *claims* to be; nothing
 * proves it, so a server that needs to trust an identity uses the
 * transport's peer identity instead).
 * @module
 */
import { XdrError } from '../../../errors.js';
import { XdrReader, XdrWriter } from '../xdr/stream.js';

/** The largest body of an `opaque_auth` (RFC 5531: `opaque body<400>`). */
export const ONC_MAX_AUTH_BYTES = 400;
/** The longest `machinename` of `authsys_parms` (`string machinename<255>`). */
export const ONC_MAX_MACHINE_NAME = 255;
/** The most supplementary groups of `authsys_parms` (`unsigned int gids<16>`). */
export const ONC_MAX_GIDS = 16;

/** Authentication flavors (RFC 5531 `auth_flavor`). */
export const AuthFlavor = Object.freeze({ AUTH_NONE: 0, AUTH_SYS: 1, AUTH_SHORT: 2, AUTH_DH: 3, RPCSEC_GSS: 6 } as const);

/** `auth_stat`: why a server refused a call's credentials (an `AUTH_ERROR` reply). */
export const AuthStat = Object.freeze({
  AUTH_OK: 0,
  AUTH_BADCRED: 1,
  AUTH_REJECTEDCRED: 2,
  AUTH_BADVERF: 3,
  AUTH_REJECTEDVERF: 4,
  AUTH_TOOWEAK: 5,
  AUTH_INVALIDRESP: 6,
  AUTH_FAILED: 7,
} as const);

/** One of the {@link AuthStat} values. */
export type AuthStatValue = (typeof AuthStat)[keyof typeof AuthStat];

/** An `opaque_auth` as it travels: a flavor number and its body, undecoded. */
export interface OpaqueAuth {
  readonly flavor: number;
  readonly body: Uint8Array;
}

/** `authsys_parms`: the caller's claimed identity. */
export interface AuthSysParms {
  /** An arbitrary id the caller's machine makes up (often a time). */
  readonly stamp: number;
  /** The caller's host name, at most {@link ONC_MAX_MACHINE_NAME} bytes. */
  readonly machinename: string;
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups, at most {@link ONC_MAX_GIDS}. */
  readonly gids: readonly number[];
}

/** A credential, decoded: `AUTH_NONE`, `AUTH_SYS` with its parameters, or another flavor left as bytes. */
export type OncCredential =
  | { readonly flavor: 'none' }
  | ({ readonly flavor: 'sys' } & AuthSysParms)
  | { readonly flavor: 'other'; readonly number: number; readonly body: Uint8Array };

/** `AUTH_NONE` with an empty body: the verifier of most calls and replies. */
export const AUTH_NONE: OpaqueAuth = Object.freeze({ flavor: AuthFlavor.AUTH_NONE, body: new Uint8Array(0) });

/** Writes an `opaque_auth` (a body over 400 bytes is an `XdrError` `ERR_XDR_RANGE`). */
export function writeOpaqueAuth(w: XdrWriter, auth: OpaqueAuth): void {
  w.uint(auth.flavor);
  w.opaque(auth.body, ONC_MAX_AUTH_BYTES);
}

/** Reads an `opaque_auth` (a copy of the body: the message's bytes are not kept). */
export function readOpaqueAuth(r: XdrReader): OpaqueAuth {
  const flavor = r.uint();
  return { flavor, body: r.opaque(ONC_MAX_AUTH_BYTES).slice() };
}

/** The `opaque_auth` of an `AUTH_SYS` credential; the fields are checked against their bounds. */
export function authSys(parms: AuthSysParms): OpaqueAuth {
  if (parms.gids.length > ONC_MAX_GIDS)
    throw new XdrError('ERR_XDR_RANGE', `AUTH_SYS has at most ${ONC_MAX_GIDS} gids, got ${parms.gids.length}`);
  const w = new XdrWriter(64);
  w.uint(parms.stamp);
  w.string(parms.machinename, ONC_MAX_MACHINE_NAME);
  w.uint(parms.uid);
  w.uint(parms.gid);
  w.uint(parms.gids.length);
  for (const g of parms.gids) w.uint(g);
  return { flavor: AuthFlavor.AUTH_SYS, body: w.finish() };
}

/** Decodes a credential: `AUTH_SYS` bodies that do not parse (or have bytes left over) are an `XdrError`. */
export function decodeCredential(auth: OpaqueAuth): OncCredential {
  if (auth.flavor === AuthFlavor.AUTH_NONE) return { flavor: 'none' };
  if (auth.flavor !== AuthFlavor.AUTH_SYS) return { flavor: 'other', number: auth.flavor, body: auth.body };
  const r = new XdrReader(auth.body);
  const stamp = r.uint();
  const machinename = r.string(ONC_MAX_MACHINE_NAME);
  const uid = r.uint();
  const gid = r.uint();
  const n = r.count(ONC_MAX_GIDS, 4);
  const gids: number[] = [];
  for (let i = 0; i < n; i++) gids.push(r.uint());
  r.done();
  return { flavor: 'sys', stamp, machinename, uid, gid, gids };
}

/** Encodes a credential given as {@link OncCredential} (`other` is sent as its bytes). */
export function encodeCredential(cred: OncCredential): OpaqueAuth {
  if (cred.flavor === 'none') return AUTH_NONE;
  if (cred.flavor === 'sys') return authSys(cred);
  return { flavor: cred.number, body: cred.body };
}

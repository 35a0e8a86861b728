/**
 * What an ONC RPC program version is, as a `.x` file declares it (RFC 5531
 * section 12): its numbers and its procedures, each with the XDR types of its
 * argument and result. The `.x` compiler emits one {@link OncVersionSpec} per
 * `version` block; the ONC client and server take them.
 * @module
 */
import type { XdrType } from '../xdr/codec.js';

/** One procedure of a program version. */
export interface OncProcedureSpec<A = unknown, R = unknown> {
  /** Its name in the `.x` file (`EXAMPLE`). */
  readonly name: string;
  /** Its number (`= 1`). Procedure 0 is the null procedure every server answers. */
  readonly number: number;
  /** The argument's type (`xdrVoid` for none). */
  readonly arg: XdrType<A>;
  /** The result's type (`xdrVoid` for none). */
  readonly res: XdrType<R>;
}

/** One version of a program: `program KVSTORE { version KVSTORE_V1 { ... } = 1; } = 0x20000001;`. */
export interface OncVersionSpec {
  /** The program's name (`KVSTORE`). */
  readonly programName: string;
  /** The program number (`0x20000001`). */
  readonly program: number;
  /** The version's name (`KVSTORE_V1`). */
  readonly versionName: string;
  /** The version number (`1`). */
  readonly version: number;
  /** Its procedures, by name. */
  readonly procedures: Readonly<Record<string, OncProcedureSpec>>;
}

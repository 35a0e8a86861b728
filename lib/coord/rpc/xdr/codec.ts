/**
 * Type-directed XDR (RFC 4506): an {@link XdrType} knows how to write and
 * read one type's values with an {@link XdrWriter} / {@link XdrReader}.
 * The primitive types are here; constructed types (enums, structs, unions,
 * arrays, optional data) are built from them, and the `.x` compiler emits
 * code that builds them.
 * @module
 */
import type { XdrReader, XdrWriter } from './stream.js';

/** One XDR type: its name (for errors) and how its values are written and read. */
export interface XdrType<T> {
  /** The type's name as the `.x` file or the builder gave it (`int`, `kv_entry`, `string<255>`). */
  readonly name: string;
  /** Appends `value`; a value the type cannot hold is an `XdrError` (`ERR_XDR_RANGE`). */
  encode(w: XdrWriter, value: T): void;
  /** Reads one value; bytes that are not one are an `XdrError`. */
  decode(r: XdrReader): T;
  /**
   * The fewest bytes one value takes on the wire (a variable-length array's
   * count is checked against it before anything is allocated). Absent: 0.
   */
  readonly minSize?: number;
}

/** The value type an {@link XdrType} carries. */
export type XdrValue<X> = X extends XdrType<infer T> ? T : never;

function primitive<T>(name: string, encode: (w: XdrWriter, v: T) => void, decode: (r: XdrReader) => T, minSize = 4): XdrType<T> {
  return Object.freeze({ name, encode, decode, minSize });
}

/** `void`: nothing on the wire. */
export const xdrVoid: XdrType<void> = primitive(
  'void',
  () => {},
  () => undefined,
  0,
);
/** `int`: a signed 32-bit integer. */
export const xdrInt: XdrType<number> = primitive(
  'int',
  (w, v) => w.int(v),
  (r) => r.int(),
);
/** `unsigned int` (rpcgen's `unsigned`, `u_int`). */
export const xdrUint: XdrType<number> = primitive(
  'unsigned int',
  (w, v) => w.uint(v),
  (r) => r.uint(),
);
/** `hyper`: a signed 64-bit integer, as a bigint. */
export const xdrHyper: XdrType<bigint> = primitive(
  'hyper',
  (w, v) => w.hyper(v),
  (r) => r.hyper(),
  8,
);
/** `unsigned hyper`, as a bigint. */
export const xdrUhyper: XdrType<bigint> = primitive(
  'unsigned hyper',
  (w, v) => w.uhyper(v),
  (r) => r.uhyper(),
  8,
);
/** `float`. */
export const xdrFloat: XdrType<number> = primitive(
  'float',
  (w, v) => w.float(v),
  (r) => r.float(),
);
/** `double`. */
export const xdrDouble: XdrType<number> = primitive(
  'double',
  (w, v) => w.double(v),
  (r) => r.double(),
  8,
);
/** `bool`. */
export const xdrBool: XdrType<boolean> = primitive(
  'bool',
  (w, v) => w.bool(v),
  (r) => r.bool(),
);

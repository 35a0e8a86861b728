/**
 * XDR (RFC 4506): the bounded stream, the type-directed codec and its
 * builders, as the `.x` compiler's generated code uses them.
 * @module
 */
import { xdrFixedArray, xdrArray } from './arrays.js';
import { xdrBool, xdrDouble, xdrFloat, xdrHyper, xdrInt, xdrUhyper, xdrUint, xdrVoid } from './codec.js';
import { xdrStruct, xdrUnion } from './composite.js';
import { xdrOptional, xdrRef } from './optional.js';
import { xdrEnum, xdrFixedOpaque, xdrOpaque, xdrString } from './scalars.js';
import { XdrReader, XdrWriter, type XdrReaderOptions } from './stream.js';
import type { XdrType } from './codec.js';

export {
  XDR_DEFAULT_MAX_DEPTH,
  XDR_DEFAULT_MAX_LIST_LENGTH,
  XDR_MAX_LENGTH,
  XDR_WRITER_MAX_DEPTH,
  XdrReader,
  XdrWriter,
  type XdrReaderOptions,
} from './stream.js';
export { xdrBool, xdrDouble, xdrFloat, xdrHyper, xdrInt, xdrUhyper, xdrUint, xdrVoid, type XdrType, type XdrValue } from './codec.js';
export { xdrEnum, xdrFixedOpaque, xdrOpaque, xdrString, type XdrEnumType } from './scalars.js';
export { xdrArray, xdrFixedArray } from './arrays.js';
export {
  xdrStruct,
  xdrUnion,
  type XdrArm,
  type XdrDiscriminant,
  type XdrField,
  type XdrStructType,
  type XdrStructValue,
} from './composite.js';
export { xdrOptional, xdrRef, type XdrOptionalType, type XdrRefType } from './optional.js';

/** Encodes one value of `type` to a new buffer (a convenience over {@link XdrWriter}). */
export function xdrEncode<T>(type: XdrType<T>, value: T): Uint8Array {
  const w = new XdrWriter();
  type.encode(w, value);
  return w.finish();
}

/**
 * Decodes one value of `type` from `bytes`, which must hold exactly that
 * value (trailing bytes are `ERR_XDR_INVALID`).
 */
export function xdrDecode<T>(type: XdrType<T>, bytes: Uint8Array, options?: XdrReaderOptions): T {
  const r = new XdrReader(bytes, options);
  const v = type.decode(r);
  r.done();
  return v;
}

/**
 * The builders and primitive types under short names, for hand-written
 * schemas: `xdr.struct('point', [['x', xdr.int], ['y', xdr.int]])`.
 */
export const xdr = Object.freeze({
  void: xdrVoid,
  int: xdrInt,
  uint: xdrUint,
  hyper: xdrHyper,
  uhyper: xdrUhyper,
  float: xdrFloat,
  double: xdrDouble,
  bool: xdrBool,
  enum: xdrEnum,
  string: xdrString,
  opaque: xdrOpaque,
  fixedOpaque: xdrFixedOpaque,
  array: xdrArray,
  fixedArray: xdrFixedArray,
  struct: xdrStruct,
  union: xdrUnion,
  optional: xdrOptional,
  ref: xdrRef,
  encode: xdrEncode,
  decode: xdrDecode,
});

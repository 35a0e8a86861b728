/**
 * XDR's enumerations, strings and opaque data (RFC 4506 sections 4.3, 4.9-4.11).
 * @module
 */
import { XdrError } from '../../../errors.js';
import type { XdrType } from './codec.js';
import { XDR_MAX_LENGTH } from './stream.js';

const pad = (n: number): number => (4 - (n & 3)) & 3;

function checkBound(max: number, what: string): number {
  if (!Number.isInteger(max) || max < 0 || max > XDR_MAX_LENGTH) {
    throw new RangeError(
      `The value of "max" (${what}) is out of range. It must be an integer >= 0 and <= ${XDR_MAX_LENGTH}. Received ${max}`,
    );
  }
  return max;
}

/** An {@link XdrType} of an `enum`, which also carries the enumerators it declares. */
export interface XdrEnumType<E extends Readonly<Record<string, number>>> extends XdrType<E[keyof E]> {
  /** The enumerators, by name (`{ RED: 0, GREEN: 1 }`). */
  readonly values: E;
  /** The enumerator's name of a value, or undefined when the enum does not declare it. */
  nameOf(value: number): keyof E | undefined;
}

/**
 * `enum name { A = 0, B = 1 }`: its values are the declared numbers, as in
 * the C that rpcgen generates (`A` is the constant 0), so a value read from a
 * C peer, a union's case label and the `.x` file's constants are the same
 * numbers. Writing or reading a number the enum does not declare is an error
 * (`ERR_XDR_RANGE` / `ERR_XDR_INVALID`).
 */
export function xdrEnum<const E extends Readonly<Record<string, number>>>(name: string, values: E): XdrEnumType<E> {
  const names = new Map<number, keyof E>();
  for (const [k, v] of Object.entries(values)) {
    if (!Number.isInteger(v) || v < -0x8000_0000 || v > 0x7fff_ffff) throw new RangeError(`enum ${name}: ${k} = ${v} is not a 32-bit int`);
    if (!names.has(v)) names.set(v, k);
  }
  return Object.freeze<XdrEnumType<E>>({
    name,
    minSize: 4,
    values: Object.freeze({ ...values }),
    nameOf: (v: number) => names.get(v),
    encode(w, v) {
      if (!names.has(v)) throw new XdrError('ERR_XDR_RANGE', `${String(v)} is not a value of enum ${name}`);
      w.int(v);
    },
    decode(r) {
      const at = r.offset;
      const v = r.int();
      if (!names.has(v)) throw new XdrError('ERR_XDR_INVALID', `enum ${name} at offset ${at} has no value ${v}`);
      return v as E[keyof E];
    },
  });
}

/** `string name<max>` (`<>`: no bound but XDR's 2^32 - 1), as a JavaScript string (UTF-8 on the wire). */
export function xdrString(max: number = XDR_MAX_LENGTH): XdrType<string> {
  checkBound(max, 'string');
  return Object.freeze<XdrType<string>>({
    name: max === XDR_MAX_LENGTH ? 'string<>' : `string<${max}>`,
    minSize: 4,
    encode(w, v) {
      if (typeof v !== 'string') throw new XdrError('ERR_XDR_RANGE', `string expected, got ${typeof v}`);
      w.string(v, max);
    },
    decode: (r) => r.string(max),
  });
}

/** `opaque name<max>`: variable-length bytes (decoded as a copy, a plain Uint8Array, so it outlives the message). */
export function xdrOpaque(max: number = XDR_MAX_LENGTH): XdrType<Uint8Array> {
  checkBound(max, 'opaque');
  return Object.freeze<XdrType<Uint8Array>>({
    name: max === XDR_MAX_LENGTH ? 'opaque<>' : `opaque<${max}>`,
    minSize: 4,
    encode(w, v) {
      if (!(v instanceof Uint8Array)) throw new XdrError('ERR_XDR_RANGE', 'opaque data must be a Uint8Array');
      w.opaque(v, max);
    },
    decode: (r) => new Uint8Array(r.opaque(max)), // a copy (Buffer's slice is a view)
  });
}

/** `opaque name[n]`: exactly `n` bytes (decoded as a copy). */
export function xdrFixedOpaque(n: number): XdrType<Uint8Array> {
  checkBound(n, 'fixed opaque');
  return Object.freeze<XdrType<Uint8Array>>({
    name: `opaque[${n}]`,
    minSize: n + pad(n),
    encode(w, v) {
      if (!(v instanceof Uint8Array)) throw new XdrError('ERR_XDR_RANGE', 'opaque data must be a Uint8Array');
      w.opaqueFixed(v, n);
    },
    decode: (r) => new Uint8Array(r.opaqueFixed(n)),
  });
}

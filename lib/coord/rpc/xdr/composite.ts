/**
 * XDR's structures and discriminated unions (RFC 4506 sections 4.14, 4.15).
 * @module
 */
import { XdrError } from '../../../errors.js';
import type { XdrType } from './codec.js';
import type { XdrReader, XdrWriter } from './stream.js';

/** One field of a structure (or a union's arm): its name and its type. */
export type XdrField = readonly [name: string, type: XdrType<any>]; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The object type a list of {@link XdrField}s describes. */
export type XdrStructValue<F extends readonly XdrField[]> = {
  -readonly [K in F[number] as K[0]]: K[1] extends XdrType<infer V> ? V : never;
};

/** An {@link XdrType} of a `struct`, which also lists its fields. */
export interface XdrStructType<T> extends XdrType<T> {
  /** The fields, in their order on the wire. */
  readonly fields: readonly XdrField[];
  /** Writes the first `count` fields of `value`. @internal (the linked-list loop of `xdrOptional`) */
  encodeFields(w: XdrWriter, value: T, count: number): void;
  /** Reads the first `count` fields into `into`. @internal */
  decodeFields(r: XdrReader, into: Record<string, unknown>, count: number): void;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** Prefixes an encode error with the field it happened in (`kv_entry.key: ...`). */
function inField(err: unknown, type: string, field: string): unknown {
  // Bounded: a deep value's error is prefixed by the first few levels only.
  if (!(err instanceof XdrError) || err.message.length > 300) return err;
  return new XdrError(err.code, `${type}.${field}: ${err.message}`, { cause: err });
}

/**
 * `struct name { T1 f1; T2 f2; }`: the fields in order, nothing else on the
 * wire. The value is an object with one property per field (extra properties
 * are ignored when writing). Without a type argument the value type is
 * inferred from the fields.
 */
export function xdrStruct<const F extends readonly XdrField[]>(name: string, fields: F): XdrStructType<XdrStructValue<F>>;
/** @see the overload above; `T` is the value type the caller declares (the `.x` compiler's interfaces). */
export function xdrStruct<T>(name: string, fields: readonly XdrField[]): XdrStructType<T>;
export function xdrStruct(name: string, fields: readonly XdrField[]): XdrStructType<Record<string, unknown>> {
  const list = Object.freeze(fields.map(([f, t]) => Object.freeze([f, t] as const)));
  const seen = new Set<string>();
  for (const [f] of list) {
    refuseProto(f, `struct ${name}: field`);
    if (seen.has(f)) throw new TypeError(`struct ${name}: duplicate field ${f}`);
    seen.add(f);
  }
  let minSize: number | undefined;
  const encodeFields = (w: XdrWriter, v: Record<string, unknown>, count: number): void => {
    if (!isObject(v)) throw new XdrError('ERR_XDR_RANGE', `struct ${name} expects an object, got ${v === null ? 'null' : typeof v}`);
    for (let i = 0; i < count; i++) {
      const [f, t] = list[i]!;
      try {
        t.encode(w, v[f]);
      } catch (err) {
        throw inField(err, name, f);
      }
    }
  };
  const decodeFields = (r: XdrReader, into: Record<string, unknown>, count: number): void => {
    for (let i = 0; i < count; i++) {
      const [f, t] = list[i]!;
      into[f] = t.decode(r);
    }
  };
  return Object.freeze({
    name,
    fields: list,
    get minSize() {
      return (minSize ??= list.reduce((n, [, t]) => n + (t.minSize ?? 0), 0));
    },
    encodeFields,
    decodeFields,
    encode: (w: XdrWriter, v: Record<string, unknown>) => encodeFields(w, v, list.length),
    decode(r: XdrReader) {
      const out: Record<string, unknown> = {};
      decodeFields(r, out, list.length);
      return out;
    },
  });
}

/** `into.__proto__ = v` sets the prototype, not a property: a field of that name could not hold its value (or would take a peer's). */
function refuseProto(field: string, what: string): void {
  if (field === '__proto__') throw new TypeError(`${what} ${field}: the name is reserved (it is the prototype of a JavaScript object)`);
}

/** A discriminant value of a union: an int, unsigned int or enum (a number) or a bool. */
export type XdrDiscriminant = number | boolean;

/** One arm of a union: the field it carries, or `null` for `void`. */
export type XdrArm = XdrField | null;

/**
 * `union name switch (D d) { case 1: T1 a; case 2: void; default: T3 c; }`:
 * the discriminant, then the arm it selects. The value is an object with the
 * discriminant's property and the arm's field (none for a `void` arm), so in
 * TypeScript it is a discriminated union: `{ d: 1; a: T1 } | { d: 2 } | ...`.
 *
 * @param discriminant The discriminant's field name and type (`xdrInt`, `xdrUint`, `xdrBool` or an `xdrEnum`).
 * @param arms The cases: `[value, arm]` pairs (an array or a `Map`); several values may share one arm.
 * @param defaultArm The `default:` arm (`null`: `default: void;`); absent (`undefined`), a
 *   discriminant no case names is `ERR_XDR_RANGE` to write and `ERR_XDR_INVALID` to read.
 */
export function xdrUnion<T = Record<string, unknown>>(
  name: string,
  discriminant: readonly [name: string, type: XdrType<any>], // eslint-disable-line @typescript-eslint/no-explicit-any
  arms: Iterable<readonly [XdrDiscriminant, XdrArm]>,
  defaultArm?: XdrArm,
): XdrType<T> {
  const [dName, dType] = discriminant;
  refuseProto(dName, `union ${name}: discriminant`);
  if (defaultArm) refuseProto(defaultArm[0], `union ${name}: arm`);
  const cases = new Map<XdrDiscriminant, XdrArm>();
  for (const [value, arm] of arms) {
    if (arm !== null) refuseProto(arm[0], `union ${name}: arm`);
    if (cases.has(value)) throw new TypeError(`union ${name}: duplicate case ${String(value)}`);
    if (arm !== null && arm[0] === dName) throw new TypeError(`union ${name}: arm field ${arm[0]} has the discriminant's name`);
    cases.set(value, arm);
  }
  const hasDefault = defaultArm !== undefined;
  const armOf = (d: XdrDiscriminant): XdrArm | undefined => (cases.has(d) ? cases.get(d) : hasDefault ? defaultArm : undefined);
  return Object.freeze({
    name,
    get minSize() {
      return dType.minSize ?? 4;
    },
    encode(w: XdrWriter, v: T) {
      if (!isObject(v)) throw new XdrError('ERR_XDR_RANGE', `union ${name} expects an object, got ${v === null ? 'null' : typeof v}`);
      const d = v[dName] as XdrDiscriminant;
      const arm = armOf(d);
      if (arm === undefined) throw new XdrError('ERR_XDR_RANGE', `union ${name}: no arm for ${dName} = ${String(d)}`);
      dType.encode(w, d);
      if (arm !== null) {
        try {
          arm[1].encode(w, v[arm[0]]);
        } catch (err) {
          throw inField(err, name, arm[0]);
        }
      }
    },
    decode(r: XdrReader): T {
      const at = r.offset;
      const d = dType.decode(r) as XdrDiscriminant;
      const arm = armOf(d);
      if (arm === undefined) throw new XdrError('ERR_XDR_INVALID', `union ${name} at offset ${at}: no arm for ${dName} = ${String(d)}`);
      const out: Record<string, unknown> = { [dName]: d };
      if (arm !== null) out[arm[0]] = arm[1].decode(r);
      return out as T;
    },
  });
}

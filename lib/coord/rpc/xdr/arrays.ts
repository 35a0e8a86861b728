/**
 * XDR's arrays (RFC 4506 sections 4.12, 4.13): fixed-length `T name[n]` and
 * variable-length `T name<max>`.
 * @module
 */
import { XdrError } from '../../../errors.js';
import type { XdrType } from './codec.js';
import { XDR_MAX_LENGTH } from './stream.js';

/** `T name<max>` (`<>`: no bound but 2^32 - 1): a count, then the elements. */
export function xdrArray<T>(elem: XdrType<T>, max: number = XDR_MAX_LENGTH): XdrType<T[]> {
  if (!Number.isInteger(max) || max < 0 || max > XDR_MAX_LENGTH)
    throw new RangeError(`The value of "max" is out of range. Received ${max}`);
  return Object.freeze<XdrType<T[]>>({
    get name() {
      return `${elem.name}<${max === XDR_MAX_LENGTH ? '' : max}>`; // a getter: elem may be an xdrRef not yet defined
    },
    minSize: 4,
    encode(w, v) {
      if (!Array.isArray(v)) throw new XdrError('ERR_XDR_RANGE', `${elem.name}<> expects an array`);
      if (v.length > max) throw new XdrError('ERR_XDR_RANGE', `array of ${v.length} elements over its bound of ${max}`);
      w.uint(v.length);
      w.enter();
      for (const e of v) elem.encode(w, e);
      w.leave();
    },
    decode(r) {
      const n = r.count(max, elem.minSize ?? 0);
      const out: T[] = [];
      r.enter(); // a type may recurse through an array (`struct tree { tree kids<>; }`)
      for (let i = 0; i < n; i++) out.push(elem.decode(r));
      r.leave();
      return out;
    },
  });
}

/** `T name[n]`: exactly `n` elements, no count on the wire. */
export function xdrFixedArray<T>(elem: XdrType<T>, n: number): XdrType<T[]> {
  if (!Number.isInteger(n) || n < 0 || n > XDR_MAX_LENGTH) throw new RangeError(`The value of "n" is out of range. Received ${n}`);
  return Object.freeze<XdrType<T[]>>({
    get name() {
      return `${elem.name}[${n}]`;
    },
    get minSize() {
      return n * (elem.minSize ?? 0);
    },
    encode(w, v) {
      if (!Array.isArray(v) || v.length !== n) {
        throw new XdrError(
          'ERR_XDR_RANGE',
          `${elem.name}[${n}] expects an array of ${n} elements, got ${Array.isArray(v) ? v.length : typeof v}`,
        );
      }
      for (const e of v) elem.encode(w, e);
    },
    decode(r) {
      const size = elem.minSize ?? 0;
      if (size > 0 && n > r.remaining / size)
        throw new XdrError('ERR_XDR_SHORT', `${elem.name}[${n}] at offset ${r.offset}: ${r.remaining} bytes left cannot hold it`);
      if (size <= 0) r.zeroSizeCount(n);
      const out: T[] = [];
      for (let i = 0; i < n; i++) out.push(elem.decode(r));
      return out;
    },
  });
}

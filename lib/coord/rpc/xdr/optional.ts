/**
 * XDR's optional data (`T *name`, RFC 4506 section 4.19) and lazy references
 * for recursive types. A linked list (`struct node { ...; node *next; }`,
 * rpcgen's most common recursive type) is written and read in a loop rather
 * than by recursion, so that a long list cannot overflow the stack: its nodes
 * are bounded by the reader's `maxListLength`; any other recursion through
 * optional data or arrays by the reader's `maxDepth` (and the writer's).
 * @module
 */
import { XdrError } from '../../../errors.js';
import type { XdrType } from './codec.js';
import type { XdrStructType } from './composite.js';
import type { XdrReader, XdrWriter } from './stream.js';

/** An {@link XdrType} of optional data, which also names the type it holds. */
export interface XdrOptionalType<T> extends XdrType<T | null> {
  /** The type of the value when present. */
  readonly target: XdrType<T>;
}

/** An {@link XdrType} that stands for another one, found when first used (see {@link xdrRef}). */
export interface XdrRefType<T> extends XdrType<T> {
  /** The type referred to. */
  deref(): XdrType<T>;
}

/** Encoding more list nodes than this is `ERR_XDR_RANGE` (a cycle in the value, most likely). */
const MAX_ENCODED_LIST = 1 << 24;

function resolve(t: XdrType<unknown>): XdrType<unknown> {
  for (let i = 0; i < 64 && 'deref' in t && typeof t.deref === 'function'; i++) t = (t as XdrRefType<unknown>).deref();
  return t;
}

function isStruct(t: XdrType<unknown>): t is XdrStructType<Record<string, unknown>> {
  return 'fields' in t && 'encodeFields' in t;
}

function isOptional(t: XdrType<unknown>): t is XdrOptionalType<unknown> {
  return 'target' in t;
}

/** The struct and its link field, when `target` is a struct whose last field is optional data of itself. */
function listShape(target: XdrType<unknown>): { struct: XdrStructType<Record<string, unknown>>; link: string } | null {
  const s = resolve(target);
  if (isOptional(s)) throw new TypeError(`optional data of optional data (${s.name} *) is ambiguous: both absences are null`);
  if (!isStruct(s) || s.fields.length === 0) return null;
  const [link, lt] = s.fields[s.fields.length - 1]!;
  const l = resolve(lt);
  return isOptional(l) && resolve(l.target) === s ? { struct: s, link } : null;
}

/**
 * `T *name`: a bool (present or not), then the value when present. The value
 * is `null` when absent (`undefined` is also written as absent).
 */
export function xdrOptional<T>(target: XdrType<T>): XdrOptionalType<T> {
  if (isOptional(target)) throw new TypeError(`optional data of optional data (${target.name} *) is ambiguous: both absences are null`);
  let shape: ReturnType<typeof listShape> | undefined;
  const list = () => (shape === undefined ? (shape = listShape(target)) : shape);
  return Object.freeze({
    get name() {
      return `${target.name} *`;
    },
    minSize: 4,
    target,
    encode(w: XdrWriter, v: T | null) {
      const l = list();
      if (l === null || v === null || v === undefined) {
        w.bool(v !== null && v !== undefined);
        if (v === null || v === undefined) return;
        w.enter();
        target.encode(w, v);
        w.leave();
        return;
      }
      const last = l.struct.fields.length - 1;
      let node = v as unknown as Record<string, unknown> | null | undefined;
      for (let n = 0; node !== null && node !== undefined; n++) {
        if (n >= MAX_ENCODED_LIST)
          throw new XdrError('ERR_XDR_RANGE', `list ${l.struct.name} longer than ${MAX_ENCODED_LIST} nodes (a cycle?)`);
        w.bool(true);
        l.struct.encodeFields(w, node, last);
        node = node[l.link] as Record<string, unknown> | null | undefined;
      }
      w.bool(false);
    },
    decode(r: XdrReader): T | null {
      const l = list();
      if (l === null) {
        if (!r.bool()) return null;
        r.enter();
        const v = target.decode(r);
        r.leave();
        return v;
      }
      const last = l.struct.fields.length - 1;
      let head: Record<string, unknown> | null = null;
      let tail: Record<string, unknown> | null = null;
      r.enter();
      for (let n = 0; r.bool(); n++) {
        if (n >= r.maxListLength)
          throw new XdrError('ERR_XDR_LIMIT', `list ${l.struct.name} longer than ${r.maxListLength} nodes at offset ${r.offset}`);
        const node: Record<string, unknown> = {};
        l.struct.decodeFields(r, node, last);
        node[l.link] = null;
        if (tail === null) head = node;
        else tail[l.link] = node;
        tail = node;
      }
      r.leave();
      return head as T | null;
    },
  });
}

/**
 * A reference to a type defined later, or to the type being defined
 * (`struct node { int v; node *next; }`): `get` is called when the type is
 * first used, not when the reference is made.
 */
export function xdrRef<T>(get: () => XdrType<T>, name?: string): XdrRefType<T> {
  let t: XdrType<T> | undefined;
  const deref = (): XdrType<T> => (t ??= get());
  return Object.freeze({
    get name() {
      return name ?? deref().name;
    },
    get minSize() {
      return deref().minSize;
    },
    deref,
    encode: (w: XdrWriter, v: T) => deref().encode(w, v),
    decode: (r: XdrReader) => deref().decode(r),
  });
}

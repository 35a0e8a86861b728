// The XDR builders: every one by itself, then random composite types whose
// bytes must equal those of an independent implementation, @stellar/js-xdr
// (a devDependency, a test oracle only), for random values; then hostile
// bytes: huge counts, deep optional chains, long lists: an XdrError, never a
// crash, a hang or a huge allocation.
import * as js from '@stellar/js-xdr';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  XdrWriter,
  xdr,
  xdrArray,
  xdrBool,
  xdrDecode,
  xdrDouble,
  xdrEncode,
  xdrEnum,
  xdrFixedArray,
  xdrFixedOpaque,
  xdrFloat,
  xdrHyper,
  xdrInt,
  xdrOpaque,
  xdrOptional,
  xdrRef,
  xdrString,
  xdrStruct,
  xdrUhyper,
  xdrUint,
  xdrUnion,
  xdrVoid,
  type XdrType,
} from '../lib/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const code = (c: string) => expect.objectContaining({ name: 'XdrError', code: c });
const roundTrip = <T>(t: XdrType<T>, v: T): T => xdrDecode(t, xdrEncode(t, v));

describe('builders', () => {
  it('xdrEnum: the declared numbers; an undeclared one is ERR_XDR_RANGE to write, ERR_XDR_INVALID to read', () => {
    const color = xdrEnum('color', { RED: 0, GREEN: 1, BLUE: -5 });
    expect(hex(xdrEncode(color, -5))).toBe('fffffffb');
    expect(roundTrip(color, color.values.GREEN)).toBe(1);
    expect(color.nameOf(-5)).toBe('BLUE');
    expect(() => xdrEncode(color, 2 as 0)).toThrow(code('ERR_XDR_RANGE'));
    expect(() => xdrDecode(color, Uint8Array.of(0, 0, 0, 2))).toThrow(code('ERR_XDR_INVALID'));
  });

  it('xdrString and xdrOpaque: bounded, padded; a copy when read', () => {
    expect(hex(xdrEncode(xdrString(5), 'abc'))).toBe('0000000361626300');
    expect(() => xdrEncode(xdrString(2), 'abc')).toThrow(code('ERR_XDR_RANGE'));
    expect(() => xdrDecode(xdrString(2), Uint8Array.of(0, 0, 0, 3, 97, 98, 99, 0))).toThrow(code('ERR_XDR_LIMIT'));
    const wire = Buffer.from('0000000201020000', 'hex');
    const o = xdrDecode(xdrOpaque(4), wire);
    expect(o).toEqual(Uint8Array.of(1, 2));
    expect(o.buffer).not.toBe(wire.buffer);
    expect(Object.getPrototypeOf(o)).toBe(Uint8Array.prototype);
    expect(hex(xdrEncode(xdrFixedOpaque(3), Uint8Array.of(1, 2, 3)))).toBe('01020300');
    expect(() => xdrEncode(xdrFixedOpaque(3), Uint8Array.of(1))).toThrow(code('ERR_XDR_RANGE'));
    expect(() => xdrEncode(xdrOpaque(), 'text' as unknown as Uint8Array)).toThrow(code('ERR_XDR_RANGE'));
    expect(() => xdrString(-1)).toThrow(RangeError);
  });

  it('xdrArray and xdrFixedArray', () => {
    expect(hex(xdrEncode(xdrArray(xdrInt, 3), [1, -1]))).toBe('0000000200000001ffffffff');
    expect(() => xdrEncode(xdrArray(xdrInt, 1), [1, 2])).toThrow(code('ERR_XDR_RANGE'));
    expect(() => xdrDecode(xdrArray(xdrInt, 1), Buffer.from('000000020000000100000002', 'hex'))).toThrow(code('ERR_XDR_LIMIT'));
    expect(hex(xdrEncode(xdrFixedArray(xdrHyper, 2), [1n, 2n]))).toBe('00000000000000010000000000000002');
    expect(() => xdrEncode(xdrFixedArray(xdrInt, 2), [1])).toThrow(code('ERR_XDR_RANGE'));
    expect(roundTrip(xdrArray(xdrString()), ['a', '', 'bc'])).toEqual(['a', '', 'bc']);
  });

  it('xdrStruct: fields in order, a typed value, errors name the field', () => {
    const point = xdrStruct('point', [
      ['x', xdrInt],
      ['label', xdrString(4)],
    ] as const);
    const v: { x: number; label: string } = { x: 3, label: 'ab' };
    expect(hex(xdrEncode(point, v))).toBe('00000003' + '000000026162' + '0000');
    expect(roundTrip(point, v)).toEqual(v);
    expect(() => xdrEncode(point, { x: 1, label: 'abcde' })).toThrow(/point\.label: string of 5 bytes/);
    expect(() => xdrEncode(point, null as never)).toThrow(code('ERR_XDR_RANGE'));
    expect(() => xdrEncode(point, { x: 1 } as never)).toThrow(code('ERR_XDR_RANGE'));
    expect(() =>
      xdrStruct('dup', [
        ['a', xdrInt],
        ['a', xdrInt],
      ]),
    ).toThrow(TypeError);
  });

  it('xdrUnion: a discriminated union; default and void arms; an unknown discriminant', () => {
    type U = { k: 1; a: number } | { k: 2 } | { k: number; s: string };
    const u = xdrUnion<U>(
      'u',
      ['k', xdrInt],
      [
        [1, ['a', xdrInt]],
        [2, null],
      ],
      ['s', xdrString()],
    );
    expect(hex(xdrEncode(u, { k: 1, a: 7 }))).toBe('0000000100000007');
    expect(hex(xdrEncode(u, { k: 2 }))).toBe('00000002');
    expect(roundTrip(u, { k: 9, s: 'x' })).toEqual({ k: 9, s: 'x' });
    const strict = xdrUnion('s', ['b', xdrBool], [[true, ['v', xdrHyper]]]);
    expect(roundTrip(strict, { b: true, v: -1n })).toEqual({ b: true, v: -1n });
    expect(() => xdrEncode(strict, { b: false })).toThrow(code('ERR_XDR_RANGE'));
    expect(() => xdrDecode(strict, Uint8Array.of(0, 0, 0, 0))).toThrow(code('ERR_XDR_INVALID'));
    const shared = xdrUnion(
      'sh',
      ['k', xdrUint],
      [
        [1, ['d', xdrDouble]],
        [2, ['d', xdrDouble]],
        [3, null],
      ],
    );
    expect(roundTrip(shared, { k: 2, d: 0.5 })).toEqual({ k: 2, d: 0.5 });
  });

  it('xdrOptional and xdrRef: null when absent; recursive types', () => {
    expect(hex(xdrEncode(xdrOptional(xdrInt), null))).toBe('00000000');
    expect(hex(xdrEncode(xdrOptional(xdrInt), 5))).toBe('0000000100000005');
    type Tree = { v: number; kids: Tree[] };
    const tree: XdrType<Tree> = xdrStruct<Tree>('tree', [
      ['v', xdrInt],
      ['kids', xdrArray(xdrRef(() => tree))],
    ]);
    const t: Tree = {
      v: 1,
      kids: [
        { v: 2, kids: [] },
        { v: 3, kids: [{ v: 4, kids: [] }] },
      ],
    };
    expect(roundTrip(tree, t)).toEqual(t);
    expect(xdrRef(() => tree).name).toBe('tree');
    expect(() => xdrOptional(xdrOptional(xdrInt))).toThrow(TypeError);
  });

  it('primitives and the xdr namespace', () => {
    expect(xdr.int).toBe(xdrInt);
    expect(hex(xdrEncode(xdrVoid, undefined))).toBe('');
    expect(roundTrip(xdrUhyper, 2n ** 64n - 1n)).toBe(2n ** 64n - 1n);
    expect(roundTrip(xdrFloat, 0.1)).toBe(Math.fround(0.1));
    expect(() => xdrDecode(xdrInt, Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 0))).toThrow(code('ERR_XDR_INVALID'));
  });
});

// ---- random composite types against @stellar/js-xdr ----

/** One random type: ours, the oracle's, an arbitrary of its values, and how a value looks to the oracle (strings as bytes). */
interface Pair {
  ours: XdrType<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  theirs: js.XdrType<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  values: fc.Arbitrary<unknown>;
  conv: (v: any) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any
  desc: string;
}
const id = (v: unknown): unknown => v;
let uniq = 0;
const utf8 = new TextEncoder();

const leaf: fc.Arbitrary<Pair> = fc.oneof(
  fc.constant<Pair>({ ours: xdrInt, theirs: js.int32(), values: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), conv: id, desc: 'int' }),
  fc.constant<Pair>({ ours: xdrUint, theirs: js.uint32(), values: fc.integer({ min: 0, max: 2 ** 32 - 1 }), conv: id, desc: 'uint' }),
  fc.constant<Pair>({
    ours: xdrHyper,
    theirs: js.int64(),
    values: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    conv: id,
    desc: 'hyper',
  }),
  fc.constant<Pair>({
    ours: xdrUhyper,
    theirs: js.uint64(),
    values: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    conv: id,
    desc: 'uhyper',
  }),
  fc.constant<Pair>({ ours: xdrBool, theirs: js.bool(), values: fc.boolean(), conv: id, desc: 'bool' }),
  fc.constant<Pair>({ ours: xdrDouble, theirs: js.double(), values: fc.double({ noNaN: true }), conv: id, desc: 'double' }),
  fc.constant<Pair>({ ours: xdrFloat, theirs: js.float(), values: fc.float({ noNaN: true }), conv: id, desc: 'float' }),
  fc.integer({ min: 0, max: 12 }).map<Pair>((max) => ({
    ours: xdrString(max),
    theirs: js.string(max),
    values: fc.string({ maxLength: max }).filter((s) => utf8.encode(s).length <= max),
    conv: (s: string) => utf8.encode(s),
    desc: `string<${max}>`,
  })),
  fc.integer({ min: 0, max: 12 }).map<Pair>((max) => ({
    ours: xdrOpaque(max),
    theirs: js.varOpaque(max),
    values: fc.uint8Array({ maxLength: max }),
    conv: id,
    desc: `opaque<${max}>`,
  })),
  fc.integer({ min: 1, max: 9 }).map<Pair>((n) => ({
    ours: xdrFixedOpaque(n),
    theirs: js.opaque(n),
    values: fc.uint8Array({ minLength: n, maxLength: n }),
    conv: id,
    desc: `opaque[${n}]`,
  })),
  fc.uniqueArray(fc.integer({ min: -100, max: 100 }), { minLength: 1, maxLength: 5 }).map<Pair>((vals) => {
    const name = `e${uniq++}`;
    const members = Object.fromEntries(vals.map((v, i) => [`M${i}`, v]));
    return {
      ours: xdrEnum(name, members),
      theirs: js.enumType(name, members),
      values: fc.constantFrom(...vals),
      conv: id,
      desc: `enum{${vals}}`,
    };
  }),
);

const composite = fc.letrec<{ t: Pair }>((tie) => ({
  t: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    ...[
      fc.tuple(tie('t'), fc.integer({ min: 0, max: 4 })).map<Pair>(([e, max]) => ({
        ours: xdrArray(e.ours, max),
        theirs: js.array(e.theirs, max),
        values: fc.array(e.values, { maxLength: max }),
        conv: (a: unknown[]) => a.map(e.conv),
        desc: `${e.desc}<${max}>`,
      })),
      // js-xdr refuses array elements of zero bytes: no opaque[0], no T[0].
      fc.tuple(tie('t'), fc.integer({ min: 1, max: 3 })).map<Pair>(([e, n]) => ({
        ours: xdrFixedArray(e.ours, n),
        theirs: js.fixedArray(e.theirs, n),
        values: fc.array(e.values, { minLength: n, maxLength: n }),
        conv: (a: unknown[]) => a.map(e.conv),
        desc: `${e.desc}[${n}]`,
      })),
      tie('t')
        .filter((e) => !e.desc.endsWith('*')) // T** is ambiguous (both absences are null): refused by both
        .map<Pair>((e) => ({
          ours: xdrOptional(e.ours),
          theirs: js.option(e.theirs),
          values: fc.option(e.values, { nil: null }),
          conv: (v: unknown) => (v === null ? null : e.conv(v)),
          desc: `${e.desc}*`,
        })),
      fc.array(tie('t'), { minLength: 1, maxLength: 4 }).map<Pair>((fs) => {
        const name = `s${uniq++}`;
        const names = fs.map((_, i) => `f${i}`);
        return {
          ours: xdrStruct(
            name,
            fs.map((f, i) => [names[i]!, f.ours] as const),
          ),
          theirs: js.struct(name, Object.fromEntries(fs.map((f, i) => [names[i]!, f.theirs]))),
          values: fc.tuple(...fs.map((f) => f.values)).map((vs) => Object.fromEntries(vs.map((v, i) => [names[i]!, v]))),
          conv: (o: Record<string, unknown>) => Object.fromEntries(fs.map((f, i) => [names[i]!, f.conv(o[names[i]!])])),
          desc: `struct{${fs.map((f) => f.desc).join(';')}}`,
        };
      }),
      fc
        .tuple(
          fc.array(fc.option(tie('t'), { nil: null }), { minLength: 1, maxLength: 3 }),
          fc.option(fc.option(tie('t'), { nil: null }), { nil: undefined }),
        )
        .map<Pair>(([arms, dflt]) => {
          const name = `u${uniq++}`;
          // Cases 0..n-1; each arm carries field a<i> or nothing; the default (if any) field z.
          const ours = xdrUnion(
            name,
            ['k', xdrInt],
            arms.map((a, i) => [i, a === null ? null : ([`a${i}`, a.ours] as const)] as const),
            dflt === undefined ? undefined : dflt === null ? null : ['z', dflt.ours],
          );
          const theirs = js.union(name, {
            switchOn: js.int32(),
            switchKey: 'k',
            cases: arms.map((a, i) => js.case(`c${i}`, i, a === null ? js.void() : js.field(`a${i}`, a.theirs))),
            ...(dflt === undefined ? {} : { defaultArm: dflt === null ? js.void() : js.field('z', dflt.theirs) }),
          });
          const caseValue = fc.integer({ min: 0, max: arms.length - 1 }).chain((i) => {
            const a = arms[i]!;
            return a === null ? fc.constant({ k: i }) : a.values.map((v) => ({ k: i, [`a${i}`]: v }));
          });
          const defaultValue =
            dflt === undefined
              ? null
              : fc
                  .integer({ min: arms.length, max: 1000 })
                  .chain((k) => (dflt === null ? fc.constant({ k }) : dflt.values.map((v) => ({ k, z: v }))));
          return {
            ours,
            theirs,
            values: defaultValue === null ? caseValue : fc.oneof(caseValue, defaultValue),
            conv: (v: Record<string, unknown>) => {
              const k = v.k as number;
              const arm = k < arms.length ? arms[k] : dflt;
              const field = k < arms.length ? `a${k}` : 'z';
              return arm === null || arm === undefined ? { k } : { k, [field]: arm.conv(v[field]) };
            },
            desc: `union{${arms.map((a) => a?.desc ?? 'void').join('|')}${dflt === undefined ? '' : `|default:${dflt?.desc ?? 'void'}`}}`,
          };
        }),
    ],
  ),
})).t;

const typeAndValue = composite.chain((p) => p.values.map((v) => ({ p, v })));

describe('random composite types: our bytes are @stellar/js-xdr bytes', () => {
  it('encode equals the oracle, and each decodes the other', () => {
    fc.assert(
      fc.property(typeAndValue, ({ p, v }) => {
        const ours = xdrEncode(p.ours, v);
        const theirs = p.theirs.encode(p.conv(v));
        expect(hex(ours), p.desc).toBe(hex(theirs));
        expect(xdrDecode(p.ours, theirs)).toEqual(v);
        expect(p.theirs.decode(ours)).toEqual(p.conv(v));
      }),
      { numRuns: 600 },
    );
  });

  it('every cut of an encoding is ERR_XDR_SHORT, and a flipped byte never crashes', () => {
    fc.assert(
      fc.property(typeAndValue, fc.nat(), fc.integer({ min: 1, max: 255 }), ({ p, v }, at, flip) => {
        const bytes = xdrEncode(p.ours, v);
        for (let n = 0; n < bytes.length; n += 4) expect(() => xdrDecode(p.ours, bytes.subarray(0, n))).toThrow(code('ERR_XDR_SHORT'));
        if (bytes.length === 0) return;
        const bad = bytes.slice();
        bad[at % bad.length]! ^= flip;
        try {
          xdrDecode(p.ours, bad);
        } catch (err) {
          expect(err).toMatchObject({ name: 'XdrError' });
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('hostile input', () => {
  type Node = { v: number; next: Node | null };
  const node: XdrType<Node> = xdrStruct<Node>('node', [
    ['v', xdrInt],
    ['next', xdrOptional(xdrRef(() => node))],
  ]);
  const list = xdrOptional(node);

  it('a count of 2^32-1 is refused before anything is allocated', () => {
    const huge = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0);
    for (const t of [xdrArray(xdrInt), xdrArray(xdrString()), xdrArray(xdrArray(xdrInt)), xdrOpaque(), xdrString()]) {
      expect(() => xdrDecode(t as XdrType<unknown>, huge)).toThrow(code('ERR_XDR_SHORT'));
    }
    expect(() => xdrDecode(xdrFixedArray(xdrHyper, 2 ** 31), huge)).toThrow(code('ERR_XDR_SHORT'));
  });

  it('an array of a type of size 0 (opaque e[0], an empty struct) bounds its count by maxListLength, not by the bytes left', () => {
    const huge = Uint8Array.of(0xff, 0xff, 0xff, 0xff);
    for (const e of [xdrFixedOpaque(0), xdrStruct('empty', []), xdrFixedArray(xdrInt, 0)]) {
      expect(() => xdrDecode(xdrArray(e) as XdrType<unknown>, Uint8Array.of(0, 0, 1, 0), { maxListLength: 255 })).toThrow(
        code('ERR_XDR_LIMIT'),
      );
      const t0 = Date.now();
      expect(() => xdrDecode(xdrArray(e) as XdrType<unknown>, huge)).toThrow(code('ERR_XDR_LIMIT'));
      expect(Date.now() - t0).toBeLessThan(5000);
      expect((xdrDecode(xdrArray(e) as XdrType<unknown[]>, Uint8Array.of(0, 0, 0, 3)) as unknown[]).length).toBe(3);
    }
    expect(() => xdrDecode(xdrFixedArray(xdrFixedOpaque(0), 2 ** 32 - 1), new Uint8Array(0))).toThrow(code('ERR_XDR_LIMIT'));
    expect(xdrDecode(xdrFixedArray(xdrFixedOpaque(0), 2), new Uint8Array(0))).toHaveLength(2);
  });

  it('a field, arm or discriminant named __proto__ is refused when built (it would set the prototype, not a property)', () => {
    expect(() => xdrStruct('s', [['__proto__', xdrInt]])).toThrow(/struct s: field __proto__: the name is reserved/);
    expect(() => xdrUnion('u', ['d', xdrInt], [[1, ['__proto__', xdrInt]]])).toThrow(/union u: arm __proto__/);
    expect(() => xdrUnion('u', ['d', xdrInt], [[1, null]], ['__proto__', xdrInt])).toThrow(/union u: arm __proto__/);
    expect(() => xdrUnion('u', ['__proto__', xdrInt], [[1, null]])).toThrow(/union u: discriminant __proto__/);
    // names an object already has are plain own properties
    const s = xdrStruct('s', [
      ['constructor', xdrInt],
      ['prototype', xdrInt],
      ['toString', xdrInt],
    ]);
    const v = xdrDecode(s, xdrEncode(s, { constructor: 1, prototype: 2, toString: 3 }));
    expect([Object.getPrototypeOf(v), v.constructor, v.prototype, v.toString]).toEqual([Object.prototype, 1, 2, 3]);
  });

  it('a linked list of a million nodes is ERR_XDR_LIMIT (maxListLength), fast, without a stack overflow', () => {
    const n = 1_000_000;
    const w = new XdrWriter(n * 8 + 8);
    for (let i = 0; i < n; i++) w.bool(true).int(i);
    w.bool(false);
    const bytes = w.finish();
    const t0 = Date.now();
    expect(() => xdrDecode(list, bytes)).toThrow(code('ERR_XDR_LIMIT'));
    expect(Date.now() - t0).toBeLessThan(10_000);
    const decoded = xdrDecode(list, bytes, { maxListLength: n });
    let count = 0;
    for (let p = decoded; p !== null; p = p.next) count++;
    expect(count).toBe(n);
  });

  it('long lists encode and decode without recursion (100k nodes)', () => {
    let head: Node | null = null;
    for (let i = 0; i < 100_000; i++) head = { v: i, next: head };
    const bytes = xdrEncode(list, head);
    expect(bytes.length).toBe(100_000 * 8 + 4);
    const back = xdrDecode(list, bytes, { maxListLength: 100_000 });
    expect(back?.v).toBe(99_999);
    expect(hex(xdrEncode(list, back))).toBe(hex(bytes));
  });

  it('a cyclic list is refused when written (bounded), not an endless loop', () => {
    const a: Node = { v: 1, next: null };
    a.next = a;
    const t0 = Date.now();
    expect(() => xdrEncode(list, a)).toThrow(code('ERR_XDR_RANGE'));
    expect(Date.now() - t0).toBeLessThan(30_000);
  }, 60_000);

  it('deep non-list recursion (an optional in the middle of a struct, arrays of trees) is ERR_XDR_LIMIT at maxDepth', () => {
    type Mid = { next: Mid | null; v: number };
    const mid: XdrType<Mid> = xdrStruct<Mid>('mid', [
      ['next', xdrOptional(xdrRef(() => mid))],
      ['v', xdrInt],
    ]);
    const w = new XdrWriter();
    for (let i = 0; i < 1_000_000; i++) w.bool(true);
    expect(() => xdrDecode(mid, w.finish())).toThrow(code('ERR_XDR_LIMIT'));
    type Tree = { kids: Tree[] };
    const tree: XdrType<Tree> = xdrStruct<Tree>('tree', [['kids', xdrArray(xdrRef(() => tree))]]);
    const t = new XdrWriter();
    for (let i = 0; i < 100_000; i++) t.uint(1);
    expect(() => xdrDecode(tree, t.finish())).toThrow(code('ERR_XDR_LIMIT'));
    // Writing a cyclic tree: the writer's depth bound, not a stack overflow.
    const cyc: Tree = { kids: [] };
    cyc.kids.push(cyc);
    expect(() => xdrEncode(tree, cyc)).toThrow(code('ERR_XDR_RANGE'));
    const cm: Mid = { next: null, v: 1 };
    cm.next = cm;
    expect(() => xdrEncode(mid, cm)).toThrow(code('ERR_XDR_RANGE'));
  });

  it('random bytes against random types: an XdrError or a value, never anything else', () => {
    fc.assert(
      fc.property(composite, fc.uint8Array({ maxLength: 64 }), (p, bytes) => {
        try {
          xdrDecode(p.ours, bytes);
        } catch (err) {
          expect(err).toMatchObject({ name: 'XdrError' });
        }
      }),
      { numRuns: 500 },
    );
  });
});

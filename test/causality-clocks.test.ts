// Logical clocks: vector times compare as a partial order consistent with
// happens-before (checked against a brute-force transitive closure over
// random executions), merge is a join (commutative, associative,
// idempotent), and the binary and JSON forms refuse every malformed or
// oversized stamp a peer could send.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  CausalityError,
  LamportClock,
  TraceRecorder,
  VectorClock,
  VectorTime,
  compareLamport,
  decodeLamportTime,
  decodeVectorTime,
  encodeLamportTime,
  encodeVectorTime,
  vectorTimeFromJSON,
  type Stamp,
  type TraceEvent,
} from '../lib/index.js';

const ids = ['a', 'b', 'c', 'd'];
const vtime = fc.dictionary(fc.constantFrom(...ids), fc.nat({ max: 5 })).map((r) => VectorTime.from(r));

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).name;
  }
  return undefined;
}

/** A random execution of `n` processes from a list of steps; returns the events and the happens-before edges. */
function execute(n: number, steps: readonly [number, number, number][]): { events: TraceEvent[]; edges: [string, string][] } {
  const procs = Array.from({ length: n }, (_, i) => new TraceRecorder(`p${i + 1}`));
  const inFlight: { to: number; stamp: Stamp; send: TraceEvent }[] = [];
  const edges: [string, string][] = [];
  const last = new Map<number, TraceEvent>();
  const add = (p: number, e: TraceEvent): void => {
    const prev = last.get(p);
    if (prev !== undefined) edges.push([prev.id, e.id]);
    last.set(p, e);
  };
  for (const [kind, x, y] of steps) {
    const p = x % n;
    if (kind % 3 === 0) add(p, procs[p]!.local());
    else if (kind % 3 === 1) {
      const to = (p + 1 + (y % (n - 1))) % n;
      const { event, stamp } = procs[p]!.send({ to: `p${to + 1}` });
      add(p, event);
      inFlight.push({ to, stamp, send: event });
    } else if (inFlight.length > 0) {
      const [m] = inFlight.splice(y % inFlight.length, 1);
      const e = procs[m!.to]!.receive(m!.stamp);
      add(m!.to, e);
      edges.push([m!.send.id, e.id]);
    }
  }
  return { events: procs.flatMap((p) => [...p.events]), edges };
}

/** Happens-before by brute force: the transitive closure of the edges (Floyd-Warshall). */
function closure(events: TraceEvent[], edges: [string, string][]): (a: TraceEvent, b: TraceEvent) => boolean {
  const index = new Map(events.map((e, i) => [e.id, i]));
  const k = events.length;
  const r = Array.from({ length: k }, () => new Array<boolean>(k).fill(false));
  for (const [a, b] of edges) r[index.get(a)!]![index.get(b)!] = true;
  for (let m = 0; m < k; m++) for (let i = 0; i < k; i++) if (r[i]![m]) for (let j = 0; j < k; j++) if (r[m]![j]) r[i]![j] = true;
  return (a, b) => r[index.get(a.id)!]![index.get(b.id)!]!;
}

describe('vector times', () => {
  it('compare: before / after / concurrent / equal', () => {
    const t = (o: Record<string, number>): VectorTime => VectorTime.from(o);
    expect(t({ a: 1 }).compare(t({ a: 1, b: 1 }))).toBe('before');
    expect(t({ a: 2 }).compare(t({ a: 1, b: 1 }))).toBe('concurrent');
    expect(t({ a: 2, b: 1 }).compare(t({ a: 1, b: 1 }))).toBe('after');
    expect(t({ a: 1, b: 0 }).compare(t({ a: 1 }))).toBe('equal');
    expect(VectorTime.zero.compare(t({ c: 1 }))).toBe('before');
    expect(t({ b: 2, a: 1 }).toString()).toBe('{"a":1,"b":2}');
    expect(t({ a: 3 }).increment('b').toString()).toBe('{"a":3,"b":1}');
  });

  it('compare is a partial order (reflexive equal, antisymmetric, transitive)', () => {
    fc.assert(
      fc.property(vtime, vtime, vtime, (x, y, z) => {
        expect(x.compare(x)).toBe('equal');
        const flip = { before: 'after', after: 'before', concurrent: 'concurrent', equal: 'equal' } as const;
        expect(y.compare(x)).toBe(flip[x.compare(y)]);
        if (x.before(y) && y.before(z)) expect(x.before(z)).toBe(true);
        expect(x.compare(y) === 'equal').toBe(x.toString() === y.toString());
      }),
      { numRuns: 500 },
    );
  });

  it('merge is commutative, associative and idempotent, and an upper bound', () => {
    fc.assert(
      fc.property(vtime, vtime, vtime, (x, y, z) => {
        expect(x.merge(y).equals(y.merge(x))).toBe(true);
        expect(
          x
            .merge(y)
            .merge(z)
            .equals(x.merge(y.merge(z))),
        ).toBe(true);
        expect(x.merge(x).equals(x)).toBe(true);
        expect(['before', 'equal']).toContain(x.compare(x.merge(y)));
        expect(['before', 'equal']).toContain(y.compare(x.merge(y)));
      }),
      { numRuns: 500 },
    );
  });

  it('over random executions, compare agrees with happens-before computed by transitive closure', () => {
    const step = fc.tuple(fc.nat({ max: 2 }), fc.nat({ max: 7 }), fc.nat({ max: 50 }));
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 4 }), fc.array(step, { minLength: 1, maxLength: 40 }), (n, steps) => {
        const { events, edges } = execute(n, steps);
        const hb = closure(events, edges);
        for (const a of events) {
          for (const b of events) {
            const order = a.time.compare(b.time);
            if (a === b) expect(order).toBe('equal');
            else if (hb(a, b)) expect(order).toBe('before');
            else if (hb(b, a)) expect(order).toBe('after');
            else expect(order).toBe('concurrent');
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('checks ids and counts', () => {
    expect(() => VectorTime.from({ 'has space': 1 })).toThrow(TypeError);
    expect(() => VectorTime.from({ a: -1 })).toThrow(RangeError);
    expect(() => VectorTime.from({ a: 1.5 })).toThrow(RangeError);
    expect(() =>
      VectorTime.from([
        ['a', 1],
        ['a', 2],
      ]),
    ).toThrow(/twice/);
    expect(() => VectorTime.from({ ['x'.repeat(129)]: 1 })).toThrow(RangeError);
    expect(() => VectorTime.from({ a: Number.MAX_SAFE_INTEGER }).increment('a')).toThrow(RangeError);
  });
});

describe('vector clocks', () => {
  it('tick, receive (merge then tick), growing membership', () => {
    const a = new VectorClock('a');
    const b = new VectorClock('b');
    const s = a.tick();
    expect(b.receive(s).toString()).toBe('{"a":1,"b":1}');
    expect(b.tick().toString()).toBe('{"a":1,"b":2}');
    expect(a.receive(b.time).toString()).toBe('{"a":2,"b":2}');
  });

  it('fixed membership refuses a stranger, before changing anything', () => {
    const a = new VectorClock('a', { members: ['a', 'b'] });
    a.tick();
    expect(code(() => a.merge(VectorTime.from({ c: 1 })))).toBe('ERR_CAUSALITY_UNKNOWN_MEMBER');
    expect(a.time.toString()).toBe('{"a":1}');
    expect(() => new VectorClock('a', { members: ['b'] })).toThrow(RangeError);
    expect(() => new VectorClock('a', { members: ['a', 'a'] })).toThrow(RangeError);
  });

  it('Lamport clocks: tick, receive past the stamp, total order with ties by process', () => {
    const c = new LamportClock();
    expect(c.tick()).toBe(1);
    expect(c.receive(7)).toBe(8);
    expect(c.receive(2)).toBe(9);
    expect(compareLamport({ time: 3, process: 'b' }, { time: 3, process: 'a' })).toBeGreaterThan(0);
    expect(compareLamport({ time: 2, process: 'b' }, { time: 3, process: 'a' })).toBeLessThan(0);
    expect(decodeLamportTime(encodeLamportTime(300))).toBe(300);
  });
});

describe('binary and JSON forms', () => {
  it('round-trip (growing and fixed membership) in a compact form', () => {
    fc.assert(
      fc.property(vtime, (t) => {
        expect(decodeVectorTime(encodeVectorTime(t)).equals(t)).toBe(true);
        const fixed = encodeVectorTime(t, { members: ids });
        expect(fixed.byteLength).toBe(2 + ids.length); // tag, n, one byte per small count
        expect(decodeVectorTime(fixed, { members: ids }).equals(t)).toBe(true);
        expect(vectorTimeFromJSON(JSON.stringify(t)).equals(t)).toBe(true);
        expect(vectorTimeFromJSON(t.toJSON()).equals(t)).toBe(true);
      }),
      { numRuns: 300 },
    );
    expect([...encodeVectorTime(VectorTime.from({ a: 1, b: 300 }))]).toEqual([0x56, 2, 1, 0x61, 1, 1, 0x62, 0xac, 0x02]);
  });

  it('refuse every malformed or oversized stamp with ERR_CAUSALITY_BAD_STAMP', () => {
    const bad = (bytes: number[], options = {}): string | undefined => code(() => decodeVectorTime(new Uint8Array(bytes), options));
    expect(bad([])).toBe('ERR_CAUSALITY_BAD_STAMP'); // empty
    expect(bad([0x99, 0])).toBe('ERR_CAUSALITY_BAD_STAMP'); // unknown form
    expect(bad([0x56, 1, 1, 0x61])).toBe('ERR_CAUSALITY_BAD_STAMP'); // ends early
    expect(bad([0x56, 1, 1, 0x61, 1, 9])).toBe('ERR_CAUSALITY_BAD_STAMP'); // trailing bytes
    expect(bad([0x56, 1, 1, 0x61, 0])).toBe('ERR_CAUSALITY_BAD_STAMP'); // a zero count
    expect(bad([0x56, 2, 1, 0x62, 1, 1, 0x61, 1])).toBe('ERR_CAUSALITY_BAD_STAMP'); // unsorted
    expect(bad([0x56, 2, 1, 0x61, 1, 1, 0x61, 1])).toBe('ERR_CAUSALITY_BAD_STAMP'); // repeated id
    expect(bad([0x56, 1, 1, 0x20, 1])).toBe('ERR_CAUSALITY_BAD_STAMP'); // id with whitespace
    expect(bad([0x56, 1, 1, 0xff, 1])).toBe('ERR_CAUSALITY_BAD_STAMP'); // id not UTF-8
    expect(bad([0x56, 1, 0, 1])).toBe('ERR_CAUSALITY_BAD_STAMP'); // empty id
    expect(bad([0x56, 1, 0xff, 0xff, 0x03, 0x61])).toBe('ERR_CAUSALITY_BAD_STAMP'); // id length over the bound
    expect(bad([0x56, 0xff, 0xff, 0xff, 0xff, 0x0f])).toBe('ERR_CAUSALITY_BAD_STAMP'); // a huge count of entries
    expect(bad([0x56, 0x81, 0x00])).toBe('ERR_CAUSALITY_BAD_STAMP'); // a varint not in its shortest form
    expect(bad([0x56, 1, 1, 0x61, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])).toBe('ERR_CAUSALITY_BAD_STAMP'); // > 8-byte varint
    expect(bad([0x56, 1, 1, 0x61, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])).toBe('ERR_CAUSALITY_BAD_STAMP'); // > 2^53 - 1
    expect(bad([0x46, 2, 1, 1])).toBe('ERR_CAUSALITY_BAD_STAMP'); // fixed form without members
    expect(bad([0x46, 3, 1, 1, 1], { members: ['a', 'b'] })).toBe('ERR_CAUSALITY_BAD_STAMP'); // wrong count of members
    expect(bad([0x56, 1, 1, 0x63, 1], { members: ['a', 'b'] })).toBe('ERR_CAUSALITY_UNKNOWN_MEMBER');
    const many = encodeVectorTime(VectorTime.from(Array.from({ length: 20 }, (_, i) => [`p${i}`, 1] as [string, number])));
    expect(code(() => decodeVectorTime(many, { maxEntries: 10 }))).toBe('ERR_CAUSALITY_BAD_STAMP');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        try {
          decodeVectorTime(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(CausalityError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('the JSON form refuses what is not { id: count } within the bounds', () => {
    const bad = (v: unknown, options = {}): string | undefined => code(() => vectorTimeFromJSON(v, options));
    for (const v of ['[1]', 'null', '{"a":-1}', '{"a":1.5}', '{"a":"1"}', '{"a b":1}', 'not json', 5, [], '{"a":9007199254740992}']) {
      expect(bad(v)).toBe('ERR_CAUSALITY_BAD_STAMP');
    }
    expect(bad('x'.repeat(70000))).toBe('ERR_CAUSALITY_BAD_STAMP');
    expect(bad({ a: 1, b: 1, c: 1 }, { maxEntries: 2 })).toBe('ERR_CAUSALITY_BAD_STAMP');
    expect(vectorTimeFromJSON('{"__proto__":2}').get('__proto__')).toBe(2);
    expect(JSON.stringify(vectorTimeFromJSON('{"__proto__":2}'))).toBe('{"__proto__":2}');
  });
});

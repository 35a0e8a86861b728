// The group trace checkers on hand-written traces: for every property a
// correct run passes and a minimal mutation of it is reported under that
// property (naming the member and the message); random correct runs pass
// every order, and one swap of two adjacent deliveries is a total-order
// violation, and a causal one exactly when the pair was causally related
// (computed here by transitive closure, not by the checker); bad options are
// TypeErrors naming the option.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  checkGroupTraces,
  describeViolations,
  type CheckGroupOptions,
  type GroupProperty,
  type GroupViolation,
} from '../lib/coord/group/checkers.js';
import { groupMessageId, type GroupEvent } from '../lib/coord/group/trace.js';

interface EventOptions {
  /** The group (default 'g'). */
  group?: string;
  /** The event's view (default: the last view this member installed in the group). */
  view?: number;
  /** The view in the message id (default: the event's view). */
  idView?: number;
  payload?: string;
}

/** One member's trace, written step by step. */
class Trace {
  readonly events: GroupEvent[] = [];
  readonly #current = new Map<string, number>();

  constructor(readonly member: string) {}

  view(view: number, members: readonly string[], group = 'g'): this {
    this.#current.set(group, view);
    this.events.push({ group, member: this.member, kind: 'view', view, members });
    return this;
  }

  send(seq: number, o: EventOptions = {}): this {
    return this.#message('send', this.member, seq, o);
  }

  deliver(sender: string, seq: number, o: EventOptions = {}): this {
    return this.#message('deliver', sender, seq, o);
  }

  /** Sends and delivers its own message at once. */
  multicast(seq: number, o: EventOptions = {}): this {
    return this.send(seq, o).deliver(this.member, seq, o);
  }

  #message(kind: 'send' | 'deliver', sender: string, seq: number, o: EventOptions): this {
    const group = o.group ?? 'g';
    const view = o.view ?? this.#current.get(group) ?? 1;
    const message = groupMessageId(sender, o.idView ?? view, seq);
    this.events.push({
      group,
      member: this.member,
      kind,
      view,
      message,
      sender,
      seq,
      ...(o.payload === undefined ? {} : { payload: o.payload }),
    });
    return this;
  }
}

/** Members `names`, each having installed view 1 of 'g' listing them all. */
function members(...names: string[]): Trace[] {
  return names.map((n) => new Trace(n).view(1, names));
}

function check(traces: readonly Trace[], options: CheckGroupOptions): GroupViolation[] {
  return checkGroupTraces(
    traces.map((t) => t.events),
    options,
  );
}

function expectClean(traces: readonly Trace[], options: CheckGroupOptions): void {
  const v = check(traces, options);
  expect(v, describeViolations(v)).toEqual([]);
}

/** Asserts that every violation found is of `property` and returns them (at least one). */
function expectOnly(traces: readonly Trace[], options: CheckGroupOptions, property: GroupProperty): GroupViolation[] {
  const v = check(traces, options);
  expect(
    v.map((x) => x.property),
    describeViolations(v),
  ).toEqual(v.map(() => property));
  expect(v.length, `no ${property} violation`).toBeGreaterThan(0);
  return v;
}

const id = groupMessageId;

describe('group checkers: one property at a time', () => {
  it('integrity: a duplicate delivery', () => {
    const run = (dup: boolean): Trace[] => {
      const [a, b] = members('a', 'b');
      a!.multicast(1);
      b!.deliver('a', 1);
      if (dup) b!.deliver('a', 1);
      return [a!, b!];
    };
    for (const order of ['none', 'fifo', 'causal', 'total'] as const) {
      expectClean(run(false), { order });
      const v = expectOnly(run(true), { order }, 'integrity');
      expect(v).toEqual([expect.objectContaining({ member: 'b', message: id('a', 1, 1) })]);
      expect(v[0]!.detail).toMatch(/^g: b delivered a@1:1 twice/);
    }
  });

  it('creation: a delivery of a message never sent, and a payload mismatch', () => {
    const run = (mutation?: 'unsent' | 'payload'): Trace[] => {
      const [a, b, c] = members('a', 'b', 'c');
      a!.multicast(1, { payload: '0a0b' });
      b!.deliver('a', 1, { payload: mutation === 'payload' ? '0a0c' : '0a0b' });
      c!.deliver('a', 1); // no payload recorded: nothing to compare
      if (mutation === 'unsent') c!.deliver('a', 2);
      return [a!, b!, c!];
    };
    expectClean(run(), { order: 'fifo' });
    const unsent = expectOnly(run('unsent'), { order: 'fifo' }, 'creation');
    expect(unsent).toEqual([expect.objectContaining({ member: 'c', message: id('a', 1, 2) })]);
    expect(unsent[0]!.detail).toContain('which a never sent');
    const payload = expectOnly(run('payload'), { order: 'fifo' }, 'creation');
    expect(payload).toEqual([expect.objectContaining({ member: 'b', message: id('a', 1, 1) })]);
    expect(payload[0]!.detail).toContain('payload');
  });

  it('creation: a sender whose trace is not given is not judged; a malformed id, or a send by another member, is', () => {
    const [a, b] = members('a', 'b');
    a!.deliver('x', 1); // x's trace is not given
    b!.deliver('x', 1);
    expectClean([a!, b!], { order: 'total' });

    const [c, d] = members('c', 'd');
    c!.multicast(1);
    d!.deliver('c', 1);
    d!.events.push({ group: 'g', member: 'd', kind: 'deliver', view: 1, message: 'c@1:7', sender: 'c', seq: 2 });
    const bad = expectOnly([c!, d!], { order: 'fifo' }, 'creation');
    expect(bad).toEqual([expect.objectContaining({ member: 'd', message: 'c@1:7' })]);

    const [e, f] = members('e', 'f');
    e!.multicast(1);
    f!.events.push({ group: 'g', member: 'f', kind: 'send', view: 1, message: id('e', 1, 1), sender: 'e', seq: 1 });
    f!.deliver('e', 1);
    expect(expectOnly([e!, f!], { order: 'fifo' }, 'creation')).toEqual([expect.objectContaining({ member: 'f', message: id('e', 1, 1) })]);
  });

  it('validity: a member (or the sender itself) missing a message of a correct sender', () => {
    const run = (missing?: 'a' | 'c'): Trace[] => {
      const [a, b, c] = members('a', 'b', 'c');
      a!.send(1);
      if (missing !== 'a') a!.deliver('a', 1);
      b!.deliver('a', 1);
      if (missing !== 'c') c!.deliver('a', 1);
      return [a!, b!, c!];
    };
    expectClean(run(), { order: 'fifo' });
    for (const who of ['a', 'c'] as const) {
      const v = expectOnly(run(who), { order: 'fifo' }, 'validity');
      expect(v).toEqual([expect.objectContaining({ member: who, message: id('a', 1, 1) })]);
      expect(v[0]!.detail).toContain('sent by a in view 1');
      // Best-effort multicast promises neither.
      expectClean(run(who), { order: 'fifo', reliable: false });
    }
  });

  it('agreement: a member missing a message of a crashed sender that another member delivered', () => {
    const run = (bDelivers: boolean, cDelivers: boolean): Trace[] => {
      const [a, b, c] = members('a', 'b', 'c');
      a!.multicast(1); // and then a is killed
      if (bDelivers) b!.deliver('a', 1);
      if (cDelivers) c!.deliver('a', 1);
      return [a!, b!, c!];
    };
    const crashed = ['a'];
    expectClean(run(true, true), { order: 'fifo', crashed });
    // Nobody correct delivered it: the crashed sender's message may be lost.
    expectClean(run(false, false), { order: 'fifo', crashed });
    const v = expectOnly(run(true, false), { order: 'fifo', crashed }, 'agreement');
    expect(v).toEqual([expect.objectContaining({ member: 'c', message: id('a', 1, 1) })]);
    expect(v[0]!.detail).toContain('which b delivered in view 1');
    // Not crashed, the same traces are a validity violation (reported once, not also as agreement).
    expect(expectOnly(run(true, false), { order: 'fifo' }, 'validity')).toEqual([expect.objectContaining({ member: 'c' })]);
    expectClean(run(true, false), { order: 'fifo', crashed, reliable: false });
  });

  it("crashed members: a crashed member's truncated trace is no validity or agreement violation", () => {
    const run = (): Trace[] => {
      const [a, b, c] = members('a', 'b', 'c');
      a!.multicast(1).multicast(2).deliver('b', 1);
      b!.deliver('a', 1).deliver('a', 2).multicast(1);
      c!.deliver('a', 1); // killed here
      return [a!, b!, c!];
    };
    for (const order of ['fifo', 'causal', 'total'] as const) expectClean(run(), { order, crashed: ['c'] });
    const v = expectOnly(run(), { order: 'fifo' }, 'validity');
    expect(v.map((x) => [x.member, x.message])).toEqual([
      ['c', id('a', 1, 2)],
      ['c', id('b', 1, 1)],
    ]);
    // Still judged for what it recorded: a duplicate at the crashed member is reported.
    const dup = run();
    dup[2]!.deliver('a', 1);
    expect(expectOnly(dup, { order: 'fifo', crashed: ['c'] }, 'integrity')).toEqual([
      expect.objectContaining({ member: 'c', message: id('a', 1, 1) }),
    ]);
  });

  it('views: ids decreasing, and one view id installed with different members', () => {
    const ok = (): Trace[] => [
      new Trace('a').view(1, ['a', 'b']).view(2, ['a', 'b']),
      new Trace('b').view(1, ['a', 'b']).view(2, ['a', 'b']),
    ];
    expectClean(ok(), { order: 'total' });

    const decreasing = [new Trace('a').view(2, ['a', 'b']).view(1, ['a', 'b']), new Trace('b').view(1, ['a', 'b']).view(2, ['a', 'b'])];
    const v = expectOnly(decreasing, { order: 'total' }, 'views');
    expect(v).toEqual([expect.objectContaining({ member: 'a' })]);
    expect(v[0]!.detail).toContain('installed view 1 after view 2');

    const differ = [new Trace('a').view(1, ['a', 'b']), new Trace('b').view(1, ['b', 'a'])];
    const w = expectOnly(differ, { order: 'total' }, 'views');
    expect(w).toEqual([expect.objectContaining({ member: 'b' })]);
    expect(w[0]!.detail).toContain('installed view 1 as [b, a], a as [a, b]');

    const larger = [new Trace('a').view(1, ['a', 'b']), new Trace('b').view(1, ['a', 'b', 'c'])];
    expect(expectOnly(larger, { order: 'none' }, 'views')).toEqual([expect.objectContaining({ member: 'b' })]);
  });

  it('views: a first view without the member, events after leaving, before any view, in a wrong view, and a skipped view', () => {
    const outside = [new Trace('a').view(1, ['a']), new Trace('b').view(1, ['a'])];
    expect(expectOnly(outside, { order: 'none' }, 'views')).toEqual([expect.objectContaining({ member: 'b' })]);

    // b leaves in view 2 (which does not list it), then records a send.
    const left = members('a', 'b');
    left[0]!.view(2, ['a']);
    left[1]!.view(2, ['a']);
    expectClean(left, { order: 'total' });
    left[1]!.send(1);
    const l = expectOnly(left, { order: 'total' }, 'views');
    expect(l).toEqual([expect.objectContaining({ member: 'b' })]);
    expect(l[0]!.detail).toContain('after view 2, which does not list it');

    const early = [new Trace('a').send(1, { view: 1 }).view(1, ['a'])];
    expect(expectOnly(early, { order: 'none', reliable: false }, 'views')).toEqual([
      expect.objectContaining({ member: 'a', message: id('a', 1, 1) }),
    ]);

    // An event stamped with another view than the one installed (its id's view is the installed one).
    const stamped = members('a', 'b');
    stamped[0]!.multicast(1);
    stamped[1]!.deliver('a', 1, { view: 3, idView: 1 });
    expect(expectOnly(stamped, { order: 'fifo' }, 'views')).toEqual([expect.objectContaining({ member: 'b', message: id('a', 1, 1) })]);

    const skip = [
      new Trace('a').view(1, ['a', 'b']).view(2, ['a', 'b']).view(3, ['a', 'b']),
      new Trace('b').view(1, ['a', 'b']).view(3, ['a', 'b']),
    ];
    const s = expectOnly(skip, { order: 'none' }, 'views');
    expect(s).toEqual([expect.objectContaining({ member: 'b' })]);
    expect(s[0]!.detail).toContain('skipped view 2');
  });

  it('a run over three views, c joining in view 2 and b leaving in view 3, keeps every promise', () => {
    const run = (): Trace[] => {
      const a = new Trace('a').view(1, ['a', 'b']).multicast(1);
      const b = new Trace('b').view(1, ['a', 'b']).deliver('a', 1);
      const c = new Trace('c');
      for (const t of [a, b, c]) t.view(2, ['a', 'b', 'c']);
      a.multicast(1);
      b.deliver('a', 1);
      c.deliver('a', 1).multicast(1);
      a.deliver('c', 1);
      b.deliver('c', 1);
      for (const t of [a, b, c]) t.view(3, ['a', 'c']);
      a.multicast(1);
      c.deliver('a', 1, { view: 3 });
      return [a, b, c];
    };
    for (const order of ['none', 'fifo', 'causal', 'total'] as const) expectClean(run(), { order });
    // b, gone after view 2, is not held to view 3's messages; c, which joined in view 2, not to view 1's.
    const [a, b, c] = run();
    b!.send(1, { view: 3 }); // but it records nothing more
    expect(expectOnly([a!, b!, c!], { order: 'total' }, 'views')).toEqual([expect.objectContaining({ member: 'b' })]);
    // A correct member whose trace ends in the view (not crashed) is held to it: validity.
    const [d, e] = members('d', 'e');
    d!.multicast(1);
    expect(expectOnly([d!, e!], { order: 'total' }, 'validity')).toEqual([
      expect.objectContaining({ member: 'e', message: id('d', 1, 1) }),
    ]);
    // A sender whose trace is not given: a message one member delivered and another did not is an agreement violation.
    const [f, g] = members('f', 'g');
    f!.deliver('x', 1);
    expect(expectOnly([f!, g!], { order: 'total' }, 'agreement')).toEqual([
      expect.objectContaining({ member: 'g', message: id('x', 1, 1) }),
    ]);
  });

  it("sending-view: a message delivered, or sent, in another view than its id's", () => {
    const run = (deliverIn: 1 | 2): Trace[] => {
      const [a, b] = members('a', 'b');
      a!.multicast(1).view(2, ['a', 'b']);
      if (deliverIn === 2) b!.view(2, ['a', 'b']).deliver('a', 1, { idView: 1 });
      else b!.deliver('a', 1).view(2, ['a', 'b']);
      return [a!, b!];
    };
    expectClean(run(1), { order: 'total' });
    const v = expectOnly(run(2), { order: 'total' }, 'sending-view');
    expect(v).toEqual([expect.objectContaining({ member: 'b', message: id('a', 1, 1) })]);
    expect(v[0]!.detail).toContain('delivered a@1:1 in view 2, not in view 1');

    const [a, b] = members('a', 'b');
    a!.view(2, ['a', 'b']).send(1, { idView: 1 }).deliver('a', 1, { idView: 1 });
    b!.view(2, ['a', 'b']).deliver('a', 1, { idView: 1 });
    const w = expectOnly([a!, b!], { order: 'fifo' }, 'sending-view');
    expect(w.map((x) => [x.member, x.message])).toEqual([
      ['a', id('a', 1, 1)],
      ['a', id('a', 1, 1)],
      ['b', id('a', 1, 1)],
    ]);
    expect(w[0]!.detail).toContain('sent a@1:1 in view 2');
  });

  it('fifo: a seq gap (only when reliable) and an inversion', () => {
    const run = (delivers: number[]): Trace[] => {
      const [a, b] = members('a', 'b');
      a!.multicast(1).multicast(2).multicast(3);
      for (const seq of delivers) b!.deliver('a', seq);
      return [a!, b!];
    };
    const crashed = ['a']; // a's lost message is no validity violation: only the gap shows
    for (const order of ['fifo', 'causal', 'total'] as const) {
      expectClean(run([1, 2, 3]), { order });
      const gap = expectOnly(run([1, 3]), { order, crashed }, 'fifo');
      expect(gap).toEqual([expect.objectContaining({ member: 'b', message: id('a', 1, 3) })]);
      expect(gap[0]!.detail).toContain('without a@1:2 before it');
      expectClean(run([1, 3]), { order, reliable: false });

      if (order === 'total') continue; // a delivered them in seq order: b's inversion is a total-order violation too
      const inversion = expectOnly(run([1, 3, 2]), { order }, 'fifo');
      expect(inversion.map((x) => [x.member, x.message])).toEqual([
        ['b', id('a', 1, 3)], // reliable: a gap as well
        ['b', id('a', 1, 2)],
      ]);
      expect(inversion[1]!.detail).toContain('delivered a@1:2 after a@1:3');
      const bestEffort = expectOnly(run([1, 3, 2]), { order, reliable: false }, 'fifo');
      expect(bestEffort).toEqual([expect.objectContaining({ member: 'b', message: id('a', 1, 2) })]);
    }
    // Order 'none' promises no FIFO.
    expectClean(run([1, 3, 2]), { order: 'none' });
  });

  it('causal: a direct inversion', () => {
    const run = (inverted: boolean): Trace[] => {
      const [a, b, c] = members('a', 'b', 'c');
      a!.multicast(1).deliver('b', 1);
      b!.deliver('a', 1).multicast(1); // b1 follows a1
      if (inverted) c!.deliver('b', 1).deliver('a', 1);
      else c!.deliver('a', 1).deliver('b', 1);
      return [a!, b!, c!];
    };
    expectClean(run(false), { order: 'causal' });
    const v = expectOnly(run(true), { order: 'causal' }, 'causal');
    expect(v).toEqual([expect.objectContaining({ member: 'c', message: id('b', 1, 1) })]);
    expect(v[0]!.detail).toContain('delivered b@1:1 before a@1:1, which causally precedes it');
    // FIFO promises nothing across senders.
    expectClean(run(true), { order: 'fifo' });
  });

  it("causal: an inversion through a third member's delivery chain", () => {
    // a1 -> b1 (b delivered a1 before sending b1) -> c1 (c delivered b1 before sending c1).
    // d delivers c1 then a1, and never b1 (best effort): only the transitive relation orders them.
    const run = (inverted: boolean): Trace[] => {
      const [a, b, c, d] = members('a', 'b', 'c', 'd');
      a!.multicast(1);
      b!.deliver('a', 1).multicast(1);
      c!.deliver('b', 1).multicast(1);
      if (inverted) d!.deliver('c', 1).deliver('a', 1);
      else d!.deliver('a', 1).deliver('c', 1);
      return [a!, b!, c!, d!];
    };
    expectClean(run(false), { order: 'causal', reliable: false });
    const v = expectOnly(run(true), { order: 'causal', reliable: false }, 'causal');
    expect(v).toEqual([expect.objectContaining({ member: 'd', message: id('c', 1, 1) })]);
    expect(v[0]!.detail).toContain('before a@1:1');
    // c had not delivered a1 itself: without b's delivery chain there is no relation.
    const noChain = run(true);
    noChain[1] = new Trace('b').view(1, ['a', 'b', 'c', 'd']).multicast(1).deliver('a', 1);
    expectClean(noChain, { order: 'causal', reliable: false });
  });

  it('causal: a delivery before its own send is a cycle; an inversion within one sender is fifo only', () => {
    const [a, b] = members('a', 'b');
    a!.deliver('b', 1).multicast(1);
    b!.deliver('a', 1).multicast(1);
    const cycle = check([a!, b!], { order: 'causal' });
    expect(cycle.map((x) => x.property)).toContain('causal');
    expect(describeViolations(cycle)).toContain('a cycle in the causal order');

    const [c, d] = members('c', 'd');
    c!.multicast(1).multicast(2);
    d!.deliver('c', 2).deliver('c', 1);
    expectOnly([c!, d!], { order: 'causal', reliable: false }, 'fifo');
  });

  it('total: two members delivering two messages in opposite orders', () => {
    const run = (opposite: boolean): Trace[] => {
      const [a, b, c] = members('a', 'b', 'c');
      a!.multicast(1).deliver('b', 1); // concurrent multicasts: causal order does not order them
      b!.send(1);
      if (opposite) b!.deliver('b', 1).deliver('a', 1);
      else b!.deliver('a', 1).deliver('b', 1);
      c!.deliver('a', 1).deliver('b', 1);
      return [a!, b!, c!];
    };
    for (const order of ['total', 'sequencer'] as const) {
      expectClean(run(false), { order });
      const v = expectOnly(run(true), { order }, 'total');
      // b against a, and c against b: the pair is named each time.
      expect(v.map((x) => [x.member, x.message])).toEqual([
        ['b', id('a', 1, 1)],
        ['c', id('b', 1, 1)],
      ]);
      expect(v[0]!.detail).toContain('b delivered a@1:1 after b@1:1, a before it');
    }
    expectClean(run(true), { order: 'causal' });
  });

  it('total across groups: reported with acrossGroups only', () => {
    const run = (opposite: boolean): Trace[] => {
      const a = new Trace('a').view(1, ['a', 'b'], 'g').view(1, ['a', 'b'], 'h');
      const b = new Trace('b').view(1, ['a', 'b'], 'g').view(1, ['a', 'b'], 'h');
      a.multicast(1, { group: 'g' }).deliver('b', 1, { group: 'h' });
      b.send(1, { group: 'h' });
      if (opposite) b.deliver('b', 1, { group: 'h' }).deliver('a', 1, { group: 'g' });
      else b.deliver('a', 1, { group: 'g' }).deliver('b', 1, { group: 'h' });
      return [a, b];
    };
    expectClean(run(false), { order: 'total', acrossGroups: true });
    expectClean(run(true), { order: 'total' });
    expectClean(run(true), { order: 'total', acrossGroups: false });
    const v = expectOnly(run(true), { order: 'total', acrossGroups: true }, 'total');
    expect(v).toEqual([expect.objectContaining({ member: 'b', message: id('a', 1, 1) })]);
    expect(v[0]!.detail).toBe('across groups: b delivered g/a@1:1 after h/b@1:1, a before it');
  });

  it("one array of everyone's events is the same as one array per member; at most 100 violations per property", () => {
    const [a, b] = members('a', 'b');
    a!.multicast(1);
    b!.deliver('a', 1).deliver('a', 1);
    // b's events first, then a's interleaved: each member's own order is kept.
    const flat = [...b!.events.slice(0, 2), a!.events[0]!, ...b!.events.slice(2), ...a!.events.slice(1)];
    expect(checkGroupTraces(flat, { order: 'total' })).toEqual(check([a!, b!], { order: 'total' }));

    for (let i = 0; i < 150; i++) b!.deliver('a', 1);
    const v = check([a!, b!], { order: 'total' });
    expect(v).toHaveLength(101);
    expect(v[100]).toEqual({ property: 'integrity', detail: '... and 51 more integrity violations' });
  });
});

/** A random correct run: who sends each message (in the global delivery order), and after how many deliveries. */
interface Run {
  n: number;
  sender: number[];
  /** Message k's sender sent it after delivering messages 0 .. after[k] - 1 of the global order. */
  after: number[];
  /** Best effort: `${member}:${k}` when that member never delivers message k (never its own). */
  lost: Set<string>;
}

function runsOf(members: number, lag: number, minLength: number): fc.Arbitrary<Run> {
  return fc
    .tuple(fc.integer({ min: members, max: 4 }), fc.array(fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: lag })), { minLength, maxLength: 14 }))
    .map(([n, steps]): Run => {
      const sender: number[] = [];
      const after: number[] = [];
      const last = new Array<number>(n).fill(0);
      steps.forEach(([s, back], k) => {
        const who = s % n;
        // Sent after its previous send, and before it is delivered (k): after in [last, k], `back`
        // deliveries before its own (0: right after delivering the message before it).
        const p = Math.max(last[who]!, k - back);
        sender.push(who);
        after.push(p);
        last[who] = p;
      });
      return { n, sender, after, lost: new Set<string>() };
    });
}

const runs = runsOf(2, 4, 2);

/** Random runs of 4 members and 6 to 14 messages where each member misses each message of another with probability 1/3 (best effort). */
const lossyRuns = fc.tuple(runsOf(4, 6, 6), fc.array(fc.nat({ max: 2 }), { minLength: 56, maxLength: 56 })).map(([run, coins]): Run => {
  const lost = new Set<string>(); // a new set: fast-check reuses `run` while shrinking `coins`
  run.sender.forEach((s, k) => {
    for (let i = 0; i < run.n; i++) if (i !== s && coins[i * 14 + k] === 0) lost.add(`${i}:${k}`);
  });
  return { ...run, lost };
});

const NAMES = ['m0', 'm1', 'm2', 'm3'];

/** Each member's events: view 1, then at each point of the global order its sends due there and the next delivery. */
function traces(run: Run): GroupEvent[][] {
  const names = NAMES.slice(0, run.n);
  const seq: number[] = [];
  const count = new Array<number>(run.n).fill(0);
  for (const s of run.sender) seq.push(++count[s]!);
  const msg = (k: number, kind: 'send' | 'deliver', member: string): GroupEvent => {
    const sender = names[run.sender[k]!]!;
    return { group: 'g', member, kind, view: 1, message: groupMessageId(sender, 1, seq[k]!), sender, seq: seq[k]! };
  };
  return names.map((member, i) => {
    const out: GroupEvent[] = [{ group: 'g', member, kind: 'view', view: 1, members: names }];
    for (let t = 0; t <= run.sender.length; t++) {
      run.sender.forEach((s, k) => {
        if (s === i && run.after[k] === t) out.push(msg(k, 'send', member));
      });
      if (t < run.sender.length && !run.lost.has(`${i}:${t}`)) out.push(msg(t, 'deliver', member));
    }
    return out;
  });
}

/** happens-before between messages, by transitive closure over the run's description. */
function precedes(run: Run): boolean[][] {
  const M = run.sender.length;
  const hb = Array.from({ length: M }, () => new Array<boolean>(M).fill(false));
  for (let k = 0; k < M; k++)
    for (let j = 0; j < k; j++) {
      // Its sender delivered j before sending k, or sent j (an earlier message of its own) before k.
      const direct = (j < run.after[k]! && !run.lost.has(`${run.sender[k]}:${j}`)) || run.sender[j] === run.sender[k];
      if (direct) {
        hb[j]![k] = true;
        for (let i = 0; i < j; i++) if (hb[i]![j]) hb[i]![k] = true;
      }
    }
  return hb;
}

describe('group checkers: random runs (fast-check)', () => {
  it('a correct run passes every order; one swap of adjacent deliveries from different senders breaks total order, and causal order iff the pair was related', () => {
    let related = 0;
    let unrelated = 0;
    fc.assert(
      fc.property(runs, fc.nat(), (run, pick) => {
        const all = traces(run);
        for (const order of ['none', 'fifo', 'causal', 'total', 'sequencer'] as const) {
          const v = checkGroupTraces(all, { order });
          expect(v, `${order}: ${describeViolations(v)}`).toEqual([]);
        }
        // Two deliveries next to each other in a member's events (no send between them: the
        // causal relation the traces show stays the same), of messages from different senders.
        const candidates: [number, number][] = [];
        all.forEach((events, i) =>
          events.forEach((e, x) => {
            const f = events[x + 1];
            if (e.kind === 'deliver' && f?.kind === 'deliver' && e.sender !== f.sender) candidates.push([i, x]);
          }),
        );
        fc.pre(candidates.length > 0);
        const [i, x] = candidates[pick % candidates.length]!;
        const mutated = all.map((events) => [...events]);
        const member = mutated[i]!;
        [member[x], member[x + 1]] = [member[x + 1]!, member[x]!];
        const first = all[i]![x]!.message!;
        const second = all[i]![x + 1]!.message!;
        // Every member delivers in the global order: the first is message k, the one it had delivered k before.
        const k = all[i]!.slice(0, x).filter((e) => e.kind === 'deliver').length;
        const hb = precedes(run);
        const isRelated = hb[k]![k + 1]!;
        if (isRelated) related++;
        else unrelated++;

        const total = checkGroupTraces(mutated, { order: 'total' });
        expect(total.length, 'total: nothing reported').toBeGreaterThan(0);
        expect(
          total.every((v) => v.property === 'total' && (v.message === first || v.message === second)),
          describeViolations(total),
        ).toBe(true);
        const causal = checkGroupTraces(mutated, { order: 'causal' });
        if (isRelated) {
          expect(causal, describeViolations(causal)).toEqual([
            expect.objectContaining({ property: 'causal', member: NAMES[i], message: second }),
          ]);
        } else expect(causal, describeViolations(causal)).toEqual([]);
        const fifo = checkGroupTraces(mutated, { order: 'fifo' });
        expect(fifo, describeViolations(fifo)).toEqual([]);
      }),
      { numRuns: 200 },
    );
    // Both outcomes were exercised.
    expect(related).toBeGreaterThan(10);
    expect(unrelated).toBeGreaterThan(10);
  });

  it('moving one delivery several places earlier at one member is a causal violation iff a message it passed from another sender precedes it (transitively), in lossy runs', () => {
    let related = 0;
    let transitive = 0;
    let unrelated = 0;
    fc.assert(
      fc.property(lossyRuns, fc.nat(), fc.nat(), (run, pick, back) => {
        const all = traces(run);
        for (const order of ['causal', 'total'] as const) {
          const v = checkGroupTraces(all, { order, reliable: false });
          expect(v, `${order}: ${describeViolations(v)}`).toEqual([]);
        }
        const hb = precedes(run);
        const index = new Map<string, number>();
        const count = new Array<number>(run.n).fill(0);
        run.sender.forEach((s, k) => index.set(groupMessageId(NAMES[s]!, 1, ++count[s]!), k));
        // Moves of a delivery to an earlier place within a stretch of consecutive deliveries at a member
        // (no send among them: the causal relation the traces show stays the same): [member, from, to].
        const moves: [number, number, number][] = [];
        all.forEach((events, i) => {
          for (let x = 0; x < events.length; x++) {
            let end = x;
            while (events[end]?.kind === 'deliver') end++;
            for (let from = x + 1; from < end; from++) for (let to = x; to < from; to++) moves.push([i, from, to]);
            x = Math.max(x, end);
          }
        });
        fc.pre(moves.length > 0);
        const at = (i: number, x: number): number => index.get(all[i]![x]!.message!)!;
        const passedBy = ([i, from, to]: [number, number, number]): number[] =>
          all[i]!.slice(to, from)
            .map((_, d) => at(i, to + d))
            .filter((j) => run.sender[j] !== run.sender[at(i, from)]);
        // Known to p's sender only through another member's delivery: neither it nor a later message of its
        // sender was delivered by p's sender before it sent p (the case where the checker must close transitively).
        const throughOthers = (j: number, p: number): boolean =>
          hb[j]![p]! &&
          !run.sender.some((s, c) => c >= j && s === run.sender[j] && c < run.after[p]! && !run.lost.has(`${run.sender[p]}:${c}`));
        const chains = moves.filter((m) => passedBy(m).some((j) => throughOthers(j, at(m[0], m[1]))));
        // Three runs in four move one of those when there is one.
        const [i, from, to] = pick % 4 !== 0 && chains.length > 0 ? chains[back % chains.length]! : moves[back % moves.length]!;
        const mutated = all.map((events) => [...events]);
        const [moved] = mutated[i]!.splice(from, 1);
        mutated[i]!.splice(to, 0, moved!);
        const p = at(i, from);
        const passed = all[i]!.slice(to, from).map((_, d) => at(i, to + d));
        const fromOthers = passed.filter((j) => run.sender[j] !== run.sender[p]);
        const precede = fromOthers.filter((j) => hb[j]![p]);
        if (precede.length > 0) related++;
        else unrelated++;
        if (precede.some((j) => throughOthers(j, p))) transitive++;

        const v = checkGroupTraces(mutated, { order: 'causal', reliable: false });
        // One violation per other sender whose messages it passed and that precede it.
        const inversions = v.filter((x) => x.property === 'causal');
        expect(inversions.length, describeViolations(v)).toBe(new Set(precede.map((j) => run.sender[j])).size);
        for (const x of inversions) expect(x).toEqual(expect.objectContaining({ member: NAMES[i], message: moved!.message }));
        // Passing a message of its own sender is a FIFO inversion, never a causal one.
        const others = v.filter((x) => x.property !== 'causal');
        expect(others.length, describeViolations(v)).toBe(passed.length - fromOthers.length);
        for (const x of others) expect(x).toEqual(expect.objectContaining({ property: 'fifo', member: NAMES[i] }));
        // Total order: broken iff another member delivered the moved message and one it passed.
        const has = (member: number, k: number): boolean => run.sender[k] === member || !run.lost.has(`${member}:${k}`);
        const witnessed = all.some((_, o) => o !== i && has(o, p) && passed.some((j) => has(o, j)));
        const total = checkGroupTraces(mutated, { order: 'total', reliable: false }).filter((x) => x.property === 'total');
        expect(total.length > 0, describeViolations(total)).toBe(witnessed);
      }),
      { numRuns: 200 },
    );
    expect(related).toBeGreaterThan(10);
    expect(transitive).toBeGreaterThan(5);
    expect(unrelated).toBeGreaterThan(10);
  });
});

describe('group checkers: arguments', () => {
  const ok: GroupEvent[][] = [[{ group: 'g', member: 'a', kind: 'view', view: 1, members: ['a'] }]];

  it('bad options are TypeErrors naming the option', () => {
    const bad = (options: unknown, name: string): void => {
      expect(() => checkGroupTraces(ok, options as CheckGroupOptions)).toThrow(TypeError);
      expect(() => checkGroupTraces(ok, options as CheckGroupOptions)).toThrow(name);
    };
    bad(undefined, '"options"');
    bad(null, '"options"');
    bad('total', '"options"');
    bad({}, '"options.order"');
    bad({ order: 'atomic' }, '"options.order"');
    bad({ order: 'total', reliable: 'yes' }, '"options.reliable"');
    bad({ order: 'total', acrossGroups: 1 }, '"options.acrossGroups"');
    bad({ order: 'total', crashed: 'a' }, '"options.crashed"');
    bad({ order: 'total', crashed: 7 }, '"options.crashed"');
    bad({ order: 'total', crashed: null }, '"options.crashed"');
    bad({ order: 'total', crashed: ['a', 3] }, '"options.crashed[]"');
    expect(checkGroupTraces(ok, { order: 'total', crashed: new Set(['a']), reliable: false, acrossGroups: true })).toEqual([]);
  });

  it('malformed traces and events are TypeErrors (RangeErrors for a number out of range) naming them', () => {
    const bad = (traces: unknown, name: string): void => {
      expect(() => checkGroupTraces(traces as GroupEvent[][], { order: 'total' })).toThrow(TypeError);
      expect(() => checkGroupTraces(traces as GroupEvent[][], { order: 'total' })).toThrow(name);
    };
    const view = ok[0]![0]!;
    bad(null, '"traces"');
    bad(5, '"traces"');
    bad([ok[0], 'x'], '"traces[1]"');
    bad([[view, { ...view, kind: 'leave' }]], '"traces[0][1].kind"');
    bad([view, { ...view, members: 'a' }], '"traces[1].members"');
    expect(() => checkGroupTraces([[{ ...view, view: -1 }]], { order: 'total' })).toThrow(RangeError);
    expect(() => checkGroupTraces([[{ ...view, view: -1 }]], { order: 'total' })).toThrow('"traces[0][0].view"');
    bad([[{ ...view, view: 'one' }]], '"traces[0][0].view"');
    bad([[{ ...view, group: 3 }]], '"traces[0][0].group"');
    const seq0 = [[view, { group: 'g', member: 'a', kind: 'send', view: 1, message: 'a@1:0', sender: 'a', seq: 0 }]];
    expect(() => checkGroupTraces(seq0 as GroupEvent[][], { order: 'total' })).toThrow(RangeError);
    expect(() => checkGroupTraces(seq0 as GroupEvent[][], { order: 'total' })).toThrow('"traces[0][1].seq"');
    bad([[view, { group: 'g', member: 'a', kind: 'send', view: 1, message: 'a@1:1', sender: 'a', seq: '1' }]], '"traces[0][1].seq"');
    bad([[view, { group: 'g', member: 'a', kind: 'deliver', view: 1, sender: 'a', seq: 1 }]], '"traces[0][1].message"');
    expect(checkGroupTraces([], { order: 'total' })).toEqual([]);
  });
});

// Traces: the recorder stamps real channel messages through the hook (pipe
// and socket-pair channels, three codecs), traces merge and round-trip
// through their file format, happens-before queries answer on them, the
// violation checker finds a delivery order that breaks causality (and
// passes the hold-back protocol's), and the ShiViz export passes a port of
// ShiViz's own checks.
import { describe, expect, it } from 'vitest';

import {
  codecs,
  duplexFromFd,
  findCausalityViolations,
  HoldBackQueue,
  LamportClock,
  lamportClockHook,
  pipeChannel,
  readTrace,
  socketPair,
  toShiViz,
  Trace,
  TraceRecorder,
  VectorClock,
  VectorTime,
  vectorClockHook,
  writeTrace,
  type Codec,
  type Stamp,
} from '../lib/index.js';
import { checkShiVizLog } from './support/shiviz-check.js';
import { removePath, tempPath, within } from './support/helpers.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).name;
  }
  return undefined;
}

/** The slide's causality violation, by hand: p1 sends m1 to p3, then m2 to p2; p2 forwards m3 to p3; p3 gets m3 first. */
function violationRun(holdBack: boolean): Trace {
  const [p1, p2, p3] = ['p1', 'p2', 'p3'].map((p) => new TraceRecorder(p));
  const m1 = p1!.send({ to: 'p3', label: 'm1' });
  const m2 = p1!.send({ to: 'p2', label: 'm2' });
  p2!.receive(m2.stamp);
  p2!.deliver(m2.event.id);
  const m3 = p2!.send({ to: 'p3', label: 'm3' });
  p3!.receive(m3.stamp); // m3 arrives first: m1 was delayed
  if (!holdBack) p3!.deliver(m3.event.id);
  p3!.receive(m1.stamp);
  p3!.deliver(m1.event.id);
  if (holdBack) p3!.deliver(m3.event.id); // held back until m1 was delivered
  return Trace.merge(p1!, p2!, p3!);
}

describe('trace recorder over real channels', () => {
  for (const [name, codec, msg] of [
    ['json', codecs.json, { n: 1 }],
    ['utf8', codecs.utf8, 'hello'],
    ['bytesView', codecs.bytesView, new Uint8Array([1, 2, 3])],
  ] as [string, Codec<unknown>, unknown][]) {
    it(`stamps and merges on a pipe channel (${name} codec); the payload arrives unchanged`, async () => {
      const { sender, receiver } = pipeChannel({ codec });
      const a = new TraceRecorder('a');
      const b = new TraceRecorder('b');
      a.attach(sender, { peer: 'b' });
      const rx = b.attach(receiver);
      a.local({ label: 'start' });
      await sender.send(msg);
      await sender.send(msg);
      const got = await within(5000, 'receive', receiver.receive());
      expect(got).toEqual(msg);
      const r1 = rx.take()!;
      expect(r1.message).toBe('a#2');
      expect(r1.event.time.toString()).toBe('{"a":2,"b":1}');
      b.deliver(r1);
      await receiver.receive();
      expect(rx.take()!.message).toBe('a#3');
      await sender.close();
      receiver.close();
      const trace = Trace.merge(a, b);
      expect(trace.events.map((e) => `${e.id}:${e.kind}`)).toEqual([
        'a#1:local',
        'a#2:send',
        'a#3:send',
        'b#1:receive',
        'b#2:deliver',
        'b#3:receive',
      ]);
      expect(trace.happenedBefore('a#1', 'b#2')).toBe(true);
      expect(trace.concurrent('a#3', 'b#2')).toBe(true);
      expect(trace.event('a#2')!.peer).toBe('b');
    });
  }

  it('a duplex over a socket pair: both directions stamped, replies merge', async () => {
    const [x, y] = socketPair();
    const dx = duplexFromFd(x, { codec: codecs.json });
    const dy = duplexFromFd(y, { codec: codecs.json });
    const p = new TraceRecorder('p');
    const q = new TraceRecorder('q');
    p.attach(dx, { peer: 'q' });
    const qEnd = q.attach(dy, { peer: 'p' });
    await dx.sender.send('ping');
    expect(await within(5000, 'ping', dy.receiver.receive())).toBe('ping');
    q.deliver(qEnd.take()!);
    await dy.sender.send('pong');
    expect(await within(5000, 'pong', dx.receiver.receive())).toBe('pong');
    expect(p.clock.time.toString()).toBe('{"p":2,"q":3}');
    await dx.close();
    await dy.close();
    checkShiVizLog(toShiViz(Trace.merge(p, q)));
  });

  it('a message without a stamp, or a malformed one, fails that receive only: the channel stays usable', async () => {
    const { sender, receiver } = pipeChannel({ codec: codecs.utf8 });
    const b = new TraceRecorder('b');
    b.attach(receiver);
    await sender.send('unstamped');
    await expect(receiver.receive()).rejects.toMatchObject({ code: 'ERR_CAUSALITY_BAD_STAMP' });
    const a = new TraceRecorder('a');
    a.attach(sender);
    await sender.send('stamped');
    expect(await within(5000, 'receive', receiver.receive())).toBe('stamped');
    expect(b.events).toHaveLength(1);
    await sender.close();
    receiver.close();
  });

  it('a fixed-membership clock refuses a stamp from a non-member, and the clock is unchanged', async () => {
    const { sender, receiver } = pipeChannel();
    sender.intercept(vectorClockHook(new VectorClock('x')));
    const clock = new VectorClock('a', { members: ['a', 'b'] });
    receiver.intercept(vectorClockHook(clock));
    await sender.send(new Uint8Array([1]));
    await expect(receiver.receive()).rejects.toMatchObject({ code: 'ERR_CAUSALITY_UNKNOWN_MEMBER' });
    expect(clock.time).toBe(VectorTime.zero);
    await sender.close();
    receiver.close();
  });
});

describe('multicast and Lamport stamps', () => {
  it('a multicast is one send event that every copy carries; the checker judges it as one send', async () => {
    const toB = pipeChannel({ codec: codecs.json });
    const toC = pipeChannel({ codec: codecs.json });
    const bToC = pipeChannel({ codec: codecs.json });
    const [a, b, c] = ['a', 'b', 'c'].map((p) => new TraceRecorder(p));
    a!.attach(toB.sender);
    a!.attach(toC.sender);
    b!.attach(toB.receiver);
    b!.attach(bToC.sender);
    const cIn = [c!.attach(toC.receiver), c!.attach(bToC.receiver)];
    const { event } = await a!.multicast(() => Promise.all([toB.sender.send('m1'), toC.sender.send('m1')]), { label: 'm1' });
    expect(event.id).toBe('a#1');
    a!.send(); // outside the multicast: an event of its own again
    expect(a!.clock.time.get('a')).toBe(2);
    await toB.receiver.receive();
    await bToC.sender.send('m2');
    await bToC.receiver.receive(); // c gets m2 first...
    c!.deliver(cIn[1]!.take()!);
    await toC.receiver.receive(); // ...then m1
    c!.deliver(cIn[0]!.take()!);
    const trace = Trace.merge(a!, b!, c!);
    expect(
      trace
        .messages()
        .get('a#1')!
        .receives.map((e) => e.process),
    ).toEqual(['b', 'c']);
    expect(findCausalityViolations(trace).map((v) => v.description)).toEqual([
      'c delivered b#2 before a#1, but a#1 was sent before b#2 was',
    ]);
    checkShiVizLog(toShiViz(trace));
    await Promise.all([toB.sender.close(), toC.sender.close(), bToC.sender.close()]);
    for (const ch of [toB, toC, bToC]) ch.receiver.close();
  });

  it('Lamport stamps over a channel: receive sets the clock past the stamp', async () => {
    const { sender, receiver } = pipeChannel({ codec: codecs.utf8 });
    const ca = new LamportClock(10);
    const cb = new LamportClock();
    const seen: number[] = [];
    sender.intercept(lamportClockHook(ca));
    receiver.intercept(lamportClockHook(cb, { onReceive: (stamp, time) => seen.push(stamp, time) }));
    await sender.send('x');
    expect(await within(5000, 'receive', receiver.receive())).toBe('x');
    expect(seen).toEqual([11, 12]);
    await sender.close();
    receiver.close();
  });
});

describe('traces', () => {
  it('merge is order-independent, keeps identical duplicates once, refuses conflicts and gaps', () => {
    const t = violationRun(true);
    const [p1, p2, p3] = t.processes.map((p) => t.eventsOf(p));
    expect(Trace.merge(p3!, p1!, p2!).toJSONLines()).toBe(t.toJSONLines());
    expect(Trace.merge(t, p1!).toJSONLines()).toBe(t.toJSONLines());
    expect(code(() => Trace.merge(p1!, [{ ...p1![0]!, label: 'other' }]))).toBe('ERR_CAUSALITY_BAD_TRACE');
    expect(code(() => Trace.merge(p1!.slice(1)))).toBe('ERR_CAUSALITY_BAD_TRACE');
  });

  it('round-trips through its file format, written 0600 and exclusively', async () => {
    const t = violationRun(false);
    const path = tempPath('trace');
    try {
      await writeTrace(path, t);
      const { statSync } = await import('node:fs');
      expect(statSync(path).mode & 0o777).toBe(0o600);
      await expect(writeTrace(path, t)).rejects.toMatchObject({ code: 'EEXIST' });
      const back = await readTrace(path);
      expect(back.toJSONLines()).toBe(t.toJSONLines());
      expect(t.toJSONLines().split('\n')[1]).toBe(
        '{"process":"p1","index":1,"kind":"send","time":{"p1":1},"message":"p1#1","peer":"p3","label":"m1"}',
      );
    } finally {
      removePath(path);
    }
  });

  it('event data must be JSON within a bound, and is kept as a copy', () => {
    const a = new TraceRecorder('a');
    expect(() => a.local({ data: 1n })).toThrow(TypeError);
    expect(() => a.local({ data: () => 1 })).toThrow(TypeError);
    expect(() => a.local({ data: 'x'.repeat(70_000) })).toThrow(RangeError);
    const data = { n: 1 };
    a.local({ data });
    data.n = 2;
    expect(a.events[0]!.data).toEqual({ n: 1 });
    expect(a.events).toHaveLength(1);
  });

  it('parse names the bad line and bounds what it reads', () => {
    const good = violationRun(false).toJSONLines();
    const lines = good.split('\n');
    const bad = (text: string, options = {}): string | undefined => code(() => Trace.parse(text, options));
    expect(bad('')).toBe('ERR_CAUSALITY_BAD_TRACE');
    expect(bad('{"format":"other"}\n')).toBe('ERR_CAUSALITY_BAD_TRACE');
    expect(bad([lines[0], '{oops', ''].join('\n'))).toBe('ERR_CAUSALITY_BAD_TRACE');
    expect(bad([lines[0], '{"process":"p1","index":2,"kind":"local","time":{"p1":1}}'].join('\n'))).toBe('ERR_CAUSALITY_BAD_TRACE'); // index is not the own entry
    expect(bad([lines[0], '{"process":"p1","index":1,"kind":"explode","time":{"p1":1}}'].join('\n'))).toBe('ERR_CAUSALITY_BAD_TRACE');
    expect(bad([lines[0], '{"process":"p1","index":1,"kind":"receive","time":{"p1":1}}'].join('\n'))).toBe('ERR_CAUSALITY_BAD_TRACE'); // no message
    expect(bad(good, { maxEvents: 3 })).toBe('ERR_CAUSALITY_BAD_TRACE');
    expect(bad(`${lines[0]}\n${'x'.repeat(200)}`, { maxLineLength: 100 })).toBe('ERR_CAUSALITY_BAD_TRACE');
    expect(() => Trace.parse(`${lines[0]}\n{oops}`)).toThrow(/line 2/);
  });
});

describe('causality violations', () => {
  it('the slide example: delivered without hold-back, m3 overtakes m1 and the checker says so', () => {
    const v = findCausalityViolations(violationRun(false));
    expect(v).toHaveLength(1);
    expect(v[0]!.description).toBe('p3 delivered p2#3 before p1#1, but p1#1 was sent before p2#3 was');
  });

  it('with m3 held back until m1 is delivered, no violation', () => {
    expect(findCausalityViolations(violationRun(true))).toEqual([]);
  });

  it('a FIFO violation (one sender, two messages swapped) is a causality violation too; receives count as deliveries without a deliver event', () => {
    const a = new TraceRecorder('a');
    const b = new TraceRecorder('b');
    const x = a.send();
    const y = a.send();
    b.receive(y.stamp);
    b.receive(x.stamp);
    expect(findCausalityViolations(Trace.merge(a, b)).map((v) => [v.early.id, v.late.id])).toEqual([['b#1', 'b#2']]);
  });
});

describe('hold-back queue (causal broadcast)', () => {
  it('holds a message from the future until what it depends on was delivered; drops duplicates', () => {
    const members = ['p1', 'p2', 'p3'];
    const q1 = new HoldBackQueue<string>('p1', { members });
    const q2 = new HoldBackQueue<string>('p2', { members });
    const q3 = new HoldBackQueue<string>('p3', { members });
    const s1 = q1.stamp(); // p1 broadcasts m1
    expect(q2.receive('p1', s1, 'm1').delivered.map((d) => d.message)).toEqual(['m1']);
    const s2 = q2.stamp(); // p2, having delivered m1, broadcasts m2
    const early = q3.receive('p2', s2, 'm2'); // m2 reaches p3 before m1
    expect(early).toEqual({ delivered: [], duplicate: false });
    expect(q3.held).toBe(1);
    expect(q3.receive('p2', s2, 'm2').duplicate).toBe(true);
    expect(q3.receive('p1', s1, 'm1').delivered.map((d) => d.message)).toEqual(['m1', 'm2']);
    expect(q3.held).toBe(0);
    expect(q3.receive('p1', s1, 'm1').duplicate).toBe(true);
    expect(q3.delivered.toString()).toBe('{"p1":1,"p2":1}');
  });

  it('bounds what it holds', () => {
    const q = new HoldBackQueue<number>('a', { maxHeld: 2 });
    const future = (n: number): VectorTime => VectorTime.from({ b: n + 1 });
    q.receive('b', future(1), 1);
    q.receive('b', future(2), 2);
    expect(() => q.receive('b', future(3), 3)).toThrow(RangeError);
  });
});

describe('ShiViz export', () => {
  it('writes the parser regex, an empty delimiter, then host+clock and event lines; the port of ShiViz checks passes', () => {
    const log = toShiViz(violationRun(true));
    const lines = log.split('\n');
    expect(lines[0]).toBe('(?<host>\\S*) (?<clock>{.*})\\n(?<event>.*)');
    expect(lines[1]).toBe('');
    expect(lines[2]).toBe('p1 {"p1":1}');
    expect(lines[3]).toBe('send p1#1 to p3: m1');
    const events = checkShiVizLog(log);
    expect(events).toHaveLength(violationRun(true).events.length);
  });

  it('refuses a trace missing a process that a clock names (ShiViz would: "unrecognized host")', () => {
    const t = violationRun(true);
    const partial = Trace.merge(t.eventsOf('p3'));
    expect(code(() => toShiViz(partial))).toBe('ERR_CAUSALITY_BAD_TRACE');
  });

  it('the ported checks reject what ShiViz rejects', () => {
    const head = '(?<host>\\S*) (?<clock>{.*})\\n(?<event>.*)\n\n';
    expect(() => checkShiVizLog(head + 'a {"a":2}\nx\n')).toThrow(/must start at 1/);
    expect(() => checkShiVizLog(head + 'a {"a":1}\nx\na {"a":3}\ny\n')).toThrow(/increase monotonically by 1/);
    expect(() => checkShiVizLog(head + 'a {"a":1,"z":1}\nx\n')).toThrow(/unrecognized host/);
    expect(() => checkShiVizLog(head + 'a {"b":1}\nx\nb {"b":1}\ny\n')).toThrow(/missing from timestamp/);
    expect(() => checkShiVizLog(head + 'a {"a":1,"b":2}\nx\nb {"b":1}\ny\n')).toThrow(/invalid clock value/);
    // b#1 claims to know a#1, whose clock knows c#1: b#1's clock must show c too
    expect(() => checkShiVizLog(head + 'c {"c":1}\nz\na {"a":1,"c":1}\nx\nb {"a":1,"b":1}\ny\n')).toThrow(/impermissible/);
    expect(() => checkShiVizLog('(?<host>\\S*) (?<event>.*)\n\na\n')).toThrow(/named capture groups/);
  });

  it('random executions export logs the ported checks accept', () => {
    for (let run = 0; run < 30; run++) {
      const procs = ['a', 'b', 'c', 'd'].map((p) => new TraceRecorder(p));
      const flight: { to: number; stamp: Stamp }[] = [];
      let x = run * 7919 + 1;
      const rnd = (n: number): number => ((x = (x * 1103515245 + 12345) % 2147483648), x % n);
      for (let i = 0; i < 60; i++) {
        const p = rnd(4);
        const k = rnd(3);
        if (k === 0) procs[p]!.local({ label: `step ${i}\nwith a newline` });
        else if (k === 1) flight.push({ to: (p + 1 + rnd(3)) % 4, stamp: procs[p]!.send().stamp });
        else if (flight.length > 0) {
          const [m] = flight.splice(rnd(flight.length), 1);
          procs[m!.to]!.receive(m!.stamp);
        }
      }
      checkShiVizLog(toShiViz(Trace.merge(...procs)));
    }
  });
});

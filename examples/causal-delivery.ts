// The course's causality violation and its fix. P1 broadcasts m1; P2
// delivers m1 and broadcasts m2; the link P1 -> P3 is slowed by an injected
// delay, so m2 reaches P3 before m1. Delivering on arrival, P3 delivers m2
// first: the trace's checker finds the violation. Holding back messages
// that arrive too soon (the Birman-Schiper-Stephenson rule: the broadcast
// carries its sender's delivered counts), P3 receives m2 early but delivers
// it only after m1: no violation. Every process is a task in this one
// program; the links are real pipes, stamped through the channels' hook.
// Run: npx tsx examples/causal-delivery.ts [dir]   (dir: write the traces and ShiViz logs there)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  codecs,
  FaultInjector,
  findCausalityViolations,
  HoldBackQueue,
  pipeChannel,
  select,
  toShiViz,
  Trace,
  TraceRecorder,
  vectorTimeFromJSON,
  type Codec,
  type ReceivedMessage,
  type Receiver,
  type Sender,
  type TracedEnd,
} from '../lib/index.js';

interface Broadcast {
  body: string;
  bss: Record<string, number>;
}
const NAMES = ['P1', 'P2', 'P3'];
const outDir = process.argv[2];

async function run(holdBack: boolean): Promise<Trace> {
  const faults = new FaultInjector({ seed: 1, channels: { 'P1->P3': { delayMs: 500 } } });
  const recs = new Map(NAMES.map((p) => [p, new TraceRecorder(p)]));
  const out = new Map<string, Sender<Broadcast>[]>(NAMES.map((p) => [p, []]));
  const into = new Map<string, { rx: Receiver<Broadcast>; traced: TracedEnd }[]>(NAMES.map((p) => [p, []]));
  const closers: (() => Promise<void>)[] = [];
  for (const from of NAMES) {
    for (const to of NAMES) {
      if (from === to) continue;
      const { sender, receiver } = pipeChannel({ codec: codecs.json as Codec<Broadcast> });
      recs.get(from)!.attach(sender, { peer: to }); // first: the trace records the send, then the fault acts
      faults.attach(sender, `${from}->${to}`);
      out.get(from)!.push(sender);
      into.get(to)!.push({ rx: receiver, traced: recs.get(to)!.attach(receiver) });
      closers.push(async () => {
        await sender.close();
        receiver.close();
      });
    }
  }
  const queues = new Map(NAMES.map((p) => [p, new HoldBackQueue<ReceivedMessage>(p, { members: NAMES })]));
  const delivered = new Map<string, string[]>(NAMES.map((p) => [p, []]));

  const broadcast = async (p: string, body: string): Promise<void> => {
    const bss = queues.get(p)!.stamp().toJSON();
    // one send event for the whole broadcast: causal broadcast orders broadcasts, not their copies
    await recs.get(p)!.multicast(() => Promise.all(out.get(p)!.map((s) => s.send({ body, bss }))), { label: body });
  };
  const receiveUntil = async (p: string, count: number): Promise<void> => {
    const ends = into.get(p)!;
    while (delivered.get(p)!.length < count) {
      const got = await select(
        ends.map((e) => e.rx),
        { timeoutMs: 10_000 },
      );
      if (got === undefined) throw new Error(`${p}: the links ended early`);
      const [rx, msg] = got;
      const received = ends.find((e) => e.rx === rx)!.traced.take()!;
      const release = holdBack
        ? queues
            .get(p)!
            .receive(received.sender, vectorTimeFromJSON(msg.bss), received)
            .delivered.map((d) => d.message)
        : [received];
      for (const r of release) {
        recs.get(p)!.deliver(r);
        delivered.get(p)!.push(r.message);
      }
    }
  };

  await Promise.all([
    (async () => {
      await broadcast('P1', 'm1');
      await receiveUntil('P1', 1);
    })(),
    (async () => {
      await receiveUntil('P2', 1);
      await broadcast('P2', 'm2');
    })(),
    receiveUntil('P3', 2),
  ]);
  for (const close of closers) await close();
  const trace = Trace.merge(...recs.values());
  if (outDir !== undefined) {
    const name = holdBack ? 'with-hold-back' : 'without-hold-back';
    writeFileSync(join(outDir, `${name}.trace`), trace.toJSONLines(), { mode: 0o600 });
    writeFileSync(join(outDir, `${name}.shiviz`), toShiViz(trace), { mode: 0o600 });
  }
  return trace;
}

for (const holdBack of [false, true]) {
  const trace = await run(holdBack);
  const p3 = trace.eventsOf('P3').map((e) => `${e.kind} ${e.message}`);
  console.log(`${holdBack ? 'with' : 'without'} hold-back, P3: ${p3.join(', ')}`);
  const violations = findCausalityViolations(trace);
  for (const v of violations) console.log(`  violation: ${v.description}`);
  if (violations.length === 0) console.log('  no causality violation');
}

// The course's happens-before DAG: three processes, seven events e1..e7,
// messages over real pipe channels stamped with vector clocks through the
// channels' hook; then the relation queried on the recorded trace, and the
// trace as a ShiViz log (paste it into https://distributedclocks.github.io/shiviz/).
//   P1: e1 send m1 to P2    e4 local          e7 receive m3
//   P2: e2 local            e3 receive m1     e5 local
//   P3: e6 send m3 to P1
// Run: npx tsx examples/happens-before.ts
import { codecs, describeEvent, pipeChannel, toShiViz, Trace, TraceRecorder } from '../lib/index.js';

const [p1, p2, p3] = ['P1', 'P2', 'P3'].map((p) => new TraceRecorder(p));
const m1 = pipeChannel({ codec: codecs.utf8 }); // P1 -> P2
const m3 = pipeChannel({ codec: codecs.utf8 }); // P3 -> P1
p1!.attach(m1.sender, { peer: 'P2' });
p2!.attach(m1.receiver);
p3!.attach(m3.sender, { peer: 'P1' });
p1!.attach(m3.receiver);

await m1.sender.send('m1'); // e1
p2!.local(); // e2
await m1.receiver.receive(); // e3
p1!.local(); // e4
p2!.local(); // e5
await m3.sender.send('m3'); // e6
await m3.receiver.receive(); // e7
await Promise.all([m1.sender.close(), m3.sender.close()]);
m1.receiver.close();
m3.receiver.close();

const trace = Trace.merge(p1!, p2!, p3!);
const names: Record<string, string> = { 'P1#1': 'e1', 'P2#1': 'e2', 'P2#2': 'e3', 'P1#2': 'e4', 'P2#3': 'e5', 'P3#1': 'e6', 'P1#3': 'e7' };
const id = Object.fromEntries(Object.entries(names).map(([k, v]) => [v, k]));
for (const e of [...trace.events].sort((a, b) => names[a.id]!.localeCompare(names[b.id]!))) {
  console.log(`${names[e.id]} = ${e.process} ${e.kind.padEnd(7)} ${e.time.toString()}`);
}
const ask = (a: string, b: string): void => {
  const rel = trace.happenedBefore(id[a]!, id[b]!) ? '->' : trace.happenedBefore(id[b]!, id[a]!) ? '<-' : '||';
  console.log(`${a} ${rel} ${b}`);
};
ask('e1', 'e4'); // process order
ask('e4', 'e7');
ask('e1', 'e3'); // message order
ask('e1', 'e5'); // transitive
ask('e6', 'e7');
ask('e1', 'e6'); // concurrent
ask('e2', 'e1');
ask('e3', 'e6');
console.log('');
console.log(toShiViz(trace, { describe: (e) => `${names[e.id]}: ${describeEvent(e)}` }).trimEnd());

// The slides' two-phase total-order multicast, replayed step by step: two
// sources (s1, s2) multicast m1 and m2 to the group (g1, g2; the sources are
// members too and ack as well), each member acks with its logical clock, each
// source commits with the highest ack; g1's communication handler holds m2
// (committed at 8) back until m1 (acked at 6) is committed (at 9), then
// delivers m2 before m1. The engine is the one every group member runs
// (TotalOrderLab: the network is a list of messages delivered in the order
// the slides show; local events move the clocks to the slides' values).
// Prints g1's buffer table, before and after m1's commit, the delivery
// orders, and writes the run as a space-time diagram.
// Run: npx tsx examples/group-total-order.ts [out.html]   (default: total-order.html here)
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { TotalOrderLab, type LabBufferRow } from '../lib/coord/group/index.js';
import { toSpaceTimeHtml } from '../lib/index.js';

const lab = new TotalOrderLab(['s1', 's2', 'g1', 'g2'], { clocks: { g1: 1, g2: 1 } });
const table = (rows: readonly LabBufferRow[]): string =>
  ['| message | ack time | commit time | delivered |', '| --- | --- | --- | --- |']
    .concat(
      rows.map(
        (r) =>
          `| ${r.message} | ${r.ack} | ${r.commit ?? 'pending'} | ${r.delivered ? `${lab.delivered('g1').indexOf(r.message) + 1}` : r.commit === undefined ? 'no' : 'no: held back'} |`,
      ),
    )
    .join('\n');
const times = (m: string): string =>
  `${m}: acks ${lab.inFlight
    .filter((x) => x.kind === 'ack' && x.message === m)
    .map((x) => `${x.from} ${x.time}`)
    .join(', ')}`;

lab.multicast('s1', 'm0'); // an earlier message, delivered everywhere
lab.run();
for (let i = 0; i < 3; i++) lab.tick('g1'); // g1's clock: 5
for (let i = 0; i < 4; i++) lab.tick('g2'); // g2's clock: 6
lab.multicast('s1', 'm1');
lab.multicast('s2', 'm2');
lab.step({ to: 'g1', message: 'm1' }); // g1 acks m1 at 6
lab.tick('g1');
lab.step({ to: 'g1', message: 'm2' }); // g1 acks m2 at 8
lab.step({ to: 'g2', message: 'm2' }); // g2 acks m2 at 7
lab.tick('g2');
lab.step({ to: 'g2', message: 'm1' }); // g2 acks m1 at 9
lab.step({ to: 's2', message: 'm1', kind: 'multicast' });
lab.step({ to: 's1', message: 'm2', kind: 'multicast' });
console.log(times('m1'));
console.log(times('m2'));
while (lab.inFlight.some((m) => m.kind === 'ack')) lab.step({ kind: 'ack' }); // the sources commit: m1 at 9, m2 at 8
lab.step({ to: 'g1', kind: 'commit', message: 'm2' }); // m2 committed at 8, but m1 (acked at 6) is not: held back
lab.tick('g1');
lab.multicast('s2', 'm3');
lab.step({ to: 'g1', message: 'm3' }); // acked at 10
console.log("\ng1's buffer: m2 is committed (8) but m1, acked at 6, is not: m2 is held back");
console.log(table(lab.buffer('g1')));
lab.step({ to: 'g1', kind: 'commit', message: 'm1' });
console.log("\ng1's buffer after m1's commit (9): m2, then m1 delivered (m3, acked at 10, cannot commit below 10)");
console.log(table(lab.buffer('g1')));
lab.run();
for (const m of lab.members) console.log(`${m} delivered ${lab.delivered(m).join(', ')}`);
const out = resolve(process.argv[2] ?? 'total-order.html');
const trace = lab.trace();
writeFileSync(out, toSpaceTimeHtml(trace, { title: 'Two-phase total-order multicast (the slides\u2019 example)' }));
console.log(`wrote ${out}: ${trace.events.length} events`);

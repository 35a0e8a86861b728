// Group multicast scenario (issue 13): every member of a group, each its own
// process, multicasts at once for a fixed time; deliveries/s (at all members),
// msg/s (distinct messages ordered) and multicast-to-delivery latency p50/p99
// (the shared monotonic clock), for 2, 4 and 8 members over shm and UNIX
// sockets, for FIFO, causal, two-phase total and fixed-sequencer total order;
// then the goals, met or not. Every run is checked: every member
// delivers every message, each sender's messages in order without a gap (all
// four orders are FIFO), one view throughout, and in total order the same
// delivery sequence at every member (a running hash); before each cell's timed
// runs a small verification run records every member's trace and the group
// checkers judge it (validity, agreement, integrity, and the order itself).
// The latency of the timed runs is mostly queueing (each member keeps its
// window of multicasts in flight); a paced run after them, every member
// multicasting one message every --paced-ms (default 2), gives the latency at
// light load.
// Run: node --import tsx benchmarks/scenarios/group.ts [--members 2,4,8] [--transports shm,unix]
//        [--orders fifo,causal,total,sequencer] [--seconds s] [--reps n] [--warmup s] [--size bytes]
//        [--verify n] [--paced-ms ms] [--quick] [--smoke] [--json file] [--cpu-prof dir]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { checkGroupTraces, describeViolations } from '../../lib/coord/group/checkers.js';
import { readGroupTrace, type GroupOrder } from '../../lib/coord/group/index.js';
import type { LineProcess } from '../lib/line-process.js';
import { machineInfo } from '../lib/machine.js';
import { stat } from '../lib/stats.js';
import type { Stat } from '../lib/types.js';
import { BenchGroup, startMembers, type GroupRep, type Transport } from '../group/members.js';

const ORDERS: Record<string, string> = {
  fifo: 'FIFO',
  causal: 'causal',
  total: 'total, two-phase',
  sequencer: 'total, sequencer',
};

interface Row {
  id: string;
  label: string;
  members: number;
  transport: Transport;
  order: GroupOrder;
  reps: GroupRep[];
  deliveriesPerSec: Stat;
  msgPerSec: Stat;
  p50Us: Stat;
  p99Us: Stat;
  cpuUsPerMsg: Stat;
  /** Light load: every member multicasts one message every `gapMs` (a repetition of its own, after the others). */
  paced: { gapMs: number; msgPerSec: number; p50Us: number; p99Us: number } | null;
  /** The verification run: messages per member, and what the checkers said. */
  verified: { perMember: number; events: number; violations: string } | null;
}

const { values } = parseArgs({
  options: {
    members: { type: 'string' },
    transports: { type: 'string' },
    orders: { type: 'string' },
    seconds: { type: 'string' },
    reps: { type: 'string' },
    warmup: { type: 'string' },
    size: { type: 'string', default: '64' },
    verify: { type: 'string' },
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    json: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'paced-ms': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(`npm run bench:group -- [options]
  --members 2,4,8            member counts (default 2,4,8; --quick: 4)
  --transports shm,unix      transports (default both)
  --orders fifo,causal,total,sequencer
  --seconds s --reps n --warmup s   each timed repetition, how many, the warm-up
  --size bytes               message size (default 64)
  --verify n                 multicasts per member in the traced run the checkers judge
  --paced-ms ms              the paced run's interval (default 2)
  --quick                    4 members, 1 repetition of 0.5 s
  --smoke                    CI: 2 members over shm, tiny
  --json file                also write the results there
  --cpu-prof dir             a CPU profile of every member
`);
  process.exit(0);
}
const { quick, smoke } = values;
const list = (s: string): string[] => s.split(',').filter(Boolean);
// --quick: 4 members, 1 repetition of 0.5 s; --smoke (CI): 2 members over shm, 1 repetition of 0.2 s, a small verification run.
const memberCounts = list(values.members ?? (smoke ? '2' : quick ? '4' : '2,4,8')).map(Number);
const transports = list(values.transports ?? (smoke ? 'shm' : 'shm,unix')) as Transport[];
const orders = list(values.orders ?? 'fifo,causal,total,sequencer') as GroupOrder[];
const seconds = Number(values.seconds ?? (smoke ? 0.2 : quick ? 0.5 : 1));
const reps = Number(values.reps ?? (smoke || quick ? 1 : 3));
const warmup = Number(values.warmup ?? (smoke ? 0 : 0.3));
const size = Number(values.size);
const verifyCount = Number(values.verify ?? (smoke ? 30 : 200));
const pacedMs = Number(values['paced-ms'] ?? 2);
for (const t of transports) if (t !== 'shm' && t !== 'unix') throw new Error(`--transports: shm or unix, not ${t}`);
for (const o of orders) if (!(o in ORDERS)) throw new Error(`--orders: ${Object.keys(ORDERS).join(', ')}; not ${o}`);
for (const n of memberCounts) if (!Number.isInteger(n) || n < 2 || n > 64) throw new Error(`--members: 2 to 64, not ${n}`);
if (!(seconds > 0) || !(reps >= 1) || !(size >= 8) || !(warmup >= 0) || !(verifyCount >= 0))
  throw new Error('--seconds, --reps, --warmup, --size (>= 8), --verify: positive numbers');
if (!(pacedMs >= 0)) throw new Error('--paced-ms: 0 (no paced run) or more');

function fmt(s: Stat, digits = 0): string {
  const f = (v: number): string => (v >= 10_000 ? `${(v / 1000).toFixed(1)}k` : v.toFixed(digits));
  return reps > 1 ? `${f(s.median)} (${f(s.min)}-${f(s.max)})` : f(s.median);
}

function print(r: Row): void {
  const paced = r.paced === null ? '' : `${r.paced.p50Us.toFixed(0)} / ${r.paced.p99Us.toFixed(0)}`;
  console.log(
    `${r.label.padEnd(40)} ${fmt(r.deliveriesPerSec).padEnd(22)} ${fmt(r.msgPerSec).padEnd(22)} ${fmt(r.p50Us).padEnd(20)} ${fmt(r.p99Us).padEnd(22)} ${fmt(r.cpuUsPerMsg, 1).padEnd(14)} ${paced}`,
  );
}

/** A small run with every member's trace recorded, judged by the group checkers. */
async function verify(ms: LineProcess[], order: GroupOrder, transport: Transport, dir: string): Promise<Row['verified']> {
  if (verifyCount === 0) return null;
  const traceDir = mkdtempSync(join(dir, 'traces-'));
  const g = await BenchGroup.join(ms, order, transport, dir, traceDir);
  try {
    await g.run(60_000, verifyCount, size);
  } finally {
    await g.close();
  }
  const traces = ms.map((_, i) => readGroupTrace(join(traceDir, `${g.name}-m${i}.trace`)));
  const violations = describeViolations(checkGroupTraces(traces, { order }));
  rmSync(traceDir, { recursive: true, force: true });
  if (violations !== '') throw new Error(`${order} over ${transport}, ${ms.length} members: the checkers found\n${violations}`);
  return { perMember: verifyCount, events: traces.reduce((a, t) => a + t.length, 0), violations };
}

async function cell(all: LineProcess[], n: number, transport: Transport, order: GroupOrder, dir: string): Promise<Row> {
  const ms = all.slice(0, n);
  const verified = await verify(ms, order, transport, dir);
  const g = await BenchGroup.join(ms, order, transport, dir);
  const done: GroupRep[] = [];
  let paced: Row['paced'] = null;
  try {
    if (warmup > 0) await g.run(warmup * 1000, Number.MAX_SAFE_INTEGER, size);
    for (let r = 0; r < reps; r++) done.push(await g.run(seconds * 1000, Number.MAX_SAFE_INTEGER, size));
    if (pacedMs > 0) {
      const p = await g.run(seconds * 1000, Number.MAX_SAFE_INTEGER, size, pacedMs);
      paced = { gapMs: pacedMs, msgPerSec: p.msgPerSec, p50Us: p.p50Us, p99Us: p.p99Us };
    }
  } finally {
    await g.close();
  }
  const s = (f: (x: GroupRep) => number): Stat => stat(done.map(f));
  return {
    id: `group-${order}-${transport}-n${n}`,
    label: `${ORDERS[order]}, ${n} members, ${transport === 'shm' ? 'shm' : 'UNIX'}`,
    members: n,
    transport,
    order,
    reps: done,
    deliveriesPerSec: s((x) => x.deliveriesPerSec),
    msgPerSec: s((x) => x.msgPerSec),
    p50Us: s((x) => x.p50Us),
    p99Us: s((x) => x.p99Us),
    cpuUsPerMsg: s((x) => x.cpuUsPerMsg),
    paced,
    verified,
  };
}

interface Goal {
  goal: string;
  met: boolean | null;
  detail: string;
}

function goals(rows: Row[]): Goal[] {
  const out: Goal[] = [];
  const targets: Array<[GroupOrder, 'deliveriesPerSec' | 'msgPerSec', number, string]> = [
    ['causal', 'deliveriesPerSec', 100_000, 'deliveries/s'],
    ['sequencer', 'msgPerSec', 50_000, 'msg/s'],
    ['total', 'msgPerSec', 15_000, 'msg/s'],
  ];
  for (const [order, field, target, unit] of targets)
    for (const t of transports) {
      const r = rows.find((x) => x.order === order && x.transport === t && x.members === 4);
      const goal = `${ORDERS[order]}, 4 members, ${t}: >= ${target / 1000}k ${unit}`;
      out.push(
        r === undefined
          ? { goal, met: null, detail: 'not measured' }
          : {
              goal,
              met: r[field].median >= target,
              detail: `${r[field].median.toFixed(0)} ${unit} (${(r[field].median / target).toFixed(2)} of the goal)`,
            },
      );
    }
  return out;
}

async function main(): Promise<void> {
  const machine = machineInfo(process.env.CC ?? 'cc');
  const dir = mkdtempSync(join(tmpdir(), 'pipc-group-bench-'));
  const cells = memberCounts.length * transports.length * orders.length;
  // Bounded: a run that hangs past every per-step bound (which name what is missing) still ends here.
  const budgetMs = 120_000 + cells * (reps * seconds + warmup + 20) * 1000 * 3;
  const watchdog = setTimeout(() => {
    console.error(`group benchmark: not done after ${(budgetMs / 1000).toFixed(0)} s, giving up`);
    process.exit(2);
  }, budgetMs);
  watchdog.unref();
  console.log(
    `${seconds} s per repetition, ${reps} repetition(s), ${size}-byte messages, every member multicasting; median (min-max); load ${loadavg()[0]!.toFixed(2)}`,
  );
  console.log(
    `${'row'.padEnd(40)} ${'deliveries/s'.padEnd(22)} ${'msg/s'.padEnd(22)} ${'p50 us'.padEnd(20)} ${'p99 us'.padEnd(22)} ${'cpu us/msg'.padEnd(14)} paced p50 / p99 us`,
  );
  const rows: Row[] = [];
  const t0 = performance.now();
  const prof = values['cpu-prof'];
  const members = await startMembers(Math.max(...memberCounts), prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`]);
  try {
    for (const n of memberCounts)
      for (const t of transports)
        for (const o of orders) {
          const r = await cell(members, n, t, o, dir);
          rows.push(r);
          print(r);
        }
  } finally {
    await Promise.all(members.map((m) => m.stop()));
    rmSync(dir, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
  const g = goals(rows);
  console.log('\ngoals (issue 13, 4 members):');
  for (const x of g) console.log(`  ${x.met === null ? 'n/a ' : x.met ? 'MET ' : 'NOT MET'}  ${x.goal}: ${x.detail}`);
  machine.loadAverage.end = loadavg()[0];
  const file =
    values.json ??
    join(fileURLToPath(new URL('../../bench-results/', import.meta.url)), `group-${machine.date.replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(file), { recursive: true });
  const report = {
    schema: 'posix-ipc-group-bench/1',
    machine,
    settings: { quick, smoke, memberCounts, transports, orders, seconds, reps, warmup, size, verify: verifyCount, pacedMs },
    seconds: (performance.now() - t0) / 1000,
    rows,
    goals: g,
  };
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\n${file} (${report.seconds.toFixed(0)} s)`);
}

await main();

// Transactions scenario (issue 12): commit latency p50/p99 and transactions/s
// of two-phase commit (a KvClient coordinating KV partitions, each site its
// own process with its own activity log) with 2 and 4 participants over shm
// and TCP loopback, with 1 client and with 4 concurrent clients (each its own
// process, its own keys: no conflicts), beside the physical floor (128 B
// append + fdatasync on the same disk, one writer: through ActivityLog and
// raw) and PostgreSQL's PREPARE TRANSACTION / COMMIT PREPARED on the same
// machine, all in one run; then the goals, met or not.
// Run: node --import tsx benchmarks/scenarios/tx.ts [--participants 2,4] [--transports shm,tcp]
//        [--clients 1,4] [--commits n] [--warmup n] [--reps n] [--floor n] [--no-paced]
//        [--no-postgres] [--dir d] [--json file] [--smoke]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { machineInfo } from '../lib/machine.js';
import { latencyRep, stat } from '../lib/stats.js';
import type { Stat } from '../lib/types.js';
import { breakdown, type Breakdown } from '../tx/breakdown.js';
import { activityLogRep, fsType, rawRep, type Rep } from '../tx/floor.js';
import { startPostgres, type PgCluster } from '../tx/postgres.js';
import { startSite, type SiteProcess } from '../tx/sites.js';

interface Row {
  id: string;
  label: string;
  participants?: number;
  transport?: string;
  clients?: number;
  /** Per repetition: transactions (or appends) timed, over all clients. */
  count: number;
  p50Us: Stat | null;
  p99Us: Stat | null;
  txPerSec: Stat | null;
  note?: string;
  /** CPU time per transaction (user + system, µs): each client process, each partition process (medians over them). */
  cpuUsPerTx?: { client: number; partition: number };
  /** The paced row's phases (see benchmarks/tx/breakdown.ts). */
  breakdown?: Breakdown;
}

const { values } = parseArgs({
  options: {
    participants: { type: 'string' },
    transports: { type: 'string' },
    clients: { type: 'string' },
    commits: { type: 'string', default: '500' },
    warmup: { type: 'string', default: '100' },
    reps: { type: 'string', default: '3' },
    floor: { type: 'string', default: '2000' },
    'no-paced': { type: 'boolean', default: false },
    'no-postgres': { type: 'boolean', default: false },
    dir: { type: 'string' },
    json: { type: 'string' },
    smoke: { type: 'boolean', default: false },
  },
});
const smoke = values.smoke;
const list = (s: string): number[] => s.split(',').map(Number);
// --smoke (CI): small counts, one repetition, no PostgreSQL, and unless told otherwise 2 participants over shm with 1 and 2 clients.
const participantCounts = list(values.participants ?? (smoke ? '2' : '2,4'));
const transports = (values.transports ?? (smoke ? 'shm' : 'shm,tcp')).split(',');
const clientCounts = list(values.clients ?? (smoke ? '1,2' : '1,4'));
const commits = smoke ? 30 : Number(values.commits);
const warmup = smoke ? 10 : Number(values.warmup);
const reps = smoke ? 1 : Number(values.reps);
const floorN = smoke ? 50 : Number(values.floor);
const paced = !smoke && !values['no-paced'];
const withPostgres = !smoke && !values['no-postgres'];
for (const t of transports) if (t !== 'shm' && t !== 'tcp') throw new Error(`--transports: shm or tcp, not ${t}`);

/** One repetition's figures from every client's loop: pooled latencies, and all transactions over the span from the first start to the last end. */
function summarize(parts: Rep[]): { p50Us: number; p99Us: number; perSec: number; count: number } {
  const all = Float64Array.from(parts.flatMap((p) => p.samples));
  const lat = latencyRep(all);
  let start = parts[0]!.start;
  let end = parts[0]!.end;
  for (const p of parts) {
    if (p.start < start) start = p.start;
    if (p.end > end) end = p.end;
  }
  return { p50Us: lat.medianNs / 1000, p99Us: lat.p99Ns / 1000, perSec: all.length / (Number(end - start) / 1e9), count: all.length };
}

function row(base: Omit<Row, 'p50Us' | 'p99Us' | 'txPerSec' | 'count'>, repsDone: Rep[][]): Row {
  const s = repsDone.map(summarize);
  return {
    ...base,
    count: s[0]?.count ?? 0,
    p50Us: stat(s.map((x) => x.p50Us)),
    p99Us: stat(s.map((x) => x.p99Us)),
    txPerSec: stat(s.map((x) => x.perSec)),
  };
}

function fmt(s: Stat | null, digits = 0): string {
  if (s === null) return '';
  const f = (v: number): string => (v >= 10_000 ? `${(v / 1000).toFixed(1)}k` : v.toFixed(digits));
  return reps > 1 ? `${f(s.median)} (${f(s.min)}-${f(s.max)})` : f(s.median);
}

function print(r: Row): void {
  const cells =
    r.note !== undefined && r.p50Us === null ? r.note : `${fmt(r.p50Us).padEnd(20)} ${fmt(r.p99Us).padEnd(20)} ${fmt(r.txPerSec)}`;
  const cpu = r.cpuUsPerTx
    ? `   cpu/tx: client ${r.cpuUsPerTx.client.toFixed(0)} us, partition ${r.cpuUsPerTx.partition.toFixed(0)} us`
    : '';
  console.log(`${r.label.padEnd(52)} ${cells}${cpu}`);
}

async function floorRows(dir: string, rows: Row[]): Promise<void> {
  await activityLogRep(dir, Math.min(200, floorN), 'warm');
  rawRep(dir, Math.min(200, floorN), 'warm');
  const raw: Rep[][] = [];
  const log: Rep[][] = [];
  for (let r = 0; r < reps; r++) {
    raw.push([rawRep(dir, floorN, `raw${r}`)]);
    log.push([await activityLogRep(dir, floorN, `log${r}`)]);
  }
  for (const rw of [
    row({ id: 'fdatasync-raw', label: 'floor: writeSync 128 B + fdatasyncSync, 1 writer' }, raw),
    row({ id: 'fdatasync-log', label: 'floor: ActivityLog.append 128 B (forced), 1 writer' }, log),
  ]) {
    rows.push(rw);
    print(rw);
  }
}

/** Each site's CPU time so far, µs. */
async function cpuTimes(sites: SiteProcess[]): Promise<number[]> {
  for (const s of sites) s.send('cpu');
  return Promise.all(sites.map(async (s) => Number(await s.next('cpu', 30_000))));
}

/** Runs `run n paced` on `clients` at once and collects their loops. */
async function runClients(clients: SiteProcess[], n: number, pacedRun: boolean): Promise<Rep[]> {
  for (const c of clients) c.send(`run ${n} ${pacedRun ? 1 : 0}`);
  return Promise.all(
    clients.map(async (c) => {
      const d = JSON.parse(await c.next('done', 120_000 + n * 50)) as { start: string; end: string; samples: number[] };
      return { start: BigInt(d.start), end: BigInt(d.end), samples: d.samples };
    }),
  );
}

/** The 2PC cells of one (participants, transport): the partitions and the clients started once, the cells run on them. */
async function twoPhaseRows(dir: string, nParts: number, transport: string, rows: Row[]): Promise<void> {
  const tag = `${transport}${nParts}`;
  const address = (name: string): string => (transport === 'shm' ? `shm:/pipc-txb-${process.pid}-${tag}-${name}` : 'tcp://127.0.0.1:0');
  const sites: SiteProcess[] = [];
  try {
    const parts = await Promise.all(
      Array.from({ length: nParts }, (_, j) =>
        startSite(`partition ${tag}/p${j}`, ['partition', `p${j}`, join(dir, `${tag}-p${j}.log`), address(`p${j}`)]),
      ),
    );
    sites.push(...parts);
    const urls = parts.map((p) => p.url).join(',');
    const clients = await Promise.all(
      Array.from({ length: Math.max(...clientCounts) }, (_, c) =>
        startSite(`client ${tag}/c${c}`, ['client', `c${c}`, join(dir, `${tag}-c${c}.log`), address(`c${c}`), urls]),
      ),
    );
    sites.push(...clients);
    const label = `2PC ${nParts} participants, ${transport === 'shm' ? 'shm' : 'TCP'}`;
    const cells: Array<{ k: number; paced: boolean }> = clientCounts.map((k) => ({ k, paced: false }));
    if (paced && clientCounts.includes(1)) cells.push({ k: 1, paced: true });
    for (const { k, paced: p } of cells) {
      const mine = clients.slice(0, k);
      await runClients(mine, warmup, p);
      // A paced cell runs fewer (each waits for the acknowledgements); its first repetition is recorded for the phases.
      const n = p ? Math.min(commits, 300) : commits;
      const done: Rep[][] = [];
      let phases: Breakdown | undefined;
      const cpu0 = await cpuTimes([...mine, ...parts]);
      for (let r = 0; r < reps; r++) {
        const go = (): Promise<Rep[]> => runClients(mine, n, p);
        if (p && r === 0) {
          const [b, result] = await breakdown(clients[0]!, parts, go);
          phases = b;
          done.push(result);
        } else done.push(await go());
      }
      const cpu = (await cpuTimes([...mine, ...parts])).map((t, i) => (t - cpu0[i]!) / (reps * n * k));
      const rw = row(
        {
          id: `2pc-${transport}-p${nParts}-c${k}${p ? '-paced' : ''}`,
          label: `${label}, ${k} client${k > 1 ? 's' : ''}${p ? ', paced' : ''}`,
          participants: nParts,
          transport,
          clients: k,
          ...(p ? { note: 'each transaction starts after the previous one is acknowledged by every participant' } : {}),
        },
        done,
      );
      rw.cpuUsPerTx = { client: stat(cpu.slice(0, k).map((c) => c * k)).median, partition: stat(cpu.slice(k)).median };
      if (phases !== undefined) {
        const b = (rw.breakdown = phases);
        rw.note += `; phases (median us): VOTE_REQ delivered ${b.voteRequestUs.toFixed(0)}, prepared record ${b.prepareLogUs.toFixed(0)}, vote back ${b.voteUs.toFixed(0)}, commit record ${b.commitLogUs.toFixed(0)}, coordinator total ${b.totalUs.toFixed(0)}`;
      }
      rows.push(rw);
      print(rw);
      if (rw.breakdown) console.log(`  ${rw.note!.split('; ')[1]}`);
    }
    // Every commit acknowledged was applied: each client's keys hold its last value.
    for (const c of clients) c.send('check');
    await Promise.all(clients.map((c) => c.next('checked', 30_000)));
  } finally {
    await Promise.all(sites.map((s) => s.stop()));
  }
}

async function postgresRows(base: string, rows: Row[]): Promise<void> {
  let pg: PgCluster | string;
  try {
    pg = await startPostgres(base); // beside the logs' directory (same disk): the postgres user must reach it
  } catch (err) {
    pg = `failed: ${(err as Error).message}`;
  }
  if (typeof pg === 'string') {
    const rw: Row = { id: 'postgres', label: 'PostgreSQL 2PC', count: 0, p50Us: null, p99Us: null, txPerSec: null, note: pg };
    rows.push(rw);
    print(rw);
    if (pg.startsWith('failed')) process.exitCode = 1;
    return;
  }
  const cluster = pg;
  const stopOnSignal = (): void => {
    cluster.stop();
    process.exit(130);
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    const version = (cluster.settings.server_version ?? '?').split(' ')[0];
    for (const k of clientCounts) {
      await cluster.run(k, Math.max(warmup, 1000)); // a new cluster is slow at first (measured: 450 -> 730 tx/s from the first 1000 to the next)
      const done: Rep[][] = [];
      for (let r = 0; r < reps; r++) done.push(await cluster.run(k, commits));
      const rw = row(
        {
          id: `postgres-c${k}`,
          label: `PostgreSQL ${version} 2PC, ${k} client${k > 1 ? 's' : ''}`,
          clients: k,
          note: `BEGIN; UPDATE 1 row; PREPARE TRANSACTION (one query) + COMMIT PREPARED, pg client; ${JSON.stringify(cluster.settings)}`,
        },
        done,
      );
      rows.push(rw);
      print(rw);
    }
  } finally {
    cluster.stop();
    process.off('SIGINT', stopOnSignal);
    process.off('SIGTERM', stopOnSignal);
  }
}

interface Goal {
  goal: string;
  met: boolean | null;
  detail: string;
}

function goals(rows: Row[]): Goal[] {
  const get = (id: string): Row | undefined => rows.find((r) => r.id === id && r.p50Us !== null);
  const out: Goal[] = [];
  const floor = get('fdatasync-raw');
  for (const t of transports) {
    const one = get(`2pc-${t}-p2-c1`);
    if (floor && one) {
      const bound = 2 * floor.p50Us!.median + 100;
      out.push({
        goal: `2 participants, ${t}: p50 <= 2 x fdatasync p50 + 100 us`,
        met: one.p50Us!.median <= bound,
        detail: `p50 ${one.p50Us!.median.toFixed(0)} us vs bound ${bound.toFixed(0)} us (fdatasync p50 ${floor.p50Us!.median.toFixed(0)} us)`,
      });
    }
    const four = get(`2pc-${t}-p2-c4`);
    const pg4 = get('postgres-c4');
    if (four)
      out.push({
        goal: `2 participants, ${t}, 4 clients: tx/s >= PostgreSQL 2PC with 4 clients`,
        met: pg4 ? four.txPerSec!.median >= pg4.txPerSec!.median : null,
        detail: pg4
          ? `${four.txPerSec!.median.toFixed(0)} tx/s vs PostgreSQL ${pg4.txPerSec!.median.toFixed(0)} tx/s`
          : `${four.txPerSec!.median.toFixed(0)} tx/s; PostgreSQL not measured`,
      });
  }
  return out;
}

async function main(): Promise<void> {
  const machine = machineInfo(process.env.CC ?? 'cc');
  const dir = mkdtempSync(join(values.dir ?? tmpdir(), 'pipc-tx-bench-'));
  const fs = fsType(dir);
  console.log(`logs in ${dir} (${fs}); ${commits} commits per client per repetition, ${reps} repetitions, median (min-max)`);
  if (fs === 'tmpfs') console.log('warning: a tmpfs: fdatasync costs nothing there, the figures say nothing of a disk');
  console.log(`${'row'.padEnd(52)} ${'p50 us'.padEnd(20)} ${'p99 us'.padEnd(20)} tx/s`);
  const rows: Row[] = [];
  const t0 = performance.now();
  try {
    await floorRows(dir, rows);
    for (const p of participantCounts) for (const t of transports) await twoPhaseRows(dir, p, t, rows);
    if (withPostgres) await postgresRows(values.dir ?? tmpdir(), rows);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const g = goals(rows);
  console.log('\ngoals (issue 12):');
  for (const x of g) console.log(`  ${x.met === null ? 'n/a ' : x.met ? 'MET ' : 'NOT MET'}  ${x.goal}: ${x.detail}`);
  machine.loadAverage.end = loadavg()[0];
  const file =
    values.json ?? join(fileURLToPath(new URL('../../bench-results/', import.meta.url)), `tx-${machine.date.replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(file), { recursive: true });
  const settings = {
    smoke,
    participantCounts,
    transports,
    clientCounts,
    commits,
    warmup,
    reps,
    floor: floorN,
    paced,
    postgres: withPostgres,
  };
  const report = {
    schema: 'posix-ipc-tx-bench/1',
    machine,
    filesystem: fs,
    settings,
    seconds: (performance.now() - t0) / 1000,
    rows,
    goals: g,
  };
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\n${file} (${report.seconds.toFixed(0)} s)`);
}

await main();

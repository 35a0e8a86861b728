// Locks scenario (issue 14): what taking and releasing a lock costs, for
// the robust mutex (lib/sync/robust-mutex.ts; lockSync and async lock), a
// POSIX named semaphore used as a lock (lib/semaphore.ts; waitSync and async
// wait, then post), flock(2) advisory locks (LOCK_EX | LOCK_NB through the
// addon: the project exposes no blocking flock, so a contended acquire
// retries at once), the readers/writer lock (writeLockSync, readLockSync)
// and proper-lockfile (the devDependency; mkdir based, lockSync retried at
// once while ELOCKED).
// - uncontended: ns per acquire+release pair in one process (median of reps);
// - handoff: two processes pass a turn word under the lock (each side takes
//   the lock, passes the turn when it is its own, releases), 2 x rounds turn
//   passes; us per pass, and how many acquisitions a pass took (unfair locks
//   retake their own lock).
// Ratios are against the semaphore (sync) figure of the same run.
// Run: node --import tsx benchmarks/scenarios/locks.ts [--kinds robust,robust-async,semaphore,semaphore-async,flock,proper-lockfile]
//        [--ops n] [--rounds n] [--reps n] [--proper-lockfile dir] [--quick] [--json file]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { futexWake, SharedMemory } from '../../lib/index.js';
import { machineInfo } from '../lib/machine.js';
import { tsxExecArgv } from '../lib/registry.js';
import { stat } from '../lib/stats.js';
import type { Stat } from '../lib/types.js';
import { handoffLoop } from '../locks/handoff.js';
import { openLock, type LockKind } from '../locks/primitives.js';

const ALL: LockKind[] = [
  'robust',
  'robust-async',
  'rwlock-write',
  'rwlock-read',
  'semaphore',
  'semaphore-async',
  'flock',
  'proper-lockfile',
];

const { values } = parseArgs({
  options: {
    kinds: { type: 'string' },
    ops: { type: 'string' },
    rounds: { type: 'string' },
    reps: { type: 'string' },
    'proper-lockfile': { type: 'string' },
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(`npm run bench:locks -- [options]
  --kinds a,b,...            of ${ALL.join(',')} (default: all; proper-lockfile when it is installed)
  --ops n                    uncontended acquire+release pairs per repetition (default 200000; --quick 20000; lockfile /100)
  --rounds n                 turn passes per side in a handoff run (default 5000; --quick 500; lockfile /10)
  --reps n                   repetitions (default 5; --quick 2)
  --proper-lockfile dir      the proper-lockfile package directory (default: the devDependency, node_modules/proper-lockfile)
  --quick                    small counts
  --json file                write the results there (default benchmarks/runs/<date>-locks.json)
`);
  process.exit(0);
}

/** proper-lockfile: the directory given, else the devDependency installed beside the project. */
function findLockfile(): string | undefined {
  if (values['proper-lockfile'] !== undefined) return values['proper-lockfile'];
  const dir = fileURLToPath(new URL('../../node_modules/proper-lockfile', import.meta.url));
  return existsSync(dir) ? dir : undefined;
}
const lockfileDir = findLockfile();
const kinds = (values.kinds?.split(',') ?? ALL.filter((k) => k !== 'proper-lockfile' || lockfileDir !== undefined)) as LockKind[];
for (const k of kinds) if (!ALL.includes(k)) throw new RangeError(`--kinds: unknown kind ${k}`);
const ops = Number(values.ops ?? (values.quick ? 20_000 : 200_000));
const rounds = Number(values.rounds ?? (values.quick ? 500 : 5000));
const reps = Number(values.reps ?? (values.quick ? 2 : 5));
const slow = (k: LockKind): boolean => k === 'proper-lockfile';

interface Row {
  kind: LockKind;
  uncontendedNs: Stat;
  handoffUs: Stat;
  acquisitionsPerPass: Stat;
  uncontendedVsSemaphore?: number;
  handoffVsSemaphore?: number;
}

async function uncontended(kind: LockKind, dir: string, n: number): Promise<number> {
  const name = `/pipc-bench-lock-${process.pid}-${kind}`;
  const lock = openLock(kind, name, join(dir, `${kind}.lock`), true, lockfileDir);
  try {
    for (let i = 0; i < Math.min(1000, n); i++) {
      const p = lock.acquire();
      if (p !== undefined) await p;
      lock.release();
    }
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const p = lock.acquire();
      if (p !== undefined) await p;
      lock.release();
    }
    return Number(process.hrtime.bigint() - t0) / n;
  } finally {
    lock.close();
  }
}

async function handoff(kind: LockKind, dir: string, n: number): Promise<{ us: number; perPass: number }> {
  const name = `/pipc-bench-lock-${process.pid}-${kind}-h`;
  const turnName = `/pipc-bench-turn-${process.pid}`;
  const file = join(dir, `${kind}-h.lock`);
  const lock = openLock(kind, name, file, true, lockfileDir);
  const shm = SharedMemory.open(turnName, { create: 'exclusive', size: 4096 });
  const words = new Int32Array(shm.buffer);
  const script = fileURLToPath(new URL('../locks/peer.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    [...tsxExecArgv(), script, kind, name, file, turnName, String(n), ...(lockfileDir ? [lockfileDir] : [])],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${kind} peer: no "ready" in 30 s`)), 30_000);
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then(() => reject(new Error(`${kind} peer exited early: ${out}`)));
    });
    Atomics.store(words, 0, 0);
    const t0 = process.hrtime.bigint();
    Atomics.store(words, 1, 1);
    futexWake(shm, 4);
    const acquisitions = await handoffLoop(lock, words, 0, n, performance.now() + 60_000);
    const code = await exited;
    const ns = Number(process.hrtime.bigint() - t0);
    if (code !== 0) throw new Error(`${kind} peer exited with ${code}`);
    return { us: ns / 1000 / (2 * n), perPass: acquisitions / n };
  } finally {
    child.kill('SIGKILL');
    lock.close();
    shm.unlink();
    shm.close();
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const machine = machineInfo(process.env.CC ?? 'cc');
  const dir = mkdtempSync(join(tmpdir(), 'pipc-locks-bench-'));
  const rows: Row[] = [];
  try {
    console.log(`${ops} uncontended pairs, ${rounds} handoff passes per side, ${reps} repetitions, median (min-max)`);
    for (const kind of kinds) {
      const u: number[] = [];
      const h: number[] = [];
      const a: number[] = [];
      for (let r = 0; r < reps; r++) {
        u.push(await uncontended(kind, dir, slow(kind) ? Math.max(1, Math.floor(ops / 100)) : ops));
        const run = await handoff(kind, dir, slow(kind) ? Math.max(1, Math.floor(rounds / 10)) : rounds);
        h.push(run.us);
        a.push(run.perPass);
      }
      const row: Row = { kind, uncontendedNs: stat(u), handoffUs: stat(h), acquisitionsPerPass: stat(a) };
      rows.push(row);
      const f = (s: Stat, d = 0): string => `${s.median.toFixed(d)} (${s.min.toFixed(d)}-${s.max.toFixed(d)})`;
      console.log(
        `${kind.padEnd(16)} uncontended ${f(row.uncontendedNs)} ns/pair   handoff ${f(row.handoffUs, 2)} us/pass   ${row.acquisitionsPerPass.median.toFixed(1)} acquisitions/pass`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const base = rows.find((r) => r.kind === 'semaphore');
  if (base !== undefined) {
    for (const r of rows) {
      r.uncontendedVsSemaphore = r.uncontendedNs.median / base.uncontendedNs.median;
      r.handoffVsSemaphore = r.handoffUs.median / base.handoffUs.median;
    }
    console.log('\nvs semaphore (sync): uncontended x, handoff x');
    for (const r of rows) console.log(`${r.kind.padEnd(16)} ${r.uncontendedVsSemaphore!.toFixed(2)}  ${r.handoffVsSemaphore!.toFixed(2)}`);
  }
  machine.loadAverage.end = loadavg()[0];
  const file = values.json ?? join(fileURLToPath(new URL('../runs/', import.meta.url)), `${machine.date.slice(0, 10)}-locks.json`);
  const report = {
    schema: 'posix-ipc-locks-bench/1',
    machine,
    settings: { kinds, ops, rounds, reps, properLockfile: lockfileDir !== undefined },
    seconds: (performance.now() - t0) / 1000,
    rows,
  };
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\n${file} (${report.seconds.toFixed(0)} s)`);
}

await main();

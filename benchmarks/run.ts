/**
 * posix-ipc benchmark harness: `npm run bench` (quick matrix, about a minute
 * and a half on 2 cores), `npm run bench -- --full`, `--smoke` for CI.
 * See docs/benchmarks.md for the method and benchmarks/README.md for adding
 * a transport.
 * @module
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { CEILING_LABELS, buildCeiling, runCeiling } from './lib/ceiling.js';
import harnessRow, { HARNESS } from './lib/harness-row.js';
import type { CellPlan } from './lib/host.js';
import { HostSession, expectedMs, killAllHosts } from './lib/hosts.js';
import { buildCharts, renderHtml } from './lib/html.js';
import { machineInfo } from './lib/machine.js';
import { MIN_SIZE } from './lib/payload.js';
import { BATCH_LIMIT, MATRICES, type Matrix, type Mode, ceilingCells, transportCells } from './lib/plan.js';
import { Progress } from './lib/progress.js';
import { loadTransports } from './lib/registry.js';
import { type Report, type TransportInfo, annotate, busyWarning, fmtMB, fmtRate, fmtSize, fmtUs, renderTerminal } from './lib/report.js';
import type { CeilingKind, CellFailure, CellResult } from './lib/types.js';

const USAGE = `Usage: npm run bench -- [options]

Measures one-way stream throughput and round-trip latency of IPC transports
between two processes (or threads), next to a native C ceiling.

Matrix:
  (default)             quick: 64 B, 1 KiB, 16 KiB, 64 KiB, 1 MiB; batched 64 B and 1 KiB;
                        latency 64 B and 4 KiB; 3 x 120 ms per cell (about 1.5 minutes)
  --full                adds 256 B, 4 KiB, 256 KiB, 4 MiB (and batched 256 B, 4 KiB); 5 x 300 ms
  --smoke               64 B and 1 KiB, 1 x 20 ms: proves every path works (CI); figures meaningless

Options:
  --transports a,b      only these (names below; c-pipe, c-socket, c-tcp, c-shm, c-memcpy pick C figures;
                        harness: the harness's own row alone)
  --sizes 64,1k,...     stream message sizes (bytes; k/KiB, m/MiB suffixes); sizes up to 4 KiB
                        also run batched
  --latency-sizes 64,4k ping-pong message sizes
  --duration ms         length of one measured repetition
  --warmup ms           unmeasured traffic before the first repetition
  --reps N              repetitions per cell (the median is reported)
  --out dir             where results go (default: bench-results/ in the repository)
  --json                print the result JSON on stdout instead of tables
  --no-ceiling          skip the C ceiling
  --no-harness          skip the harness's own row (stamping and verification without IPC)
  --from results.json   measure nothing: print the tables and write the report of an earlier run
  --help                this text

Transports: %TRANSPORTS%
`;

function parseSize(s: string): number {
  const m = /^(\d+)\s*(b|k|kb|kib|m|mb|mib)?$/i.exec(s.trim());
  if (!m) throw new UsageError(`not a size: '${s}'`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const n = Number(m[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1);
  if (n < MIN_SIZE || n > 256 * 1024 * 1024) throw new UsageError(`size ${s} out of range (${MIN_SIZE} B to 256 MiB)`);
  return n;
}

function parseCount(s: string, what: string, min: number): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${what} must be an integer >= ${min}, got '${s}'`);
  return n;
}

class UsageError extends Error {}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      full: { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      transports: { type: 'string' },
      sizes: { type: 'string' },
      'latency-sizes': { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      reps: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean', default: false },
      'no-ceiling': { type: 'boolean', default: false },
      'no-harness': { type: 'boolean', default: false },
      from: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });

  const all = await loadTransports();
  if (values.help) {
    process.stdout.write(USAGE.replace('%TRANSPORTS%', all.map((t) => t.transport.name).join(', ')));
    return 0;
  }
  if (values.from) {
    const earlier = JSON.parse(readFileSync(resolve(values.from), 'utf8')) as Report;
    if (earlier.schema !== 'posix-ipc-bench/1') throw new UsageError(`${values.from} is not a result file of this harness`);
    earlier.results = annotate(earlier.results, earlier.transports);
    const outDir = values.out ? resolve(values.out) : fileURLToPath(new URL('../bench-results/', import.meta.url));
    writeOutputs(earlier, outDir, values.json ?? false, false);
    return earlier.failures.length ? 1 : 0;
  }
  if (values.full && values.smoke) throw new UsageError('--full and --smoke exclude each other');
  const mode: Mode = values.full ? 'full' : values.smoke ? 'smoke' : 'quick';
  const base = MATRICES[mode];
  const matrix: Matrix = { ...base, timing: { ...base.timing } };
  let custom = false;
  if (values.sizes) {
    matrix.sizes = [...new Set(values.sizes.split(',').map(parseSize))].sort((a, b) => a - b);
    matrix.batchedSizes = matrix.sizes.filter((s) => s <= BATCH_LIMIT);
    custom = true;
  }
  if (values['latency-sizes']) {
    matrix.latencySizes = [...new Set(values['latency-sizes'].split(',').map(parseSize))].sort((a, b) => a - b);
    custom = true;
  }
  if (values.duration) matrix.timing.durationMs = parseCount(values.duration, '--duration', 1);
  if (values.warmup) matrix.timing.warmupMs = parseCount(values.warmup, '--warmup', 0);
  if (values.reps) matrix.timing.reps = parseCount(values.reps, '--reps', 1);
  if (values.duration || values.warmup || values.reps) custom = true;

  // Which transports, which C figures.
  const cNames = Object.keys(CEILING_LABELS);
  const wanted = values.transports
    ? values.transports
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined;
  if (wanted) {
    const known = new Set([...all.map((t) => t.transport.name), ...cNames, HARNESS]);
    const unknown = wanted.filter((n) => !known.has(n));
    if (unknown.length)
      throw new UsageError(`unknown transport${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  }
  const selected = all.filter((t) => (wanted ? wanted.includes(t.transport.name) : mode !== 'quick' || !t.transport.fullOnly));
  const skipped: Report['skipped'] = [];
  const runnable: typeof selected = [];
  for (const t of selected) {
    const ok = (await t.transport.available?.()) ?? true;
    if (ok === true) runnable.push(t);
    else skipped.push({ transport: t.transport.name, reason: ok });
  }
  const kinds = new Set<CeilingKind>();
  if (!values['no-ceiling']) {
    for (const t of runnable) if (t.transport.ceiling) kinds.add(t.transport.ceiling);
    for (const n of wanted ?? cNames) if (n !== 'c-memcpy' && cNames.includes(n)) kinds.add(n.slice(2) as CeilingKind);
  }
  const memcpy = !values['no-ceiling'] && (!wanted || wanted.includes('c-memcpy'));
  // The harness's own row goes with every run of Node transports (or alone when named).
  const harness = { transport: harnessRow, file: fileURLToPath(new URL('./lib/harness-row.ts', import.meta.url)) };
  if (!values['no-harness'] && (wanted?.includes(HARNESS) || runnable.length)) runnable.unshift(harness);

  const outDir = values.out ? resolve(values.out) : fileURLToPath(new URL('../bench-results/', import.meta.url));
  mkdirSync(outDir, { recursive: true });
  const cc = process.env.CC ?? 'cc';
  const machine = machineInfo(cc);
  const startedAt = new Date();

  const hostPlans = runnable.map((t) => ({ t, cells: transportCells(t, matrix) }));
  let cCells: string[] = [];
  const ceiling: Report['ceiling'] = { available: false };
  if (kinds.size || memcpy) {
    const build = buildCeiling(outDir, cc);
    if (build.ok) {
      ceiling.available = true;
      ceiling.binary = build.binary;
      cCells = ceilingCells([...kinds].sort(), memcpy, matrix);
    } else {
      ceiling.note = build.note;
    }
  } else {
    ceiling.note = 'the C ceiling was not requested';
  }

  const cellMs = matrix.timing.warmupMs + matrix.timing.reps * matrix.timing.durationMs;
  const totalCells = cCells.length + hostPlans.reduce((a, p) => a + p.cells.length, 0);
  const totalMs = cCells.length * (cellMs + 20) + hostPlans.reduce((a, p) => a + p.cells.reduce((b, c) => b + expectedMs(c), 0) + 300, 0);
  // Measurements run one at a time: two would share the 2 cores. A smoke run
  // only proves the paths work, so it runs three transports at once.
  const jobs = mode === 'smoke' ? 3 : 1;
  const progress = new Progress(totalMs / jobs, totalCells);
  progress.note(
    `posix-ipc benchmarks, ${mode}${custom ? ' (custom)' : ''}: ${totalCells} cells, about ${Math.ceil(totalMs / jobs / 1000)} s`,
  );
  const busy = busyWarning(machine);
  if (busy) progress.note(`Warning: ${busy}`);

  const results: CellResult[] = [];
  const failures: CellFailure[] = [];
  const summary = (r: CellResult): string =>
    r.workload === 'latency'
      ? `median ${fmtUs(r.medianNs.median)} us, p99 ${fmtUs(r.p99Ns.median)} us`
      : r.workload === 'stream'
        ? `${fmtMB(r.bytesPerSec.median)} MB/s, ${fmtRate(r.msgsPerSec.median)} msg/s`
        : `${fmtMB(r.bytesPerSec.median)} MB/s`;
  const cellLabel = (transport: string, workload: string, size: number, batch: number): string =>
    `${transport} ${workload} ${fmtSize(size)}${batch > 1 ? ` x${batch}` : ''}`;

  if (cCells.length && ceiling.binary) {
    // One process runs every C cell; its lines arrive as cells finish.
    let i = 0;
    const describe = (cell: string): string => {
      const [w, k, s, b] = cell.split(':');
      return w === 'memcpy' ? cellLabel('c-memcpy', 'memcpy', Number(k), 1) : cellLabel(`c-${k}`, w!, Number(s), Number(b ?? 1));
    };
    let ticket = progress.begin(describe(cCells[0]!), cellMs);
    try {
      await runCeiling(ceiling.binary, cCells, matrix.timing, (r) => {
        results.push(r);
        progress.end(ticket, summary(r));
        i++;
        if (i < cCells.length) ticket = progress.begin(describe(cCells[i]!), cellMs);
      });
    } catch (err) {
      progress.end(ticket, 'FAILED');
      const [w, k, s, b] = (cCells[i] ?? 'ceiling:?:0:1').split(':');
      failures.push({
        transport: w === 'memcpy' ? 'c-memcpy' : `c-${k}`,
        workload: w!,
        size: Number(w === 'memcpy' ? k : s),
        batch: Number(b ?? 1),
        error: (err as Error).message,
      });
      progress.note(`C ceiling FAILED: ${(err as Error).message}`);
    }
  }

  const runTransport = async ({ t, cells }: (typeof hostPlans)[number]): Promise<void> => {
    const session = new HostSession(t.file, t.transport.name);
    for (const cell of cells as CellPlan[]) {
      const label = cellLabel(cell.transport, cell.workload, cell.size, cell.batch);
      const ticket = progress.begin(label, expectedMs(cell));
      try {
        const r = await session.run(cell);
        results.push(r);
        progress.end(ticket, summary(r));
      } catch (err) {
        const error = (err as Error).message;
        failures.push({ transport: cell.transport, workload: cell.workload, size: cell.size, batch: cell.batch, error });
        progress.end(ticket, 'FAILED');
        progress.note(`FAILED ${label}: ${error}`);
      }
    }
    await session.close();
  };
  const queue = [...hostPlans];
  await Promise.all(
    Array.from({ length: jobs }, async () => {
      for (let next = queue.shift(); next; next = queue.shift()) await runTransport(next);
    }),
  );
  progress.stop();

  machine.loadAverage.end = loadavg()[0]!;
  const finishedAt = new Date();
  const transports: TransportInfo[] = [
    ...Object.entries(CEILING_LABELS).map(([name, label], i) => ({
      name,
      label,
      kind: 'native' as const,
      ...(name === 'c-memcpy' ? {} : { ceiling: name.slice(2) as CeilingKind }),
      order: i,
    })),
    ...[harness, ...all].map((t) => ({
      name: t.transport.name,
      label: t.transport.label,
      kind: t.transport.kind,
      ceiling: t.transport.ceiling,
      order: t.transport.order ?? 100,
      ...(t.transport.coalesces ? { coalesces: true } : {}),
    })),
  ].filter((t) => results.some((r) => r.transport === t.name) || failures.some((f) => f.transport === t.name));
  const report: Report = {
    schema: 'posix-ipc-bench/1',
    mode: custom ? `${mode} (custom)` : mode,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    wallSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    machine,
    matrix,
    transports,
    ceiling,
    results: annotate(results, transports),
    failures,
    skipped,
  };

  writeOutputs(report, outDir, values.json ?? false, true);
  if (failures.length) {
    process.stderr.write(`\n${failures.length} cell${failures.length > 1 ? 's' : ''} FAILED: see above; their figures are not reported.\n`);
    return 1;
  }
  return 0;
}

/** Writes results.json (and a dated copy), report.html and the SVG charts; prints tables or JSON. */
function writeOutputs(report: Report, outDir: string, json: boolean, fresh: boolean): void {
  mkdirSync(outDir, { recursive: true });
  const text = `${JSON.stringify(report, null, 2)}\n`;
  if (fresh) {
    const stamp = report.startedAt.replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
    writeFileSync(join(outDir, 'results.json'), text);
    copyFileSync(join(outDir, 'results.json'), join(outDir, `results-${stamp}.json`));
  }
  const charts = buildCharts(report);
  writeFileSync(join(outDir, 'report.html'), renderHtml(report, charts));
  for (const [name, svg] of Object.entries(charts)) if (svg) writeFileSync(join(outDir, `${name}.svg`), `${svg}\n`);
  if (json) process.stdout.write(text);
  else {
    process.stdout.write(`${renderTerminal(report, process.stdout.columns ?? 160)}\n\n`);
    if (fresh) process.stdout.write(`Results: ${join(outDir, 'results.json')}\n`);
    process.stdout.write(`Report:  ${join(outDir, 'report.html')}\n`);
  }
}

process.on('SIGINT', () => {
  killAllHosts();
  process.exit(130);
});

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    killAllHosts();
    if (err instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`bench: ${(err as Error).message}\nTry --help.\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  },
);

/**
 * The result file's shape, the comparisons derived from it (percent of the
 * C ceiling, ratio to child_process.fork json; always between figures of the
 * same run), number formatting, and the terminal tables.
 * @module
 */
import type { MachineInfo } from './machine.js';
import type { Matrix } from './plan.js';
import { spreadPct } from './stats.js';
import type { CeilingKind, CellFailure, CellResult, LatencyResult, StreamResult } from './types.js';

export interface TransportInfo {
  name: string;
  label: string;
  /** `native`: the C ceiling. `inline`: the harness's own row (no IPC). */
  kind: 'process' | 'thread' | 'native' | 'inline';
  ceiling?: CeilingKind;
  order: number;
  coalesces?: boolean;
}

/** Derived figures of a stream or latency result. */
export interface Relative {
  /** The C result it is compared with (`c-pipe`, `c-socket`, `c-tcp`, `c-shm`). */
  ceiling?: string;
  /** True when that C result is the batched one (the transport coalesces sends itself). */
  ceilingBatched?: boolean;
  /** Throughput: this / C x 100. Latency: C / this x 100 (both: higher is better, 100 = as fast as C). */
  pctOfCeiling?: number;
  /** Throughput: this / fork-json (one message per send, same size). Latency: fork-json / this. */
  vsForkJson?: number;
  /** Throughput: this / the harness's own rate for the same size and batching (no IPC: stamping, loops, verification). */
  ofHarness?: number;
  /** True when `ofHarness` >= HARNESS_BOUND: the figure says as much about the harness as about the transport. */
  harnessBound?: boolean;
}

export type AnnotatedResult = CellResult & { relative?: Relative };

export interface Report {
  schema: 'posix-ipc-bench/1';
  mode: string;
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  machine: MachineInfo;
  matrix: Matrix;
  transports: TransportInfo[];
  ceiling: { available: boolean; note?: string; binary?: string };
  results: AnnotatedResult[];
  failures: CellFailure[];
  skipped: { transport: string; reason: string }[];
}

export const REFERENCE = 'fork-json';
/** The harness's own row (lib/harness-row.ts). */
export const HARNESS_ROW = 'harness';
/** A stream figure at this fraction of the harness's own rate or more is marked harness-bound. */
export const HARNESS_BOUND = 0.5;
/** The marker of a harness-bound figure in tables. */
export const HARNESS_MARK = '\u2020';
export const HARNESS_NOTE = `${HARNESS_MARK} harness-bound: at least ${HARNESS_BOUND * 100}% of the harness's own rate for this cell (stamping, send/receive loops and verification with no IPC): the harness, not the transport, may set this figure`;

/** A warning when other work shared the machine: then every figure is noisy. */
export function busyWarning(m: MachineInfo): string | undefined {
  const start = m.loadAverage.start;
  if (start < 0.5) return undefined;
  return `the machine was busy when the run started (1-minute load average ${start.toFixed(2)} on ${m.cores} cores): figures are noisy, rerun on an idle machine`;
}

/** Adds `relative` to every stream and latency result of a Node transport. */
export function annotate(results: CellResult[], transports: readonly TransportInfo[]): AnnotatedResult[] {
  const byKey = new Map<string, CellResult>();
  const key = (t: string, w: string, size: number, batch: number): string => `${t}|${w}|${size}|${batch}`;
  for (const r of results) byKey.set(key(r.transport, r.workload, r.size, r.batch), r);
  const info = new Map(transports.map((t) => [t.name, t]));
  return results.map((r) => {
    const t = info.get(r.transport);
    if (!t || t.kind === 'native' || t.kind === 'inline' || r.workload === 'memcpy') return r;
    const rel: Relative = {};
    if (r.workload === 'stream') {
      let c = t.ceiling ? (byKey.get(key(`c-${t.ceiling}`, 'stream', r.size, r.batch)) as StreamResult | undefined) : undefined;
      if (t.ceiling && t.coalesces && r.batch === 1) {
        const batched = results.find(
          (x): x is StreamResult => x.transport === `c-${t.ceiling}` && x.workload === 'stream' && x.size === r.size && x.batch > 1,
        );
        if (batched) {
          c = batched;
          rel.ceilingBatched = true;
        }
      }
      if (c) {
        rel.ceiling = c.transport;
        rel.pctOfCeiling = (r.msgsPerSec.median / c.msgsPerSec.median) * 100;
      }
      const j = byKey.get(key(REFERENCE, 'stream', r.size, 1)) as StreamResult | undefined;
      if (j) rel.vsForkJson = r.msgsPerSec.median / j.msgsPerSec.median;
      const h = byKey.get(key(HARNESS_ROW, 'stream', r.size, r.batch)) as StreamResult | undefined;
      if (h) {
        rel.ofHarness = r.msgsPerSec.median / h.msgsPerSec.median;
        if (rel.ofHarness >= HARNESS_BOUND) rel.harnessBound = true;
      }
    } else {
      const c = t.ceiling && (byKey.get(key(`c-${t.ceiling}`, 'latency', r.size, 1)) as LatencyResult | undefined);
      if (c) {
        rel.ceiling = c.transport;
        rel.pctOfCeiling = (c.medianNs.median / r.medianNs.median) * 100;
      }
      const j = byKey.get(key(REFERENCE, 'latency', r.size, 1)) as LatencyResult | undefined;
      if (j) rel.vsForkJson = j.medianNs.median / r.medianNs.median;
    }
    return { ...r, relative: rel };
  });
}

// ---- number formatting ------------------------------------------------------

/** 3 significant digits, thousands grouped: 0.123, 12.3, 123, 1,234. */
export function sig3(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
  return x.toFixed(digits);
}

export const fmtMB = (bytesPerSec: number): string => sig3(bytesPerSec / 1e6);

/** Messages per second: 37, 214k, 2.21M. */
export function fmtRate(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (x >= 1e6) return `${(x / 1e6).toFixed(x >= 1e8 ? 0 : x >= 1e7 ? 1 : 2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(x >= 1e5 ? 0 : x >= 1e4 ? 1 : 2)}k`;
  return x >= 10 ? x.toFixed(0) : x.toFixed(1);
}

/** Nanoseconds as microseconds: 0.31, 5.42, 50.4, 1,286. */
export const fmtUs = (ns: number): string => sig3(ns / 1000);

export function fmtSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

export const fmtPct = (p: number | undefined): string => (p === undefined ? '' : p >= 10 ? `${p.toFixed(0)}%` : `${p.toFixed(1)}%`);
export const fmtX = (x: number | undefined): string =>
  x === undefined ? '' : `${x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)}x`;

// ---- terminal tables ----------------------------------------------------------

interface Group {
  title: string;
  sub: string[];
}

/**
 * A table with grouped columns (one group per message size), split into
 * blocks of groups that fit `width`.
 */
export function renderTable(
  title: string,
  rowHead: string,
  groups: Group[],
  rows: { label: string; cells: string[][] }[],
  width: number,
): string {
  const labelW = Math.max(rowHead.length, ...rows.map((r) => r.label.length));
  const subW = groups.map((g, gi) => g.sub.map((s, si) => Math.max(s.length, ...rows.map((r) => (r.cells[gi]?.[si] ?? '').length))));
  const groupW = groups.map((g, gi) => Math.max(g.title.length, subW[gi]!.reduce((a, b) => a + b, 0) + 2 * (g.sub.length - 1)));
  // Widen the last sub-column when the title is wider than its columns.
  groups.forEach((g, gi) => {
    const inner = subW[gi]!.reduce((a, b) => a + b, 0) + 2 * (g.sub.length - 1);
    if (groupW[gi]! > inner) subW[gi]![0]! += groupW[gi]! - inner;
  });
  const blocks: number[][] = [];
  let cur: number[] = [];
  let used = labelW;
  groups.forEach((_, gi) => {
    const w = 4 + groupW[gi]!;
    if (cur.length && used + w > width) {
      blocks.push(cur);
      cur = [];
      used = labelW;
    }
    cur.push(gi);
    used += w;
  });
  if (cur.length) blocks.push(cur);
  const out: string[] = [title];
  for (const block of blocks) {
    let h1 = rowHead.padEnd(labelW);
    let h2 = ''.padEnd(labelW);
    for (const gi of block) {
      h1 += `    ${groups[gi]!.title.padStart(groupW[gi]!)}`;
      h2 += `    ${groups[gi]!.sub.map((s, si) => s.padStart(subW[gi]![si]!)).join('  ')}`;
    }
    out.push(h1.trimEnd(), h2.trimEnd());
    for (const r of rows) {
      let line = r.label.padEnd(labelW);
      for (const gi of block)
        line += `    ${groups[gi]!.sub.map((_, si) => (r.cells[gi]?.[si] ?? '').padStart(subW[gi]![si]!)).join('  ')}`;
      out.push(line.trimEnd());
    }
    out.push('');
  }
  return out.join('\n');
}

function find<T extends CellResult>(
  results: readonly AnnotatedResult[],
  transport: string,
  workload: string,
  size: number,
  batch: number,
): (T & { relative?: Relative }) | undefined {
  return results.find((r) => r.transport === transport && r.workload === workload && r.size === size && r.batch === batch) as
    (T & { relative?: Relative }) | undefined;
}

/** Rows in display order: the C ceiling first, then Node transports. */
export function orderedTransports(report: Report): TransportInfo[] {
  return [...report.transports].sort((a, b) => a.order - b.order);
}

export function renderTerminal(report: Report, width = 160): string {
  const { results, matrix } = report;
  const ts = orderedTransports(report);
  const has = (t: string, w: string): boolean => results.some((r) => r.transport === t && r.workload === w);
  const out: string[] = [];
  const m = report.machine;
  out.push(
    `posix-ipc benchmarks (${report.mode}) ${m.date.slice(0, 16).replace('T', ' ')} UTC: ${m.cpuModel}, ${m.cores} cores, ${m.os}, Node ${m.node}; ` +
      `load ${m.loadAverage.start.toFixed(2)}${m.loadAverage.end !== undefined ? ` -> ${m.loadAverage.end.toFixed(2)}` : ''}; ` +
      `median of ${matrix.timing.reps} x ${matrix.timing.durationMs} ms after ${matrix.timing.warmupMs} ms warm-up`,
    '',
  );

  const streamTable = (title: string, pairs: [number, number][]): void => {
    const groups = pairs.map(([size, batch]) => ({
      title: batch > 1 ? `${fmtSize(size)} x${batch}` : fmtSize(size),
      sub: ['MB/s', 'msg/s', '+-'],
    }));
    const rows = ts
      .filter((t) => has(t.name, 'stream') || (t.name === 'c-memcpy' && has(t.name, 'memcpy')))
      .map((t) => ({
        label: t.label,
        cells: pairs.map(([size, batch]) => {
          if (t.name === 'c-memcpy') {
            const r = batch === 1 ? find<CellResult & { workload: 'memcpy' }>(results, t.name, 'memcpy', size, 1) : undefined;
            return r ? [fmtMB(r.bytesPerSec.median), '', `${spreadPct(r.bytesPerSec).toFixed(0)}%`] : [];
          }
          const r = find<StreamResult>(results, t.name, 'stream', size, batch);
          const mark = r?.relative?.harnessBound ? HARNESS_MARK : '';
          return r ? [fmtMB(r.bytesPerSec.median), `${fmtRate(r.msgsPerSec.median)}${mark}`, `${spreadPct(r.msgsPerSec).toFixed(0)}%`] : [];
        }),
      }))
      .filter((r) => r.cells.some((c) => c.length));
    if (rows.length) out.push(renderTable(title, 'transport', groups, rows, width));
  };
  const single = matrix.sizes.map((s): [number, number] => [s, 1]);
  const batched = [...new Set(results.filter((r) => r.workload === 'stream' && r.batch > 1).map((r) => `${r.size}:${r.batch}`))]
    .map((k): [number, number] => k.split(':').map(Number) as [number, number])
    .sort((a, b) => a[0] - b[0]);
  streamTable('One-way stream, one message per send (median; +- = half the min-max range)', single);
  if (batched.length) streamTable('One-way stream, batched: sendMany of about 64 KiB (size x messages per batch)', batched);
  if (results.some((r) => 'relative' in r && r.relative?.harnessBound)) out.push(HARNESS_NOTE, '');

  const relPairs = [...single, ...batched];
  const relRows = ts
    .filter((t) => t.kind !== 'native' && t.kind !== 'inline' && has(t.name, 'stream'))
    .map((t) => ({
      label: t.label,
      cells: relPairs.map(([size, batch]) => {
        const r = find<StreamResult>(results, t.name, 'stream', size, batch);
        return r ? [`${fmtPct(r.relative?.pctOfCeiling)}${r.relative?.ceilingBatched ? '*' : ''}`, fmtX(r.relative?.vsForkJson)] : [];
      }),
    }));
  if (relRows.some((r) => r.cells.some((c) => c.some(Boolean)))) {
    const groups = relPairs.map(([size, batch]) => ({
      title: batch > 1 ? `${fmtSize(size)} x${batch}` : fmtSize(size),
      sub: ['% C', 'x json'],
    }));
    out.push(
      renderTable(
        'Relative throughput: % of the matching C ceiling (same batching), x child_process.fork json (one message per send)',
        'transport',
        groups,
        relRows,
        width,
      ),
    );
    if (report.results.some((r) => 'relative' in r && r.relative?.ceilingBatched)) {
      out.push('* compared with the batched C figure: this transport coalesces the sends of one event-loop turn into one write', '');
    }
  }

  const lat = matrix.latencySizes;
  const latRows = ts
    .filter((t) => has(t.name, 'latency'))
    .map((t) => ({
      label: t.label,
      cells: lat.map((size) => {
        const r = find<LatencyResult>(results, t.name, 'latency', size, 1);
        return r
          ? [
              fmtUs(r.medianNs.median),
              fmtUs(r.p99Ns.median),
              fmtUs(r.maxNs),
              fmtPct(r.relative?.pctOfCeiling),
              fmtX(r.relative?.vsForkJson),
            ]
          : [];
      }),
    }));
  if (latRows.length) {
    const groups = lat.map((size) => ({ title: `${fmtSize(size)} round trip (us)`, sub: ['median', 'p99', 'max', '% C', 'x json'] }));
    out.push(
      renderTable(
        'Round-trip latency, ping-pong (median and p99: medians over repetitions; max: over all)',
        'transport',
        groups,
        latRows,
        width,
      ),
    );
  }

  const busy = busyWarning(report.machine);
  if (busy) out.push(`Warning: ${busy}`);
  if (!report.ceiling.available && report.ceiling.note) out.push(`Note: ${report.ceiling.note}`);
  for (const s of report.skipped) out.push(`Skipped ${s.transport}: ${s.reason}`);
  for (const f of report.failures)
    out.push(`FAILED ${f.transport} ${f.workload} ${fmtSize(f.size)}${f.batch > 1 ? ` x${f.batch}` : ''}: ${f.error.split('\n')[0]}`);
  return out.join('\n').trimEnd();
}

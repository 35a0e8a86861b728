/**
 * The self-contained HTML report: inline CSS, inline SVG charts, the tables,
 * the machine, the method, the raw repetitions. Readable offline.
 * @module
 */
import { barChart, decade, esc, lineChart, type Series } from './charts.js';
import {
  type AnnotatedResult,
  type Relative,
  type Report,
  HARNESS_BOUND,
  HARNESS_MARK,
  HARNESS_NOTE,
  fmtMB,
  fmtPct,
  fmtRate,
  fmtSize,
  fmtUs,
  busyWarning,
  fmtX,
  orderedTransports,
  sig3,
} from './report.js';
import { spreadPct } from './stats.js';
import type { LatencyResult, MemcpyResult, StreamResult } from './types.js';

export interface Charts {
  throughput: string;
  batched: string;
  latency: string;
}

const mbFormat = (v: number): string => (v >= 1000 ? `${sig3(v / 1000)} GB/s` : `${sig3(v)} MB/s`);
const mbTick = (v: number): string => (v >= 1000 ? `${decade(v / 1000)} GB/s` : `${decade(v)} MB/s`);

export function buildCharts(report: Report): Charts {
  const ts = orderedTransports(report);
  const streams = report.results.filter((r): r is StreamResult & { relative?: Relative } => r.workload === 'stream');
  const series = (batched: boolean): Series[] =>
    ts
      // The harness's own row is a table figure: far above every transport at large sizes, it would flatten the chart.
      .filter((t) => t.kind !== 'inline')
      .map((t): Series => {
        if (t.name === 'c-memcpy') {
          const pts = batched ? [] : report.results.filter((r): r is MemcpyResult => r.workload === 'memcpy');
          return {
            label: t.label,
            reference: true,
            points: pts.map((r) => ({
              x: r.size,
              y: r.bytesPerSec.median / 1e6,
              lo: r.bytesPerSec.min / 1e6,
              hi: r.bytesPerSec.max / 1e6,
            })),
          };
        }
        const pts = streams.filter((r) => r.transport === t.name && (batched ? r.batch > 1 : r.batch === 1));
        return {
          label: t.label,
          reference: t.kind === 'native',
          emphasis: t.name.startsWith('pipc-'),
          points: pts.map((r) => ({ x: r.size, y: r.bytesPerSec.median / 1e6, lo: r.bytesPerSec.min / 1e6, hi: r.bytesPerSec.max / 1e6 })),
        };
      })
      .filter((s) => s.points.length > 0);
  const batchedSizes = [...new Set(streams.filter((r) => r.batch > 1).map((r) => r.size))];
  const throughput = lineChart({
    title: 'One-way stream, one message per send: throughput by message size',
    yLabel: 'throughput, MB/s (log scale)',
    xValues: report.matrix.sizes,
    series: series(false),
    yFormat: mbFormat,
    tickFormat: mbTick,
  });
  const batched = batchedSizes.length
    ? lineChart({
        title: 'One-way stream, batched (sendMany of about 64 KiB)',
        yLabel: 'throughput, MB/s (log scale)',
        xValues: batchedSizes,
        series: series(true),
        yFormat: mbFormat,
        tickFormat: mbTick,
      })
    : '';
  const lat = report.results.filter((r): r is LatencyResult => r.workload === 'latency');
  const latency = lat.length
    ? barChart({
        title: 'Round-trip latency, ping-pong',
        xLabel: 'microseconds (log scale)',
        groups: report.matrix.latencySizes.map((s) => `${fmtSize(s)} messages`),
        rows: ts
          .filter((t) => lat.some((r) => r.transport === t.name))
          .map((t) => ({
            label: t.label,
            reference: t.kind === 'native',
            bars: report.matrix.latencySizes.map((size) => {
              const r = lat.find((x) => x.transport === t.name && x.size === size);
              return r ? { value: r.medianNs.median / 1000, whisker: r.p99Ns.median / 1000 } : undefined;
            }),
          })),
        format: (v) => `${sig3(v)} µs`,
        tickFormat: (v) => `${decade(v)} µs`,
      })
    : '';
  return { throughput, batched, latency };
}

function streamTable(report: Report, batched: boolean): string {
  const ts = orderedTransports(report);
  const streams = report.results.filter(
    (r): r is StreamResult & { relative?: Relative } => r.workload === 'stream' && (batched ? r.batch > 1 : r.batch === 1),
  );
  const memcpy = report.results.filter((r): r is MemcpyResult => r.workload === 'memcpy');
  const cols = batched
    ? [...new Set(streams.map((r) => `${r.size}:${r.batch}`))]
        .map((k) => k.split(':').map(Number) as [number, number])
        .sort((a, b) => a[0] - b[0])
    : report.matrix.sizes.map((s): [number, number] => [s, 1]);
  if (!cols.length) return '';
  const head = cols.map(([s, b]) => `<th>${esc(fmtSize(s))}${b > 1 ? ` ×${b}` : ''}</th>`).join('');
  const rows = ts
    .map((t) => {
      const cells = cols.map(([size, batch]) => {
        if (t.name === 'c-memcpy') {
          const r = batched ? undefined : memcpy.find((x) => x.size === size);
          return r
            ? `<td><b>${fmtMB(r.bytesPerSec.median)}</b> MB/s<div class="sub">±${spreadPct(r.bytesPerSec).toFixed(0)}%</div></td>`
            : '<td></td>';
        }
        const r = streams.find((x) => x.transport === t.name && x.size === size && x.batch === batch);
        if (!r) return '<td></td>';
        const rel = r.relative;
        const ofC = rel?.pctOfCeiling !== undefined ? `${fmtPct(rel.pctOfCeiling)} of C${rel.ceilingBatched ? ' batched' : ''}` : '';
        const ratios = [ofC, rel?.vsForkJson !== undefined ? `${fmtX(rel.vsForkJson)} json` : ''].filter(Boolean).join(' · ');
        const bound = rel?.harnessBound
          ? `<br><span class="bound" title="${esc(HARNESS_NOTE)}">${HARNESS_MARK} ${fmtPct((rel.ofHarness ?? 0) * 100)} of harness</span>`
          : '';
        return `<td${rel?.harnessBound ? ' class="bound"' : ''}><b>${fmtMB(r.bytesPerSec.median)}</b> MB/s<br>${fmtRate(r.msgsPerSec.median)} msg/s${rel?.harnessBound ? HARNESS_MARK : ''}<div class="sub">±${spreadPct(r.msgsPerSec).toFixed(0)}%${ratios ? `<br>${ratios}` : ''}${bound}</div></td>`;
      });
      if (cells.every((c) => c === '<td></td>')) return '';
      return `<tr class="${t.kind === 'native' || t.kind === 'inline' ? 'ref' : ''}"><th>${esc(t.label)}</th>${cells.join('')}</tr>`;
    })
    .filter(Boolean)
    .join('\n');
  const bound = streams.some((r) => r.relative?.harnessBound) ? `<p class="sub">${esc(HARNESS_NOTE)}</p>` : '';
  return `<div class="scroll"><table><thead><tr><th>transport</th>${head}</tr></thead><tbody>\n${rows}\n</tbody></table></div>${bound}`;
}

function latencyTable(report: Report): string {
  const lat = report.results.filter((r): r is LatencyResult & { relative?: Relative } => r.workload === 'latency');
  if (!lat.length) return '';
  const sizes = report.matrix.latencySizes;
  const head = sizes.map((s) => `<th colspan="5">${esc(fmtSize(s))} round trip, µs</th>`).join('');
  const sub = sizes.map(() => '<th>median</th><th>p99</th><th>max</th><th>% of C</th><th>× json</th>').join('');
  const rows = orderedTransports(report)
    .filter((t) => lat.some((r) => r.transport === t.name))
    .map((t) => {
      const cells = sizes.map((size) => {
        const r = lat.find((x) => x.transport === t.name && x.size === size);
        if (!r) return '<td></td>'.repeat(5);
        return `<td><b>${fmtUs(r.medianNs.median)}</b></td><td>${fmtUs(r.p99Ns.median)}</td><td>${fmtUs(r.maxNs)}</td><td>${fmtPct(r.relative?.pctOfCeiling)}</td><td>${fmtX(r.relative?.vsForkJson)}</td>`;
      });
      return `<tr class="${t.kind === 'native' || t.kind === 'inline' ? 'ref' : ''}"><th>${esc(t.label)}</th>${cells.join('')}</tr>`;
    })
    .join('\n');
  return `<div class="scroll"><table><thead><tr><th rowspan="2">transport</th>${head}</tr><tr>${sub}</tr></thead><tbody>\n${rows}\n</tbody></table></div>`;
}

function repsTable(results: readonly AnnotatedResult[]): string {
  const rows = results.map((r) => {
    let reps: string;
    if (r.workload === 'stream')
      reps = r.reps.map((x) => `${fmtRate(x.messages / x.seconds)}/s (${x.messages} in ${(x.seconds * 1000).toFixed(0)} ms)`).join(', ');
    else if (r.workload === 'latency')
      reps = r.reps
        .map((x) => `median ${fmtUs(x.medianNs)} p99 ${fmtUs(x.p99Ns)} max ${fmtUs(x.maxNs)} µs (${x.count} round trips)`)
        .join('; ');
    else reps = r.reps.map((x) => `${fmtMB(x.bytes / x.seconds)} MB/s`).join(', ');
    const verified =
      r.workload === 'memcpy'
        ? ''
        : `${r.verified.messages.toLocaleString('en-US')}${r.verified.checksum !== undefined ? ` · ${r.verified.checksum.toString(16).padStart(8, '0')}` : ''}`;
    return `<tr><td>${esc(r.transport)}</td><td>${r.workload}</td><td>${esc(fmtSize(r.size))}</td><td>${r.batch}</td><td>${verified}</td><td class="l">${esc(reps)}</td></tr>`;
  });
  return `<div class="scroll"><table class="raw"><thead><tr><th>transport</th><th>workload</th><th>size</th><th>batch</th><th>verified (messages · checksum)</th><th>repetitions</th></tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table></div>`;
}

export function renderHtml(report: Report, charts: Charts): string {
  const m = report.machine;
  const t = report.matrix.timing;
  const notes: string[] = [];
  const busy = busyWarning(m);
  if (busy) notes.push(`<p class="warn">Warning: ${esc(busy)}</p>`);
  if (!report.ceiling.available && report.ceiling.note) notes.push(`<p class="warn">${esc(report.ceiling.note)}</p>`);
  for (const s of report.skipped) notes.push(`<p class="warn">Skipped ${esc(s.transport)}: ${esc(s.reason)}</p>`);
  for (const f of report.failures)
    notes.push(
      `<p class="fail">FAILED ${esc(f.transport)} ${esc(f.workload)} ${esc(fmtSize(f.size))}${f.batch > 1 ? ` ×${f.batch}` : ''}: <code>${esc(f.error)}</code></p>`,
    );
  const machine = [
    ['CPU', `${m.cpuModel}, ${m.cores} cores (${m.arch})`],
    ['memory', `${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB`],
    ['kernel', `${m.os} (${m.kernel})`],
    ['Node', `${m.node} (V8 ${m.v8})`],
    ['C compiler', m.cc ?? 'none'],
    [
      'load average',
      `${m.loadAverage.start.toFixed(2)} at start${m.loadAverage.end !== undefined ? `, ${m.loadAverage.end.toFixed(2)} at end` : ''}`,
    ],
    ['date', m.date],
    [
      'run',
      `${report.mode}: ${t.reps} repetitions of ${t.durationMs} ms after ${t.warmupMs} ms warm-up; latency: at least ${t.minRoundTrips} round trips per repetition; ${report.wallSeconds.toFixed(0)} s in all`,
    ],
  ]
    .map(([k, v]) => `<tr><th>${esc(k!)}</th><td class="l">${esc(v!)}</td></tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>posix-ipc benchmarks, ${esc(report.mode)}, ${esc(m.date.slice(0, 10))}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1180px; padding: 0 16px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; vertical-align: top; white-space: nowrap; }
.scroll { overflow-x: auto; } td.l { white-space: normal; }
thead th { background: #f3f3f3; text-align: center; } tbody th { text-align: left; font-weight: 500; white-space: nowrap; }
td.l { text-align: left; } tr.ref th { font-style: italic; color: #444; } tr.ref { background: #fafafa; }
.sub { color: #666; font-size: 12px; } td.bound { background: #fff6e0; } span.bound { color: #8a5a00; } .warn { color: #8a5a00; } .fail { color: #b00020; font-weight: 600; }
.chart { overflow-x: auto; } table.raw td { font-size: 12px; } details { margin: 12px 0; }
code { font-size: 12px; }
</style>
</head>
<body>
<h1>posix-ipc benchmarks</h1>
<p>${esc(report.mode)} run, ${esc(m.date)}. Every figure was verified on arrival (count, order, stamps, checksum) and is the median of ${t.reps} repetition${t.reps > 1 ? 's' : ''}; ratios compare figures of this run only.</p>
${notes.join('\n')}
<h2>Machine</h2>
<table>${machine}</table>
<h2>Throughput</h2>
<div class="chart">${charts.throughput}</div>
${streamTable(report, false)}
${charts.batched ? `<h2>Throughput, batched</h2>\n<div class="chart">${charts.batched}</div>\n${streamTable(report, true)}` : ''}
<h2>Round-trip latency</h2>
<div class="chart">${charts.latency}</div>
${latencyTable(report)}
<h2>Method</h2>
<ul>
<li>Each Node transport runs between two real peers: a host process (peer A, the consumer or ping-pong initiator) and peer B, a child process started with <code>node:child_process</code> (or, for thread transports, a worker thread). The C ceiling runs the same workloads between a parent and a forked child.</li>
<li>Stream: peer B sends during the warm-up, then each repetition opens with a START-flagged and closes with an END-flagged message; the consumer times between them. The warm-up is flagged too and its figure dropped, as is a priming repetition of one message before it (so the code for the flags is compiled, with its type feedback, before the first timed repetition). Messages that arrived with the first batch of a repetition are not counted.</li>
<li>Every message carries a sequence number, a tail word and a stamp every 4 KiB; the receiver checks each and keeps a checksum that must match the sender's; counts must match. Any mismatch fails the run.</li>
<li>The harness's own row (“harness alone, no IPC”) runs both workloads on one thread of the host, each message handed from the producer's send straight to the consumer's check: stamping, the send and receive loops, verification and timing, with nothing carrying the bytes. Both sides' work adds up on one core there (a transport runs them on two), so it is a conservative ceiling of what the harness can measure; a figure at ${HARNESS_BOUND * 100}% of it or more is marked ${HARNESS_MARK} harness-bound.</li>
<li>Latency: every round trip is timed on the initiator with <code>process.hrtime.bigint()</code> (C: <code>clock_gettime(CLOCK_MONOTONIC)</code>); a repetition lasts its duration and at least ${t.minRoundTrips} round trips.</li>
<li>“% of C” divides by the C figure of the same mechanism (pipe, UNIX socket, shared-memory ring) and the same batching (“of C batched”: a transport that coalesces separate sends into one write is compared with the batched C figure); for latency it is C's median over this median. “× json” divides by <code>child_process.fork</code> with JSON serialization, one message per send, same size.</li>
<li>Spread: ± is half the min-max range across repetitions, relative to the median; whiskers in the charts show min to max (throughput) and the p99 (latency).</li>
</ul>
<h2>All repetitions</h2>
${repsTable(report.results)}
<details><summary>Result file (JSON)</summary><pre>${esc(JSON.stringify(report, null, 1))}</pre></details>
</body>
</html>
`;
}

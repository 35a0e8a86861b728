/**
 * Hand-written SVG charts (no library, no network): throughput against
 * message size on log-log axes, and round-trip latency as bars on a log
 * axis. Each chart is a standalone SVG document, embedded in the HTML report
 * and also written as a file.
 * @module
 */
import { fmtSize, sig3 } from './report.js';

export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Distinct colours (Tableau 10 and a few more); the C ceiling is drawn in greys. */
const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#17becf',
  '#bcbd22',
  '#8c564b',
];
const GREYS = ['#222222', '#555555', '#777777', '#aaaaaa'];
/** Each reference line its own dash pattern, so they stay apart in grey. */
const DASHES = ['7 4', '2 3', '10 3 2 3', '1 4'];

export interface Series {
  label: string;
  /** Drawn dashed and grey: a reference line (the C ceiling). */
  reference?: boolean;
  /** Drawn thicker: the series the chart is about (posix-ipc). */
  emphasis?: boolean;
  points: { x: number; y: number; lo?: number; hi?: number }[];
}

/** A power of ten without spurious digits: 0.1, 1, 10, 1,000. */
export function decade(v: number): string {
  return v >= 1 ? Math.round(v).toLocaleString('en-US') : String(Number(v.toPrecision(1)));
}

function decades(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
}

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

/** Throughput (y, log) against message size (x, log2), one line per series, min-max whiskers. */
export function lineChart(opts: {
  title: string;
  yLabel: string;
  xValues: number[];
  series: Series[];
  yFormat?: (v: number) => string;
  tickFormat?: (v: number) => string;
}): string {
  const W = 900;
  const H = 460;
  const m = { l: 96, r: 270, t: 44, b: 56 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const ys = opts.series
    .flatMap((s) => s.points.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]))
    .filter((v) => v > 0 && Number.isFinite(v));
  const xs = [...new Set(opts.xValues)].sort((a, b) => a - b);
  if (!ys.length || !xs.length) return '';
  const yTicks = decades(Math.min(...ys), Math.max(...ys));
  const y0 = Math.log10(yTicks[0]!);
  const y1 = Math.log10(yTicks[yTicks.length - 1]!);
  const x0 = Math.log2(xs[0]!);
  const x1 = Math.log2(xs[xs.length - 1]!);
  const px = (x: number): number => m.l + (x1 === x0 ? pw / 2 : ((Math.log2(x) - x0) / (x1 - x0)) * pw);
  const py = (y: number): number => m.t + ph - ((Math.log10(y) - y0) / Math.max(1e-9, y1 - y0)) * ph;
  const yFmt = opts.yFormat ?? ((v: number) => sig3(v));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${m.l}" y="24" font-size="15" font-weight="600" fill="#222">${esc(opts.title)}</text>`);
  // Grid: decades solid, 2x and 5x faint.
  for (const t of yTicks) {
    const y = py(t);
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y}" y2="${y}" stroke="#d0d0d0"/>`);
    parts.push(`<text x="${m.l - 8}" y="${y + 4}" text-anchor="end" fill="#444">${esc((opts.tickFormat ?? yFmt)(t))}</text>`);
    for (const f of [2, 5]) {
      if (t * f < yTicks[yTicks.length - 1]!)
        parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${py(t * f)}" y2="${py(t * f)}" stroke="#eeeeee"/>`);
    }
  }
  for (const x of xs) {
    const X = px(x);
    parts.push(`<line x1="${X}" x2="${X}" y1="${m.t}" y2="${m.t + ph}" stroke="#eeeeee"/>`);
    parts.push(`<text x="${X}" y="${m.t + ph + 18}" text-anchor="middle" fill="#444">${esc(fmtSize(x))}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 14}" text-anchor="middle" fill="#222">message size (log scale)</text>`);
  parts.push(`<text transform="translate(18 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" fill="#222">${esc(opts.yLabel)}</text>`);
  let ci = 0;
  let gi = 0;
  opts.series.forEach((s, i) => {
    const dash = s.reference ? ` stroke-dasharray="${DASHES[gi % DASHES.length]}"` : '';
    const color = s.reference ? GREYS[gi++ % GREYS.length]! : PALETTE[ci++ % PALETTE.length]!;
    const sw = s.emphasis ? 3 : 1.75;
    const pts = s.points.filter((p) => p.y > 0 && Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
    if (pts.length > 1)
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="${sw}"${dash} points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`,
      );
    for (const p of pts) {
      const X = px(p.x).toFixed(1);
      if (p.lo !== undefined && p.hi !== undefined && p.hi > p.lo)
        parts.push(
          `<line x1="${X}" x2="${X}" y1="${py(p.lo).toFixed(1)}" y2="${py(p.hi).toFixed(1)}" stroke="${color}" stroke-width="1"/>`,
        );
      const tip = `<title>${esc(`${s.label}, ${fmtSize(p.x)}: ${yFmt(p.y)}`)}</title>`;
      if (s.reference) {
        parts.push(
          `<rect x="${(px(p.x) - 3.5).toFixed(1)}" y="${(py(p.y) - 3.5).toFixed(1)}" width="7" height="7" fill="#fff" stroke="${color}" stroke-width="1.5">${tip}</rect>`,
        );
      } else {
        parts.push(`<circle cx="${X}" cy="${py(p.y).toFixed(1)}" r="3.5" fill="${color}">${tip}</circle>`);
      }
    }
    // Legend
    const ly = m.t + 8 + i * 20;
    const lx = m.l + pw + 16;
    parts.push(`<line x1="${lx}" x2="${lx + 26}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="${sw}"${dash}/>`);
    parts.push(`<text x="${lx + 32}" y="${ly + 4}" fill="#222"${s.emphasis ? ' font-weight="600"' : ''}>${esc(s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export interface BarRow {
  label: string;
  reference?: boolean;
  /** One bar per group (e.g. per message size): the median, with the p99 as a whisker. */
  bars: ({ value: number; whisker?: number } | undefined)[];
}

/** Horizontal grouped bars on a log axis (latency in microseconds). */
export function barChart(opts: {
  title: string;
  xLabel: string;
  groups: string[];
  rows: BarRow[];
  format?: (v: number) => string;
  tickFormat?: (v: number) => string;
}): string {
  const fmt = opts.format ?? ((v: number) => sig3(v));
  const bh = 11;
  const gap = 8;
  const rowH = opts.groups.length * (bh + 2) + gap;
  const labelW = 200;
  const W = 860;
  const m = { l: labelW + 10, r: 90, t: 64, b: 46 };
  const pw = W - m.l - m.r;
  const H = m.t + opts.rows.length * rowH + m.b;
  const vals = opts.rows
    .flatMap((r) => r.bars.flatMap((b) => (b ? [b.value, b.whisker ?? b.value] : [])))
    .filter((v) => v > 0 && Number.isFinite(v));
  if (!vals.length) return '';
  const ticks = decades(Math.min(...vals), Math.max(...vals));
  const v0 = Math.log10(ticks[0]!);
  const v1 = Math.log10(ticks[ticks.length - 1]!);
  const px = (v: number): number => m.l + ((Math.log10(v) - v0) / Math.max(1e-9, v1 - v0)) * pw;
  const colors = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759'];
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${m.l}" y="24" font-size="15" font-weight="600" fill="#222">${esc(opts.title)}</text>`);
  opts.groups.forEach((g, i) => {
    const x = m.l + i * 170;
    parts.push(`<rect x="${x}" y="36" width="14" height="10" fill="${colors[i % colors.length]}"/>`);
    parts.push(`<text x="${x + 20}" y="45" fill="#222">${esc(g)}</text>`);
  });
  parts.push(`<text x="${m.l + opts.groups.length * 170}" y="45" fill="#555">bar: median, whisker: p99</text>`);
  const ph = opts.rows.length * rowH;
  opts.rows.forEach((_, ri) => {
    if (ri % 2 === 1) parts.push(`<rect x="0" y="${m.t + ri * rowH - gap / 2}" width="${W}" height="${rowH}" fill="#f6f6f6"/>`);
  });
  for (const t of ticks) {
    const X = px(t);
    parts.push(`<line x1="${X}" x2="${X}" y1="${m.t - 4}" y2="${m.t + ph}" stroke="#d8d8d8"/>`);
    parts.push(`<text x="${X}" y="${m.t + ph + 16}" text-anchor="middle" fill="#444">${esc((opts.tickFormat ?? fmt)(t))}</text>`);
  }
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 10}" text-anchor="middle" fill="#222">${esc(opts.xLabel)}</text>`);
  opts.rows.forEach((r, ri) => {
    const top = m.t + ri * rowH;
    parts.push(
      `<text x="${labelW}" y="${top + (rowH - gap) / 2 + 4}" text-anchor="end" fill="#222"${r.reference ? ' font-style="italic"' : ''}>${esc(r.label)}</text>`,
    );
    r.bars.forEach((b, bi) => {
      if (!b || !(b.value > 0)) return;
      const y = top + bi * (bh + 2);
      const x0 = px(ticks[0]!);
      const color = colors[bi % colors.length]!;
      const fill = r.reference ? `fill="#ffffff" stroke="${color}" stroke-width="1.5"` : `fill="${color}"`;
      parts.push(
        `<rect x="${x0}" y="${y}" width="${Math.max(1, px(b.value) - x0).toFixed(1)}" height="${bh}" ${fill}><title>${esc(`${r.label}, ${opts.groups[bi]}: median ${fmt(b.value)}${b.whisker ? `, p99 ${fmt(b.whisker)}` : ''}`)}</title></rect>`,
      );
      let end = px(b.value);
      if (b.whisker && b.whisker > b.value) {
        end = px(b.whisker);
        parts.push(`<line x1="${px(b.value).toFixed(1)}" x2="${end.toFixed(1)}" y1="${y + bh / 2}" y2="${y + bh / 2}" stroke="#333"/>`);
        parts.push(`<line x1="${end.toFixed(1)}" x2="${end.toFixed(1)}" y1="${y + 1}" y2="${y + bh - 1}" stroke="#333"/>`);
      }
      parts.push(`<text x="${(end + 5).toFixed(1)}" y="${y + bh - 1}" fill="#333" font-size="10.5">${esc(fmt(b.value))}</text>`);
    });
  });
  parts.push('</svg>');
  return parts.join('\n');
}

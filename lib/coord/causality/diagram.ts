/**
 * The space-time diagram of a trace as one self-contained, offline HTML page:
 * processes as horizontal lines, events as dots on them (deliveries as
 * squares), messages as arrows from send to receive, a delivery that was held
 * back (other events between its receive and it) drawn with a dashed bracket,
 * a causality violation in red. Hover an event for its details; hover or
 * click it to colour its past, its future and the events concurrent with it.
 * The page draws the SVG itself from the trace embedded in it (no network,
 * no library), so a browser is what renders it.
 * @module
 */
import { Trace } from './trace.js';
import { describeEvent } from './shiviz.js';
import { findCausalityViolations } from './violations.js';

/** Options of {@link toSpaceTimeHtml}. */
export interface DiagramOptions {
  /** The page's title (default "Space-time diagram"). */
  title?: string;
}

/** JSON safe inside a `<script>` element: no `<`, no line separators that end a script string. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
body { font: 14px system-ui, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 18px; margin: 0 0 4px; }
#summary { color: #555; margin-bottom: 8px; }
svg { border: 1px solid #ddd; background: #fff; }
.process-line { stroke: #888; stroke-width: 2; }
.process-name { font-weight: 600; dominant-baseline: middle; }
.message { stroke: #3467b5; stroke-width: 1.5; fill: none; }
.message.violation { stroke: #d22; stroke-width: 2.5; }
.event { fill: #3467b5; stroke: #fff; stroke-width: 1.5; cursor: pointer; }
.event.local, .event.annotation { fill: #777; }
.event.deliver { fill: #2a9d4b; }
.event.deliver.violation { fill: #d22; }
.held { stroke: #e08a00; stroke-width: 2; stroke-dasharray: 4 3; fill: none; }
.event.past { fill: #f0a500; }
.event.future { fill: #8e44ad; }
.event.concurrent { fill: #bbb; }
.event.selected { fill: #000; }
#details { white-space: pre; font-family: ui-monospace, monospace; margin-top: 8px; min-height: 3em; }
.legend span { margin-right: 14px; }
`;

/** The browser side: reads the embedded trace and draws the SVG. Plain ES2017, DOM APIs only, text set with textContent. */
const RENDER = String.raw`
(function () {
  var data = JSON.parse(document.getElementById('trace-data').textContent);
  var NS = 'http://www.w3.org/2000/svg';
  var procs = data.processes, events = data.events;
  var byId = {}, row = {};
  procs.forEach(function (p, i) { row[p] = i; });
  events.forEach(function (e) { byId[e.id] = e; });
  // Column: one more than every predecessor's (process order, and a receive after its send).
  var col = {}, lastOf = {};
  events.forEach(function (e) {
    var c = 0;
    var prev = lastOf[e.process];
    if (prev) c = Math.max(c, col[prev] + 1);
    if (e.kind === 'receive' && byId[e.message]) c = Math.max(c, col[e.message] + 1);
    col[e.id] = c;
    lastOf[e.process] = e.id;
  });
  var cols = 0;
  events.forEach(function (e) { cols = Math.max(cols, col[e.id] + 1); });
  var X0 = 90, DX = 56, Y0 = 40, DY = 80;
  var width = X0 + Math.max(cols, 1) * DX + 40, height = Y0 + Math.max(procs.length - 1, 0) * DY + 50;
  var svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
  var defs = document.createElementNS(NS, 'defs');
  defs.innerHTML = '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#3467b5"/></marker>';
  svg.appendChild(defs);
  function el(name, attrs, cls) {
    var n = document.createElementNS(NS, name);
    for (var k in attrs) n.setAttribute(k, attrs[k]);
    if (cls) n.setAttribute('class', cls);
    svg.appendChild(n);
    return n;
  }
  function x(e) { return X0 + col[e.id] * DX + DX / 2; }
  function y(e) { return Y0 + row[e.process] * DY; }
  procs.forEach(function (p, i) {
    el('line', { x1: X0 - 10, x2: width - 20, y1: Y0 + i * DY, y2: Y0 + i * DY, 'data-process': p }, 'process-line');
    el('text', { x: 10, y: Y0 + i * DY }, 'process-name').textContent = p;
  });
  var violating = {};
  data.violations.forEach(function (v) { violating[v.early] = true; });
  var messages = 0, held = 0;
  events.forEach(function (e) {
    if (e.kind !== 'receive' || !byId[e.message]) return;
    var s = byId[e.message];
    var bad = violating[e.id] || data.violations.some(function (v) { return v.earlyReceive === e.id; });
    var m = el('line', { x1: x(s), y1: y(s), x2: x(e) - 6, y2: y(e) + (y(e) > y(s) ? -6 : y(e) < y(s) ? 6 : 0), 'marker-end': 'url(#arrow)', 'data-message': e.message, 'data-from': s.id, 'data-to': e.id }, bad ? 'message violation' : 'message');
    var t = document.createElementNS(NS, 'title');
    t.textContent = 'message ' + e.message + ': ' + s.process + ' -> ' + e.process;
    m.appendChild(t);
    messages++;
  });
  // A delivery held back: other events of the process between its receive and it.
  var seq = {};
  procs.forEach(function (p) { seq[p] = events.filter(function (e) { return e.process === p; }).sort(function (a, b) { return a.index - b.index; }); });
  events.forEach(function (e) {
    if (e.kind !== 'deliver') return;
    var list = seq[e.process];
    var r = null;
    for (var i = 0; i < list.length; i++) if (list[i].kind === 'receive' && list[i].message === e.message && list[i].index < e.index) { r = list[i]; break; }
    if (!r || e.index - r.index <= 1) return;
    var yy = y(e) + 14;
    el('path', { d: 'M' + x(r) + ',' + (yy - 8) + ' L' + x(r) + ',' + yy + ' L' + x(e) + ',' + yy + ' L' + x(e) + ',' + (yy - 8), 'data-held': e.id }, 'held');
    held++;
  });
  var nodes = {};
  events.forEach(function (e) {
    var cls = 'event ' + e.kind + (violating[e.id] ? ' violation' : '');
    var n = e.kind === 'deliver'
      ? el('rect', { x: x(e) - 6, y: y(e) - 6, width: 12, height: 12, 'data-event': e.id }, cls)
      : el('circle', { cx: x(e), cy: y(e), r: 7, 'data-event': e.id }, cls);
    var t = document.createElementNS(NS, 'title');
    t.textContent = e.id + '  ' + e.text + '\n' + JSON.stringify(e.time);
    n.appendChild(t);
    nodes[e.id] = n;
    n.addEventListener('mouseenter', function () { select(e); });
    n.addEventListener('click', function () { select(e); });
  });
  function before(a, b) {
    var less = false;
    for (var k in a) { if ((b[k] || 0) < a[k]) return false; if ((b[k] || 0) > a[k]) less = true; }
    for (var k2 in b) if (!(k2 in a) && b[k2] > 0) less = true;
    return less;
  }
  function select(s) {
    events.forEach(function (e) {
      var base = 'event ' + e.kind + (violating[e.id] ? ' violation' : '');
      var rel = e.id === s.id ? ' selected' : before(e.time, s.time) ? ' past' : before(s.time, e.time) ? ' future' : ' concurrent';
      nodes[e.id].setAttribute('class', base + rel);
    });
    document.getElementById('details').textContent = s.id + ' (' + s.kind + ')  ' + s.text + '\nvector time ' + JSON.stringify(s.time) + '\npast: orange, future: purple, concurrent: grey';
  }
  document.getElementById('diagram').appendChild(svg);
  var summary = events.length + ' events, ' + messages + ' messages, ' + held + ' held back, ' + data.violations.length + ' causality violations';
  document.getElementById('summary').textContent = summary;
  document.body.setAttribute('data-rendered', summary);
})();
`;

/**
 * The page for `trace` (see the module's description). Labels and data from
 * the trace only ever reach the page as text, never as markup.
 */
export function toSpaceTimeHtml(trace: Trace, options: DiagramOptions = {}): string {
  if (!(trace instanceof Trace)) throw new TypeError('The "trace" argument must be a Trace');
  const title = options.title ?? 'Space-time diagram';
  if (typeof title !== 'string') throw new TypeError('The "options.title" option must be a string');
  const violations = findCausalityViolations(trace).map((v) => ({ early: v.early.id, late: v.late.id, description: v.description }));
  // the receive whose message came too early, when the early delivery was a separate deliver event
  const receives = new Map<string, string>();
  for (const e of trace.events) if (e.kind === 'receive') receives.set(`${e.process}|${e.message}`, e.id);
  const marked = violations.map((v) => {
    const e = trace.event(v.early)!;
    return { ...v, earlyReceive: receives.get(`${e.process}|${e.message}`) ?? v.early };
  });
  const data = {
    processes: trace.processes,
    events: trace.events.map((e) => ({
      id: e.id,
      process: e.process,
      index: e.index,
      kind: e.kind,
      time: e.time.toJSON(),
      message: e.message,
      text: describeEvent(e),
    })),
    violations: marked,
  };
  const list = marked.map((v) => `<li>${escapeHtml(v.description)}</li>`).join('');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)}</h1><div id="summary"></div>
<div class="legend"><span>&#9679; send / receive (blue)</span><span>&#9632; deliver (green)</span><span>dashed orange: held back</span><span>red: causality violation</span></div>
<div id="diagram"></div><div id="details">Hover or click an event.</div>
${list === '' ? '' : `<ul id="violations">${list}</ul>`}
<script type="application/json" id="trace-data">${scriptJson(data)}</script>
<script>${RENDER}</script>
</body></html>
`;
}

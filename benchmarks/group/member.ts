// One member of the group benchmark, in its own process (started by
// benchmarks/group/members.ts). It prints "ready <id>", then answers stdin,
// one command a line (any failure prints "failed <why>"):
//   join <group> <order> <listen> <trace file|-> [contact]
//        joins (or founds) the group -> "joined <url>"
//   view <n> <ms>      waits until its view has n members -> "viewed <id>"
//   run <startNs> <ms> <max> <size> [gapMs]
//        from the shared monotonic clock's startNs (process.hrtime, one
//        clock for every process on Linux), multicasts <size>-byte messages
//        (the first 8 bytes: the multicast's time, ns) as fast as the
//        window lets it (or one every gapMs), for <ms> or <max> messages
//        -> "sent <n>"
//   expect <id>=<n>,...  waits until it delivered n messages of each member
//        since the last "run" -> "done <json>" (see Done below)
//   close              closes the member -> "closed"
// Every delivery is checked as it comes: one view through the run, and each
// sender's messages numbered 1, 2, 3, ... without a gap or a repeat (every
// reliable order is FIFO); a running hash of the sequence of (sender, seq)
// lets the orchestrator compare the members' orders (total order: equal).
import { createInterface } from 'node:readline';

import { joinGroup, type Group, type GroupOrder } from '../../lib/coord/group/index.js';
import { Histogram } from './histogram.js';
import { sayLine } from '../lib/say-line.js';

/** What "done" reports. */
export interface Done {
  /** Deliveries since "run", all senders. */
  delivered: number;
  /** The monotonic clock (ns) at the first and last delivery since "run". */
  firstNs: number;
  lastNs: number;
  /** Multicast-to-delivery latency of the other members' messages (log buckets: see histogram.ts). */
  latency: number[];
  /** FNV-1a over (sender, seq) of every delivery in this view, in order. */
  hash: number;
  /** Views installed during the run (must be 0). */
  views: number;
  /** CPU time of this process since "run" (user + system), µs. */
  cpuUs: number;
}

const say = sayLine;
const now = (): number => Number(process.hrtime.bigint());
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const [self] = process.argv.slice(2) as [string];

let g: Group | undefined;
let consumer: Promise<void> = Promise.resolve();
/** Per sender: the last seq delivered (this view), and the count since "run". */
let lastSeq = new Map<string, number>();
/** The view's members by id: their rank, for the hash. */
let rank = new Map<string, number>();
let counts = new Map<string, number>();
let hash = 0x811c9dc5;
let delivered = 0;
let firstNs = 0;
let lastNs = 0;
let views = 0;
let viewId = 0;
let viewSize = 0;
let broken: string | undefined;
let hist = new Histogram();
let wake: (() => void) | undefined;
const scratch = new Float64Array(1);
const scratchBytes = new Uint8Array(scratch.buffer);

function mix(h: number, v: number): number {
  for (let k = 0; k < 4; k++) {
    h = Math.imul(h ^ (v & 0xff), 16777619);
    v >>>= 8;
  }
  return h;
}

async function consume(group: Group): Promise<void> {
  for (;;) {
    let d;
    try {
      d = group.tryReceive() ?? (await group.receive());
    } catch {
      return; // closed
    }
    if (d.type === 'view') {
      views++;
      viewId = d.view.id;
      viewSize = d.view.members.length;
      lastSeq = new Map(d.view.members.map((m) => [m, 0]));
      rank = new Map(d.view.members.map((m, i) => [m, i]));
      hash = 0x811c9dc5;
      continue;
    }
    const t = now();
    const last = lastSeq.get(d.sender);
    if (last === undefined || d.seq !== last + 1) broken ??= `${self}: from ${d.sender} seq ${d.seq} after ${last} (view ${d.view})`;
    lastSeq.set(d.sender, d.seq);
    counts.set(d.sender, (counts.get(d.sender) ?? 0) + 1);
    hash = mix(mix(hash, rank.get(d.sender)!), d.seq);
    if (delivered++ === 0) firstNs = t;
    lastNs = t;
    if (d.sender !== self && d.payload.length >= 8) {
      scratchBytes.set(d.payload.subarray(0, 8));
      hist.add((t - scratch[0]!) / 1000);
    }
    if (wake !== undefined && (delivered & 63) === 0) wake();
  }
}

async function run(startNs: number, ms: number, max: number, size: number, gapMs: number): Promise<number> {
  const group = g!;
  counts = new Map();
  delivered = 0;
  hist = new Histogram();
  views = 0;
  const wait = (startNs - now()) / 1e6;
  if (wait > 0) await sleep(wait);
  const end = startNs + ms * 1e6;
  let sent = 0;
  for (let t = now(); t < end && sent < max; t = now()) {
    const p = new Uint8Array(size);
    scratch[0] = t;
    p.set(scratchBytes);
    await group.multicast(p);
    if (gapMs > 0) await sleep(gapMs);
    // A window that never fills (none here, but the loop must not starve the event loop): yield now and then.
    if ((++sent & 1023) === 0) await new Promise((r) => setImmediate(r));
  }
  return sent;
}

async function expect(want: Map<string, number>, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  const missing = (): string[] =>
    [...want].filter(([id, n]) => (counts.get(id) ?? 0) < n).map(([id, n]) => `${id} ${counts.get(id) ?? 0}/${n}`);
  for (;;) {
    if (broken !== undefined) throw new Error(broken);
    const over = [...want].filter(([id, n]) => (counts.get(id) ?? 0) > n);
    if (over.length > 0) throw new Error(`${self}: more deliveries than multicasts from ${over.map(([id]) => id).join(', ')}`);
    const m = missing();
    if (m.length === 0) return;
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`${self}: still missing after ${ms} ms: ${m.join(', ')} (stats ${JSON.stringify(g?.stats)})`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, Math.min(left, 20));
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    wake = undefined;
  }
}

say(`ready ${self}`);
let cpu0 = process.cpuUsage();
try {
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, ...a] = line.split(' ');
    if (cmd === 'join') {
      const [group, order, listen, trace, contact] = a as [string, GroupOrder, string, string, string | undefined];
      g = await joinGroup({
        group,
        member: self,
        listen,
        order,
        contact,
        // The machine is loaded (every member spins on 2 cores): no false suspicion mid-run.
        heartbeatMs: 200,
        failureTimeoutMs: 20_000,
        joinTimeoutMs: 30_000,
        trace: trace === '-' ? undefined : { path: trace },
      });
      broken = undefined;
      consumer = consume(g);
      say(`joined ${g.url}`);
    } else if (cmd === 'view') {
      const deadline = performance.now() + Number(a[1]);
      while (viewSize !== Number(a[0])) {
        if (performance.now() > deadline) throw new Error(`${self}: view ${viewId} has ${viewSize} members, not ${a[0]}`);
        await sleep(10);
      }
      say(`viewed ${viewId}`);
    } else if (cmd === 'run') {
      cpu0 = process.cpuUsage();
      const sent = await run(Number(a[0]), Number(a[1]), Number(a[2]), Number(a[3]), Number(a[4] ?? 0));
      say(`sent ${sent}`);
    } else if (cmd === 'expect') {
      const want = new Map(a[0]!.split(',').map((kv) => [kv.split('=')[0]!, Number(kv.split('=')[1])] as [string, number]));
      await expect(want, Number(a[1] ?? 30_000));
      const c = process.cpuUsage(cpu0);
      const done: Done = { delivered, firstNs, lastNs, latency: hist.toJSON(), hash: hash >>> 0, views, cpuUs: c.user + c.system };
      if (views > 0) throw new Error(`${self}: ${views} view change(s) during the run`);
      say(`done ${JSON.stringify(done)}`);
    } else if (cmd === 'close') {
      await g?.close();
      await consumer;
      g = undefined;
      say('closed');
    } else if (cmd === 'stats') {
      say(`stats ${JSON.stringify(g?.stats ?? null)}`);
    }
  }
  await g?.close();
} catch (err) {
  say(`failed ${(err as Error)?.stack ?? String(err)}`.replace(/\n/g, ' | '));
  process.exit(1);
}

/**
 * The group checkers: given the traces of all members of one or more groups
 * (see {@link GroupEvent}; each member's events in its own order), they find
 * every violation of what the groups promised. Every property is judged from
 * the traces alone: the order of events at each member, and the ids (the
 * `time` vectors and `ts` stamps are not trusted).
 *
 * - `integrity`: no member delivers a message twice.
 * - `creation`: every delivered message has its `send` in its sender's trace
 *   (crashed senders included: a member writes the event before the message
 *   leaves; a sender whose trace is not given at all is not judged); when both
 *   record a `payload`, they are equal. A send or delivery whose id is not
 *   `groupMessageId(sender, view, seq)`, or a send recorded by another member
 *   or twice, is a creation violation too.
 * - `views`: at each member, view ids strictly increase; two members that
 *   installed the same view id list the same members in the same order; a
 *   member's first view lists it; after a view that does not list it, a member
 *   records nothing more of that group; a send or delivery happens in a view,
 *   and the event's `view` is that view; a member installs every view that
 *   lists it between its first and its last.
 * - `sending-view`: a message is sent and delivered in the view of its id.
 * - `validity` (reliable): a message whose sender is not crashed and recorded
 *   its send is delivered by the sender and by every member that is not
 *   crashed and installed the message's view listing itself (one that left
 *   later included).
 * - `agreement` (reliable): those members (not crashed, installed the view) all
 *   deliver the same messages of the view; a member whose trace ends in the
 *   view counts as final. A missing delivery is reported once: as validity
 *   when the sender is correct and recorded the send, else as agreement.
 * - `fifo`: at each member, the deliveries from one sender in one view are in
 *   increasing `seq`, and (reliable) consecutive from 1.
 * - `causal`: m1 precedes m2 when, at m2's sender, the send or the delivery of
 *   m1 comes before the send of m2, closed transitively (within a group and a
 *   view: across views, views and sending-view order them). Every member that
 *   delivers both delivers m1 first. Inversions between messages of one sender
 *   are reported under fifo only.
 * - `total`: every two members deliver the messages they both delivered in the
 *   same relative order: within each group and view, or with `acrossGroups`
 *   over all the messages of all the groups.
 *
 * Crashed members' traces may stop anywhere: they are not held to validity
 * or agreement; everything else they recorded is judged.
 * @module
 */
import { validateBoolean, validateObject, validateString } from '../../internal/validators.js';
import type { GroupOrder } from './options.js';
import { groupMessageId, type GroupEvent } from './trace.js';
import { collect, Context, entry, Report, type Member } from './trace-index.js';

export type { GroupOrder };

/** A property the checkers verify (see the module's description for each). */
export type GroupProperty = 'integrity' | 'creation' | 'validity' | 'agreement' | 'views' | 'sending-view' | 'fifo' | 'causal' | 'total';

/** One violation found in the traces. */
export interface GroupViolation {
  readonly property: GroupProperty;
  /** The member where it shows, when there is one. */
  readonly member?: string;
  /** The message id concerned, when there is one. */
  readonly message?: string;
  /** A sentence naming the group, the members and the messages. */
  readonly detail: string;
}

/** What {@link checkGroupTraces} checks. */
export interface CheckGroupOptions {
  /** The promised order. */
  order: GroupOrder;
  /** Reliable multicast (default true): check validity, agreement and gap-free FIFO; false (best-effort): neither. */
  reliable?: boolean;
  /** Members killed during the run: their traces may be any prefix; they are not held to validity or agreement. */
  crashed?: Iterable<string>;
  /** Total order also between messages of different groups (overlapping groups on one spanning tree). */
  acrossGroups?: boolean;
}

const ORDERS: readonly string[] = ['none', 'fifo', 'causal', 'total', 'sequencer'];
const PROPERTIES = 'integrity creation validity agreement views sending-view fifo causal total'.split(' ') as readonly GroupProperty[];
/** One member's trace in order: views, integrity, sending-view, and the messages it sent and delivered. */
function scan(m: Member, ctx: Context, r: Report): void {
  const state = new Map<string, { view?: number; left: boolean; told: boolean }>();
  let e = m.events[0]!;
  const bad = (property: GroupProperty, text: string): void => r.add(property, { group: e.group, id: e.message }, m.name, text);
  for (let i = 0; i < m.events.length; i++) {
    e = m.events[i]!;
    const s = entry(state, e.group, (): { view?: number; left: boolean; told: boolean } => ({ left: false, told: false }));
    m.ref[i] = -2;
    if (s.left) {
      if (!s.told) bad('views', `recorded a ${e.kind} after view ${s.view}, which does not list it`);
      s.told = true;
      continue;
    }
    if (e.kind === 'view') {
      const members = e.members!;
      if (s.view !== undefined && e.view <= s.view) bad('views', `installed view ${e.view} after view ${s.view}`);
      if (s.view === undefined && !members.includes(m.name))
        bad('views', `installed first view ${e.view}, without it: [${members.join(', ')}]`);
      if (new Set(members).size !== members.length) bad('views', `installed view ${e.view}, which lists a member twice`);
      const table = entry(ctx.views, e.group, () => new Map<number, { members: readonly string[]; by: string }>());
      const known = entry(table, e.view, () => ({ members, by: m.name }));
      if (known.members.length !== members.length || known.members.some((x, k) => x !== members[k]))
        bad('views', `installed view ${e.view} as [${members.join(', ')}], ${known.by} as [${known.members.join(', ')}]`);
      s.view = e.view;
      entry(m.installed, e.group, () => []).push(e.view);
      if (!members.includes(m.name)) s.left = true;
      else
        entry(
          entry(ctx.recorders, e.group, () => new Map<number, string[]>()),
          e.view,
          () => [],
        ).push(m.name);
      m.ref[i] = -1;
      continue;
    }
    const x = ctx.message(e);
    if (x === undefined) {
      bad('creation', `recorded a ${e.kind} of ${e.message}, which is not the id of message ${e.seq} of ${e.sender} (or another's)`);
      continue;
    }
    const msg = ctx.msgs[x]!;
    if (s.view === undefined) bad('views', `recorded the ${e.kind} of ${msg.id} before installing a view`);
    else if (e.view !== s.view) bad('views', `recorded the ${e.kind} of ${msg.id} in view ${e.view}, but its view was ${s.view}`);
    if (e.kind === 'send') {
      if (e.sender !== m.name || msg.send !== undefined) {
        bad('creation', msg.send === undefined ? `recorded the send of ${msg.id}, whose sender is ${e.sender}` : `sent ${msg.id} twice`);
        continue;
      }
      msg.send = e;
      if (s.view !== undefined && s.view !== msg.view) bad('sending-view', `sent ${msg.id} in view ${s.view}`);
    } else {
      if (m.has.has(x)) {
        bad('integrity', `delivered ${msg.id} twice`);
        continue;
      }
      m.has.add(x);
      m.delivered.push(x);
      m.deliveredAt.push(i);
      if (s.view !== undefined && s.view !== msg.view)
        bad('sending-view', `delivered ${msg.id} in view ${s.view}, not in view ${msg.view}`);
    }
    m.ref[i] = x;
  }
}

/** Creation (every delivery has its send, with the same payload) and skipped views. */
function checkSendsAndViews(members: readonly Member[], ctx: Context, r: Report): void {
  const traced = new Set(members.map((m) => m.name));
  for (const m of members) {
    m.delivered.forEach((x, k) => {
      const msg = ctx.msgs[x]!;
      const payload = m.events[m.deliveredAt[k]!]!.payload;
      if (msg.send === undefined && traced.has(msg.sender))
        r.add('creation', msg, m.name, `delivered ${msg.id}, which ${msg.sender} never sent`);
      else if (payload !== undefined && msg.send?.payload !== undefined && payload !== msg.send.payload)
        r.add('creation', msg, m.name, `delivered ${msg.id} with a payload other than the one sent`);
    });
  }
  for (const group of [...ctx.views.keys()].sort()) {
    const table = ctx.views.get(group)!;
    const ids = [...table.keys()].sort((a, b) => a - b);
    for (const m of members) {
      const mine = m.installed.get(group) ?? [];
      for (const v of ids)
        if (v > mine[0]! && v < mine.at(-1)! && !mine.includes(v) && table.get(v)!.members.includes(m.name))
          r.add('views', { group }, m.name, `skipped view ${v}, which lists it`);
    }
  }
}

function checkReliability(members: readonly Member[], ctx: Context, crashed: ReadonlySet<string>, r: Report): void {
  const byName = new Map(members.map((m) => [m.name, m]));
  const byScope: number[][] = ctx.scopeStreams.map(() => []);
  ctx.msgs.forEach((msg, x) => byScope[msg.scope]!.push(x));
  for (const list of byScope) {
    const { group, view } = ctx.msgs[list[0]!]!;
    const rec = (ctx.recorders.get(group)?.get(view) ?? []).filter((n) => !crashed.has(n)).map((n) => byName.get(n)!);
    for (const x of list) {
      const msg = ctx.msgs[x]!;
      const sender = byName.get(msg.sender);
      if (msg.send === undefined && sender !== undefined) continue; // created: a creation violation
      const valid = msg.send !== undefined && !crashed.has(msg.sender);
      const by = rec.find((m) => m.has.has(x));
      if (!valid && by === undefined) continue;
      for (const t of valid && sender !== undefined && !rec.includes(sender) ? [...rec, sender] : rec) {
        if (valid && !t.has.has(x)) r.add('validity', msg, t.name, `never delivered ${msg.id}, sent by ${msg.sender} in view ${view}`);
        else if (!t.has.has(x)) r.add('agreement', msg, t.name, `never delivered ${msg.id}, which ${by!.name} delivered in view ${view}`);
      }
    }
  }
}

function checkFifo(members: readonly Member[], ctx: Context, reliable: boolean, r: Report): void {
  for (const m of members) {
    const last = new Float64Array(ctx.streamSender.length);
    for (const x of m.delivered) {
      const msg = ctx.msgs[x]!;
      const prev = last[msg.stream]!;
      const id = (seq: number): string => groupMessageId(msg.sender, msg.view, seq);
      if (msg.seq <= prev) r.add('fifo', msg, m.name, `delivered ${msg.id} after ${id(prev)}`);
      else if (reliable && msg.seq !== prev + 1) r.add('fifo', msg, m.name, `delivered ${msg.id} without ${id(prev + 1)} before it`);
      last[msg.stream] = Math.max(prev, msg.seq);
    }
  }
}

/**
 * Causal order. The causal past of a send is, per sender of its group and
 * view, the highest rank (place by seq) of that sender's messages the sending
 * member had sent or delivered, through the pasts of those: downward closed
 * per sender. Members' events are visited in a topological order (each
 * delivery after its send); a cycle (a delivery that would precede its own
 * send) is reported and broken.
 */
function checkCausal(members: readonly Member[], ctx: Context, r: Report): void {
  const { msgs, streamSender } = ctx;
  const N = ctx.names.length;
  const base = new Int32Array(streamSender.length + 1); // stream s's messages by rank: order[base[s] .. base[s + 1])
  for (const msg of msgs) base[msg.stream + 1]!++;
  for (let s = 0; s < streamSender.length; s++) base[s + 1]! += base[s]!;
  const order = new Int32Array(msgs.length);
  const fill = base.slice(0, -1);
  msgs.forEach((msg, x) => (order[fill[msg.stream]!++] = x));
  for (let s = 0; s < streamSender.length; s++) {
    const sub = order.subarray(base[s]!, base[s + 1]!);
    if (sub.some((x, k) => k > 0 && msgs[x]!.seq < msgs[sub[k - 1]!]!.seq)) sub.sort((a, b) => msgs[a]!.seq - msgs[b]!.seq);
    sub.forEach((x, k) => (msgs[x]!.rank = k + 1));
  }
  const past = new Int32Array(msgs.length * N);
  const sent = new Uint8Array(msgs.length);
  const cur = new Int32Array(members.length);
  const clocks = members.map(() => new Map<string, { view: number; vec: Int32Array }>());
  const blocked = (m: Member, i: number): boolean => {
    const x = m.ref[i]!;
    return x >= 0 && m.events[i]!.kind === 'deliver' && msgs[x]!.send !== undefined && sent[x] === 0;
  };
  const step = (k: number): void => {
    const m = members[k]!;
    const e = m.events[cur[k]!]!;
    const x = m.ref[cur[k]!++]!;
    if (x === -1) clocks[k]!.set(e.group, { view: e.view, vec: new Int32Array(N) });
    if (x < 0) return;
    const msg = msgs[x]!;
    const c = clocks[k]!.get(e.group);
    if (e.kind === 'send') sent[x] = 1;
    if (c === undefined || c.view !== msg.view) return;
    const vec = c.vec;
    if (e.kind === 'send') past.set(vec, x * N);
    else if (sent[x] === 1) for (let j = 0, o = x * N; j < N; j++) if (past[o + j]! > vec[j]!) vec[j] = past[o + j]!;
    if (vec[msg.ix]! < msg.rank) vec[msg.ix] = msg.rank;
  };
  for (;;) {
    let moved = false;
    let waiting = -1;
    members.forEach((m, k) => {
      for (; cur[k]! < m.events.length && !blocked(m, cur[k]!); moved = true) step(k);
      if (waiting < 0 && cur[k]! < m.events.length) waiting = k;
    });
    if (waiting < 0) break;
    if (moved) continue;
    const msg = msgs[members[waiting]!.ref[cur[waiting]!]!]!;
    r.add('causal', msg, members[waiting]!.name, `delivered ${msg.id} before it could have been sent (a cycle in the causal order)`);
    step(waiting);
  }
  const pos = new Int32Array(msgs.length);
  const best = new Int32Array(msgs.length); // per stream and rank: the latest position of its messages up to that rank
  const arg = new Int32Array(msgs.length);
  for (const m of members) {
    pos.fill(-1);
    m.delivered.forEach((x, j) => (pos[x] = j));
    for (let s = 0; s < streamSender.length; s++)
      for (let k = base[s]!, b = -1, a = -1; k < base[s + 1]!; k++) {
        if (pos[order[k]!]! > b) {
          b = pos[order[k]!]!;
          a = order[k]!;
        }
        best[k] = b;
        arg[k] = a;
      }
    m.delivered.forEach((x, j) => {
      const msg = msgs[x]!;
      if (sent[x] === 1)
        for (const s of ctx.scopeStreams[msg.scope]!) {
          const rank = streamSender[s] === msg.ix ? 0 : past[x * N + streamSender[s]!]!;
          const at = base[s]! + rank - 1;
          if (rank > 0 && best[at]! > j)
            r.add('causal', msg, m.name, `delivered ${msg.id} before ${msgs[arg[at]!]!.id}, which causally precedes it`);
        }
    });
  }
}

/** Total order: for each two members, the messages both delivered (per group and view, or all) in the same relative order. */
function checkTotal(members: readonly Member[], ctx: Context, across: boolean, r: Report): void {
  const scopes = new Map<number, { m: Member; list: number[] }[]>();
  for (const m of members) {
    const mine = new Map<number, number[]>();
    for (const x of m.delivered) entry(mine, across ? 0 : ctx.msgs[x]!.scope, () => []).push(x);
    for (const [sc, list] of mine) entry(scopes, sc, () => []).push({ m, list });
  }
  const pos = new Int32Array(ctx.msgs.length).fill(-1);
  const label = (x: number): string => (across ? `${ctx.msgs[x]!.group}/${ctx.msgs[x]!.id}` : ctx.msgs[x]!.id);
  for (const sc of [...scopes.keys()].sort((a, b) => a - b)) {
    const all = scopes.get(sc)!;
    all.forEach((a, i) => {
      a.list.forEach((x, j) => (pos[x] = j));
      for (const b of all.slice(i + 1)) {
        for (let k = 0, high = -1, top = -1; k < b.list.length; k++) {
          const x = b.list[k]!;
          if (pos[x]! > high) {
            high = pos[x]!;
            top = x;
          } else if (pos[x]! >= 0) {
            const at = { group: across ? 'across groups' : ctx.msgs[x]!.group, id: ctx.msgs[x]!.id };
            r.add('total', at, b.m.name, `delivered ${label(x)} after ${label(top)}, ${a.m.name} before it`);
          }
        }
      }
      for (const x of a.list) pos[x] = -1;
    });
  }
}

/**
 * Checks the traces of a run against what the groups promise (see the
 * module's description for each property). `traces`: each member's events (an
 * array per member, or one array of everyone's events; either way each
 * member's events in its own order). Returns every violation found, grouped by
 * property in the order of {@link GroupProperty}, at most 100 per property and
 * then one line counting the rest; `[]` when the run kept its promises.
 * Malformed events are a `TypeError` naming the event. Time: linear in the
 * events plus, for total order, in the deliveries times the members (each pair
 * of members compared), for causal order in the deliveries times the senders;
 * memory for causal order: the messages times the senders.
 */
export function checkGroupTraces(
  traces: Iterable<readonly GroupEvent[]> | readonly GroupEvent[],
  options: CheckGroupOptions,
): GroupViolation[] {
  const o = validateObject(options, 'options');
  if (!ORDERS.includes(o.order as string))
    throw new TypeError(`The "options.order" argument must be one of: ${ORDERS.join(', ')}. Received ${String(o.order)}`);
  const reliable = o.reliable === undefined || validateBoolean(o.reliable, 'options.reliable');
  const across = o.acrossGroups !== undefined && validateBoolean(o.acrossGroups, 'options.acrossGroups');
  const crashed = new Set<string>();
  if (o.crashed !== undefined) {
    if (o.crashed === null || typeof o.crashed !== 'object' || !(Symbol.iterator in o.crashed))
      throw new TypeError('The "options.crashed" argument must be an iterable of member names');
    for (const c of o.crashed as Iterable<unknown>) crashed.add(validateString(c, 'options.crashed[]'));
  }
  const members = collect(traces);
  const ctx = new Context();
  const report = new Report(PROPERTIES);
  for (const m of members) scan(m, ctx, report);
  checkSendsAndViews(members, ctx, report);
  if (reliable) checkReliability(members, ctx, crashed, report);
  if (o.order !== 'none') checkFifo(members, ctx, reliable, report);
  if (o.order === 'causal') checkCausal(members, ctx, report);
  if (o.order === 'total' || o.order === 'sequencer') checkTotal(members, ctx, across, report);
  return report.violations();
}

/** The violations one a line (`property: detail`), for a test's failure message; `''` when there are none. */
export function describeViolations(v: readonly GroupViolation[]): string {
  return v.map((x) => `${x.property}: ${x.detail}`).join('\n');
}

/**
 * The group benchmark's member processes (member.ts, one process each),
 * seen from the orchestrator: start them once, make the first n of them a
 * group of one order over one transport, run a repetition (everyone
 * multicasts at once) and check it, close the group. Every wait is bounded.
 * @module
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { GroupOrder } from '../../lib/coord/group/index.js';
import { startLineProcess, type LineProcess } from '../lib/line-process.js';
import { Histogram } from './histogram.js';
import type { Done } from './member.js';

const SCRIPT = fileURLToPath(new URL('./member.ts', import.meta.url));

export type Transport = 'shm' | 'unix';

/** One repetition's figures. */
export interface GroupRep {
  /** Distinct messages multicast (all members). */
  messages: number;
  /** Deliveries at all members (members x messages). */
  deliveries: number;
  /** From the common start to the last delivery anywhere. */
  seconds: number;
  deliveriesPerSec: number;
  msgPerSec: number;
  p50Us: number;
  p99Us: number;
  /** CPU per delivered message, each member (µs, median over members). */
  cpuUsPerMsg: number;
  /** Total order: every member's hash of its delivery sequence was the same. */
  sameOrder: boolean;
}

/** Starts `count` member processes m0, m1, ... */
export async function startMembers(count: number, execArgv: string[] = []): Promise<LineProcess[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => startLineProcess(SCRIPT, `member m${i}`, [`m${i}`], 60_000, execArgv)));
}

let groups = 0;

/** A group of the first members, joined and in one view of all of them. */
export class BenchGroup {
  readonly #m: LineProcess[];
  readonly name: string;
  readonly order: GroupOrder;

  private constructor(m: LineProcess[], name: string, order: GroupOrder) {
    this.#m = m;
    this.name = name;
    this.order = order;
  }

  /** `traceDir`: each member writes its trace to `<traceDir>/<name>-<member>.trace`. */
  static async join(members: LineProcess[], order: GroupOrder, transport: Transport, dir: string, traceDir?: string): Promise<BenchGroup> {
    const name = `bench${++groups}`;
    const address = (i: number): string =>
      transport === 'shm' ? `shm:/pipc-gb-${process.pid}-${name}-m${i}` : `unix:${join(dir, `${name}-m${i}.sock`)}`;
    const trace = (i: number): string => (traceDir === undefined ? '-' : join(traceDir, `${name}-m${i}.trace`));
    members[0]!.send(`join ${name} ${order} ${address(0)} ${trace(0)}`);
    const url = await members[0]!.next('joined', 30_000);
    for (let i = 1; i < members.length; i++) members[i]!.send(`join ${name} ${order} ${address(i)} ${trace(i)} ${url}`);
    await Promise.all(members.slice(1).map((m) => m.next('joined', 60_000)));
    for (const m of members) m.send(`view ${members.length} 60000`);
    await Promise.all(members.map((m) => m.next('viewed', 65_000)));
    return new BenchGroup(members, name, order);
  }

  /**
   * Every member multicasts from a common start for `ms` (or `max` messages each), as fast as it
   * can or (`gapMs`) one message every so often; then every delivery is awaited and checked.
   */
  async run(ms: number, max: number, size: number, gapMs = 0): Promise<GroupRep> {
    const start = Number(process.hrtime.bigint()) + 300e6; // every member is waiting by then
    for (const m of this.#m) m.send(`run ${start} ${ms} ${max} ${size} ${gapMs}`);
    const sent = await Promise.all(this.#m.map(async (m) => Number(await m.next('sent', ms + 60_000))));
    const want = sent.map((n, i) => `m${i}=${n}`).join(',');
    const messages = sent.reduce((a, b) => a + b, 0);
    const drainMs = 30_000 + messages / 5; // a stuck run fails here, naming what is missing
    for (const m of this.#m) m.send(`expect ${want} ${drainMs}`);
    const done = await Promise.all(this.#m.map(async (m) => JSON.parse(await m.next('done', drainMs + 5000)) as Done));
    const hist = new Histogram();
    for (const d of done) hist.merge(d.latency);
    const deliveries = done.reduce((a, d) => a + d.delivered, 0);
    if (deliveries !== messages * this.#m.length) throw new Error(`${deliveries} deliveries, not ${messages} x ${this.#m.length}`);
    const seconds = (Math.max(...done.map((d) => d.lastNs)) - start) / 1e9;
    const cpu = done.map((d) => d.cpuUs / messages).sort((a, b) => a - b);
    const sameOrder = done.every((d) => d.hash === done[0]!.hash);
    if ((this.order === 'total' || this.order === 'sequencer') && !sameOrder)
      throw new Error(`total order broken: the members' delivery sequences differ (hashes ${done.map((d) => d.hash).join(', ')})`);
    return {
      messages,
      deliveries,
      seconds,
      deliveriesPerSec: deliveries / seconds,
      msgPerSec: messages / seconds,
      p50Us: hist.quantile(0.5),
      p99Us: hist.quantile(0.99),
      cpuUsPerMsg: cpu[cpu.length >> 1]!,
      sameOrder,
    };
  }

  async close(): Promise<void> {
    for (const m of this.#m) m.send('close');
    await Promise.all(this.#m.map((m) => m.next('closed', 30_000)));
  }
}

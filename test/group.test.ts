// Groups of real member processes (test/fixtures/group-member.ts): every
// order under delay, reorder, duplicate and drop faults; kill -9 of members,
// of the leader, and of an originator whose multicast reached only some
// members; join and leave mid-stream; every transport; and the checkers
// (lib/coord/group/checkers.ts) run on every member's trace file, including
// on real runs of a weaker order, where they must find the violations.
import { afterEach, describe, expect, it } from 'vitest';

import { checkGroupTraces, describeViolations, type CheckGroupOptions } from '../lib/coord/group/checkers.js';
import type { GroupEvent, GroupOrder } from '../lib/coord/group/index.js';
import { GroupCluster, type ClusterOptions } from './support/group-cluster.js';

const clusters: GroupCluster[] = [];
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.dispose();
});

function cluster(order: GroupOrder, options: Omit<ClusterOptions, 'order'> = {}): GroupCluster {
  const c = new GroupCluster({ order, ...options });
  clusters.push(c);
  return c;
}

function expectClean(traces: GroupEvent[][], options: CheckGroupOptions, context: string): void {
  const v = checkGroupTraces(traces, options);
  expect(v, `${context}\n${describeViolations(v)}`).toEqual([]);
}

function delivered(trace: readonly GroupEvent[], from?: string): GroupEvent[] {
  return trace.filter((e) => e.kind === 'deliver' && (from === undefined || e.sender === from));
}

const ORDERS: GroupOrder[] = ['fifo', 'causal', 'total', 'sequencer'];
const IDS = ['a', 'b', 'c', 'd'];
const SEED = Number(process.env.GROUP_SEED ?? 20261202);

describe('groups of member processes', () => {
  it.each(ORDERS)(
    '%s: 4 members multicast at once through delays, reorders, duplicates and drops; the checkers find nothing',
    async (order) => {
      const faults = { seed: SEED, delay: 0.2, delayMs: [0, 4] as [number, number], reorder: 0.05, duplicate: 0.05, drop: 0.03 };
      // Causal: members answer some deliveries, so that messages depend on each other across senders.
      const c = cluster(order, { faults, env: { GROUP_REPORT: '10', GROUP_REPLY: order === 'causal' ? '10' : '0' } });
      await c.start(IDS);
      for (const id of IDS) c.send(id, 150);
      const expected = order === 'causal' ? 600 + 3 * 60 : 600; // each member answers 15 messages of each of the 3 others
      for (const id of IDS) await c.delivered(id, expected, 90_000); // a multiple of GROUP_REPORT: the last report is the last delivery
      await c.stop();
      const traces = c.traces();
      for (const t of traces) expect(delivered(t).length).toBe(expected);
      expectClean(traces, { order }, `seed ${SEED}`);
    },
    120_000,
  );

  it.each([
    ['fifo', 'b'],
    ['causal', 'c'],
    ['total', 'a'],
    ['sequencer', 'a'],
  ] as const)(
    '%s: kill -9 of %s mid-stream (a is the leader and the sequencer); the others install a view without it and agree on what it sent',
    async (order, victim) => {
      const c = cluster(order);
      await c.start(IDS);
      for (const id of IDS) c.send(id, 150, 2);
      await c.delivered(victim, 150, 60_000);
      await c.kill(victim);
      const rest = IDS.filter((x) => x !== victim);
      await c.waitForView(rest);
      await c.settle(rest, 450);
      await c.stop();
      const traces = c.traces();
      expectClean(traces, { order, crashed: [victim] }, `kill ${victim}`);
      // What the victim sent: the same messages at every survivor (agreement), at least what it delivered itself from others.
      const fromVictim = rest.map((id) => delivered(c.traceOf(id), victim).length);
      expect(new Set(fromVictim).size).toBe(1);
      expect(fromVictim[0]).toBeGreaterThan(0);
    },
    120_000,
  );

  it.each([
    ['causal', 'b'],
    ['total', 'b'],
    ['sequencer', 'a'],
  ] as const)(
    '%s: the originator %s fails mid-multicast (its messages reached c, never d); d delivers them through the view change',
    async (order, victim) => {
      // The sequencer's originator of record is the sequencer itself (a, the founder): its stream is what must be completed.
      const c = cluster(order);
      await c.start(IDS);
      const v = c.get(victim).proc;
      v.write(`cut ${c.get('d').url}\n`);
      await v.waitFor('cut');
      c.send(victim, 5);
      if (order === 'total')
        await new Promise((r) => setTimeout(r, 300)); // no commit without d's ack: nothing is delivered before the view change
      else await c.delivered('c', 5, 30_000);
      await c.kill(victim);
      const rest = IDS.filter((x) => x !== victim);
      await c.waitForView(rest);
      await c.settle(rest, 5);
      await c.stop();
      expectClean(c.traces(), { order, crashed: [victim] }, 'mid-multicast');
      for (const id of rest) expect(delivered(c.traceOf(id), victim).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    },
    90_000,
  );

  it.each([
    ['causal', 'shm'],
    ['total', 'tcp'],
    ['sequencer', 'tls'],
  ] as const)(
    '%s over %s, with a member killed',
    async (order, transport) => {
      const c = cluster(order, { transport });
      await c.start(IDS);
      for (const id of IDS) c.send(id, 100, 2);
      await c.delivered('c', 100, 60_000);
      await c.kill('c');
      await c.waitForView(['a', 'b', 'd']);
      await c.settle(['a', 'b', 'd'], 300);
      await c.stop();
      expectClean(c.traces(), { order, crashed: ['c'] }, transport);
    },
    120_000,
  );
});

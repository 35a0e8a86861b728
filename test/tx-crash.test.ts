// Two-phase commit under real crashes: a partition (participant) or a client
// (coordinator) of the key-value store is killed with SIGKILL at each named
// point of the protocol, its log is cut back to the last fdatasync'ed offset
// (what a power loss leaves), and it is restarted. Then every test checks
// atomicity (both partitions applied the transfer or neither), that a
// commit the client was told about is there, the expected outcome for the
// point (a decision on disk is kept; none is presumed abort), and that the
// money is all there (a fresh transaction reads the total).
import { afterEach, describe, expect, it } from 'vitest';

import { keysOf, TxCluster, type SiteProcess } from './support/tx-cluster.js';
import { within } from './support/helpers.js';

const [K0] = keysOf(0, 2, 1) as [string];
const [K1] = keysOf(1, 2, 1) as [string];

let cluster: TxCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

type Outcome = 'commit' | 'abort' | 'either';

/** Two partitions and a client that created the two accounts (it stays: it reads the total at the end). */
async function setUp(): Promise<{ c: TxCluster; init: SiteProcess }> {
  const c = (cluster = new TxCluster());
  await c.startPartitions(2);
  const init = await c.startClient();
  TxCluster.tell(init, `init 100 ${K0} ${K1}`);
  await init.proc.waitFor(/^init committed$/m);
  await c.quiesce(); // both partitions applied it (the client is told once the decision is durable, before that)
  return { c, init };
}

/** Runs the transfer (or the stale transaction: a NO vote) with `victim` killed at `point`, recovers, checks. */
async function crashAt(role: 'participant' | 'coordinator', point: string, expected: Outcome, path: 'commit' | 'abort'): Promise<void> {
  const { c, init } = await setUp();
  const plan = { seed: 1, points: { [`${role}:${point}`]: { kill: true } } };
  let client: SiteProcess;
  let victim: SiteProcess;
  if (role === 'participant') {
    // On the abort path partition 0 votes NO (its read is stale) and partition 1, which voted YES, is told ABORT.
    victim = c.partitions[path === 'commit' ? 0 : 1]!;
    await c.restart(victim, plan);
    client = init;
  } else {
    client = victim = await c.startClient(plan);
  }
  TxCluster.tell(client, path === 'commit' ? `transfer 1 ${K0} ${K1} 10` : `stale 1 ${K0} ${K1}`);
  const status = await within(20_000, `${victim.name} to die at ${point}`, victim.proc.child.exited);
  expect(status.signal, `${victim.name} was not killed at ${point}: ${victim.proc.output().slice(-1500)}`).toBe('SIGKILL');
  const told = /^tx 1 committed/m.test(client.proc.output());
  await c.restart(victim);
  const entries = await c.quiesce();
  const [a, b] = [Number(entries.get(K0)), Number(entries.get(K1))];
  expect(a + b, 'money was made or lost').toBe(200);
  const committed = path === 'commit' ? a === 90 && b === 110 : a === 99 && b === 101;
  expect(committed || (a === 100 && b === 100), `a torn transaction: ${a}, ${b}`).toBe(true);
  if (told) expect(committed, 'the client was told committed, and the commit is lost').toBe(true);
  if (expected !== 'either') expect(committed ? 'commit' : 'abort').toBe(expected);
  if (role === 'coordinator') {
    // The recovered coordinator finishes everything it owes (every commit acknowledged) and saw no malformed message.
    let last = '';
    for (let n = 0; n < 100 && !/active 0$/.test(last); n++) {
      TxCluster.tell(victim, 'stats');
      await new Promise((resolve) => setTimeout(resolve, 100));
      last = [...victim.proc.output().matchAll(/^stats (.*)$/gm)].pop()?.[1] ?? '';
    }
    expect(last).toMatch(/"malformed":0.*active 0$/);
  }
  // Nothing is left locked: a new transaction (of the client that is not the victim) reads the total.
  TxCluster.tell(init, `total ${K0} ${K1}`);
  expect((await init.proc.waitFor(/^total (.*)$/m))[1]).toBe('200');
}

describe('participant killed at each point, its un-synced writes lost', { timeout: 90_000 }, () => {
  const commitPath: Array<[string, Outcome]> = [
    ['before-prepared-log', 'either'], // the coordinator's resent VOTE_REQ may reach the restarted participant before the vote timeout
    ['after-prepared-log', 'either'], // its logged YES is sent after the restart, or the vote timed out
    ['before-vote-send', 'either'],
    ['after-vote-send', 'either'],
    ['before-commit-log', 'commit'],
    ['after-commit-log', 'commit'],
    ['before-ack-send', 'commit'],
    ['after-ack-send', 'commit'],
  ];
  for (const [point, outcome] of commitPath) it(`${point}: ${outcome}`, () => crashAt('participant', point, outcome, 'commit'));
  for (const point of ['before-abort-log', 'after-abort-log'])
    it(`${point} (a NO elsewhere): abort`, () => crashAt('participant', point, 'abort', 'abort'));
});

describe('coordinator killed at each point, its un-synced writes lost', { timeout: 90_000 }, () => {
  const commitPath: Array<[string, Outcome]> = [
    ['before-precommit-log', 'abort'],
    ['after-precommit-log', 'abort'],
    ['before-vote-request', 'abort'],
    ['after-vote-request', 'abort'],
    ['before-decision-log', 'abort'],
    ['after-decision-log', 'commit'],
    ['before-decision-send', 'commit'],
    ['after-decision-send', 'commit'],
    ['before-end-log', 'commit'],
    ['after-end-log', 'commit'],
  ];
  for (const [point, outcome] of commitPath) it(`${point}: ${outcome}`, () => crashAt('coordinator', point, outcome, 'commit'));
  for (const point of ['before-abort-log', 'after-abort-log'])
    it(`${point} (a NO vote): abort`, () => crashAt('coordinator', point, 'abort', 'abort'));
});

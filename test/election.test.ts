// Leader election (bully and ring) among real processes over UNIX sockets:
// agreement on the highest id, a new leader after kill -9 of the old one,
// concurrent elections, message counts against the theory's bounds, seeded
// link delays, and a broken bully that the agreement check catches.
import { afterEach, describe, expect, it } from 'vitest';

import { electionMessages, type ElectionStats } from '../lib/coord/election/index.js';
import { delay } from '../lib/internal/waiting.js';
import { startFixture, type FixtureProcess } from './support/fixture-process.js';
import { removePath, tempPath } from './support/helpers.js';
import { seeded } from './support/seeded.js';

type Algorithm = 'bully' | 'ring';

interface Member {
  readonly id: number;
  readonly proc: FixtureProcess;
  alive: boolean;
}

const running: Member[] = [];
const paths: string[] = [];

afterEach(async () => {
  await Promise.all(
    running.splice(0).map(async (m) => {
      if (m.alive) {
        m.proc.endInput(); // a clean close first
        await Promise.race([m.proc.child.exited, delay(5_000)]);
      }
      await m.proc.stop();
    }),
  );
  for (const p of paths.splice(0)) removePath(p); // a killed member's socket stays
});

async function cluster(algorithm: Algorithm, ids: number[], env: Record<string, string> = {}): Promise<Member[]> {
  const files = new Map(ids.map((id) => [id, tempPath(`elect-${id}`)]));
  paths.push(...files.values());
  const addresses = new Map(ids.map((id) => [id, `unix:${files.get(id)!}`]));
  const members = ids.map((id) => {
    const peers = ids
      .filter((p) => p !== id)
      .map((p) => `${p}=${addresses.get(p)!}`)
      .join(',');
    const proc = startFixture('election-member.ts', [algorithm, String(id), addresses.get(id)!, peers], {
      stdin: true,
      env: { ...process.env, ...env },
    });
    const m: Member = { id, proc, alive: true };
    running.push(m);
    return m;
  });
  await Promise.all(members.map((m) => m.proc.waitFor(/^ready /m, 20_000)));
  return members;
}

/** The last leader each member reported. */
function reported(members: Member[]): Map<number, number | undefined> {
  return new Map(
    members.map((m) => {
      const all = [...m.proc.output().matchAll(/^leader (\d+)$/gm)];
      return [m.id, all.length === 0 ? undefined : Number(all[all.length - 1]![1])];
    }),
  );
}

/** The agreement check: undefined when every member reports `expected`, else what differs. */
function disagreement(members: Member[], expected: number): string | undefined {
  const r = reported(members);
  const wrong = [...r].filter(([, l]) => l !== expected);
  return wrong.length === 0 ? undefined : `expected leader ${expected}, got ${JSON.stringify([...r])}`;
}

/** Waits (bounded) until every member reports `expected`, then a quiet period after which they still do. */
async function agreeOn(members: Member[], expected: number, ms = 20_000): Promise<void> {
  const end = performance.now() + ms;
  while (disagreement(members, expected) !== undefined && performance.now() < end) await delay(50);
  expect(disagreement(members, expected)).toBeUndefined();
  await delay(600); // more than a heartbeat period or two: nobody moves off it
  expect(disagreement(members, expected)).toBeUndefined();
}

async function stats(m: Member): Promise<ElectionStats> {
  const before = m.proc.output().length;
  m.proc.write('stats\n');
  const re = /^stats (.*)$/m;
  const end = performance.now() + 10_000;
  while (performance.now() < end) {
    const hit = re.exec(m.proc.output().slice(before));
    if (hit) return JSON.parse(hit[1]!) as ElectionStats;
    await delay(20);
  }
  throw new Error(`member ${m.id} printed no stats`);
}

async function electionCount(members: Member[]): Promise<number> {
  return (await Promise.all(members.map(stats))).reduce((s, x) => s + electionMessages(x.sent), 0);
}

async function kill(m: Member): Promise<void> {
  m.alive = false;
  await m.proc.stop();
}

const IDS = [3, 8, 12, 20, 27];
// Slow enough timeouts for a loaded 2-core machine: no election restarts while counting.
const COUNTING = { ELECTION_ANSWER_MS: '2500', ELECTION_ACK_MS: '2500', ELECTION_TIMEOUT_MS: '8000', ELECTION_FAILURE_MS: '2500' };

describe('bully election', () => {
  it('elects the highest id, within (n-1)(n+2) messages when the lowest starts; after kill -9 of it, the survivors agree on the next', async () => {
    const members = await cluster('bully', IDS, COUNTING);
    members[0]!.proc.write('elect\n');
    await agreeOn(members, 27);
    const n = IDS.length;
    const count = await electionCount(members);
    // n(n-1)/2 ELECTION + as many ANSWER + (n-1) COORDINATOR + at most n-1 COORDINATOR answering a late ELECTION
    expect(count).toBeGreaterThanOrEqual(n - 1 + (n - 1));
    expect(count).toBeLessThanOrEqual((n - 1) * (n + 2));
    await kill(members[4]!);
    const survivors = members.slice(0, 4);
    await agreeOn(survivors, 20, 30_000);
  });

  it('concurrent elections started by every member converge on one leader', async () => {
    const members = await cluster('bully', [5, 1, 9, 4]);
    for (const m of members) m.proc.write('elect\n');
    await agreeOn(members, 9);
  });

  it('the broken bully (test-only) fails the agreement check', async () => {
    const members = await cluster('bully', [1, 2, 3, 4], { ELECTION_BROKEN: '1' });
    for (const m of members) m.proc.write('elect\n');
    const end = performance.now() + 10_000;
    while ([...reported(members).values()].some((l) => l === undefined) && performance.now() < end) await delay(50);
    await delay(500);
    expect(disagreement(members, 4)).toBeDefined();
    expect(new Set(reported(members).values()).size).toBeGreaterThan(1);
  });
});

describe('ring election', () => {
  it('elects the highest id in 2n..3n-1 messages from one starter; after kill -9 of it, the survivors agree on the next', async () => {
    const members = await cluster('ring', IDS, COUNTING);
    // The lowest id is the highest's successor: the worst case, 3n-1.
    members[0]!.proc.write('elect\n');
    await agreeOn(members, 27);
    const n = IDS.length;
    const count = await electionCount(members);
    expect(count).toBeGreaterThanOrEqual(2 * n);
    expect(count).toBeLessThanOrEqual(3 * n - 1);
    await kill(members[4]!);
    await agreeOn(members.slice(0, 4), 20, 30_000);
  });

  it('concurrent elections started by every member converge on one leader', async () => {
    const members = await cluster('ring', [5, 1, 9, 4]);
    for (const m of members) m.proc.write('elect\n');
    await agreeOn(members, 9);
  });
});

describe('election under seeded link delays', () => {
  for (const algorithm of ['bully', 'ring'] as const) {
    it(`${algorithm}: concurrent elections and a killed leader still give one leader`, async () => {
      await seeded(`election ${algorithm} delays`, async (seed) => {
        const plan = JSON.stringify({ seed, delay: 0.5, delayMs: [0, 60] });
        const members = await cluster(algorithm, [2, 6, 7, 11], { ELECTION_FAULTS: plan });
        for (const m of members.slice(0, 3)) m.proc.write('elect\n');
        await agreeOn(members, 11);
        await kill(members[3]!);
        await agreeOn(members.slice(0, 3), 7, 30_000);
      });
    });
  }
});

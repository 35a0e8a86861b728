// Distributed mutual exclusion (central coordinator, token ring, Ricart-Agrawala, Suzuki-Kasami)
// among real processes over UNIX sockets, with seeded link delays: mutual exclusion proven twice
// (on a shared O_APPEND log of entries and exits, and by happens-before on the recorded traces),
// no starvation, bounded waiting, rising fences, each algorithm's message count per critical
// section, its behaviour under kill -9 of a member, a lease and SIGSTOP against a fence gate, and a
// broken Ricart-Agrawala that the checker catches.
import { readFileSync, writeFileSync } from 'node:fs';

import { afterEach, describe, expect, it } from 'vitest';

import { decodeDmutex, encodeDmutex, Kind } from '../lib/coord/dmutex/wire.js';

import { Trace, TraceRecorder, readTrace } from '../lib/coord/causality/index.js';
import {
  FenceGate,
  checkCriticalSections,
  joinMutex,
  type DistributedMutex,
  describeMutexViolations,
  mutexMessages,
  type DistributedMutexStats,
  type MutexAlgorithm,
} from '../lib/coord/dmutex/index.js';
import { delay } from '../lib/internal/waiting.js';
import { startFixture, type FixtureProcess } from './support/fixture-process.js';
import { removePath, tempPath } from './support/helpers.js';
import { seeded } from './support/seeded.js';

interface Member {
  readonly id: number;
  readonly proc: FixtureProcess;
  readonly trace: string;
  alive: boolean;
}

interface Cluster {
  readonly members: Member[];
  readonly log: string;
}

const running: Member[] = [];
const paths: string[] = [];
let tags = 0;

afterEach(async () => {
  await Promise.all(
    running.splice(0).map(async (m) => {
      if (m.alive) {
        process.kill(m.proc.child.pid!, 'SIGCONT'); // a stopped member must be able to close
        m.proc.endInput();
        await Promise.race([m.proc.child.exited, delay(5_000)]);
      }
      await m.proc.stop();
    }),
  );
  for (const p of paths.splice(0)) removePath(p);
});

async function cluster(algorithm: MutexAlgorithm, ids: number[], env: Record<string, string> = {}): Promise<Cluster> {
  const log = tempPath('dmutex-log');
  writeFileSync(log, '', { mode: 0o600 });
  paths.push(log);
  const files = new Map(ids.map((id) => [id, tempPath(`dmutex-${id}`)]));
  paths.push(...files.values());
  const members = ids.map((id) => {
    const peers = ids
      .filter((p) => p !== id)
      .map((p) => `${p}=unix:${files.get(p)!}`)
      .join(',');
    const trace = tempPath(`dmutex-trace-${id}`);
    paths.push(trace);
    const proc = startFixture('dmutex-member.ts', [algorithm, String(id), `unix:${files.get(id)!}`, peers], {
      stdin: true,
      env: { ...process.env, DMUTEX_LOG: log, DMUTEX_TRACE: trace, ...env },
    });
    const m: Member = { id, proc, trace, alive: true };
    running.push(m);
    return m;
  });
  await Promise.all(members.map((m) => m.proc.waitFor(/^ready /m, 20_000)));
  return { members, log };
}

/** Sends `command` with a fresh tag; resolves with the rest of the reply line that matches `reply <tag>`, or throws on "error <tag>". */
async function ask(m: Member, command: string, reply: string, ms = 60_000, arg = ''): Promise<string> {
  const tag = `t${++tags}`;
  m.proc.write(`${command} ${tag}${arg === '' ? '' : ` ${arg}`}\n`);
  const hit = await m.proc.waitFor(new RegExp(`^(${reply}|error) ${tag}(.*)$`, 'm'), ms);
  if (hit[1] === 'error') throw new Error(`member ${m.id}: ${command} failed:${hit[2]}`);
  return hit[2]!.trim();
}

async function stats(m: Member): Promise<DistributedMutexStats> {
  return JSON.parse(await ask(m, 'stats', 'stats', 10_000)) as DistributedMutexStats;
}

async function sum(members: Member[]): Promise<{ sent: DistributedMutexStats['sent']; entries: number; all: DistributedMutexStats[] }> {
  const all = await Promise.all(members.map(stats));
  const sent = { ...all[0]!.sent };
  for (const s of all.slice(1)) for (const k of Object.keys(sent) as (keyof typeof sent)[]) sent[k] += s.sent[k];
  return { sent, entries: all.reduce((n, s) => n + s.entries, 0), all };
}

async function traces(members: Member[]): Promise<Trace> {
  await Promise.all(members.map((m) => ask(m, 'trace', 'traced', 10_000)));
  return Trace.merge(...(await Promise.all(members.map((m) => readTrace(m.trace)))));
}

/** The shared log's check: entries and exits alternate (one holder at a time), fences rise, each write passes a fence gate. */
function checkLog(log: string): { sections: number; problems: string[]; refused: number } {
  const gate = new FenceGate();
  const problems: string[] = [];
  let inside: string | undefined;
  let sections = 0;
  let last = -1;
  for (const line of readFileSync(log, 'utf8').split('\n').filter(Boolean)) {
    const [what, id, fence] = line.split(' ');
    const f = Number(fence);
    if (what === 'enter') {
      if (!gate.admit(f)) {
        problems.push(`write refused: member ${id} with stale fence ${f} after ${gate.highest}`);
        continue;
      }
      if (inside !== undefined) problems.push(`member ${id} entered (fence ${f}) while member ${inside} was inside`);
      if (f <= last) problems.push(`fence ${f} of member ${id} does not rise after ${last}`);
      inside = id;
      last = f;
      sections++;
    } else if (what === 'exit') {
      if (inside !== id) problems.push(`member ${id} left a section it was not in`);
      inside = undefined;
    }
  }
  return { sections, problems, refused: gate.refused };
}

async function runAll(members: Member[], k: number): Promise<void> {
  await Promise.all(members.map((m) => ask(m, 'run', 'done', 90_000, String(k))));
}

async function kill(m: Member): Promise<void> {
  m.alive = false;
  await m.proc.stop();
}

const ALGORITHMS: readonly MutexAlgorithm[] = ['central', 'token-ring', 'ricart-agrawala', 'suzuki-kasami'];
const IDS = [4, 9, 15, 22];
const K = 6;

describe.each(ALGORITHMS)('%s under seeded link delays', (algorithm) => {
  it(`${K} critical sections per member: mutual exclusion, rising fences, no starvation, bounded waiting, the theory's message count`, async () => {
    await seeded(`dmutex ${algorithm}`, async (seed) => {
      const plan = JSON.stringify({ seed, delay: 0.5, delayMs: [0, 8] });
      const { members, log } = await cluster(algorithm, IDS, { DMUTEX_FAULTS: plan, DMUTEX_IDLE_MS: '5', DMUTEX_HOLD_MS: '2' });
      const n = IDS.length;
      const before = await sum(members);
      await runAll(members, K);
      const after = await sum(members);
      const entries = after.entries - before.entries;
      expect(entries).toBe(n * K);

      const file = checkLog(log);
      expect(file.problems).toEqual([]);
      expect(file.sections).toBe(n * K);

      const check = checkCriticalSections(await traces(members), { maxOvertakes: n - 1 });
      expect(describeMutexViolations(check)).toBe('');
      expect(check.sections.length).toBe(n * K);

      const messages = mutexMessages(after.sent) - mutexMessages(before.sent);
      if (algorithm === 'ricart-agrawala') expect(messages).toBe(2 * (n - 1) * entries);
      else if (algorithm === 'central') {
        const coordinator = after.all[0]!; // the lowest id
        expect(coordinator.entries).toBe(K);
        expect(messages).toBe(3 * (entries - K)); // the coordinator's own cost nothing
      } else if (algorithm === 'suzuki-kasami') {
        for (const s of after.all) expect(s.sent.REQUEST % (n - 1)).toBe(0); // every request is a broadcast
        expect(after.sent.TOKEN).toBeLessThanOrEqual(entries);
        expect(messages).toBeLessThanOrEqual(n * entries);
      } else {
        // Token ring: between 1 and N token passes per entry while everyone waits (and the idle ring's passes around the run).
        const tokens = after.sent.TOKEN - before.sent.TOKEN;
        expect(tokens).toBeGreaterThanOrEqual(entries - 1);
        expect(after.sent.REQUEST + after.sent.REPLY + after.sent.GRANT).toBe(0);
      }
    });
  });
});

describe('crashed members', () => {
  it('central: kill -9 of the holder hands the lock to the next member with a higher fence', async () => {
    const { members, log } = await cluster('central', [1, 2, 3]);
    const fence = Number(await ask(members[1]!, 'hold', 'holding'));
    const waiting = ask(members[2]!, 'run', 'done', 30_000, '1');
    await delay(200);
    await kill(members[1]!);
    await waiting;
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines[0]).toMatch(/^enter 3 (\d+)$/);
    expect(Number(lines[0]!.split(' ')[2])).toBeGreaterThan(fence);
  });

  it('central: kill -9 of the coordinator stops the mutex: acquire() times out (ETIMEDOUT)', async () => {
    const { members } = await cluster('central', [1, 2, 3], { DMUTEX_TIMEOUT_MS: '1500' });
    await ask(members[2]!, 'run', 'done', 10_000, '1');
    await kill(members[0]!);
    await expect(ask(members[2]!, 'run', 'done', 10_000, '1')).rejects.toThrow(/ETIMEDOUT/);
  });

  it('central with a lease: a SIGSTOPped holder loses the lock, hears REVOKE when it wakes, and its stale write is refused by the fence gate', async () => {
    const { members, log } = await cluster('central', [1, 2, 3], { DMUTEX_LEASE_MS: '300' });
    const stale = Number(await ask(members[1]!, 'hold', 'holding'));
    process.kill(members[1]!.proc.child.pid!, 'SIGSTOP');
    await ask(members[2]!, 'run', 'done', 10_000, '1'); // granted once the lease ran out
    process.kill(members[1]!.proc.child.pid!, 'SIGCONT');
    await members[1]!.proc.waitFor(`revoked ${stale}`, 10_000);
    await ask(members[1]!, 'write', 'wrote'); // the stale holder writes anyway
    const file = checkLog(log);
    expect(file.refused).toBe(1);
    expect(file.problems).toEqual([`write refused: member 2 with stale fence ${stale} after ${file.sections + stale}`]);
  });

  it('token ring: kill -9 of a member that does not hold the token: the ring skips it', async () => {
    const { members, log } = await cluster('token-ring', [1, 2, 3, 4], { DMUTEX_IDLE_MS: '5' });
    await runAll(members, 2);
    await kill(members[2]!);
    const live = [members[0]!, members[1]!, members[3]!];
    await runAll(live, 3);
    const file = checkLog(log);
    expect(file.problems).toEqual([]);
    expect(file.sections).toBe(4 * 2 + 3 * 3);
  }, 60_000); // four processes and a kill: past the default 20 s beside the rest of the suite (seen once)

  it('Ricart-Agrawala: kill -9 of any member blocks the others: acquire() times out (ETIMEDOUT)', async () => {
    const { members } = await cluster('ricart-agrawala', [1, 2, 3], { DMUTEX_TIMEOUT_MS: '1500' });
    await runAll(members, 1);
    await kill(members[1]!);
    await expect(ask(members[0]!, 'run', 'done', 10_000, '1')).rejects.toThrow(/ETIMEDOUT/);
  });

  it('Suzuki-Kasami: a member killed while queued for the token is skipped, and the token goes on to the next', async () => {
    const { members, log } = await cluster('suzuki-kasami', [1, 2, 3]);
    await ask(members[0]!, 'hold', 'holding'); // member 1 makes the token and holds it
    void ask(members[1]!, 'run', 'done', 10_000, '1').catch(() => 'killed');
    await delay(100); // member 2's REQUEST reaches the holder first
    const next = ask(members[2]!, 'run', 'done', 10_000, '1');
    await delay(100);
    await kill(members[1]!);
    await ask(members[0]!, 'free', 'freed'); // the token is handed to member 2 (dead), comes back, goes to 3
    await next;
    expect((await stats(members[0]!)).sent.TOKEN).toBe(2); // to member 2 (its link down: back), then to 3
    const file = checkLog(log);
    expect(file.problems).toEqual([]);
    expect(readFileSync(log, 'utf8')).toMatch(/^enter 3 /m);
  });
});

describe('the checker', () => {
  it('on a hand-made trace: finds overtaking beyond the bound, a fence that does not rise, an unordered pair and a request never granted', () => {
    const a = new TraceRecorder('a');
    const b = new TraceRecorder('b');
    a.annotate('cs:request');
    b.receive(a.send().stamp); // b hears of a's request...
    for (let i = 1; i <= 2; i++) {
      b.annotate('cs:request');
      b.annotate('cs:enter', { fence: i }); // ...and enters twice before it
      b.annotate('cs:exit', { fence: i });
    }
    a.receive(b.send().stamp);
    a.annotate('cs:enter', { fence: 2 }); // ordered after b's, but its fence does not rise
    a.annotate('cs:exit', { fence: 2 });
    b.annotate('cs:request');
    b.annotate('cs:enter', { fence: 3 }); // not ordered after a's section: both could be inside
    b.annotate('cs:exit', { fence: 3 });
    a.annotate('cs:request'); // never granted
    const trace = Trace.merge(a.toTrace(), b.toTrace());
    const check = checkCriticalSections(trace, { maxOvertakes: 1 });
    expect(check.violations.map((v) => v.property).sort()).toEqual(['bounded-waiting', 'exclusion', 'fence', 'starvation']);
    expect(check.sections.find((s) => s.process === 'a')!.overtakes).toBe(2);
    expect(
      checkCriticalSections(trace, { maxOvertakes: 2, crashed: ['a'] })
        .violations.map((v) => v.property)
        .sort(),
    ).toEqual(['exclusion', 'fence']);
  });

  it('a member entering again inside its own section is an exclusion violation; a revoked holding is judged by its revoke', () => {
    const a = new TraceRecorder('a');
    a.annotate('cs:enter', { fence: 1 });
    a.annotate('cs:enter', { fence: 2 });
    a.annotate('cs:exit', { fence: 2 });
    expect(checkCriticalSections(Trace.merge(a.toTrace())).violations.map((v) => v.property)).toContain('exclusion');
    // A lease: c grants fence 1 to x (late), revokes it, grants fence 2 to y; x enters after all. The verdict does not
    // depend on how many unrelated events x has.
    for (const noise of [0, 10]) {
      const c = new TraceRecorder('c');
      const x = new TraceRecorder('x');
      const y = new TraceRecorder('y');
      const grant1 = c.send().stamp;
      c.annotate('cs:revoke', { fence: 1 });
      y.receive(c.send().stamp);
      y.annotate('cs:enter', { fence: 2 });
      y.annotate('cs:exit', { fence: 2 });
      for (let i = 0; i < noise; i++) x.local();
      x.receive(grant1);
      x.annotate('cs:enter', { fence: 1 }); // stale: its writes are the fence gate's to refuse
      x.annotate('cs:exit', { fence: 1 });
      expect(checkCriticalSections(Trace.merge(c.toTrace(), x.toTrace(), y.toTrace())).violations).toEqual([]);
    }
  });

  it('a broken Ricart-Agrawala (replies from inside its critical section) fails mutual exclusion', async () => {
    const { members, log } = await cluster('ricart-agrawala', [1, 2, 3], { DMUTEX_BROKEN: '1', DMUTEX_HOLD_MS: '5' });
    await runAll(members, 4);
    const check = checkCriticalSections(await traces(members));
    expect(check.violations.filter((v) => v.property === 'exclusion').length).toBeGreaterThan(0);
    expect(checkLog(log).problems.length).toBeGreaterThan(0);
  });
});

describe('the API, in one process', () => {
  async function pair(algorithm: MutexAlgorithm): Promise<DistributedMutex[]> {
    const a = tempPath('dm-a');
    const b = tempPath('dm-b');
    paths.push(a, b);
    return Promise.all([
      joinMutex({ algorithm, id: 1, listen: `unix:${a}`, peers: [{ id: 2, address: `unix:${b}` }] }),
      joinMutex({ algorithm, id: 2, listen: `unix:${b}`, peers: [{ id: 1, address: `unix:${a}` }] }),
    ]);
  }

  it.each(ALGORITHMS)(
    '%s: a second acquire waits, times out (ETIMEDOUT) or aborts, and gets the lock after release; close() rejects waiters',
    async (algorithm) => {
      const [a, b] = await pair(algorithm);
      try {
        const g = await a!.acquire({ timeoutMs: 5_000 });
        expect(a!.holding).toBe(true);
        await expect(b!.acquire({ timeoutMs: 100 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
        await expect(b!.acquire({ signal: AbortSignal.timeout(50) })).rejects.toMatchObject({ name: 'AbortError' });
        const next = b!.acquire({ timeoutMs: 5_000 });
        g.release();
        g.release(); // again: a no-op
        const h = await next;
        expect(h.fence).toBeGreaterThan(g.fence);
        h[Symbol.dispose]();
        expect(h.released).toBe(true);
        const g2 = await b!.acquire({ timeoutMs: 5_000 });
        const pending = expect(a!.acquire()).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
        await a!.close();
        await pending;
        await expect(a!.acquire()).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
        g2.release();
      } finally {
        await Promise.all([a!.close(), b!.close()]);
      }
    },
  );

  it.each(['token-ring', 'suzuki-kasami'] as const)('%s: close() of the member holding the token hands it on', async (algorithm) => {
    const [a, b] = await pair(algorithm);
    try {
      const g = await a!.acquire({ timeoutMs: 5_000 });
      await a!.close(); // inside: released first, then the token goes to b
      expect(g.signal.aborted).toBe(true);
      const h = await b!.acquire({ timeoutMs: 3_000 });
      expect(h.fence).toBeGreaterThan(g.fence);
      h.release();
    } finally {
      await Promise.all([a!.close(), b!.close()]);
    }
  });

  it.each(['central', 'ricart-agrawala', 'suzuki-kasami'] as const)(
    '%s: a request made before the other member listens is sent again once it does',
    async (algorithm) => {
      const [first, second] = [tempPath('dm-early'), tempPath('dm-late')];
      paths.push(first, second);
      // Member 2 asks first; member 1 (the coordinator, the token's first holder) is not listening yet.
      const early = await joinMutex({
        algorithm,
        id: 2,
        listen: `unix:${first}`,
        peers: [{ id: 1, address: `unix:${second}` }],
        retryMs: 50,
      });
      const asked = early.acquire({ timeoutMs: 5_000 });
      await delay(300);
      const late = await joinMutex({ algorithm, id: 1, listen: `unix:${second}`, peers: [{ id: 2, address: `unix:${first}` }] });
      try {
        const g = await asked;
        expect(early.stats.sent.REQUEST).toBeGreaterThan(1); // sent again
        g.release();
        (await late.acquire({ timeoutMs: 5_000 })).release();
      } finally {
        await Promise.all([early.close(), late.close()]);
      }
    },
  );

  it('Suzuki-Kasami refuses a maxMessageSize its token cannot fit in', async () => {
    const peers = Array.from({ length: 19 }, (_, i) => ({ id: i + 2, address: `unix:/nonexistent/${i}` }));
    await expect(
      joinMutex({ algorithm: 'suzuki-kasami', id: 1, listen: `unix:${tempPath('dm-sz')}`, peers, maxMessageSize: 256 }),
    ).rejects.toThrow(/options\.maxMessageSize/);
  });

  it('bad options throw TypeError/RangeError naming the option', async () => {
    const base = { algorithm: 'central' as const, id: 1, listen: `unix:${tempPath('dm-x')}`, peers: [] };
    await expect(joinMutex({ ...base, algorithm: 'paxos' as MutexAlgorithm })).rejects.toThrow(/options\.algorithm/);
    await expect(joinMutex({ ...base, id: -1 })).rejects.toThrow(RangeError);
    await expect(joinMutex({ ...base, peers: [{ id: 1, address: 'unix:/x' }] })).rejects.toThrow(/options\.peers\[0\]\.id/);
    await expect(joinMutex({ ...base, coordinator: 7 })).rejects.toThrow(/options\.coordinator/);
    await expect(joinMutex({ ...base, leaseMs: 0 })).rejects.toThrow(/options\.leaseMs/);
    await expect(joinMutex({ ...base, recorder: {} as never })).rejects.toThrow(/options\.recorder/);
  });

  it('the wire: every malformed or oversized message is refused, a token round-trips', () => {
    const token = {
      served: new Map([
        [1, 3],
        [2, 5],
      ]),
      queue: [2, 1],
    };
    const m = decodeDmutex(encodeDmutex(Kind.TOKEN, 7, 12, 3, token))!;
    expect(m).toMatchObject({ kind: Kind.TOKEN, kindName: 'TOKEN', from: 7, value: 12, seq: 3 });
    expect([...m.token!.served]).toEqual([
      [1, 3],
      [2, 5],
    ]);
    expect(m.token!.queue).toEqual([2, 1]);
    const good = encodeDmutex(Kind.REQUEST, 1, 5);
    expect(decodeDmutex(good.subarray(0, 16))).toBeUndefined(); // short
    const bad = (edit: (v: DataView) => void, bytes = good): unknown => {
      const b = bytes.slice();
      edit(new DataView(b.buffer));
      return decodeDmutex(b);
    };
    expect(bad((v) => v.setUint8(0, 9))).toBeUndefined(); // kind
    expect(bad((v) => v.setUint32(1, 0x80000000))).toBeUndefined(); // id
    expect(bad((v) => v.setFloat64(5, -1))).toBeUndefined(); // value
    expect(bad((v) => v.setFloat64(5, Number.NaN))).toBeUndefined();
    expect(decodeDmutex(new Uint8Array([...good, 0]))).toBeUndefined(); // trailing bytes on a REQUEST
    const t = encodeDmutex(Kind.TOKEN, 1, 1, 1, token);
    expect(bad((v) => v.setUint16(17, 60_000), t)).toBeUndefined(); // a count beyond the bytes
    expect(bad((v) => v.setUint16(17 + 2 + 24, 3), t)).toBeUndefined(); // queue count beyond the bytes
    expect(bad((v) => v.setUint32(17 + 2 + 24 + 2 + 4, 2), t)).toBeUndefined(); // a repeated queue id
    expect(decodeDmutex(t.subarray(0, t.length - 1))).toBeUndefined();
  });

  it('FenceGate admits rising or equal fences and refuses a lower one', () => {
    const g = new FenceGate();
    expect(g.admit(3)).toBe(true);
    expect(g.admit(3)).toBe(true);
    expect(g.admit(2)).toBe(false);
    expect(g.admit(9)).toBe(true);
    expect([g.highest, g.refused]).toEqual([9, 1]);
    expect(() => g.admit(-1)).toThrow(RangeError);
  });
});

// The slides' two-phase commit example as a space-time diagram: one
// coordinator and three participants (key-value partitions), each its own
// process with its own log, every message recorded with vector clocks
// (test/fixtures/tx-traced-site.ts). One transaction commits, one aborts (a
// participant's read is stale: it votes NO). The processes' traces are merged
// and the diagram's shape checked: phase 1, a VOTE_REQ to each participant
// before its vote; phase 2, the decision sent only after the votes it rests
// on were received, and the ACKs after the COMMITs. Then the HTML diagram.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { readTrace, toSpaceTimeHtml, Trace, type TraceEvent } from '../lib/index.js';
import { startFixture, type FixtureProcess } from './support/fixture-process.js';
import { sleep } from './support/helpers.js';
import { keysOf } from './support/tx-cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'pipc-tx-trace-'));
const PARTICIPANTS = ['p1', 'p2', 'p3'];
const KEYS = PARTICIPANTS.map((_, i) => keysOf(i, 3, 1)[0]!); // one key in each partition
const procs: FixtureProcess[] = [];

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  rmSync(dir, { recursive: true, force: true });
});

function start(role: string, name: string, peers = ''): FixtureProcess {
  const p = startFixture('tx-traced-site.ts', [role, name, join(dir, `${name}.log`), `unix:${join(dir, `${name}.sock`)}`, peers], {
    stdin: true,
  });
  procs.push(p);
  return p;
}

let traces = 0;
/** Every process's trace, merged: asked again (bounded) until every message sent was received. */
async function mergedTrace(all: Map<string, FixtureProcess>): Promise<Trace> {
  for (let attempt = 0; ; attempt++) {
    const files = await Promise.all(
      [...all].map(async ([name, p]) => {
        const file = join(dir, `${name}.${++traces}.trace`);
        const before = (p.output().match(/^trace \d+$/gm) ?? []).length;
        p.write(`trace ${file}\n`);
        for (let i = 0; i < 400 && (p.output().match(/^trace \d+$/gm) ?? []).length === before; i++) await sleep(25);
        return file;
      }),
    );
    const trace = Trace.merge(...(await Promise.all(files.map((f) => readTrace(f)))));
    const unreceived = [...trace.messages().values()].filter((m) => m.receives.length === 0);
    if (unreceived.length === 0) return trace;
    if (attempt >= 40) throw new Error(`messages never received: ${unreceived.map((m) => m.id).join(', ')}`);
    await sleep(100);
  }
}

describe('two-phase commit traced as a space-time diagram', { timeout: 120_000 }, () => {
  it('phase 1 and phase 2 of a committed and an aborted transaction, across 4 processes', async () => {
    const participants = new Map(PARTICIPANTS.map((n) => [n, start('participant', n)]));
    const urls = await Promise.all([...participants.values()].map(async (p) => (await p.waitFor(/^ready (\S+)$/m, 20_000))[1]!));
    const coordinator = start('coordinator', 'coordinator', PARTICIPANTS.map((n, i) => `${n}=${urls[i]}`).join(','));
    await coordinator.waitFor(/^ready /m, 20_000);

    coordinator.write(`commit ${KEYS.join(' ')}\n`);
    const committed = (await coordinator.waitFor(/^committed (\S+)$/m, 30_000))[1]!;
    coordinator.write(`stale ${KEYS.join(' ')}\n`);
    const aborted = (await coordinator.waitFor(/^aborted (\S+) (.*)$/m, 30_000))[1]!;
    expect(coordinator.output()).toMatch(/^aborted \S+ unix:\S+\/p1\.sock voted NO: .*changed since it was read$/m);

    const trace = await mergedTrace(new Map([['coordinator', coordinator], ...participants]));
    expect(trace.processes).toEqual(['coordinator', ...PARTICIPANTS]);
    const of = (tx: string, process: string, kind: 'send' | 'receive', label: string): TraceEvent[] =>
      trace.eventsOf(process).filter((e) => e.kind === kind && e.label === label && (e.data as { tx?: string } | undefined)?.tx === tx);
    // A message is resent only when its answer is 2 s late (retryMs): on a loaded machine there may be two; the first counts.
    const first = (events: TraceEvent[], what: string): TraceEvent => {
      expect(events.length, what).toBeGreaterThan(0);
      return events[0]!;
    };
    const one = (events: TraceEvent[], what: string): TraceEvent => {
      expect(events, what).toHaveLength(1);
      return events[0]!;
    };
    const sendOf = (receive: TraceEvent): TraceEvent => {
      const s = trace.event(receive.message!);
      expect(s?.kind).toBe('send');
      return s!;
    };

    /**
     * Phase 1 at each participant: the coordinator's VOTE_REQ, received, then the vote sent (`votes[p]`;
     * `YES?`: YES, or none when the ABORT came while it was preparing); returns the votes' receives at the coordinator.
     */
    const phase1 = (tx: string, votes: Record<string, 'YES' | 'NO' | 'YES?'>): Map<string, TraceEvent> => {
      const received = new Map<string, TraceEvent>();
      for (const p of PARTICIPANTS) {
        const req = first(of(tx, p, 'receive', 'VOTE_REQ'), `${p} receives a VOTE_REQ of ${tx}`);
        const reqSend = sendOf(req);
        expect([reqSend.process, reqSend.label, reqSend.peer]).toEqual(['coordinator', 'VOTE_REQ', p]);
        const expected = votes[p] === 'NO' ? 'NO' : 'YES';
        expect(of(tx, p, 'send', `VOTE ${expected === 'NO' ? 'YES' : 'NO'}`), `${p} never votes against ${expected}`).toEqual([]);
        const sent = of(tx, p, 'send', `VOTE ${expected}`);
        if (votes[p] === 'YES?' && sent.length === 0) continue;
        const vote = first(sent, `${p} votes ${expected} on ${tx}`);
        expect(trace.happenedBefore(req, vote), `${p}: VOTE_REQ received before its vote`).toBe(true);
        const voteReceive = one(
          of(tx, 'coordinator', 'receive', `VOTE ${expected}`).filter((e) => e.message === vote.id),
          `${p}'s vote received`,
        );
        received.set(p, voteReceive);
      }
      // The participants do not talk to each other: their votes are concurrent.
      const voteSends = [...received.values()].map(sendOf);
      for (const a of voteSends) for (const b of voteSends) if (a !== b) expect(trace.concurrent(a, b)).toBe(true);
      return received;
    };

    // The committed transaction: three YES, then COMMIT to each, each acknowledged.
    const votes1 = phase1(committed, { p1: 'YES', p2: 'YES', p3: 'YES' });
    const commits = of(committed, 'coordinator', 'send', 'COMMIT');
    expect(commits.map((e) => e.peer).sort()).toEqual(PARTICIPANTS);
    for (const c of commits) for (const v of votes1.values()) expect(trace.happenedBefore(v, c), `${v.id} -> ${c.id}`).toBe(true);
    for (const p of PARTICIPANTS) {
      const received = first(of(committed, p, 'receive', 'COMMIT'), `${p} receives COMMIT`);
      const ack = first(of(committed, p, 'send', 'ACK'), `${p} acknowledges`);
      expect(trace.happenedBefore(received, ack), `${p}: ACK after COMMIT`).toBe(true);
      expect(
        trace
          .messages()
          .get(ack.id)!
          .receives.map((e) => e.process),
      ).toEqual(['coordinator']);
    }
    expect(of(committed, 'coordinator', 'send', 'ABORT')).toEqual([]);

    // The aborted one: p1 votes NO (its read is stale); the coordinator aborts at once (it does not wait for the
    // other votes: p2 and p3 may get the ABORT while they prepare, and then never vote); ABORT goes to everyone
    // after the NO arrived, after each one's VOTE_REQ; no COMMIT, no ACK.
    const votes2 = phase1(aborted, { p1: 'NO', p2: 'YES?', p3: 'YES?' });
    const no = votes2.get('p1')!;
    expect((sendOf(no).data as { why?: string }).why).toMatch(/changed since it was read/);
    const aborts = of(aborted, 'coordinator', 'send', 'ABORT');
    for (const p of PARTICIPANTS)
      expect(
        aborts.some((a) => a.peer === p && trace.happenedBefore(no, a)),
        `ABORT to ${p} after the NO`,
      ).toBe(true);
    for (const a of aborts) expect(trace.happenedBefore(no, a)).toBe(true);
    for (const p of PARTICIPANTS) {
      const received = first(of(aborted, p, 'receive', 'ABORT'), `${p} receives ABORT`);
      expect(trace.happenedBefore(first(of(aborted, p, 'receive', 'VOTE_REQ'), 'VOTE_REQ'), received)).toBe(true);
    }
    expect(of(aborted, 'coordinator', 'send', 'COMMIT')).toEqual([]);
    for (const p of PARTICIPANTS) expect(of(aborted, p, 'send', 'ACK')).toEqual([]);

    // The diagram: one page with the four processes and the messages by name.
    const html = toSpaceTimeHtml(trace, { title: 'Two-phase commit' });
    const file = join(dir, '2pc.html');
    writeFileSync(file, html);
    const page = readFileSync(file, 'utf8');
    const data = JSON.parse(/<script type="application\/json" id="trace-data">(.*)<\/script>/.exec(page)![1]!) as {
      processes: string[];
      events: Array<{ text: string }>;
    };
    expect(data.processes).toEqual(['coordinator', 'p1', 'p2', 'p3']);
    expect(data.events).toHaveLength(trace.events.length);
    for (const name of ['VOTE_REQ', 'VOTE YES', 'VOTE NO', 'COMMIT', 'ABORT', 'ACK', 'REQUEST', 'REPLY'])
      expect(
        data.events.some((e) => e.text.includes(`: ${name}`)),
        name,
      ).toBe(true);
    expect(page).not.toContain('id="violations"');
  });
});

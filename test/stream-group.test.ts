// JetStream groups (lib/coord/group/stream-group.ts): total order from a
// replicated stream on a real 3-node nats-server cluster with JetStream
// (test/support/nats-cluster.ts), members in processes of their own
// (test/fixtures/stream-group-member.ts); a node killed mid-stream, a member
// killed and started again under its id; the group checkers on every
// member's trace; the delivery rule (stream-order.ts) on streams a retry
// or a crash can leave; hostile and misconfigured streams.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

import { checkGroupTraces, describeViolations, joinStreamGroup, readGroupTrace, type GroupEvent } from '../lib/index.js';
import { StreamOrder, STREAM_PIPELINE, type StreamEntry } from '../lib/coord/group/stream-order.js';
import { startFixture, type FixtureProcess } from './support/fixture-process.js';
import { within } from './support/helpers.js';
import { natsUnavailable, startNatsCluster, type NatsCluster } from './support/nats-cluster.js';

const unavailable = natsUnavailable();
if (unavailable !== undefined) process.stderr.write(`JetStream group tests skipped: ${unavailable}\n`);

const delivered = (t: readonly GroupEvent[]): string[] => t.filter((e) => e.kind === 'deliver').map((e) => e.message!);

describe.skipIf(unavailable !== undefined)('JetStream groups on a 3-node cluster', () => {
  let cluster: NatsCluster;
  let dir: string;
  const procs: FixtureProcess[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pipc-stream-group-'));
    cluster = await startNatsCluster(3, { jetstream: true });
  }, 30_000);
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function member(group: string, id: string, members: readonly string[], trace = join(dir, `${group}-${id}.trace`)): FixtureProcess {
    const p = startFixture('stream-group-member.ts', [cluster.servers, group, id, members.join(',')], {
      stdin: true,
      env: { STREAM_TRACE: trace, STREAM_REPORT: '100' },
    });
    procs.push(p);
    return p;
  }

  async function finish(p: FixtureProcess): Promise<void> {
    p.endInput();
    const exit = await Promise.race([p.child.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))]);
    await p.stop();
    expect(exit).toMatchObject({ code: 0 });
  }

  it('three members multicast at once and the stream leader is killed mid-stream: every acknowledged message is delivered once, in one order, everywhere; the checkers find nothing', async () => {
    const ids = ['a', 'b', 'c'];
    const ms = ids.map((id) => member('kill', id, ids));
    await Promise.all(ms.map((p) => p.waitFor('ready', 30_000)));
    for (const p of ms) p.write('send 600 1\n');
    await ms[0]!.waitFor('acked 200', 30_000);
    // The stream's leader: the node that orders the messages (and perhaps some member's server too).
    const nc = await connect({ servers: [...cluster.nodes] });
    const leader = (await (await jetstreamManager(nc)).streams.info('PIPC_kill')).cluster!.leader!;
    await nc.close();
    const victim = cluster.nodes.findIndex((_, i) => leader === `pipc-${i}`);
    expect(victim).toBeGreaterThanOrEqual(0);
    cluster.kill(victim);
    for (const p of ms) await p.waitFor('sent 600', 90_000); // every multicast acknowledged, after retries across the fail-over
    await cluster.restart(victim); // it rejoins and catches up: the next tests have three nodes again
    for (const p of ms) await p.waitFor('delivered 1800', 60_000);
    for (const p of ms) await finish(p);
    const traces = ids.map((id) => readGroupTrace(join(dir, `kill-${id}.trace`)));
    const v = checkGroupTraces(traces, { order: 'total' });
    expect(v, describeViolations(v)).toEqual([]);
    const orders = traces.map(delivered);
    expect(orders[0]).toHaveLength(1800);
    for (const o of orders) expect(o).toEqual(orders[0]);
    process.stdout.write(`stream group, leader ${leader} killed: ${ms.map((p) => /stats (.*)/.exec(p.output())?.[1]).join(' ')}\n`);
  }, 180_000);

  it('a member killed with kill -9 and started again under its id resumes its numbering: its new messages reach everyone, after its old ones, nothing twice', async () => {
    const ids = ['p', 'q'];
    const [p, q] = ids.map((id) => member('restart', id, ids));
    await Promise.all([p!.waitFor('ready', 30_000), q!.waitFor('ready', 30_000)]);
    p!.write('send 300\n');
    await p!.waitFor('acked 100', 30_000);
    await p!.stop(); // SIGKILL, mid-stream
    const again = member('restart', 'p', ids, join(dir, 'restart-p2.trace'));
    await again.waitFor('ready', 30_000);
    again.write('send 50\n');
    await again.waitFor('sent 50', 30_000);
    const p2Sends = (): number[] =>
      readGroupTrace(join(dir, 'restart-p2.trace'))
        .filter((e) => e.kind === 'send')
        .map((e) => e.seq!);
    const last = `p@1:${p2Sends().at(-1)!}`;
    // q, and the new p (it reads the whole stream too), deliver up to the new p's last message.
    for (const t of ['restart-q.trace', 'restart-p2.trace'])
      for (let i = 0; !delivered(readGroupTrace(join(dir, t))).includes(last); i++) {
        if (i > 300) throw new Error(`${t} never delivered ${last}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    await finish(again);
    await finish(q!);
    const qs = delivered(readGroupTrace(join(dir, 'restart-q.trace')));
    const p2 = readGroupTrace(join(dir, 'restart-p2.trace'));
    expect(delivered(p2)).toEqual(qs); // the new incarnation reads the whole stream, as q does
    const sent2 = p2.filter((e) => e.kind === 'send').map((e) => e.seq!);
    expect(sent2[0]).toBeGreaterThan(STREAM_PIPELINE); // numbered past whatever the first could have had in flight
    const seqs = qs.map((m) => Number(m.slice(m.lastIndexOf(':') + 1)));
    expect(new Set(qs).size).toBe(qs.length); // nothing twice
    expect(seqs.slice(-50)).toEqual(sent2); // the second p's messages, after every one of the first's
    expect(seqs.slice(0, -50).every((s) => s < sent2[0]!)).toBe(true);
    expect(seqs.length - 50).toBeGreaterThanOrEqual(100); // at least what the first had acknowledged
  }, 120_000);

  it('bad options name the argument; a stream there with another configuration is ERR_GROUP_STREAM; a foreign message on the group subjects fails the member with ERR_GROUP_PROTOCOL, for good; close() ends the reading', async () => {
    const base = { servers: cluster.nodes[1]!, group: 'strict', member: 'x', members: ['x', 'y'] };
    await expect(joinStreamGroup({ ...base, group: 'a.b' })).rejects.toThrow(/options\.group/);
    await expect(joinStreamGroup({ ...base, members: ['y'] })).rejects.toThrow(/options\.members/);
    await expect(joinStreamGroup({ ...base, replicas: 9 })).rejects.toThrow(RangeError);
    await expect(joinStreamGroup({ ...base, servers: 'nohost' })).rejects.toThrow(/servers/);
    const x = await joinStreamGroup(base);
    await expect(joinStreamGroup({ ...base, member: 'y', replicas: 1 })).rejects.toMatchObject({ code: 'ERR_GROUP_STREAM' });
    const it = x[Symbol.asyncIterator]();
    await x.multicast(new Uint8Array([1]));
    expect(await it.next()).toMatchObject({ value: { sender: 'x', seq: 1, ts: 1 } });
    // Anyone allowed to publish on the subjects can: a message without the group's id is refused, and the refusal stays.
    const nc = await connect({ servers: cluster.nodes[2]! });
    await nc.request('pipc.strict.y', new Uint8Array([2]), { timeout: 5000 }); // the stream's acknowledgement
    await expect(it.next()).rejects.toMatchObject({ code: 'ERR_GROUP_PROTOCOL' });
    await expect(x.multicast(new Uint8Array([3]))).rejects.toMatchObject({ code: 'ERR_GROUP_PROTOCOL' });
    await nc.close();
    await x.close();
    const z = await joinStreamGroup({ ...base, group: 'ends' });
    const pending = z[Symbol.asyncIterator]().next();
    await z.close();
    expect(await pending).toEqual({ done: true, value: undefined });
    await expect(z.multicast(new Uint8Array([4]))).rejects.toMatchObject({ code: 'ERR_GROUP_CLOSED' });
  }, 60_000);
});

describe.skipIf(unavailable !== undefined)('JetStream group edges (in this process, on 1-replica streams)', () => {
  let cluster: NatsCluster;
  beforeAll(async () => {
    cluster = await startNatsCluster(3, { jetstream: true });
  }, 30_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  const join = (group: string, extra: Partial<Parameters<typeof joinStreamGroup>[0]> = {}) =>
    joinStreamGroup({ servers: cluster.servers, group, member: 'x', members: ['x'], replicas: 1, ...extra });

  it('a refused multicast fails the ones after it (never acknowledged behind a gap); the largest payload the server allows passes', async () => {
    const g = await join('full', { maxMessages: 3 });
    const all = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => g.multicast(new Uint8Array([i]))));
    expect(all.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected']);
    for (const r of all.slice(3)) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_GROUP_STREAM' });
    await g.close();
    const big = await join('big');
    expect(() => big.multicast(new Uint8Array(1024 * 1024 - 1024 + 1))).toThrow(RangeError); // max_payload less the headers' room
    await expect(big.multicast(new Uint8Array(1024 * 1024 - 1024))).resolves.toMatchObject({ seq: 1 });
    await big.close();
    await expect(join('huge', { maxMessageSize: 1024 * 1024 })).rejects.toThrow(/options\.maxMessageSize/);
  }, 60_000);

  it('close() stops the deliveries of a batch under way; a full trace fails the multicasts it cannot record; a deleted stream fails the reader', async () => {
    const g = await join('stop');
    await Promise.all(Array.from({ length: 100 }, (_, i) => g.multicast(new Uint8Array([i]))));
    const it = g[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    await g.close();
    expect(await it.next()).toEqual({ done: true, value: undefined });

    const t = await join('trace', { trace: { maxEvents: 10 } });
    const r = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => t.multicast(new Uint8Array([i]))));
    expect(r.filter((x) => x.status === 'rejected').every((x) => (x as PromiseRejectedResult).reason instanceof RangeError)).toBe(true);
    expect(r.filter((x) => x.status === 'fulfilled')).toHaveLength(9); // the view, then nine sends
    await t.close();

    const d = await join('deleted');
    const reader = d[Symbol.asyncIterator]();
    const nc = await connect({ servers: cluster.servers.split(',') });
    await (await jetstreamManager(nc)).streams.delete('PIPC_deleted');
    await nc.close();
    await expect(within(20_000, 'the reader fails', reader.next())).rejects.toMatchObject({ code: 'ERR_GROUP_STREAM' });
    await d.close();
  }, 60_000);
});

describe('the delivery rule of a JetStream group (stream-order.ts)', () => {
  const e = (sender: string, seq: number, streamSeq: number, resume = 0): StreamEntry => ({
    sender,
    seq,
    resume,
    streamSeq,
    payload: new Uint8Array(),
  });
  const ids = (es: StreamEntry[]): string[] => es.map((x) => `${x.sender}${x.seq}`);

  it('holds a retry overtaken by a later message until the gap fills, then delivers both in order; drops what was delivered', () => {
    const o = new StreamOrder(['a', 'b']);
    expect(ids(o.push(e('a', 1, 1)))).toEqual(['a1']);
    expect(ids(o.push(e('a', 3, 2)))).toEqual([]);
    expect(ids(o.push(e('b', 1, 3)))).toEqual(['b1']);
    expect(o.held).toBe(1);
    expect(ids(o.push(e('a', 2, 4)))).toEqual(['a2', 'a3']);
    expect(ids(o.push(e('a', 2, 5)))).toEqual([]); // stored twice (past the duplicate window)
    expect(o.duplicates).toBe(1);
    expect(o.held).toBe(0);
  });

  it('a resume mark ends the earlier numbering: what is held below it goes, in order, gaps final', () => {
    const o = new StreamOrder(['a']);
    o.push(e('a', 1, 1));
    expect(ids(o.push(e('a', 4, 2)))).toEqual([]);
    expect(ids(o.push(e('a', 3, 3)))).toEqual([]);
    // a crashed with 2 never stored; its next self resumes after 1 + STREAM_PIPELINE.
    const r = 1 + STREAM_PIPELINE;
    expect(ids(o.push(e('a', r + 1, 4, r)))).toEqual(['a3', 'a4', `a${r + 1}`]);
    expect(ids(o.push(e('a', 2, 5)))).toEqual([]); // the lost one, late: never delivered after later ones
  });

  it('a rejoined member whose first message was lost: the mark on the next one still ends the earlier numbering', () => {
    const o = new StreamOrder(['a']);
    for (let k = 1; k <= 100; k++) o.push(e('a', k, k));
    for (let k = 102; k <= 164; k++) o.push(e('a', k, k)); // 101 never stored: 102..164 held
    const r = 100 + 2 * STREAM_PIPELINE;
    const out = ids(o.push(e('a', r + 2, 200, r))); // r + 1 lost too; every message of the first window carries the mark
    expect(out).toEqual([...Array.from({ length: 63 }, (_, i) => `a${102 + i}`)]);
    expect(ids(o.push(e('a', r + 1, 201, r)))).toEqual([`a${r + 1}`, `a${r + 2}`]);
  });

  it('refuses a sender outside the group and a number beyond the pipeline', () => {
    const o = new StreamOrder(['a']);
    expect(() => o.push(e('z', 1, 1))).toThrow(/not a member/);
    expect(() => o.push(e('a', 2 * STREAM_PIPELINE + 1, 2))).toThrow(/beyond what it can have in flight/);
  });

  it('is the same at every member: any two members fed the same stream deliver the same sequence', () => {
    // A stream as retries leave it: each sender's numbers slightly shuffled within the pipeline.
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const perSender = ['a', 'b', 'c'].map((s) => {
      const nums = Array.from({ length: 500 }, (_, i) => i + 1);
      for (let i = 0; i < nums.length - 1; i++) if (rnd() < 0.1) [nums[i], nums[i + 1]] = [nums[i + 1]!, nums[i]!];
      return nums.map((n) => e(s, n, 0));
    });
    const stream: StreamEntry[] = [];
    while (perSender.some((l) => l.length > 0)) {
      const l = perSender.filter((x) => x.length > 0);
      stream.push(l[Math.floor(rnd() * l.length)]!.shift()!); // senders interleaved, each one's order kept
    }
    const run = (): string[] => {
      const o = new StreamOrder(['a', 'b', 'c']);
      return stream.flatMap((x, i) => ids(o.push({ ...x, streamSeq: i + 1 })));
    };
    const first = run();
    expect(run()).toEqual(first);
    expect(first).toHaveLength(1500);
    for (const s of ['a', 'b', 'c']) {
      const mine = first.filter((x) => x.startsWith(s)).map((x) => Number(x.slice(1)));
      expect(mine).toEqual(Array.from({ length: 500 }, (_, i) => i + 1)); // FIFO per sender, nothing lost
    }
  });
});

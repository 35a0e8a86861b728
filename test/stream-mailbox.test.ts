// JetStream mailboxes (lib/coord/stream-mailbox.ts) on a real 3-node
// nats-server cluster with JetStream: producers and consumers in processes
// of their own (test/fixtures/stream-mailbox-client.ts). Every put reaches
// one consumer, through a kill of the queue's leader node; a consumer killed
// with messages in hand has them redelivered to another, flagged; a full
// mailbox holds its producers back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

import { openStreamMailbox } from '../lib/index.js';
import { startFixture, type FixtureProcess } from './support/fixture-process.js';
import { sleep, until } from './support/helpers.js';
import { natsUnavailable, startNatsCluster, type NatsCluster } from './support/nats-cluster.js';

const unavailable = natsUnavailable();
if (unavailable !== undefined) process.stderr.write(`JetStream mailbox tests skipped: ${unavailable}\n`);

/** Every "got p k r" line of the consumers, as [p, k, redelivered]. */
function deliveries(consumers: FixtureProcess[]): [number, number, number][] {
  return consumers.flatMap((c) =>
    [...c.output().matchAll(/^got (\d+) (\d+) (\d) \d+ \S+$/gm)].map(
      (m) => [Number(m[1]), Number(m[2]), Number(m[3])] as [number, number, number],
    ),
  );
}

describe.skipIf(unavailable !== undefined)('JetStream mailboxes on a 3-node cluster', () => {
  let cluster: NatsCluster;
  const procs: FixtureProcess[] = [];
  beforeAll(async () => {
    cluster = await startNatsCluster(3, { jetstream: true });
  }, 30_000);
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await cluster?.stop();
  });

  const client = (args: string[]): FixtureProcess => {
    const p = startFixture('stream-mailbox-client.ts', [args[0]!, cluster.servers, ...args.slice(1)], { stdin: true });
    procs.push(p);
    return p;
  };

  it('3 producers x 2 consumers, the queue leader killed mid-way: every put reaches a consumer, copies carry its id', async () => {
    const N = 300;
    const consumers = [client(['consumer', 'work', '8', 'ack']), client(['consumer', 'work', '2', 'ack'])];
    for (const c of consumers) await c.waitFor('ready', 30_000);
    const producers = [0, 1, 2].map((p) => client(['producer', 'work', String(p), String(N)]));
    await until(() => deliveries(consumers).length >= 200, 'the first deliveries');
    const nc = await connect({ servers: [...cluster.nodes] });
    const leader = (await (await jetstreamManager(nc)).streams.info('PIPC_MB_work')).cluster!.leader!;
    await nc.close();
    const victim = cluster.nodes.findIndex((_, i) => leader === `pipc-${i}`);
    cluster.kill(victim);
    for (const p of producers) await p.waitFor(`produced ${N}`, 90_000);
    await until(() => new Set(deliveries(consumers).map(([p, k]) => `${p}.${k}`)).size === 3 * N, 'every put delivered', 90_000);
    await cluster.restart(victim);
    const got = deliveries(consumers);
    // At least once; a copy (an acknowledgement or a duplicate-window entry the dead leader had not replicated)
    // carries the put's id, so a consumer that dedupes by id processes each put once.
    const ids = new Set(got.map(([p, k]) => `${p}.${k}`));
    expect(ids.size).toBe(3 * N);
    const copies = got.length - ids.size;
    process.stdout.write(
      `stream mailbox, leader pipc-${victim} killed: ${got.length} deliveries of ${3 * N} puts (${copies} copies, ${got.filter(([, , r]) => r === 1).length} flagged)\n`,
    );
    for (const c of consumers) expect(deliveries([c]).length).toBeGreaterThan(0); // both competed
    for (const c of consumers) c.endInput();
    for (const c of consumers) await c.waitFor('end', 15_000);
  }, 240_000);

  it('a consumer killed with messages in hand: they go to another consumer after ackWaitMs, flagged redelivered', async () => {
    const holder = client(['consumer', 'held', '5', 'hold']);
    await holder.waitFor('ready', 30_000);
    const producer = client(['producer', 'held', '7', '5']);
    await producer.waitFor('produced 5', 30_000);
    await until(() => deliveries([holder]).length === 5, 'the holder took all five');
    await holder.stop(); // SIGKILL: none acknowledged
    const taker = client(['consumer', 'held', '5', 'ack']);
    await until(() => deliveries([taker]).length === 5, 'the five, again');
    expect(
      deliveries([taker])
        .map(([p, k, r]) => [p, k, r])
        .sort(),
    ).toEqual([0, 1, 2, 3, 4].map((k) => [7, k, 1]));
    taker.endInput();
    await taker.waitFor('end', 15_000);
  }, 90_000);

  it('a full mailbox holds a put back until a consumer takes one; bad options name the argument', async () => {
    const mb = await openStreamMailbox({ servers: cluster.servers, name: 'small', capacity: 2, timeoutMs: 20_000 });
    await mb.put(new Uint8Array([1]));
    await mb.put(new Uint8Array([2]));
    await expect(mb.put(new Uint8Array([3]), { timeoutMs: 500 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    let third = false;
    const put = mb.put(new Uint8Array([3])).then(() => (third = true));
    await sleep(300);
    expect(third).toBe(false);
    const reader = mb.consume({ prefetch: 1 });
    const first = (await reader.next()).value!;
    expect([...first.payload]).toEqual([1]);
    expect(await first.ack()).toBe(true);
    await put; // room again
    const rest: number[] = [];
    for (let i = 0; i < 2; i++) {
      const d = (await reader.next()).value!;
      rest.push(d.payload[0]!);
      await d.ack();
    }
    expect(rest).toEqual([2, 3]);
    await mb.close();
    expect(await reader.next()).toEqual({ done: true, value: undefined });
    // close() with a batch under way: the reader ends, what it prefetched is not handed out.
    const batch = await openStreamMailbox({ servers: cluster.servers, name: 'batch', timeoutMs: 20_000 });
    for (let i = 0; i < 3; i++) await batch.put(new Uint8Array([i]));
    const r2 = batch.consume({ prefetch: 3 });
    expect([...(await r2.next()).value!.payload]).toEqual([0]);
    await batch.close();
    expect(await r2.next()).toEqual({ done: true, value: undefined });
    await expect(openStreamMailbox({ servers: cluster.servers, name: 'a.b' })).rejects.toThrow(/options\.name/);
    await expect(openStreamMailbox({ servers: cluster.servers, name: 'x', replicas: 0 })).rejects.toThrow(/options\.replicas/);
    await expect(openStreamMailbox({ servers: cluster.servers, name: 'small', replicas: 1 })).rejects.toMatchObject({
      code: 'ERR_MAILBOX_CONFIG',
    });
  }, 90_000);
});

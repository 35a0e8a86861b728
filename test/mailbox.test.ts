// Mailboxes with real processes: N producers x M consumers in children, every
// message delivered exactly once (over UNIX sockets, TCP, NATS, and one shared-memory
// ring pair per client); a consumer that closes cleanly loses nothing; one
// killed (kill -9) with messages in hand has them redelivered, flagged; the
// owner killed: clients see the peer gone; the queue's bound holds producers back.
import { afterEach, describe, expect, it } from 'vitest';

import {
  TcpServer,
  UnixServer,
  codecs,
  connectMailboxConsumer,
  connectMailboxProducer,
  connectUnix,
  createMailbox,
  listen,
  openShmDuplex,
  type Mailbox,
} from '../lib/index.js';
import { startFixture, type FixtureProcess } from './support/fixture-process.js';
import { removePath, sleep, tempPath, uniqueName, until, within } from './support/helpers.js';
import { expectBaseline, snapshot } from './support/leak-suite.js';
import { natsCluster } from './support/channel-transports.js';
import { natsUnavailable } from './support/nats-cluster.js';

interface Msg {
  p: number;
  k: number;
}
const json = codecs.json as never;
const procs: FixtureProcess[] = [];
const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const p of procs.splice(0)) await p.stop();
  for (const c of cleanups.splice(0).reverse()) await c();
});

function fixture(args: string[]): FixtureProcess {
  const f = startFixture('mailbox-client.ts', args, { stdin: true });
  procs.push(f);
  return f;
}

/** Every "got p k r" line of the consumers, as [p, k, redelivered]. */
function deliveries(consumers: FixtureProcess[]): [number, number, number][] {
  return consumers.flatMap((c) =>
    [...c.output().matchAll(/^got (\d+) (\d+) (\d)$/gm)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])] as [number, number, number]),
  );
}

function expectExactlyOnce(got: [number, number, number][], producers: number, n: number): void {
  const keys = got.map(([p, k]) => p * 1_000_000 + k);
  expect(new Set(keys).size).toBe(keys.length); // no duplicate
  const want: number[] = [];
  for (let p = 0; p < producers; p++) for (let k = 0; k < n; k++) want.push(p * 1_000_000 + k);
  expect(keys.sort((x, y) => x - y)).toEqual(want); // none lost
}

async function unixMailbox(options?: Parameters<typeof createMailbox>[0]): Promise<{ mb: Mailbox; target: string }> {
  const path = tempPath('mbox');
  const mb = createMailbox(options).serve(UnixServer.listen(path));
  cleanups.push(
    () => mb.close(),
    () => removePath(path),
  );
  return { mb, target: path };
}

// NATS where nats-server is installed (.ci/run installs it): the owner listens on a subject of a 3-node cluster.
const MAILBOX_TRANSPORTS = ['unix', 'tcp', ...(natsUnavailable() === undefined ? (['nats'] as const) : [])] as const;

describe.each(MAILBOX_TRANSPORTS)('mailbox over %s', (transport) => {
  it('3 producers x 2 consumers in child processes: every message exactly once', async () => {
    let target: string;
    let mb: Mailbox;
    if (transport === 'unix') ({ mb, target } = await unixMailbox({ capacity: 64 }));
    else if (transport === 'nats') {
      const c = await natsCluster();
      const subject = `mbox.${process.pid}.${Date.now()}`;
      mb = createMailbox({ capacity: 64 }).serve(await listen(`nats://${c.nodes[0]}/${subject}`));
      cleanups.push(() => mb.close());
      target = `nats://${c.nodes[1]}/${subject}`;
    } else {
      const server = await TcpServer.listen({ port: 0 });
      mb = createMailbox({ capacity: 64 }).serve(server);
      cleanups.push(() => mb.close());
      target = String(server.port);
    }
    const N = 400;
    const consumers = [fixture(['consumer', transport, target, '8', 'auto']), fixture(['consumer', transport, target, '3', 'manual'])];
    for (const c of consumers) await c.waitFor('ready');
    const producers = [0, 1, 2].map((p) => fixture(['producer', transport, target, String(p), String(N)]));
    for (const p of producers) await p.waitFor(`produced ${N}`, 30_000);
    await until(() => deliveries(consumers).length >= 3 * N, 'every message delivered');
    await mb.close();
    for (const c of consumers) await c.waitFor('end');
    const got = deliveries(consumers);
    expectExactlyOnce(got, 3, N);
    expect(got.every(([, , r]) => r === 0)).toBe(true);
    for (const c of consumers) expect(deliveries([c]).length).toBeGreaterThan(0); // both competed
  });
});

describe('mailbox', () => {
  it('over shared memory, one ring pair per client adopted by the owner: 2 producers x 2 consumers, exactly once', async () => {
    const mb = createMailbox({ capacity: 32 });
    cleanups.push(() => mb.close());
    const N = 300;
    const clients: FixtureProcess[] = [];
    const adopted: Promise<boolean>[] = [];
    for (const args of [
      ['consumer', '4', 'auto'],
      ['consumer', '4', 'auto'],
      ['producer', '0', String(N)],
      ['producer', '1', String(N)],
    ]) {
      const name = uniqueName('mbx');
      const duplex = openShmDuplex(name, { create: true, capacity: 1 << 16, timeoutMs: 15_000 });
      clients.push(fixture([args[0]!, 'shm', name, ...args.slice(1)]));
      adopted.push(duplex.then((d) => mb.adopt(d)));
    }
    expect(await within(20_000, 'adopted', Promise.all(adopted))).toEqual([true, true, true, true]);
    const consumers = clients.slice(0, 2);
    for (const p of clients.slice(2)) await p.waitFor(`produced ${N}`, 30_000);
    await until(() => deliveries(consumers).length >= 2 * N, 'every message delivered');
    await mb.close();
    for (const c of consumers) await c.waitFor('end');
    expectExactlyOnce(deliveries(consumers), 2, N);
  });

  it('a consumer that closes cleanly loses nothing: what it had not received goes to the other', async () => {
    const { mb, target } = await unixMailbox({ capacity: 16 });
    const N = 500;
    const a = fixture(['consumer', 'unix', target, '32', 'auto']);
    await a.waitFor('ready', 30_000);
    const producer = fixture(['producer', 'unix', target, '0', String(N)]);
    await until(() => deliveries([a]).length >= 50, 'the first consumer is busy');
    a.write('close\n');
    await a.waitFor('closed', 30_000);
    const b = fixture(['consumer', 'unix', target, '32', 'auto']);
    await producer.waitFor(`produced ${N}`, 30_000);
    await until(() => deliveries([a, b]).length >= N, 'every message delivered');
    await mb.close();
    await b.waitFor('end', 30_000);
    expectExactlyOnce(deliveries([a, b]), 1, N);
  }, 60_000); // three fixture processes start one after another: 20 s was too short on a loaded CI machine

  it('a consumer killed (kill -9) with messages in hand: they are redelivered to another, flagged (at-least-once)', async () => {
    const { mb, target } = await unixMailbox();
    const victim = fixture(['consumer', 'unix', target, '5', 'manual', 'hold']);
    await victim.waitFor('ready');
    const producer = await connectMailboxProducer<Msg>(() => connectUnix(target), { codec: json });
    cleanups.push(() => producer.close());
    for (let k = 0; k < 20; k++) await producer.send({ p: 0, k });
    await victim.waitFor('holding');
    const held = deliveries([victim]).map(([, k]) => k);
    expect(held).toHaveLength(5);
    await until(() => mb.stats.inHand === 5 && mb.stats.queued === 15, 'five in hand, fifteen queued');
    victim.child.kill('SIGKILL');
    const consumer = await connectMailboxConsumer<Msg>(() => connectUnix(target), { codec: json, prefetch: 4 });
    cleanups.push(() => consumer.close());
    const seen = new Map<number, boolean>();
    for (let i = 0; i < 20; i++) {
      const d = (await within(15_000, `delivery ${i}`, consumer.receive()))!;
      expect(seen.has(d.message.k)).toBe(false);
      seen.set(d.message.k, d.redelivered);
    }
    expect([...seen.keys()].sort((x, y) => x - y)).toEqual([...Array(20).keys()]);
    for (const [k, redelivered] of seen) expect(redelivered).toBe(held.includes(k));
    await until(() => mb.stats.inHand === 0, 'the last acknowledgements reach the owner');
    expect(mb.stats).toMatchObject({ redelivered: 5, inHand: 0, queued: 0, consumers: 1 });
  });

  it('the owner killed (kill -9): its consumers and producers see ERR_CHANNEL_PEER_GONE, not a hang', async () => {
    const path = tempPath('mbox-owner');
    cleanups.push(() => removePath(path));
    const owner = startFixture('mailbox-owner.ts', [path]);
    procs.push(owner);
    await owner.waitFor('ready');
    const producer = await connectMailboxProducer(() => connectUnix(path));
    const consumer = await connectMailboxConsumer(() => connectUnix(path));
    cleanups.push(
      () => producer.close().catch(() => undefined),
      () => consumer.close(),
    );
    await producer.send(new Uint8Array([1]));
    expect((await within(10_000, 'one delivery', consumer.receive()))?.message).toEqual(new Uint8Array([1]));
    const waiting = consumer.receive();
    waiting.catch(() => undefined);
    owner.child.kill('SIGKILL');
    await expect(within(15_000, 'consumer sees the owner gone', waiting)).rejects.toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' });
    await expect(consumer.receive()).rejects.toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' }); // latched
    const sendUntilGone = async (): Promise<unknown> => {
      for (let i = 0; i < 10_000; i++) {
        try {
          await producer.send(new Uint8Array(1024), { timeoutMs: 5000 });
        } catch (err) {
          return err;
        }
      }
      return undefined;
    };
    expect(await within(20_000, 'producer sees the owner gone', sendUntilGone())).toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' });
  });

  it('backpressure: a full mailbox stops reading its producers (queued never passes capacity); nothing is lost', async () => {
    const { mb, target } = await unixMailbox({ capacity: 16 });
    const producer = await connectMailboxProducer<Msg>(() => connectUnix(target), { codec: json });
    cleanups.push(() => producer.close());
    let sent = 0;
    const big = 'x'.repeat(16 * 1024);
    for (;;) {
      try {
        await producer.send({ p: 0, k: sent, pad: big } as Msg, { timeoutMs: 500 });
      } catch (err) {
        expect(err).toMatchObject({ code: 'ETIMEDOUT' }); // the socket is full: the owner stopped reading
        break;
      }
      sent++;
      expect(sent).toBeLessThan(100_000);
    }
    await until(() => mb.stats.queued === 16, 'the queue at its bound');
    await sleep(200);
    expect(mb.stats.queued).toBe(16);
    const consumer = await connectMailboxConsumer<Msg>(() => connectUnix(target), { codec: json, prefetch: 64 });
    cleanups.push(() => consumer.close());
    for (let k = 0; k < sent; k++) expect((await within(10_000, `message ${k}`, consumer.receive()))!.message.k).toBe(k);
  });

  it('refuses a connection that is not a mailbox client, and checks its options', async () => {
    const { mb, target } = await unixMailbox({ helloTimeoutMs: 2000 });
    const stranger = await connectUnix(target);
    await stranger.sender.send(new TextEncoder().encode('GET / HTTP/1.1'));
    expect(await within(10_000, 'the stranger is closed', stranger.receiver.receive())).toBeUndefined();
    await stranger.close().catch(() => undefined);
    expect(mb.stats.refused).toBe(1);
    expect(() => createMailbox({ capacity: 0 })).toThrow(RangeError);
    await expect(connectMailboxConsumer(() => connectUnix(target), { prefetch: 5000 })).rejects.toThrow(RangeError);
    await expect(connectMailboxConsumer(() => connectUnix(target), { ack: 'later' as never })).rejects.toThrow(TypeError);
    await expect(connectMailboxProducer(42 as never)).rejects.toThrow(TypeError);
  });

  it('leaves no descriptor, mapping or socket behind: open, use and close a mailbox and its clients (unix and shm), 3 times', async () => {
    const cycle = async (): Promise<void> => {
      const path = tempPath('mbox-leak');
      const mb = createMailbox().serve(UnixServer.listen(path));
      const name = uniqueName('mbox-leak');
      const ring = openShmDuplex(name, { create: true, capacity: 4096, timeoutMs: 5000 });
      const [shmClient, shmOwner] = await Promise.all([openShmDuplex(name, { timeoutMs: 5000 }), ring]);
      const adopted = mb.adopt(shmOwner);
      const producer = await connectMailboxProducer(shmClient);
      expect(await adopted).toBe(true);
      const consumer = await connectMailboxConsumer(() => connectUnix(path), { prefetch: 4 });
      for (let k = 0; k < 20; k++) await producer.send(new Uint8Array([k]));
      for (let k = 0; k < 20; k++) expect((await within(5000, 'receive', consumer.receive()))!.message).toEqual(new Uint8Array([k]));
      await producer.close();
      await consumer.close();
      await mb.close();
      removePath(path);
    };
    await cycle();
    const base = snapshot();
    for (let i = 0; i < 3; i++) await cycle();
    await expectBaseline(base);
  });
});

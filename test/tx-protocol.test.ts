// Two-phase commit: the protocol's paths other than crash points (those are
// in tx-crash.test.ts): lost, duplicated and delayed messages; cooperative
// termination; the blocking of 2PC when the coordinator is lost; hostile
// messages; log growth bounded by checkpoints; serializable transfers; and
// the arguments.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { connect, listen } from '../lib/channels/index.js';
import { ActivityLog } from '../lib/coord/activity-log.js';
import {
  Coordinator,
  decodeTxMessage,
  KvClient,
  openKvPartition,
  TxMessageType as Msg,
  type KvPartitionSite,
  type KvWork,
  type TxMessage,
} from '../lib/coord/tx/index.js';
import { pack } from '../lib/coord/tx/resource.js';
import { encodeMessage } from '../lib/coord/tx/wire.js';
import { TxError } from '../lib/errors.js';
import { sleep, within } from './support/helpers.js';
import { testPki } from './support/tls-certs.js';
import { keysOf, TxCluster, type SiteProcess } from './support/tx-cluster.js';

const [K0, K0b] = keysOf(0, 2, 2) as [string, string];
const [K1, K1b] = keysOf(1, 2, 2) as [string, string];

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function cluster(env?: NodeJS.ProcessEnv): TxCluster {
  const c = new TxCluster(env);
  cleanups.push(() => c.close());
  return c;
}

async function initialized(c: TxCluster, keys: string[], plan?: object): Promise<SiteProcess> {
  await c.startPartitions(2, [plan, plan] as never);
  const client = await c.startClient(plan as never);
  TxCluster.tell(client, `init 100 ${keys.join(' ')}`);
  await client.proc.waitFor(/^init committed$/m, 30_000);
  await c.quiesce(); // applied at both partitions too, before the test goes on
  return client;
}

describe('messages lost, duplicated and delayed on every link', { timeout: 120_000 }, () => {
  it('every committed transfer is applied exactly once and nothing else is', async () => {
    const c = cluster();
    const keys = [K0, K0b, K1, K1b];
    const plan = { seed: 7, drop: 0.1, duplicate: 0.1, delayMs: [0, 15] };
    const client = await initialized(c, keys, plan);
    const transfers = Array.from({ length: 24 }, (_, i) => [keys[i % 4]!, keys[(i * 3 + 1) % 4]!, 1 + (i % 5)] as const).filter(
      ([a, b]) => a !== b,
    );
    transfers.forEach(([from, to, amount], i) => TxCluster.tell(client, `transfer ${i} ${from} ${to} ${amount}`));
    for (let i = 0; i < transfers.length; i++) await client.proc.waitFor(new RegExp(`^tx ${i} `, 'm'), 60_000);
    const entries = await c.quiesce(30_000);
    // The balances are exactly the initial ones plus the committed transfers: none lost, none doubled, no aborted one applied.
    const expected = new Map(keys.map((k) => [k, 100]));
    transfers.forEach(([from, to, amount], i) => {
      if (new RegExp(`^tx ${i} committed`, 'm').test(client.proc.output())) {
        expected.set(from, expected.get(from)! - amount);
        expected.set(to, expected.get(to)! + amount);
      }
    });
    expect(keys.map((k) => Number(entries.get(k)))).toEqual(keys.map((k) => expected.get(k)));
    expect(client.proc.output().match(/^tx \d+ committed/gm)?.length ?? 0).toBeGreaterThan(0);
  });
});

describe('the coordinator lost', { timeout: 90_000 }, () => {
  it('blocks: participants that voted YES stay in doubt, holding their locks, until the coordinator comes back', async () => {
    const c = cluster();
    await initialized(c, [K0, K1]);
    const victim = await c.startClient({ seed: 1, points: { 'coordinator:before-decision-log': { kill: true } } });
    TxCluster.tell(victim, `transfer 1 ${K0} ${K1} 10`);
    expect((await within(20_000, 'the coordinator to die', victim.proc.child.exited)).signal).toBe('SIGKILL');
    await sleep(1500); // several rounds of asking the coordinator and each other
    for (const p of c.partitions) expect((await TxCluster.dump(p)).inDoubt).toHaveLength(1);
    // Their locks hold: a transaction on those keys votes NO.
    const other = await c.startClient();
    TxCluster.tell(other, `transfer 2 ${K1} ${K0} 5`);
    expect((await other.proc.waitFor(/^tx 2 (\S+) (\S+)/m, 20_000))[1]).toBe('aborted');
    // The coordinator comes back: no decision in its log, so abort (presumed).
    await c.restart(victim);
    const entries = await c.quiesce();
    expect([entries.get(K0), entries.get(K1)]).toEqual(['100', '100']);
  });

  it('cooperative termination: an in-doubt participant learns the commit from the other participant', async () => {
    const c = cluster();
    await initialized(c, [K0, K1]);
    // Killed right after its first COMMIT: one participant knows, the other is in doubt.
    const victim = await c.startClient({ seed: 1, points: { 'coordinator:after-decision-send': { kill: true } } });
    TxCluster.tell(victim, `transfer 1 ${K0} ${K1} 10`);
    expect((await within(20_000, 'the coordinator to die', victim.proc.child.exited)).signal).toBe('SIGKILL');
    const entries = await c.quiesce(); // without the coordinator
    expect([entries.get(K0), entries.get(K1)]).toEqual(['90', '110']);
  });

  it('cooperative termination: a participant that never voted refuses the transaction, and the in-doubt one aborts', async () => {
    const c = cluster();
    await initialized(c, [K0, K1]);
    const victim = await c.startClient({ seed: 1, points: { 'coordinator:after-vote-request': { kill: true } } });
    TxCluster.tell(victim, `transfer 1 ${K0} ${K1} 10`);
    expect((await within(20_000, 'the coordinator to die', victim.proc.child.exited)).signal).toBe('SIGKILL');
    const entries = await c.quiesce();
    expect([entries.get(K0), entries.get(K1)]).toEqual(['100', '100']);
    // The refusal is for good: the coordinator, back, finds the others agree (abort).
    await c.restart(victim);
    expect([...(await c.quiesce())].sort()).toEqual([...entries].sort());
  });
});

describe('a participant spoken to directly: checkpoints, replays and locks', { timeout: 60_000 }, () => {
  // A coordinator that is not there: the participant only answers on the connection.
  const C = 'unix:/nonexistent/coordinator';
  async function site(checkpointBytes = 1024): Promise<{ open: () => Promise<KvPartitionSite>; dir: string }> {
    const d = mkdtempSync(join(tmpdir(), 'pipc-txr-'));
    cleanups.push(() => rmSync(d, { recursive: true, force: true }));
    const opts = { name: 'p2', log: join(d, 'p2.log'), listen: `unix:${join(d, 'p2.sock')}`, checkpointBytes };
    return {
      dir: d,
      open: async () => {
        const part = await openKvPartition(opts);
        cleanups.push(() => part.close());
        return part;
      },
    };
  }
  async function peer(
    url: string,
  ): Promise<{ send: (m: TxMessage) => Promise<void>; recv: () => Promise<TxMessage>; close: () => Promise<void> }> {
    const conn = await connect<Uint8Array>(url);
    cleanups.push(() => conn.close());
    return {
      send: (m) => conn.sender.send(encodeMessage(m)),
      recv: async () => decodeTxMessage((await conn.receiver.receive())!),
      close: () => conn.close(),
    };
  }
  const work = (w: KvWork): Uint8Array => pack(w);

  it('a checkpoint while a commit record is being written keeps the commit: no STATUS "aborted", no second YES, no second apply', async () => {
    const { open } = await site();
    let part = await open();
    const url = part.participant.url;
    const r = await peer(url);
    const [y, x] = ['r0.000000001-00000000.1', 'r1.000000002-00000000.1'];
    await r.send({ t: Msg.VOTE_REQ, x: y, c: C, p: [url], i: 0, w: work({ r: [], w: [['big', 'z'.repeat(1200)]] }) });
    expect(await r.recv()).toMatchObject({ t: Msg.VOTE, y: true });
    const peers = ['unix:/nonexistent/p1', url];
    await r.send({ t: Msg.VOTE_REQ, x, c: C, p: peers, i: 1, w: work({ r: [], w: [['k', 'v']] }) });
    expect(await r.recv()).toMatchObject({ t: Msg.VOTE, y: true });
    // COMMIT x, and in the same moment ABORT y, whose abort checkpoints the log (it is over 1 KiB).
    void r.send({ t: Msg.COMMIT, x, a: url });
    void r.send({ t: Msg.ABORT, x: y });
    expect(await r.recv()).toMatchObject({ t: Msg.ACK, x });
    await r.close();
    await part.close();
    part = await open();
    expect(part.store.read('k')).toEqual({ value: 'v', version: 1 });
    const q = await peer(url);
    await q.send({ t: Msg.STATUS_REQ, x }); // another participant in doubt about x asks
    expect(await q.recv()).toMatchObject({ t: Msg.STATUS, x, s: expect.stringMatching(/^(committed|unknown)$/) });
    await q.send({ t: Msg.VOTE_REQ, x, c: C, p: peers, i: 1, w: work({ r: [], w: [['k', 'v']] }) }); // a late duplicate
    expect(await q.recv()).toMatchObject({ t: Msg.VOTE, x, y: false });
    await q.send({ t: Msg.COMMIT, x, a: url }); // a resent COMMIT
    expect(await q.recv()).toMatchObject({ t: Msg.ACK, x });
    expect(part.store.read('k')).toEqual({ value: 'v', version: 1 }); // applied once
  });

  it('replaying P(T2) before C(T1) keeps T2 the exclusive holder of its key', async () => {
    const { open } = await site(1024 * 1024);
    let part = await open();
    const url = part.participant.url;
    let r = await peer(url);
    const [t1, t2, t3] = [1, 2, 3].map((n) => `c.000000001-00000000.${n}`) as [string, string, string];
    await r.send({ t: Msg.VOTE_REQ, x: t1, c: C, p: [url], i: 0, w: work({ r: [], w: [['k', 'one']] }) });
    expect(await r.recv()).toMatchObject({ y: true });
    void r.send({ t: Msg.COMMIT, x: t1, a: url }); // its commit record is deferred ...
    void r.send({ t: Msg.VOTE_REQ, x: t2, c: C, p: [url], i: 0, w: work({ r: [['k', 1]], w: [['k', 'two']] }) }); // ... and rides with P(T2)
    expect([(await r.recv()).t, (await r.recv()).t].sort()).toEqual([Msg.VOTE, Msg.ACK]);
    expect(part.participant.active).toBe(1); // T1 acknowledged (its record durable), T2 prepared
    await r.close();
    await part.close();
    part = await open();
    expect(part.participant.inDoubt).toEqual([t2]);
    expect(part.participant.active).toBe(1);
    r = await peer(url);
    await r.send({ t: Msg.VOTE_REQ, x: t3, c: C, p: [url], i: 0, w: work({ r: [['k', 1]], w: [] }) });
    expect(await r.recv()).toMatchObject({ t: Msg.VOTE, x: t3, y: false }); // T2 may still write k
  });
});

describe('in one process', { timeout: 60_000 }, () => {
  function dir(): string {
    const d = mkdtempSync(join(tmpdir(), 'pipc-txp-'));
    cleanups.push(() => rmSync(d, { recursive: true, force: true }));
    return d;
  }

  async function store(
    d: string,
    n: number,
    options: { checkpointBytes?: number } = {},
  ): Promise<{ parts: KvPartitionSite[]; kv: KvClient }> {
    const parts: KvPartitionSite[] = [];
    for (let i = 0; i < n; i++)
      parts.push(await openKvPartition({ name: `p${i}`, log: join(d, `p${i}.log`), listen: `unix:${join(d, `p${i}.sock`)}`, ...options }));
    const kv = await KvClient.open({
      name: 'c',
      log: join(d, 'c.log'),
      listen: `unix:${join(d, 'c.sock')}`,
      partitions: parts.map((p) => p.participant.url),
      ...options,
    });
    cleanups.push(async () => {
      await kv.close();
      for (const p of parts) await p.close();
    });
    return { parts, kv };
  }

  it('concurrent transfers are serializable: the total never changes, and read-only transactions always see it whole', async () => {
    const { kv } = await store(dir(), 3);
    const keys = Array.from({ length: 6 }, (_, i) => `acct${i}`);
    await kv.transact(async (tx) => keys.forEach((k) => tx.put(k, '100')));
    let reads = 0;
    const total = (): Promise<number> =>
      kv.transact(
        async (tx) => {
          let s = 0;
          for (const k of keys) s += Number(await tx.get(k));
          return s;
        },
        { attempts: 100 },
      );
    const results = await Promise.allSettled([
      ...Array.from({ length: 40 }, (_, i) =>
        kv.transact(
          async (tx) => {
            const [a, b] = [keys[i % 6]!, keys[(i * 5 + 1) % 6]!];
            if (a === b) return;
            const [x, y] = [Number(await tx.get(a)), Number(await tx.get(b))];
            tx.put(a, String(x - 7));
            tx.put(b, String(y + 7));
          },
          { attempts: 100 },
        ),
      ),
      ...Array.from({ length: 10 }, async () => {
        expect(await total()).toBe(600);
        reads++;
      }),
    ]);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(reads).toBe(10);
    expect(await total()).toBe(600);
  });

  it('checkpoints bound the logs, and a restart recovers the data from them', async () => {
    const d = dir();
    const { parts, kv } = await store(d, 2, { checkpointBytes: 4096 });
    for (let i = 0; i < 300; i++) {
      const tx = kv.begin();
      tx.put(K0, `v${i}`);
      tx.put(K1, `w${i}`);
      await tx.commit();
    }
    await sleep(200); // the last acknowledgements and end records
    for (const f of ['p0.log', 'p1.log', 'c.log']) expect(statSync(join(d, f)).size).toBeLessThan(16 * 1024);
    await kv.close();
    for (const p of parts) await p.close();
    const again = await store(d, 2, { checkpointBytes: 4096 });
    const tx = again.kv.begin();
    expect([await tx.get(K0), await tx.get(K1)]).toEqual(['v299', 'w299']);
  });

  it('a malformed message from a peer ends its connection only; the participant goes on', async () => {
    const { parts, kv } = await store(dir(), 2);
    const p = parts[0]!.participant;
    for (const bytes of [Buffer.from([0xc1]), Buffer.from('\x91'.repeat(2000), 'latin1'), Buffer.from([0x81, 0xa1, 0x74, 0x01])]) {
      const conn = await connect(p.url);
      await conn.sender.send(bytes);
      expect(await conn.receiver.receive().catch(() => undefined)).toBeUndefined(); // closed on us
      await conn.close();
    }
    expect(p.stats.malformed).toBe(3);
    await kv.transact(async (tx) => tx.put(K0, 'still here'));
    for (let n = 0; n < 100 && parts[0]!.store.read(K0).value === null; n++) await sleep(20); // the COMMIT is on its way
    expect(parts[0]!.store.read(K0).value).toBe('still here');
  });

  it('sites addressed through the name service, each over its own transport (unix, shm, tcp)', async () => {
    const d = dir();
    const tag = randomBytes(4).toString('hex');
    const at = [`unix:${join(d, 'p0.sock')}`, `shm:/pipc-txn-${tag}`];
    const parts: KvPartitionSite[] = [];
    for (let i = 0; i < 2; i++)
      parts.push(
        await openKvPartition({
          name: `p${i}`,
          log: join(d, `p${i}.log`),
          listen: `name:pipc-txn-p${i}-${tag}`,
          listenOptions: { at: at[i] },
        }),
      );
    const kv = await KvClient.open({
      name: 'c',
      log: join(d, 'c.log'),
      listen: `name:pipc-txn-c-${tag}`,
      listenOptions: { at: 'tcp://127.0.0.1:0' },
      partitions: [0, 1].map((i) => `name:pipc-txn-p${i}-${tag}`),
    });
    cleanups.push(async () => {
      await kv.close();
      for (const p of parts) await p.close();
    });
    expect(parts.map((p) => p.participant.url)).toEqual([0, 1].map((i) => `name:pipc-txn-p${i}-${tag}`));
    await kv.transact(async (tx) => {
      tx.put(K0, 'zero');
      tx.put(K1, 'one');
    });
    const tx = kv.begin();
    expect([await tx.get(K0), await tx.get(K1)]).toEqual(['zero', 'one']);
  });

  it('over TLS with client certificates: every site proves who it is, both ways', async () => {
    const d = dir();
    const pki = testPki();
    const tls = {
      listenOptions: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca.cert, requestCert: true },
      connectOptions: { ca: pki.ca.cert, key: pki.client.key, cert: pki.client.cert },
    };
    const parts: KvPartitionSite[] = [];
    for (let i = 0; i < 2; i++)
      parts.push(await openKvPartition({ name: `p${i}`, log: join(d, `p${i}.log`), listen: 'tls://127.0.0.1:0', ...tls }));
    const kv = await KvClient.open({
      name: 'c',
      log: join(d, 'c.log'),
      listen: 'tls://127.0.0.1:0',
      partitions: parts.map((p) => p.participant.url),
      ...tls,
    });
    cleanups.push(async () => {
      await kv.close();
      for (const p of parts) await p.close();
    });
    expect(kv.coordinator.url).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    await kv.transact(async (tx) => {
      tx.put(K0, 'secret zero');
      tx.put(K1, 'secret one');
    });
    const tx = kv.begin();
    expect([await tx.get(K0), await tx.get(K1)]).toEqual(['secret zero', 'secret one']);
    // A peer without a certificate is refused by the partition's TLS handshake: nothing it sends reaches the protocol.
    const before = parts[0]!.participant.stats.received;
    const anon = await connect(parts[0]!.participant.url, { ca: pki.ca.cert }).catch(() => undefined);
    if (anon !== undefined) {
      await anon.sender.send(encodeMessage({ t: Msg.REQUEST, x: '', r: 1, b: pack({ k: K0 }) })).catch(() => undefined);
      expect(await anon.receiver.receive().catch(() => undefined)).toBeUndefined();
      await anon.close().catch(() => undefined);
    }
    expect(parts[0]!.participant.stats.received).toBe(before);
  });

  it('a log that holds something other than transaction records: open fails ERR_TX_LOG_CORRUPT and leaves nothing open', async () => {
    const d = dir();
    const log = join(d, 'p.log');
    const { log: raw } = await ActivityLog.open(log);
    await raw.append(Buffer.from([0xc1])); // a valid log record, not MessagePack
    await raw.close();
    const address = `unix:${join(d, 'p.sock')}`;
    await expect(openKvPartition({ name: 'p', log, listen: address })).rejects.toMatchObject({ code: 'ERR_TX_LOG_CORRUPT' });
    await expect(Coordinator.open({ name: 'c', log, listen: address })).rejects.toMatchObject({ code: 'ERR_TX_LOG_CORRUPT' });
    const l = await listen(address); // the address was not left taken
    l.close();
    await (await ActivityLog.open(log)).log.close(); // nor the log's lock
  });

  it('checks its arguments', async () => {
    const d = dir();
    await expect(Coordinator.open({ name: 'bad name', log: join(d, 'x.log'), listen: `unix:${join(d, 'x.sock')}` })).rejects.toThrow(
      RangeError,
    );
    await expect(Coordinator.open({ name: 'c', log: 5 as never, listen: 'unix:/x' })).rejects.toThrow(/options\.log/);
    const { kv } = await store(d, 1);
    const tx = kv.begin();
    expect(() => tx.put('', 'x')).toThrow(RangeError);
    expect(() => tx.put('k', 5 as never)).toThrow(TypeError);
    await expect(kv.coordinator.commit(kv.coordinator.newTxId(), [])).rejects.toThrow(RangeError);
    await expect(kv.coordinator.commit(kv.coordinator.newTxId(), [{ address: kv.partitions[0]!, work: 'x' as never }])).rejects.toThrow(
      TypeError,
    );
    await expect(kv.coordinator.commit('my-own-id', [{ address: kv.partitions[0]!, work: Buffer.from('w') }])).rejects.toThrow(/newTxId/);
    await tx.commit(); // nothing to do
    await expect(tx.commit()).rejects.toMatchObject({ code: 'ERR_TX_CLOSED' });
    const err = await kv.coordinator
      .commit(kv.coordinator.newTxId(), [{ address: kv.partitions[0]!, work: Buffer.from('junk') }])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TxError);
    expect(err).toMatchObject({ code: 'ERR_TX_ABORTED' });
  });
});

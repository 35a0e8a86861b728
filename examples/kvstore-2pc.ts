// The course's KVSTORE across partitions, with two-phase commit: three
// partition processes (participants), each with its own activity log on disk,
// and this process as the client and coordinator of every transaction. It
// creates 6 bank accounts of 100, runs 200 random transfers 8 at a time with
// kv.transact (a conflict aborts and retries), kills partition p1 with
// SIGKILL in the middle, restarts it on the same log (it recovers its accounts
// and asks about what it had voted YES on), keeps going, and reads the total
// in one transaction at the end: 600, whatever was aborted. The address
// scheme is unix: by default (UNIX sockets); shm (shared-memory rings) and tcp
// (loopback) work the same.
// Run: npx tsx examples/kvstore-2pc.ts [unix|shm|tcp]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { closeSync, codecs, forkNode, KvClient, openKvPartition, pipe, receiverFromFd, senderFromFd, type Child } from '../lib/index.js';

const ACCOUNTS = ['alice', 'bob', 'erin', 'grace', 'mallory', 'trent']; // two in each partition (crc32(name) % 3)
const TRANSFERS = 200;
const CONCURRENCY = 8;
const VICTIM = 1; // the partition killed in the middle
/** The largest message, both ways: transfers are small (and a shared-memory ring takes at most 1 MiB - 8 bytes). */
const MAX_MESSAGE = 64 * 1024;

/** What a partition process reports to the parent on fd 3 once it listens. */
interface Ready {
  url: string;
  accounts: number;
  sum: number;
  inDoubt: number;
}

const [role, ...rest] = process.argv.slice(2);

if (role === 'partition') {
  const [name, log, address] = rest as [string, string, string];
  const site = await openKvPartition({ name, log, listen: address, maxMessageSize: MAX_MESSAGE, retryMs: 50, retryMaxMs: 500 });
  const entries = site.store.entries();
  const report = senderFromFd(3, { codec: codecs.json });
  const ready: Ready = {
    url: site.participant.url,
    accounts: entries.length,
    sum: entries.reduce((s, [, v]) => s + Number(v), 0),
    inDoubt: site.participant.inDoubt.length,
  };
  await report.send(ready);
  await report.close();
  // fd 4 is the parent's lifeline: its end (the parent closed it, or died) stops this partition.
  const lifeline = receiverFromFd(4);
  await lifeline.receive().catch(() => undefined);
  lifeline.close();
  await site.close();
} else {
  const scheme = role ?? 'unix';
  if (!['unix', 'shm', 'tcp'].includes(scheme)) throw new Error(`usage: kvstore-2pc.ts [unix|shm|tcp] (got ${scheme})`);
  const dir = mkdtempSync(join(tmpdir(), 'kvstore-2pc-'));
  const address = (name: string): string =>
    scheme === 'unix'
      ? `unix:${join(dir, `${name}.sock`)}`
      : scheme === 'shm'
        ? `shm:/kvstore-2pc-${process.pid}-${name}`
        : 'tcp://127.0.0.1:0';
  const children: Array<{ child: Child; lifeline: number } | undefined> = [];

  /** Starts partition `i` listening at `at` and waits for its report. */
  const start = async (i: number, at: string): Promise<Ready> => {
    const [r, w] = pipe();
    const [lr, lw] = pipe();
    const args = ['partition', `p${i}`, join(dir, `p${i}.log`), at];
    children[i] = { child: forkNode(new URL(import.meta.url), { args, fds: { 0: 0, 1: 1, 2: 2, 3: w, 4: lr } }), lifeline: lw };
    closeSync(w);
    closeSync(lr);
    const reports = receiverFromFd(r, { codec: codecs.json });
    try {
      const ready = (await reports.receive({ timeoutMs: 30_000 })) as Ready | undefined;
      if (ready === undefined) throw new Error(`partition p${i} exited before it listened`);
      return ready;
    } finally {
      reports.close();
    }
  };

  let kv: KvClient | undefined;
  try {
    // tcp: each partition picks a port once; a restart listens on the same one (the logs hold the addresses).
    const urls = (await Promise.all([0, 1, 2].map((i) => start(i, address(`p${i}`))))).map((r) => r.url);
    console.log(`3 partitions over ${scheme}, each with its own log`);
    kv = await KvClient.open({
      name: 'client',
      log: join(dir, 'client.log'),
      listen: address('client'),
      partitions: urls,
      maxMessageSize: MAX_MESSAGE,
      voteTimeoutMs: 1000,
      readTimeoutMs: 1000,
      retryMs: 50,
      retryMaxMs: 500,
    });
    const client = kv;
    console.log(ACCOUNTS.map((a) => `${a}: p${client.partitionOf(a)}`).join(', '));

    await kv.transact(async (tx) => {
      for (const a of ACCOUNTS) tx.put(a, '100');
    });
    console.log(`created ${ACCOUNTS.length} accounts with 100 each`);

    let next = 0;
    let done = 0;
    let committed = 0;
    let aborted = 0;
    let restarted: Promise<void> | undefined;
    const transfer = async (): Promise<void> => {
      const [from, to] = [...ACCOUNTS].sort(() => Math.random() - 0.5) as [string, string];
      try {
        await client.transact(async (tx) => {
          const a = Number(await tx.get(from));
          const b = Number(await tx.get(to));
          const amount = Math.min(a, 1 + Math.floor(Math.random() * 20)); // no account goes below 0
          tx.put(from, String(a - amount));
          tx.put(to, String(b + amount));
        });
        committed++;
      } catch {
        aborted++; // aborted 10 times (conflicts), or a read or a vote timed out: nothing of it was applied
      }
      if (++done === TRANSFERS / 2) restarted = crash(done);
    };
    const crash = async (after: number): Promise<void> => {
      const victim = children[VICTIM]!;
      victim.child.kill('SIGKILL');
      const { signal } = await victim.child.exited;
      closeSync(victim.lifeline);
      console.log(`killed partition p${VICTIM} (${signal}) after ${after} transfers`);
      await new Promise((resolve) => setTimeout(resolve, 300)); // transfers that need it abort meanwhile
      const ready = await start(VICTIM, urls[VICTIM]!);
      console.log(`restarted p${VICTIM} on its log: it recovered ${ready.accounts} accounts (${ready.inDoubt} in doubt)`);
    };
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < TRANSFERS) {
          next++;
          await transfer();
        }
      }),
    );
    await restarted;
    // Every decision acknowledged (the restarted partition learnt what it was in doubt about): no locks are left.
    for (let i = 0; i < 600 && kv.coordinator.active > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    console.log(`${TRANSFERS} transfers: ${committed} committed, ${aborted} aborted`);
    const total = await kv.transact(async (tx) => {
      let sum = 0;
      for (const a of ACCOUNTS) sum += Number(await tx.get(a));
      return sum;
    });
    console.log(`total ${total}`);
  } finally {
    await kv?.close();
    for (const c of children) if (c !== undefined) closeSync(c.lifeline); // the partitions close and exit
    const codes = await Promise.all(children.map((c) => c?.child.exited));
    rmSync(dir, { recursive: true, force: true });
    console.log(`partitions exited with codes ${codes.map((s) => s?.code).join(' ')}`);
  }
}

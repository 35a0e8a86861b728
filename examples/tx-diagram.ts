// The slides' two-phase commit example as a space-time diagram: a
// coordinator (this process, a client of the key-value store) and three
// participants (partition processes, each with its own log), every message
// stamped with vector clocks and named (examples/tx/trace-links.ts). One
// transaction commits (VOTE_REQ, three YES, COMMIT, three ACK); one aborts
// (its read at p1 is stale: p1 votes NO, the coordinator sends ABORT). The
// four processes' traces are merged and drawn as one offline HTML page: open
// it in a browser, hover an event for its message and its past and future.
// Run: npx tsx examples/tx-diagram.ts [out.html]   (default: 2pc.html here)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';

import {
  closeSync,
  codecs,
  forkNode,
  KvClient,
  openKvPartition,
  pipe,
  readTrace,
  receiverFromFd,
  senderFromFd,
  toSpaceTimeHtml,
  Trace,
  TraceRecorder,
  writeTrace,
  type Child,
} from '../lib/index.js';
import { traceLinks } from './tx/trace-links.js';

const PARTICIPANTS = ['p1', 'p2', 'p3'];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const [role, ...rest] = process.argv.slice(2);

if (role === 'participant') {
  const [name, dir] = rest as [string, string];
  const recorder = new TraceRecorder(name);
  const site = await openKvPartition({
    name,
    log: join(dir, `${name}.log`),
    listen: `unix:${join(dir, `${name}.sock`)}`,
    onLink: traceLinks(recorder),
  });
  const ready = senderFromFd(3, { codec: codecs.json });
  await ready.send(site.participant.url);
  await ready.close();
  // fd 4 is the parent's lifeline: its end (the parent closed it, or died) stops this participant.
  const lifeline = receiverFromFd(4);
  await lifeline.receive().catch(() => undefined);
  lifeline.close();
  await site.close();
  await writeTrace(join(dir, `${name}.trace`), recorder.toTrace());
} else {
  const out = resolve(role ?? '2pc.html');
  const dir = mkdtempSync(join(tmpdir(), 'tx-diagram-'));
  const children: Array<{ child: Child; lifeline: number }> = [];
  const stop = async (): Promise<void> => {
    for (const c of children.splice(0)) {
      closeSync(c.lifeline); // the participant closes, writes its trace and exits
      await c.child.exited;
    }
  };
  let kv: KvClient | undefined;
  try {
    const urls = await Promise.all(
      PARTICIPANTS.map(async (name) => {
        const [r, w] = pipe();
        const [lr, lw] = pipe();
        const child = forkNode(new URL(import.meta.url), { args: ['participant', name, dir], fds: { 0: 0, 1: 1, 2: 2, 3: w, 4: lr } });
        children.push({ child, lifeline: lw });
        closeSync(w);
        closeSync(lr);
        const ready = receiverFromFd(r, { codec: codecs.json });
        const url = (await ready.receive({ timeoutMs: 30_000 })) as string;
        ready.close();
        return url;
      }),
    );
    const names = new Map(urls.map((u, i) => [u, PARTICIPANTS[i]!]));
    const recorder = new TraceRecorder('coordinator');
    kv = await KvClient.open({
      name: 'coordinator',
      log: join(dir, 'coordinator.log'),
      listen: `unix:${join(dir, 'coordinator.sock')}`,
      partitions: urls,
      onLink: traceLinks(recorder, (a) => names.get(a)),
    });
    const client = kv;
    // One key in each partition (the store puts key k in partition crc32(k) % 3).
    const keys = PARTICIPANTS.map((_, p) => {
      for (let i = 0; ; i++) if (crc32(`k${i}`) % 3 === p) return `k${i}`;
    });
    const settled = async (): Promise<void> => {
      for (let i = 0; i < 100 && client.coordinator.active > 0; i++) await sleep(50); // every ACK in
    };

    const t1 = kv.begin();
    for (const k of keys) t1.put(k, 'v1');
    await t1.commit();
    await settled();
    console.log(`tx 1 (${t1.id}): committed`);

    const t2 = kv.begin();
    const seen = await t2.get(keys[0]!);
    await kv.transact(async (tx) => tx.put(keys[0]!, `${seen} changed`)); // after t2 read it: t2's read is stale
    await settled();
    for (const k of keys) t2.put(k, 'v2');
    await t2.commit().then(
      () => console.log(`tx 2 (${t2.id}): committed?!`),
      (err: { reason?: string }) => console.log(`tx 2 (${t2.id}): aborted (${err.reason?.replace(/unix:\S+\/(p\d)\.sock/, '$1')})`),
    );
    // Late YES votes are answered ABORT: wait until nothing has come for a while before the participants stop.
    for (let i = 0, n = -1; i < 50 && n !== recorder.events.length; i++) {
      n = recorder.events.length;
      await sleep(200);
    }
    const reads = kv.begin(); // reads only: given up, not committed (no two-phase commit)
    for (const k of keys) console.log(`${k} = ${await reads.get(k)}`);
    reads.abort();

    await kv.close();
    kv = undefined;
    await stop();
    const trace = Trace.merge(recorder, ...(await Promise.all(PARTICIPANTS.map((p) => readTrace(join(dir, `${p}.trace`))))));
    const messages = [...trace.messages().values()].filter((m) => m.send !== undefined && m.receives.length > 0);
    const txName = (e: { data?: unknown }): string => {
      const x = (e.data as { tx?: string } | undefined)?.tx;
      return x === undefined ? '' : ` (tx ${x.slice(x.lastIndexOf('.') + 1)})`;
    };
    for (const m of messages) console.log(`  ${m.send!.process} -> ${m.receives[0]!.process}: ${m.send!.label}${txName(m.send!)}`);
    writeFileSync(out, toSpaceTimeHtml(trace, { title: 'Two-phase commit: one transaction committed, one aborted' }));
    console.log(`wrote ${out}: ${trace.processes.join(', ')}; ${trace.events.length} events, ${messages.length} messages`);
  } finally {
    await kv?.close();
    await stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// One site of the transaction benchmark, in its own process (started by
// benchmarks/tx/sites.ts). It prints "ready <url>" once it listens, then:
//   partition <name> <log> <listen>
//     a KV partition (participant); runs until its stdin ends.
//   client <name> <log> <listen> <partition,urls,...>
//     a KvClient (the coordinator of its transactions, with its own log),
//     with one key of its own in each partition (no two clients share a key:
//     no conflicts). Commands on stdin, one per line:
//       run <n> <paced 0|1>  n transactions one after the other, each a put
//                            of its number at every key (so one write per
//                            participant, no reads) and commit(); paced: wait
//                            until the previous one is acknowledged by every
//                            participant before starting the next.
//                            -> done {"start":ns,"end":ns,"samples":[ns...]}
//                            (start/end: the monotonic clock, shared by every
//                            process on Linux; samples: each commit's latency)
//       check               -> "checked" once every key reads the last value
//                            written, else "failed <why>"
//   Both roles: "record" starts recording the protocol's named points (the
//   sites' fault points, each with the monotonic clock), "stamps" prints
//   "stamps [[name, ns], ...]" and stops: the phase breakdown of tx.ts;
//   "cpu" prints "cpu <µs>", the process's CPU time so far (user + system).
//     Any failure (an abort: there is no conflict to abort for) prints
//     "failed <why>" and exits 1.
import { createInterface } from 'node:readline';

import { KvClient, openKvPartition } from '../../lib/index.js';
import { sayLine } from '../lib/say-line.js';

const [role, name, log, listen, partitionList] = process.argv.slice(2) as [string, string, string, string, string | undefined];
const say = sayLine;
const lines = createInterface({ input: process.stdin });
// The sites' default maxMessageSize (1 MiB) is over what a shm channel takes (1 MiB - 8): say less.
const maxMessageSize = 64 * 1024;
let stamps: Array<[string, number]> = [];
let recording = false;
const faults = { point: (p: string): void => void (recording && stamps.push([p, Number(process.hrtime.bigint())])) };
/** The commands both roles take; true if `line` was one. */
const common = (line: string): boolean => {
  if (line === 'record') [stamps, recording] = [[], true];
  else if (line === 'stamps') {
    say(`stamps ${JSON.stringify(stamps)}`);
    [stamps, recording] = [[], false];
  } else if (line === 'cpu') {
    const u = process.cpuUsage();
    say(`cpu ${u.user + u.system}`);
  } else return false;
  return true;
};

if (role === 'partition') {
  const site = await openKvPartition({ name, log, listen, maxMessageSize, faults });
  say(`ready ${site.participant.url}`);
  for await (const line of lines) common(line); // until stdin ends
  await site.close();
} else if (role === 'client') {
  const kv = await KvClient.open({ name, log, listen, maxMessageSize, faults, partitions: partitionList!.split(',') });
  say(`ready ${kv.coordinator.url}`);
  // One key per partition, found by trying suffixes (key k lives in partition crc32(k) % n).
  const keys: string[] = [];
  for (let j = 0; j < kv.partitions.length; j++) {
    let s = 0;
    while (kv.partitionOf(`${name}-${s}`) !== j) s++;
    keys.push(`${name}-${s}`);
  }
  let last = -1;
  const settled = async (): Promise<void> => {
    const end = performance.now() + 5000;
    while (kv.coordinator.active > 0) {
      if (performance.now() > end) throw new Error('acknowledgements still missing after 5 s');
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  };
  try {
    for await (const line of lines) {
      if (common(line)) continue;
      const [cmd, a, b] = line.split(' ');
      if (cmd === 'run') {
        const n = Number(a);
        const paced = b === '1';
        const samples = new Array<number>(n);
        const start = process.hrtime.bigint();
        for (let i = 0; i < n; i++) {
          if (paced) await settled();
          const t0 = process.hrtime.bigint();
          const tx = kv.begin();
          const value = String(++last);
          for (const k of keys) tx.put(k, value);
          await tx.commit();
          samples[i] = Number(process.hrtime.bigint() - t0);
        }
        const end = process.hrtime.bigint();
        say(`done ${JSON.stringify({ start: String(start), end: String(end), samples })}`);
      } else if (cmd === 'check') {
        await settled();
        const tx = kv.begin();
        const bad: string[] = [];
        for (const k of keys) {
          const v = await tx.get(k);
          if (v !== String(last)) bad.push(`${k}=${v} (wrote ${last})`);
        }
        tx.abort();
        say(bad.length === 0 ? 'checked' : `failed ${bad.join(', ')}`);
      }
    }
  } catch (err) {
    say(`failed ${(err as Error)?.stack ?? String(err)}`.replace(/\n/g, ' | '));
    await kv.close().catch(() => undefined);
    process.exit(1);
  }
  await kv.close();
} else {
  throw new Error(`unknown role ${role}`);
}

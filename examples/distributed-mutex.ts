// Distributed mutual exclusion, as the course shows it: N processes that share
// nothing but messages take turns in one critical section, by a central
// coordinator, a token ring, Ricart-Agrawala or Suzuki-Kasami. Each process
// increments a counter (kept, for the check only, in shared memory) with a
// read, a pause and a write: only the mutex keeps updates from being lost.
// Every write carries the holding's fence, which must rise. At the end the
// parent prints the algorithm's messages per critical section beside the theory's.
//   process P_i:  loop { acquire(); critical section; release() }
// Run: npx tsx examples/distributed-mutex.ts [central|token-ring|ricart-agrawala|suzuki-kasami] [rounds]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { SharedMemory, forkNode, joinMutex, mutexMessages, type MutexAlgorithm } from '../lib/index.js';

const N = 4;
const [first = 'ricart-agrawala', second = '25', third = '', fourth = ''] = process.argv.slice(2);
const address = (dir: string, id: number): string => `unix:${join(dir, `dmutex-${id}.sock`)}`;

// The shared words, for the check: [0] the counter, [1] members ready, [2] the highest fence seen, [3] stale writes, [4 + i] member i's messages.
if (first === 'child') {
  const [algorithm, rounds, id, dir, shmName] = [
    second as MutexAlgorithm,
    Number(third),
    Number(fourth),
    process.argv[6]!,
    process.argv[7]!,
  ];
  const shm = SharedMemory.open(shmName);
  const words = new Int32Array(shm.buffer);
  const peers = Array.from({ length: N }, (_, i) => i + 1)
    .filter((p) => p !== id)
    .map((p) => ({ id: p, address: address(dir, p) }));
  const mutex = await joinMutex({ algorithm, id, listen: address(dir, id), peers });
  Atomics.add(words, 1, 1);
  while (Atomics.load(words, 1) < N) await new Promise((r) => setTimeout(r, 5)); // everyone listens before the first request
  for (let i = 0; i < rounds; i++) {
    using guard = await mutex.acquire({ timeoutMs: 20_000 }); // entry section
    if (guard.fence <= Atomics.load(words, 2)) Atomics.add(words, 3, 1); // a fence that does not rise
    Atomics.store(words, 2, guard.fence);
    const value = words[0]!; // critical section: read...
    await new Promise((r) => setTimeout(r, 1)); // ...let the others run (1 ms)...
    words[0] = value + 1; // ...write
  } // exit section: the guard's release
  Atomics.add(words, 1, 1); // done: stay a member until every one is (a leaving member could hold the token)
  while (Atomics.load(words, 1) < 2 * N) await new Promise((r) => setTimeout(r, 5));
  Atomics.store(words, 4 + id - 1, mutexMessages(mutex.stats.sent));
  await mutex.close();
  shm.close();
} else {
  const algorithm = first as MutexAlgorithm;
  const rounds = Number(second);
  const dir = mkdtempSync(join(tmpdir(), 'dmutex-'));
  const shm = SharedMemory.open(`/example-dmutex-${process.pid}`, { create: 'exclusive', size: 4096 });
  try {
    console.log(`${N} processes, ${algorithm}: acquire = entry section, release = exit section`);
    const procs = Array.from({ length: N }, (_, i) =>
      forkNode(new URL(import.meta.url), { args: ['child', algorithm, String(rounds), String(i + 1), dir, shm.name] }),
    );
    const codes = await Promise.all(procs.map(async (p) => (await p.exited).code));
    const words = new Int32Array(shm.buffer);
    const expected = N * rounds;
    const messages = Array.from({ length: N }, (_, i) => words[4 + i]!).reduce((a, b) => a + b, 0);
    const theory = {
      central: '3 (0 for the coordinator)',
      'token-ring': '1 to N',
      'ricart-agrawala': `2(N-1) = ${2 * (N - 1)}`,
      'suzuki-kasami': `N = ${N} (0 with the token here)`,
    }[algorithm];
    console.log(`${N} processes x ${rounds} critical sections = ${words[0]} (expected ${expected}); exit codes ${codes.join(' ')}`);
    console.log(`fences rose every time: ${words[3] === 0 ? 'yes' : `no (${words[3]} stale)`}`);
    console.log(`messages per critical section: ${(messages / expected).toFixed(2)} (theory: ${theory})`);
    if (words[0] !== expected || words[3] !== 0 || codes.some((c) => c !== 0)) process.exitCode = 1;
  } finally {
    shm.close();
    SharedMemory.unlink(shm.name);
    rmSync(dir, { recursive: true, force: true });
  }
}

// Mutual exclusion with a named POSIX semaphore: N processes increment a
// counter in shared memory with a plain (non-atomic) read-modify-write, inside
// wait()/post(). Without the semaphore, updates are lost.
// Run: npx tsx examples/semaphore-mutex.ts [--no-lock]
import { forkNode, Semaphore, SharedMemory } from '../lib/index.js';

const [role, semName, shmName, iterations] = process.argv.slice(2);
if (role === 'child') {
  const lock = process.argv.includes('--no-lock') ? null : Semaphore.open(semName!);
  const shm = SharedMemory.open(shmName!);
  const counter = new Int32Array(shm.buffer);
  for (let i = 0; i < Number(iterations); i++) {
    lock?.waitSync(); // entry section: P(S)
    const value = counter[0]!; // critical section: read...
    counter[0] = value + 1; // ...modify, write
    lock?.post(); // exit section: V(S)
  }
  shm.close();
  lock?.close();
} else {
  const children = 4;
  const noLock = process.argv.includes('--no-lock');
  // Without the lock, enough work that the processes overlap and race.
  const perChild = noLock ? 5_000_000 : 50_000;
  const tag = `${process.pid}`;
  const sem = Semaphore.open(`/example-mutex-${tag}`, { create: 'exclusive', initialValue: 1 });
  const shm = SharedMemory.open(`/example-counter-${tag}`, { create: 'exclusive', size: 4096 });
  try {
    const extra = noLock ? ['--no-lock'] : [];
    const procs = Array.from({ length: children }, () =>
      forkNode(new URL(import.meta.url), { args: ['child', sem.name, shm.name, String(perChild), ...extra] }),
    );
    await Promise.all(procs.map((p) => p.exited));
    const total = new Int32Array(shm.buffer)[0];
    console.log(`${children} processes x ${perChild} increments = ${total} (expected ${children * perChild})`);
  } finally {
    shm.close();
    SharedMemory.unlink(shm.name);
    sem.close();
    Semaphore.unlink(sem.name);
  }
}

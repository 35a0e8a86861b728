// The other side of the locks scenario's handoff runs:
//   peer.ts <kind> <lockName> <file> <turnName> <rounds> [lockfileDir]
// Opens the lock and the turn segment, prints "ready", waits for the go
// word (Int32 1 of the turn segment), then, `rounds` times, takes the lock
// and, when the turn word (Int32 0) is 1, sets it to 0; prints "done".
// Run with --import tsx.
import { futexWaitSync, SharedMemory } from '../../lib/index.js';
import { openLock, type LockKind } from './primitives.js';
import { handoffLoop } from './handoff.js';

const [kind, lockName, file, turnName, rounds, lockfileDir] = process.argv.slice(2) as [LockKind, string, string, string, string, string?];
const lock = openLock(kind, lockName, file, false, lockfileDir);
const shm = SharedMemory.open(turnName);
const words = new Int32Array(shm.buffer);
process.stdout.write('ready\n');
const goBy = performance.now() + 30_000;
while (Atomics.load(words, 1) === 0) {
  if (performance.now() > goBy) throw new Error('never told to go');
  futexWaitSync(shm, 4, 0, 100);
}
await handoffLoop(lock, words, 1, Number(rounds), performance.now() + 60_000);
process.stdout.write('done\n');
lock.close();
shm.close();

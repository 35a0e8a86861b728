// The bounded-buffer producer/consumer on shared memory, as in the course:
// a circular buffer of N slots in a segment, guarded by three unnamed
// process-shared semaphores placed in the same segment (empty, full, mutex).
// Run: npx tsx examples/shm-producer-consumer.ts
import { forkNode, SharedMemory, UnnamedSemaphore } from '../lib/index.js';

const SLOTS = 8;
const ITEMS = 1000;
// Layout: [empty sem][full sem][mutex sem][in][out][slots...]
const S = UnnamedSemaphore.BYTES;
const EMPTY = 0;
const FULL = S;
const MUTEX = 2 * S;
const IN = 3 * S;
const OUT = IN + 4;
const BUF = OUT + 4;
const SIZE = BUF + SLOTS * 4;

const [role, name] = process.argv.slice(2);
if (role === 'consumer') {
  const shm = SharedMemory.open(name!);
  const [empty, full, mutex] = [EMPTY, FULL, MUTEX].map((off) => UnnamedSemaphore.attach(shm, off));
  const words = new Int32Array(shm.buffer);
  let sum = 0;
  for (let i = 0; i < ITEMS; i++) {
    full!.waitSync(); // wait for an item
    mutex!.waitSync();
    const out = words[OUT / 4]!;
    sum += words[BUF / 4 + out]!;
    words[OUT / 4] = (out + 1) % SLOTS;
    mutex!.post();
    empty!.post(); // one more free slot
  }
  console.log(`consumer: received ${ITEMS} items, sum ${sum}`);
  for (const s of [empty, full, mutex]) s!.close();
  shm.close();
} else {
  const name = `/example-bounded-${process.pid}`;
  const shm = SharedMemory.open(name, { create: 'exclusive', size: SIZE });
  try {
    const empty = UnnamedSemaphore.init(shm, EMPTY, SLOTS);
    const full = UnnamedSemaphore.init(shm, FULL, 0);
    const mutex = UnnamedSemaphore.init(shm, MUTEX, 1);
    const consumer = forkNode(new URL(import.meta.url), { args: ['consumer', name] });
    const words = new Int32Array(shm.buffer);
    let sum = 0;
    for (let item = 1; item <= ITEMS; item++) {
      await empty.wait(); // wait for a free slot, without blocking the event loop
      mutex.waitSync();
      const at = words[IN / 4]!;
      words[BUF / 4 + at] = item;
      words[IN / 4] = (at + 1) % SLOTS;
      mutex.post();
      full.post();
      sum += item;
    }
    console.log(`producer: sent ${ITEMS} items, sum ${sum}`);
    await consumer.exited;
    for (const s of [empty, full, mutex]) s.destroy();
  } finally {
    shm.close();
    SharedMemory.unlink(name);
  }
}

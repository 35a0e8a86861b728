// Mutual exclusion by asynchronous message passing, as the course shows it:
// a mailbox holding one token message is the semaphore. receive() blocks
// until the token is there: P, the entry section; trySend() puts the token
// back without waiting: V, the exit section. N processes increment a
// counter in shared memory with a read, a pause, and a write: only the
// token keeps their updates from being lost.
//   process P_i:  loop { receive(mbox, token); critical section; send(mbox, token) }
// Run: npx tsx examples/message-mutex-async.ts [--no-lock]   (--no-lock: no token, and updates are lost)
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  UnixServer,
  codecs,
  type Codec,
  connectMailboxConsumer,
  connectMailboxProducer,
  connectUnix,
  createMailbox,
  forkNode,
  SharedMemory,
} from '../lib/index.js';

const [role, path = join(tmpdir(), `mutex-mailbox-${process.pid}.sock`), shmName = '', rounds = '200'] = process.argv.slice(2);
const codec = codecs.json as Codec<string>;
const children = 4;
const noLock = process.argv.includes('--no-lock');

if (role === 'child') {
  const consumer = await connectMailboxConsumer(() => connectUnix(path), { codec, prefetch: 1 });
  const producer = await connectMailboxProducer(() => connectUnix(path), { codec });
  const shm = SharedMemory.open(shmName);
  const counter = new Int32Array(shm.buffer);
  for (let i = 0; i < Number(rounds); i++) {
    const token = noLock ? { message: 'none' } : await consumer.receive(); // entry section: P, a blocking receive
    if (token === undefined) throw new Error('the mailbox closed');
    const value = counter[0]!; // critical section: read...
    await new Promise((r) => setTimeout(r, 1)); // ...let the others run (1 ms)...
    counter[0] = value + 1; // ...write
    if (!noLock && !producer.trySend(token.message)) await producer.send(token.message); // exit section: V, a send that does not wait
  }
  shm.close();
  await producer.close();
  await consumer.close(); // a token that arrived unreceived goes back to the mailbox
} else {
  const mailbox = createMailbox().serve(UnixServer.listen(path));
  const shm = SharedMemory.open(`/example-msg-mutex-${process.pid}`, { create: 'exclusive', size: 4096 });
  try {
    const init = await connectMailboxProducer(() => connectUnix(path), { codec });
    await init.send('token'); // the semaphore's initial value: one message
    await init.close();
    console.log(`mailbox ${path} holds 1 token; ${children} processes: receive = P, send = V`);
    const procs = Array.from({ length: children }, () =>
      forkNode(new URL(import.meta.url), { args: ['child', path, shm.name, rounds, ...(noLock ? ['--no-lock'] : [])] }),
    );
    const codes = await Promise.all(procs.map(async (p) => (await p.exited).code));
    const total = new Int32Array(shm.buffer)[0]!;
    const expected = children * Number(rounds);
    console.log(`${children} processes x ${rounds} critical sections = ${total} (expected ${expected}); exit codes ${codes.join(' ')}`);
    if (total !== expected && !noLock) process.exitCode = 1;
  } finally {
    await mailbox.close();
    shm.close();
    SharedMemory.unlink(shm.name);
  }
}

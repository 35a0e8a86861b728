// The README quick start: a parent receives JSON messages from a child over a
// channel. Swap the one line marked (1) for (2) to move from shared memory to
// message passing: the rest of the code is the same.
// Run: npx tsx examples/channels.ts
import { codecs, forkNode, openFifoReceiver, openFifoSender, openShmReceiver, openShmSender } from '../lib/index.js';

const [role, name = `/quickstart-${process.pid}`] = process.argv.slice(2);
const open = { shm: [openShmSender, openShmReceiver], fifo: [openFifoSender, openFifoReceiver] } as const;
const [openSender, openReceiver] = open.shm; // (1) shared memory
// const [openSender, openReceiver] = open.fifo; // (2) message passing (name: a file path)

if (role === 'child') {
  const tx = await openSender(name, { codec: codecs.json });
  for (let i = 1; i <= 3; i++) await tx.send({ hello: 'parent', i });
  await tx.close();
} else {
  const rx = await openReceiver(name, { create: true, codec: codecs.json });
  const child = forkNode(new URL(import.meta.url), { args: ['child', name] });
  for await (const msg of rx) console.log('parent got', msg);
  rx.close();
  await child.exited;
}

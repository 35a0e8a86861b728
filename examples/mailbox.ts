// The course's mailbox with two producers and two consumers, four processes
// besides the owner: the producers send jobs into one queue, the consumers
// compete for them, and each job is taken by exactly one consumer.
// Run: npx tsx examples/mailbox.ts
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
} from '../lib/index.js';

const [role, path = join(tmpdir(), `mailbox-example-${process.pid}.sock`), who = ''] = process.argv.slice(2);
const codec = codecs.json as Codec<string>;

if (role === 'producer') {
  const producer = await connectMailboxProducer(() => connectUnix(path), { codec });
  for (let k = 1; k <= 5; k++) await producer.send(`job ${who}.${k}`);
  await producer.close();
} else if (role === 'consumer') {
  const consumer = await connectMailboxConsumer(() => connectUnix(path), { codec, prefetch: 1 });
  const taken: string[] = [];
  for await (const { message } of consumer) {
    taken.push(message);
    await new Promise((r) => setTimeout(r, 10)); // the work
  }
  console.log(`consumer ${who} took ${taken.length}: ${taken.join(', ')}`);
  await consumer.close();
} else {
  const mailbox = createMailbox().serve(UnixServer.listen(path));
  const start = (r: string, name: string) => forkNode(new URL(import.meta.url), { args: [r, path, name] });
  const consumers = [start('consumer', 'A'), start('consumer', 'B')];
  const wait = async (ready: () => boolean): Promise<void> => {
    for (let i = 0; i < 500 && !ready(); i++) await new Promise((r) => setTimeout(r, 20));
  };
  await wait(() => mailbox.stats.consumers === 2); // both compete from the first job
  const producers = [start('producer', '1'), start('producer', '2')];
  for (const p of producers) await p.exited;
  await wait(() => mailbox.stats.acknowledged === 10);
  const stats = mailbox.stats;
  await mailbox.close(); // the consumers see the end and exit
  const codes = await Promise.all(consumers.map(async (c) => (await c.exited).code));
  console.log(`2 producers sent 10 jobs; 2 consumers acknowledged ${stats.acknowledged}, redelivered ${stats.redelivered}`);
  console.log(`consumers exited with codes ${codes.join(' ')}`);
}

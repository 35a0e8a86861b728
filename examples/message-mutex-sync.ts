// Mutual exclusion by synchronous message passing, as the course shows it:
// a server process grants the critical section. Each send is a rendezvous
// (it returns when the server has taken the message), so a client that
// sent "request" and received "grant" knows it is alone until its "release".
//   client:  send(server, request); receive(server, grant); critical section; send(server, release)
//   server:  loop { receive(any, m); request: grant now if free, else queue;
//                   release: grant the next in the queue, else free }
// Run: npx tsx examples/message-mutex-sync.ts
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { UnixServer, codecs, type Codec, connectUnix, forkNode, rendezvous, SharedMemory, type Rendezvous } from '../lib/index.js';

const [role, path = join(tmpdir(), `mutex-server-${process.pid}.sock`), shmName = '', rounds = '200'] = process.argv.slice(2);
const codec = codecs.json as Codec<string>;
const children = 4;

if (role === 'child') {
  const server = rendezvous(await connectUnix(path), { codec, until: 'taken' });
  const shm = SharedMemory.open(shmName);
  const counter = new Int32Array(shm.buffer);
  for (let i = 0; i < Number(rounds); i++) {
    await server.send('request'); // entry section
    if ((await server.receive()) !== 'grant') throw new Error('the server did not grant');
    const value = counter[0]!; // critical section: read...
    await new Promise((r) => setImmediate(r)); // ...let the others run...
    counter[0] = value + 1; // ...write
    await server.send('release'); // exit section
  }
  shm.close();
  await server.close();
} else {
  const listener = UnixServer.listen(path);
  const shm = SharedMemory.open(`/example-sync-mutex-${process.pid}`, { create: 'exclusive', size: 4096 });
  // The server's one inbox: every client's messages, in arrival order.
  const inbox: { client: Rendezvous<string>; m: string }[] = [];
  let wake: (() => void) | undefined;
  const post = (client: Rendezvous<string>, m: string): void => {
    inbox.push({ client, m });
    wake?.();
  };
  const clients: Rendezvous<string>[] = [];
  const readers: Promise<void>[] = [];
  try {
    const procs = Array.from({ length: children }, () => forkNode(new URL(import.meta.url), { args: ['child', path, shm.name, rounds] }));
    for (let i = 0; i < children; i++) {
      const c = rendezvous(await listener.accept(), { codec, until: 'taken' });
      clients.push(c);
      readers.push((async () => { for await (const m of c) post(c, m); post(c, 'gone'); })()); // prettier-ignore
    }
    console.log(`server at ${path}: ${children} clients, each send a rendezvous`);
    let holder: Rendezvous<string> | undefined;
    const queue: Rendezvous<string>[] = [];
    let grants = 0;
    let gone = 0;
    while (gone < children) {
      if (inbox.length === 0) await new Promise<void>((r) => (wake = r));
      const { client, m } = inbox.shift()!;
      if (m === 'gone') gone++;
      else if (m === 'request' && holder === undefined) {
        holder = client;
        grants++;
        await client.send('grant');
      } else if (m === 'request') queue.push(client);
      else if (m === 'release' && client === holder) {
        holder = queue.shift();
        if (holder !== undefined) {
          grants++;
          await holder.send('grant');
        }
      } else throw new Error(`unexpected ${m}`);
    }
    const codes = await Promise.all(procs.map(async (p) => (await p.exited).code));
    const total = new Int32Array(shm.buffer)[0]!;
    const expected = children * Number(rounds);
    console.log(
      `${grants} grants; ${children} processes x ${rounds} critical sections = ${total} (expected ${expected}); exit codes ${codes.join(' ')}`,
    );
    if (total !== expected) process.exitCode = 1;
  } finally {
    listener.close();
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(readers).catch(() => undefined);
    shm.close();
    SharedMemory.unlink(shm.name);
  }
}

// The course's direct communication by process names: symmetric addressing
// (sender and receiver name each other: send(P, m), receive(Q, m)) and
// asymmetric addressing (only the sender names the receiver: receive(id, m)
// tells who sent). Each process registers its name with the name service and
// listens under it over shared memory; a process's global identifier is its
// machine and pid. P receives; Q and S, two other processes, send to it.
// Run: npx tsx examples/process-names.ts
import { hostname } from 'node:os';

import { codecs, connect, forkNode, listen, select, type Codec, type Duplex, type Receiver } from '../lib/index.js';

type Wire = { from: string; id: string } | { text: string };
const json = codecs.json as Codec<Wire>;
const [role, tag = String(process.pid)] = process.argv.slice(2);
const nameOf = (p: string): string => `name:${p.toLowerCase()}-${tag}`;
const id = `${hostname()}/${process.pid}`; // machine address + process id

if (role === 'Q' || role === 'S') {
  // send(P, m): the sender names the receiver, and says who it is.
  const link = await connect<Wire>(nameOf('P'), { codec: json, timeoutMs: 10_000 });
  await link.sender.send({ from: role, id });
  for (let i = 1; i <= 2; i++) await link.sender.send({ text: `hello ${i} from ${role}` });
  await link.close();
} else {
  const server = await listen<Wire>(nameOf('P'), { at: `shm:/p-${tag}`, codec: json });
  const children = ['Q', 'S'].map((r) => forkNode(new URL(import.meta.url), { args: [r, tag] }));
  // Every link that connects says first who is at the other end.
  const links = new Map<string, { link: Duplex<Wire>; id: string }>();
  const accepted = new Set<Receiver<Wire>>();
  async function acceptOne(): Promise<void> {
    const link = await server.accept();
    const hello = (await link.receiver.receive({ timeoutMs: 10_000 })) as { from: string; id: string };
    links.set(hello.from, { link, id: hello.id });
    accepted.add(link.receiver);
  }
  // Symmetric: receive(Q, m) takes only what Q sent, whoever else is sending.
  while (!links.has('Q')) await acceptOne();
  for (let i = 0; i < 2; i++) {
    const m = (await links.get('Q')!.link.receiver.receive({ timeoutMs: 10_000 })) as { text: string };
    console.log(`symmetric: receive(Q) -> "${m.text}"`);
  }
  // Asymmetric: receive(id, m) takes from anyone and says who it was.
  while (links.size < 2) await acceptOne();
  for (let got; (got = await select([...accepted], { timeoutMs: 10_000 })) !== undefined;) {
    const [receiver, m] = got;
    if (!('text' in m)) continue;
    const [who, { id: sender }] = [...links].find(([, l]) => l.link.receiver === receiver)!;
    console.log(`asymmetric: receive(id) -> "${m.text}", id = ${who} (${sender})`);
  }
  for (const { link } of links.values()) await link.close();
  server.close();
  const codes = await Promise.all(children.map(async (c) => (await c.exited).code));
  console.log(`Q and S exited with codes ${codes.join(' ')}`);
}

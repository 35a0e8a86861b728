// The course's "two links using two different link numbers": one pair of
// processes, two independent paths between them. Link 1 is a ring in shared
// memory, link 2 a pipe; the parent receives from whichever has a message
// (select), and a request/reply on a shared-memory duplex closes the session.
// Run: npx tsx examples/two-links.ts
import {
  closeSync,
  codecs,
  forkNode,
  openShmDuplex,
  openShmReceiver,
  openShmSender,
  pipe,
  receiverFromFd,
  select,
  senderFromFd,
} from '../lib/index.js';

const [role, name = `/two-links-${process.pid}`] = process.argv.slice(2);

if (role === 'child') {
  const link1 = await openShmSender(`${name}-1`, { codec: codecs.json });
  const link2 = senderFromFd(3, { codec: codecs.json }); // the pipe's write end, placed at fd 3
  for (let i = 1; i <= 3; i++) {
    await link1.send({ link: 1, i });
    await link2.send({ link: 2, i });
  }
  await Promise.all([link1.close(), link2.close()]);
  const session = await openShmDuplex(`${name}-rpc`, { codec: codecs.json });
  const request = (await session.receiver.receive()) as { op: string; values: number[] };
  await session.sender.send({ sum: request.values.reduce((a, b) => a + b, 0) });
  await session.close();
} else {
  const link1 = await openShmReceiver(`${name}-1`, { create: true, codec: codecs.json });
  const session = await openShmDuplex(`${name}-rpc`, { create: true, codec: codecs.json });
  const [r, w] = pipe();
  const child = forkNode(new URL(import.meta.url), { args: ['child', name], fds: { 3: w } });
  closeSync(w);
  const link2 = receiverFromFd(r, { codec: codecs.json });
  const counts = new Map<unknown, number>();
  for (let got; (got = await select([link1, link2], { timeoutMs: 10_000 })) !== undefined;) {
    const [link] = got;
    counts.set(link, (counts.get(link) ?? 0) + 1);
  }
  console.log(`link 1 (shared memory): ${counts.get(link1)} messages`);
  console.log(`link 2 (pipe): ${counts.get(link2)} messages`);
  await session.sender.send({ op: 'sum', values: [1, 2, 3, 4] });
  console.log('reply over the duplex:', await session.receiver.receive({ timeoutMs: 10_000 }));
  await session.close();
  link1.close();
  link2.close();
  console.log(`child exited with code ${(await child.exited).code}`);
}

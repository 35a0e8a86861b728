// Descriptor passing (SCM_RIGHTS) over UNIX socket channels, with an
// unrelated process (test/fixtures/fd-peer.ts, started fresh, connecting to
// our server): a pipe end, a shared-memory segment and a socket end (a whole
// channel) handed over and used there; 1,000 passes each way without a
// descriptor left behind on either side, with messages dropped and a
// receiver closed with descriptors pending; MSG_CTRUNC; bad arguments.
import { readdirSync, readSync as fsReadSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import {
  closeSync,
  codecs,
  connectUnixSocket,
  dupFd,
  duplexFromFd,
  getFdFlags,
  MAX_PASSED_FDS,
  pipe,
  receiveWithFds,
  sendWithFds,
  SharedMemory,
  socketPair,
  streamFromFd,
  UnixServer,
  type Duplex,
  type FdMessage,
} from '../lib/index.js';
import { pattern, sum } from './support/checksummed.js';
import { startFixture, type FixtureProcess } from './support/fixture-process.js';
import { removePath, tempPath, uniqueName, within } from './support/helpers.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;

type Peer = { conn: Duplex<FdMessage<unknown>>; child: FixtureProcess; server: UnixServer<FdMessage<unknown>>; path: string };

async function startPeer(): Promise<Peer> {
  const path = tempPath('fds');
  const server = UnixServer.listen(path, { passFds: true, codec: codecs.json });
  const accepted = server.accept();
  const child = startFixture('fd-peer.ts', [path]);
  const conn = await within(20_000, 'the peer connects', accepted);
  await child.waitFor('ready');
  return { conn, child, server, path };
}

async function stopPeer(p: Peer): Promise<void> {
  await p.conn.close();
  await p.child.waitFor('bye', 20_000);
  await p.child.stop();
  p.server.close();
  removePath(p.path);
}

async function ask(p: Peer, value: unknown, fds: number[] = []): Promise<Record<string, number>> {
  await p.conn.sender.send({ value, fds });
  const reply = await within(20_000, 'the peer answers', p.conn.receiver.receive());
  expect(reply!.fds).toEqual([]);
  return reply!.value as Record<string, number>;
}

describe('descriptor passing over a UNIX socket channel, with an unrelated process', () => {
  it('(a) a pipe write end: the peer writes through it, we read checksummed data', async () => {
    const p = await startPeer();
    try {
      const [r, w] = pipe();
      const bytes = 200_000;
      await p.conn.sender.send({ value: { op: 'pipe', seed: 7, bytes }, fds: [w] });
      closeSync(w); // ours: the peer has its own, so EOF comes when it closes that
      const chunks: Buffer[] = [];
      const stream = streamFromFd(r, 'r'); // closes r at the end
      stream.on('data', (c: Buffer) => chunks.push(c));
      await within(20_000, 'the pipe ends', new Promise((resolve) => stream.on('close', resolve)));
      const got = Buffer.concat(chunks);
      const n = got.length;
      expect(n).toBe(bytes);
      expect(sum(got.subarray(0, n))).toBe(sum(pattern(7, bytes)));
      const reply = await p.conn.receiver.receive();
      expect(reply!.value).toEqual({ sum: sum(pattern(7, bytes)) });
    } finally {
      await stopPeer(p);
    }
  }, 60_000);

  it('(b) a shared-memory segment, unlinked before it is passed: the peer maps and fills it, we see it', async () => {
    const p = await startPeer();
    const name = uniqueName('fdshm');
    try {
      using seg = SharedMemory.open(name, { create: 'exclusive', size: 64 * 1024 });
      seg.unlink(); // only the descriptor reaches it now
      const reply = await ask(p, { op: 'shm', seed: 11 }, [seg.fd]);
      const view = new Uint8Array(seg.buffer);
      expect(sum(view)).toBe(sum(pattern(11, view.length)));
      expect(reply.sum).toBe(sum(view));
    } finally {
      await stopPeer(p);
    }
  }, 60_000);

  it('(c) a socket end, i.e. a whole channel: the peer takes it over with duplexFromFd and answers on it', async () => {
    const p = await startPeer();
    try {
      const [mine, theirs] = socketPair();
      await p.conn.sender.send({ value: { op: 'chan' }, fds: [theirs] });
      closeSync(theirs);
      const ch = duplexFromFd(mine, { codec: codecs.utf8 });
      await ch.sender.send('over the handed channel');
      expect(await within(20_000, 'echo', ch.receiver.receive())).toBe('over the handed channel');
      expect(await within(20_000, 'end', ch.receiver.receive())).toBeUndefined();
      await ch.close();
    } finally {
      await stopPeer(p);
    }
  }, 60_000);

  it('received descriptors are close-on-exec and each arrives with exactly its message', async () => {
    const p = await startPeer();
    try {
      await p.conn.sender.send({ value: { op: 'give', n: 50 }, fds: [] });
      for (let i = 0; i < 50; i++) {
        const m = await within(20_000, 'a message', p.conn.receiver.receive());
        expect(m!.value).toEqual({ i });
        expect(m!.fds).toHaveLength(1);
        const fd = m!.fds[0]!;
        expect(getFdFlags(fd).cloexec).toBe(true);
        const b = new Uint8Array(2);
        expect(fsReadSync(fd, b, 0, 2, null)).toBe(1); // the byte the peer wrote into this very pipe
        expect(b[0]).toBe(i & 0xff);
        closeSync(fd);
      }
    } finally {
      await stopPeer(p);
    }
  }, 60_000);

  it('(d) 1,000 passes each way leave no descriptor behind on either side, with dropped messages and a receiver closed with descriptors pending', async () => {
    const before = openFds();
    const p = await startPeer();
    try {
      const childBefore = (await ask(p, { op: 'count' })).fds!;
      const mineBefore = openFds();
      // To the peer: 1,000 messages with a pipe end each; it closes them.
      const [r, w] = pipe();
      for (let i = 0; i < 1000; i++) await p.conn.sender.send({ value: { op: 'drop' }, fds: i % 2 ? [r] : [r, w] });
      closeSync(r);
      closeSync(w);
      expect((await ask(p, { op: 'count' })).fds).toBe(childBefore);
      // From the peer: 1,000 messages with a pipe end each; we take 400, drop
      // 300 (drain, and a hook that drops), and close with the rest pending.
      await p.conn.sender.send({ value: { op: 'give', n: 1000 }, fds: [] });
      for (let i = 0; i < 400; i++) {
        const m = await within(20_000, 'a message', p.conn.receiver.receive());
        expect(m!.value).toEqual({ i });
        closeSync(m!.fds[0]!);
      }
      const detach = p.conn.receiver.intercept({ receive: (bytes) => (bytes[5] === 0x35 ? null : bytes) }); // drops {"i":5..}
      let dropped = 0;
      while (dropped < 300) {
        await p.conn.receiver.readable();
        dropped += p.conn.receiver.drain(() => undefined, 300 - dropped);
      }
      detach();
      // Wait until the peer sent everything, so descriptors are pending in our buffer and the socket.
      await within(20_000, 'all sent', p.conn.receiver.readable());
      p.conn.receiver.close();
      expect(openFds()).toBe(mineBefore);
    } finally {
      await stopPeer(p);
    }
    expect(openFds()).toBe(before);
  }, 120_000);
});

describe('descriptor passing: the primitives, MSG_CTRUNC and bad arguments', () => {
  it('(e) more descriptors than the receiver makes room for is EMSGSIZE, and what arrived is closed', () => {
    const [a, b] = socketPair();
    const [r, w] = pipe();
    try {
      const before = openFds();
      expect(sendWithFds(a, Buffer.from('x'), [r, w, r])).toBe(1);
      const buf = new Uint8Array(16);
      expect(() => receiveWithFds(b, buf, { maxFds: 2 })).toThrow(expect.objectContaining({ code: 'EMSGSIZE', syscall: 'recvmsg' }));
      expect(openFds()).toBe(before);
      expect(sendWithFds(a, Buffer.from('y'), [r])).toBe(1);
      expect(() => receiveWithFds(b, buf, { maxFds: 0 })).toThrow(/MSG_CTRUNC/);
      expect(openFds()).toBe(before);
      expect(sendWithFds(a, Buffer.from('z'), [w])).toBe(1);
      const got = receiveWithFds(b, buf)!;
      expect(got.bytes).toBe(1);
      expect(got.fds).toHaveLength(1);
      expect(getFdFlags(got.fds[0]!).cloexec).toBe(true);
      closeSync(got.fds[0]!);
      expect(openFds()).toBe(before);
    } finally {
      for (const fd of [a, b, r, w]) closeSync(fd);
    }
  });

  it('(e) on a channel, a peer attaching more than 253 descriptors to one message fails the receiver (latched), leaking nothing', async () => {
    // (A kernel-truncated control message fails the read the same way: the
    // primitive's EMSGSIZE above, latched by the receiver.)
    const path = tempPath('fdcorrupt');
    const server = UnixServer.listen(path, { passFds: true });
    const [r, w] = pipe();
    const before = openFds();
    try {
      const accepted = server.accept();
      const raw = connectUnixSocket(path).fd;
      const conn = await within(20_000, 'accept', accepted);
      const fds = Array.from({ length: MAX_PASSED_FDS }, () => r);
      const frame = new Uint8Array(4 + 2);
      new DataView(frame.buffer).setUint32(0, 2, true);
      sendWithFds(raw, frame.subarray(0, 5), fds); // two sendmsg calls inside one frame
      sendWithFds(raw, frame.subarray(5), fds);
      const err = await conn.receiver.receive().catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_CHANNEL_CORRUPT' });
      await expect(conn.receiver.receive()).rejects.toBe(err); // latched
      closeSync(raw);
      await conn.close();
      expect(openFds()).toBe(before);
    } finally {
      server.close();
      closeSync(r);
      closeSync(w);
    }
  });

  it('(f) bad arguments throw clear errors; a closed channel refuses', async () => {
    const [a, b] = socketPair();
    const [r, w] = pipe();
    closeSync(w);
    try {
      expect(() => sendWithFds(a, Buffer.from('x'), [w])).toThrow(expect.objectContaining({ code: 'EBADF' }));
      expect(() => sendWithFds(a, Buffer.from('x'), ['3' as unknown as number])).toThrow(TypeError);
      expect(() => sendWithFds(a, Buffer.from('x'), [-1])).toThrow(RangeError);
      expect(() => sendWithFds(a, Buffer.from('x'), new Array(254).fill(r))).toThrow(/at most 253/);
      expect(() => sendWithFds(a, Buffer.from('x'), [])).toThrow(RangeError);
      expect(() => sendWithFds(a, new Uint8Array(0), [r])).toThrow(/at least 1 byte/);
      expect(() => sendWithFds(a, 'x' as unknown as Uint8Array, [r])).toThrow(TypeError);
      expect(() => receiveWithFds(b, new Uint8Array(4), { maxFds: 254 })).toThrow(RangeError);
      expect(() => dupFd(w)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'fcntl' }));
      expect(() => SharedMemory.fromFd(r)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    } finally {
      for (const fd of [a, b, r]) closeSync(fd);
    }
    const path = tempPath('fdargs');
    const server = UnixServer.listen(path, { passFds: true });
    try {
      expect(() => UnixServer.listen(tempPath('x'), { passFds: 'yes' as unknown as boolean })).toThrow(TypeError);
      const { connectUnix } = await import('../lib/index.js');
      const accepted = server.accept();
      const client = await connectUnix(path, { passFds: true });
      const conn = await accepted;
      const [r2, w2] = pipe();
      await expect(client.sender.send({ value: new Uint8Array(1), fds: [w2, 'x' as unknown as number] })).rejects.toThrow(TypeError);
      await expect(client.sender.send({ value: new Uint8Array(1), fds: new Array(254).fill(r2) })).rejects.toThrow(RangeError);
      await expect(client.sender.send(new Uint8Array(1) as unknown as FdMessage<Uint8Array>)).rejects.toThrow(/\{ value, fds \}/);
      // the channel still works after refused calls (argument errors do not latch)
      await client.sender.send({ value: new Uint8Array([9]), fds: [w2] });
      const m = await conn.receiver.receive();
      expect(m!.value).toEqual(new Uint8Array([9]));
      expect(m!.fds).toHaveLength(1);
      closeSync(m!.fds[0]!);
      await client.close();
      await expect(client.sender.send({ value: new Uint8Array(1), fds: [r2] })).rejects.toThrow(/closed/);
      await conn.close();
      closeSync(r2);
      closeSync(w2);
    } finally {
      server.close();
    }
  });
});

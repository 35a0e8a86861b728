import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  ChannelError,
  codecs,
  defineCodec,
  pipe,
  receiverFromFd,
  senderFromFd,
  writeSync,
  closeSync,
  type Receiver,
  type Sender,
} from '../lib/index.js';
import { CAPABILITIES, openPair, openRemote, TEST_RING, TRANSPORTS } from './support/channel-transports.js';
import { message } from './fixtures/channel-peer.js';
import { within } from './support/helpers.js';

async function waitUntil(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

function pattern(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (seed + i * 31) & 0xff;
  return b;
}

describe.each(TRANSPORTS)('%s channel', (transport) => {
  const { sync } = CAPABILITIES[transport];
  // Cross-process cases run the peer in a child started with forkNode.
  it('delivers random sequences of messages intact and in order (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.nat(64), fc.nat(70_000), fc.constantFrom(0, 1, 4095, 4096, 65535, 65536, 65540, 262_144)), {
          minLength: 1,
          maxLength: 40,
        }),
        async (sizes) => {
          const { sender, receiver, cleanup } = await openPair(transport, { highWaterMark: 128 * 1024 });
          try {
            const got: Uint8Array[] = [];
            const reading = (async () => {
              for await (const m of receiver) got.push(m);
            })();
            for (const [i, size] of sizes.entries()) await sender.send(pattern(size, i));
            await sender.close();
            await within(10_000, 'drain', reading);
            expect(got.length).toBe(sizes.length);
            for (const [i, size] of sizes.entries()) expect(Buffer.compare(got[i]!, pattern(size, i))).toBe(0);
          } finally {
            await cleanup();
          }
        },
      ),
      { numRuns: 15 },
    );
  });

  it('round-trips every codec', async () => {
    const values = [{ a: 1, b: ['x', null] }, 'text ✓', 42, [1, 2, 3]];
    for (const codec of [codecs.json, codecs.structuredClone]) {
      const { sender, receiver, cleanup } = await openPair(transport, { codec });
      for (const v of values) await sender.send(v);
      for (const v of values) expect(await receiver.receive()).toEqual(v);
      await cleanup();
    }
    const clone = await openPair(transport, { codec: codecs.structuredClone });
    const rich = { when: new Date(5), map: new Map([[1, 'one']]), bytes: new Uint8Array([1, 2]), big: 10n };
    await clone.sender.send(rich);
    expect(await clone.receiver.receive()).toEqual(rich);
    await clone.cleanup();
    const text = await openPair(transport, { codec: codecs.utf8 });
    await text.sender.send('héllo');
    await text.sender.send('');
    expect(await text.receiver.receive()).toBe('héllo');
    expect(await text.receiver.receive()).toBe('');
    await text.cleanup();
    const upper = defineCodec<string>(
      'upper',
      (s) => Buffer.from(s.toUpperCase()),
      (b) => Buffer.from(b).toString(),
    );
    const custom = await openPair(transport, { codec: upper });
    await custom.sender.send('abc');
    expect(await custom.receiver.receive()).toBe('ABC');
    await custom.cleanup();
  });

  it('rejects an oversized message at once with RangeError, and the channel stays usable', async () => {
    const { sender, receiver, cleanup } = await openPair(transport, { maxMessageSize: 1000 });
    await expect(sender.send(new Uint8Array(1001))).rejects.toThrow(RangeError);
    expect(() => sender.trySend(new Uint8Array(1001))).toThrow(RangeError);
    if (sync) expect(() => sender.sendSync(new Uint8Array(1001))).toThrow(RangeError);
    else expect(() => sender.sendSync(new Uint8Array(1001))).toThrow(expect.objectContaining({ code: 'ERR_CHANNEL_SYNC_UNSUPPORTED' }));
    await sender.send(new Uint8Array(1000));
    expect((await receiver.receive())!.byteLength).toBe(1000);
    await cleanup();
  });

  it('drains what was sent, then reports end-of-stream; methods after close throw', async () => {
    const { sender, receiver, cleanup } = await openPair(transport);
    await sender.sendMany([pattern(10, 1), pattern(20, 2), pattern(0, 3)]);
    await sender.close();
    await sender.close(); // idempotent
    expect(sender.closed).toBe(true);
    await expect(sender.send(pattern(1, 1))).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
    expect(await receiver.receiveMany()).toHaveLength(3);
    expect(await receiver.receive()).toBeUndefined();
    expect(receiver.ended).toBe(true);
    expect(await receiver.receiveMany()).toEqual([]);
    receiver.close();
    receiver.close();
    await expect(receiver.receive()).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
    await cleanup();
  });

  it('a sender whose receiver closed fails with ERR_CHANNEL_PEER_GONE', async () => {
    const { sender, receiver, cleanup } = await openPair(transport);
    receiver.close();
    const big = new Uint8Array(64 * 1024);
    await expect(
      within(
        5000,
        'peer-gone send',
        (async () => {
          for (let i = 0; i < 100; i++) await sender.send(big);
          await sender.close();
        })(),
      ),
    ).rejects.toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' });
    await cleanup();
  });

  it('bounds the producer under backpressure, and trySend refuses when full', async () => {
    const highWaterMark = 256 * 1024;
    const { sender, receiver, cleanup } = await openPair(transport, { highWaterMark });
    const chunk = new Uint8Array(16 * 1024);
    let queuedMax = 0;
    let sent = 0;
    const total = 1000;
    const producing = (async () => {
      for (; sent < total; sent++) {
        await sender.send(chunk);
        queuedMax = Math.max(queuedMax, (sender as unknown as { queuedBytes: number }).queuedBytes);
      }
    })();
    // Nobody reads for a while: the producer must stop, not buffer 16 MB
    // (the kernel's buffers hold a few MB: TCP's grow as the receiving side reads).
    await new Promise((r) => setTimeout(r, 100));
    expect(sent).toBeLessThan(total);
    // Streams: the high-water mark plus one frame; shared memory: the ring is the only buffer.
    expect(queuedMax).toBeLessThanOrEqual(transport === 'shm' ? TEST_RING : highWaterMark + chunk.byteLength + 4);
    expect(sender.trySend(chunk)).toBe(false);
    let received = 0;
    while (received < total) {
      await receiver.receive();
      received++;
    }
    await producing;
    await cleanup();
  });

  it.runIf(!sync)(
    'sendSync and receiveSync throw ERR_CHANNEL_SYNC_UNSUPPORTED at once, sending and consuming nothing; the channel goes on',
    async () => {
      const { sender, receiver, cleanup } = await openPair(transport);
      try {
        await sender.send(pattern(3, 1));
        await within(5000, 'readable', receiver.readable());
        const t0 = performance.now();
        expect(() => sender.sendSync(pattern(4, 2), { timeoutMs: 1000 })).toThrow(
          expect.objectContaining({ code: 'ERR_CHANNEL_SYNC_UNSUPPORTED' }),
        );
        expect(() => receiver.receiveSync({ timeoutMs: 1000 })).toThrow(
          expect.objectContaining({ name: 'ChannelError', code: 'ERR_CHANNEL_SYNC_UNSUPPORTED' }),
        );
        expect(performance.now() - t0).toBeLessThan(100);
        expect(receiver.tryReceive()).toEqual(pattern(3, 1)); // not consumed by the refused receiveSync
        expect(sender.trySend(pattern(5, 3))).toBe(true); // not failed by the refused sendSync
        expect(await within(5000, 'receive', receiver.receive())).toEqual(pattern(5, 3)); // and pattern(4, 2) was never sent
      } finally {
        await cleanup();
      }
    },
  );

  it.runIf(sync)('sendSync and receiveSync block with timeouts (ETIMEDOUT), tryReceive does not', async () => {
    const { sender, receiver, cleanup } = await openPair(transport);
    expect(receiver.tryReceive()).toBeUndefined();
    const t0 = performance.now();
    expect(() => receiver.receiveSync({ timeoutMs: 50 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    sender.sendSync(pattern(5, 5));
    expect(receiver.receiveSync({ timeoutMs: 1000 })).toEqual(pattern(5, 5));
    sender.sendSync(pattern(6, 6));
    await new Promise((r) => setTimeout(r, 5));
    expect(receiver.tryReceive()).toEqual(pattern(6, 6));
    // Fill the kernel buffer (or the ring): sendSync then times out instead of blocking for ever.
    const big = new Uint8Array(transport === 'shm' ? TEST_RING / 4 : 1024 * 1024);
    expect(() => {
      for (let i = 0; i < 64; i++) sender.sendSync(big, { timeoutMs: 30 });
    }).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    await cleanup();
  });

  it('carries a checksummed stream to a real child process', async () => {
    const remote = await openRemote<Sender<Uint8Array>>(transport, 'sender', 'consume');
    try {
      const hash = createHash('sha256');
      const n = 300;
      for (let i = 0; i < n; i++) {
        const m = message(i, 7);
        hash.update(m);
        await remote.end.send(m);
      }
      await remote.end.close();
      expect(await within(15_000, 'child exit', remote.exited)).toBe(0);
      expect(remote.stdout().trim()).toBe(`${n} ${hash.digest('hex')}`);
    } finally {
      await remote.cleanup();
    }
  });

  it('receives a checksummed stream from a real child process', async () => {
    const n = 300;
    const remote = await openRemote<Receiver<Uint8Array>>(transport, 'receiver', 'produce', [String(n), '11']);
    try {
      let i = 0;
      for await (const m of remote.end) {
        expect(Buffer.compare(m, message(i, 11))).toBe(0);
        i++;
      }
      expect(i).toBe(n);
      expect(await within(15_000, 'child exit', remote.exited)).toBe(0);
    } finally {
      await remote.cleanup();
    }
  });

  it('a send blocked on a stalled peer ends with ERR_CHANNEL_PEER_GONE when the peer is killed -9', async () => {
    const remote = await openRemote<Sender<Uint8Array>>(transport, 'sender', 'stall');
    try {
      await within(
        10_000,
        'child ready',
        waitUntil(() => remote.stdout().includes('ready')),
      );
      const big = new Uint8Array(256 * 1024);
      const sending = (async () => {
        for (;;) await remote.end.send(big);
      })();
      await new Promise((r) => setTimeout(r, 100)); // now blocked by backpressure
      remote.child.kill('SIGKILL');
      await expect(within(2000, 'blocked send after kill', sending)).rejects.toBeInstanceOf(ChannelError);
      await expect(sending).rejects.toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' });
    } finally {
      await remote.cleanup();
    }
  });

  it('a pending receive ends with end-of-stream when the silent peer is killed -9', async () => {
    const remote = await openRemote<Receiver<Uint8Array>>(transport, 'receiver', 'idle');
    try {
      await within(
        10_000,
        'child ready',
        waitUntil(() => remote.stdout().includes('ready')),
      );
      const pending = remote.end.receive();
      await new Promise((r) => setTimeout(r, 50));
      remote.child.kill('SIGKILL');
      expect(await within(2000, 'pending receive after kill', pending)).toBeUndefined();
    } finally {
      await remote.cleanup();
    }
  });
});

describe('stream framing', () => {
  it('a frame announcing more than maxMessageSize is ERR_CHANNEL_CORRUPT, not an allocation', async () => {
    const [r, w] = pipe();
    const rx = receiverFromFd(r, { maxMessageSize: 1 << 20 });
    const header = Buffer.alloc(4);
    header.writeUInt32LE(0xfffffff0);
    writeSync(w, header);
    await expect(rx.receive()).rejects.toMatchObject({ code: 'ERR_CHANNEL_CORRUPT' });
    await expect(rx.receive()).rejects.toMatchObject({ code: 'ERR_CHANNEL_CORRUPT' }); // poisoned
    rx.close();
    closeSync(w);
  });

  it('a stream that ends inside a frame is ERR_CHANNEL_PEER_GONE, never a torn message', async () => {
    const [r, w] = pipe();
    const rx = receiverFromFd(r);
    const frame = Buffer.alloc(4 + 10);
    frame.writeUInt32LE(100);
    writeSync(w, frame);
    closeSync(w);
    await expect(rx.receive()).rejects.toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' });
    rx.close();
  });

  it('coalesces many small sends into few writes', async () => {
    const [r, w] = pipe();
    const tx = senderFromFd(w);
    const rx = receiverFromFd(r);
    for (let i = 0; i < 900; i++) expect(tx.trySend(pattern(64, i))).toBe(true);
    // Nothing was written yet: the whole batch goes out in one write on the next turn.
    expect((tx as unknown as { queuedBytes: number }).queuedBytes).toBe(900 * 68);
    await new Promise((r2) => setImmediate(r2));
    expect((tx as unknown as { queuedBytes: number }).queuedBytes).toBe(0);
    const got = await rx.receiveMany();
    expect(got).toHaveLength(900);
    await tx.close();
    rx.close();
  });

  it('validates options and messages', async () => {
    const [r, w] = pipe();
    expect(() => receiverFromFd(r, { codec: {} as never })).toThrow(TypeError);
    expect(() => senderFromFd(w, { maxMessageSize: -1 })).toThrow(RangeError);
    const tx = senderFromFd(w);
    await expect(tx.send('str' as unknown as Uint8Array)).rejects.toThrow(TypeError);
    await tx.close();
    closeSync(r);
  });
});

// Regression tests for channel defects our team reproduced: each test states
// the correct behaviour (and so failed on the code that had the defect).
// Real kernel objects and real processes throughout; every wait has a watchdog.
import { rmSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { codecs, openShmReceiver, openShmSender, SharedMemory, type Receiver, type Sender } from '../lib/index.js';
import { DATA_OFFSET, I_READ, I_STATE, I_WRITE, STATE_READY } from '../lib/channels/shm/header.js';
import { openPair, type TransportName } from './support/channel-transports.js';
import { startFixture } from './support/fixture-process.js';
import { largestLoopGap, sleep, uniqueName, within } from './support/helpers.js';

function shmPath(name: string): string {
  return `/dev/shm${name}`;
}

/** A message of `size` bytes whose first four bytes say `label`. */
function labelled(label: number, size = 64): Uint8Array {
  const b = new Uint8Array(Math.max(size, 4));
  new DataView(b.buffer).setUint32(0, label, true);
  for (let i = 4; i < b.length; i++) b[i] = (label + i) & 0xff;
  return b;
}

function labelOf(message: Uint8Array): number {
  return new DataView(message.buffer, message.byteOffset, message.byteLength).getUint32(0, true);
}

/** What a received value was, in a few words (a message by its label). */
function describeValue(value: unknown): unknown {
  if (value === undefined) return 'end of stream';
  if (value instanceof Uint8Array) return `message ${labelOf(value)} (${value.byteLength} bytes)`;
  return value;
}

/** How a promise settled: `{ value }` (described), or `{ name, code, message }` of its error. */
async function outcome(p: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    return { value: describeValue(await p) };
  } catch (err) {
    const e = err as Error & { code?: unknown };
    return { name: e.name, code: e.code, message: e.message };
  }
}

/** How a call ended: `{ returned }` (described), or `{ name, code, message }` of what it threw. */
function thrown(fn: () => unknown): Record<string, unknown> {
  try {
    return { returned: describeValue(fn()) };
  } catch (err) {
    const e = err as Error & { code?: unknown };
    return { name: e.name, code: e.code, message: e.message };
  }
}

describe('channel defects (regressions)', () => {
  it('a trySend never overtakes a send still waiting for space in a full shared-memory ring', async () => {
    // Frames of 8 + 64 bytes in a 512-byte ring: seven fit (504 bytes), the eighth must wait.
    const name = uniqueName('order');
    const rx = await openShmReceiver(name, { create: true, capacity: 512 });
    const tx = await openShmSender(name);
    try {
      for (let i = 1; i <= 7; i++) expect(tx.trySend(labelled(i))).toBe(true);
      const waiting = tx.send(labelled(100)); // the ring is full: this send queues and sleeps
      await sleep(20);
      // Free one frame: too little for the hysteresis to wake the sleeping send at once.
      expect(labelOf(rx.tryReceive()!)).toBe(1);
      const accepted = tx.trySend(labelled(200)); // may refuse (false), but must not jump the queue
      const got = [1];
      const expected = [1, 2, 3, 4, 5, 6, 7, 100, ...(accepted ? [200] : [])];
      while (got.length < expected.length) got.push(labelOf((await within(5000, 'receive', rx.receive()))!));
      await within(5000, 'the waiting send', waiting);
      expect(got).toEqual(expected);
    } finally {
      await tx.close();
      rx.close();
    }
  });

  it('receiveSync on a closed shared-memory receiver that still held a zero-copy view throws the closed error', async () => {
    const name = uniqueName('heldview');
    const rx = await openShmReceiver(name, { create: true, capacity: 4096, codec: codecs.bytesView });
    const tx = await openShmSender(name);
    try {
      await tx.send(labelled(1, 100));
      const view = await rx.receive(); // its frame stays held until the next receive call
      expect(view!.byteLength).toBe(100);
      rx.close();
      expect(thrown(() => rx.receiveSync({ timeoutMs: 1000 }))).toEqual(expect.objectContaining({ code: 'ERR_POSIX_IPC_CLOSED' }));
      expect(thrown(() => rx.tryReceive())).toEqual(expect.objectContaining({ code: 'ERR_POSIX_IPC_CLOSED' }));
      await expect(rx.receive()).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
    } finally {
      rx.close();
      await tx.close();
    }
  });

  it('a shared-memory receiver enforces its own maxMessageSize: a larger frame is ERR_CHANNEL_CORRUPT', async () => {
    // The sender creates the ring (so the header allows 4088-byte messages);
    // the receiver opens it with a bound of its own.
    const name = uniqueName('rxmax');
    const tx = await openShmSender(name, { create: true, capacity: 4096 });
    const rx = await openShmReceiver(name, { maxMessageSize: 100 });
    try {
      await tx.send(labelled(1, 100)); // exactly the bound: accepted
      await tx.send(labelled(2, 500));
      expect((await within(5000, 'receive at the bound', rx.receive()))!.byteLength).toBe(100);
      expect(await within(5000, 'receive over the bound', outcome(rx.receive()))).toEqual(
        expect.objectContaining({ name: 'ChannelError', code: 'ERR_CHANNEL_CORRUPT' }),
      );
    } finally {
      rx.close();
      await tx.close();
    }
  });

  it('sendMany validates the whole batch first: a message over maxMessageSize sends nothing, on streams as on shared memory', async () => {
    const transports: TransportName[] = ['pipe', 'socketpair', 'shm'];
    const firstReceived: Record<string, string> = {};
    for (const transport of transports) {
      const { sender, receiver, cleanup } = await openPair(transport, { maxMessageSize: 100 });
      try {
        const ok = labelled(1, 10);
        const tooBig = labelled(2, 200);
        await expect(sender.sendMany([ok, tooBig])).rejects.toThrow(RangeError);
        await sender.send(labelled(3, 10)); // the channel stays usable
        const first = (await within(5000, `${transport} receive`, receiver.receive()))!;
        firstReceived[transport] =
          labelOf(first) === 1 ? 'ok (sent before the RangeError)' : labelOf(first) === 3 ? 'the message after' : `label ${labelOf(first)}`;
      } finally {
        await cleanup();
      }
    }
    expect(firstReceived).toEqual({ pipe: 'the message after', socketpair: 'the message after', shm: 'the message after' });
  });

  it('corruption found by the shared-memory sender reaches the receiver as ERR_CHANNEL_CORRUPT, not as a clean end of stream', async () => {
    const capacity = 4096;
    const name = uniqueName('txcorrupt');
    const rx = await openShmReceiver(name, { create: true, capacity });
    // Mapped before the sender attaches (which unlinks the name).
    const attacker = SharedMemory.open(name, { create: 'open' });
    const tx = await openShmSender(name);
    try {
      // Two 1000-byte messages the receiver has not taken yet (2016 bytes of frames).
      await tx.send(labelled(1, 1000));
      await tx.send(labelled(2, 1000));
      new Int32Array(attacker.buffer)[I_READ] = 0x7ffffff8; // the read index (byte 128): far outside the ring
      // A 3000-byte frame does not fit beside what is cached: the sender reloads the read index and finds it corrupt.
      expect(await outcome(tx.send(labelled(3, 3000)))).toEqual(expect.objectContaining({ code: 'ERR_CHANNEL_CORRUPT' }));
      await tx.close();
      const outcomes: unknown[] = [];
      for (let i = 0; i < 4; i++) {
        const o = await within(5000, 'receive after the sender found corruption', outcome(rx.receive()));
        outcomes.push(o.value ?? o.code);
        if (o.value === undefined || o.value === 'end of stream') break;
      }
      // Messages published before may come first (in order); then the corruption, never the end.
      const before = outcomes.slice(0, -1);
      expect({ outcomes, ended: rx.ended }).toEqual({
        outcomes: [...['message 1 (1000 bytes)', 'message 2 (1000 bytes)'].slice(0, before.length), 'ERR_CHANNEL_CORRUPT'],
        ended: false,
      });
    } finally {
      attacker.close();
      rx.close();
      await tx.close();
    }
  });

  it('ERR_CHANNEL_CORRUPT found while a receive waits on an empty ring is sticky: every later receive throws it, even after the header is repaired', async () => {
    const capacity = 4096;
    const name = uniqueName('sticky');
    const rx = await openShmReceiver(name, { create: true, capacity });
    const repair = SharedMemory.open(name, { create: 'open' });
    // Another process (mapped before the sender attaches, which unlinks the name) waits for the
    // receiver to store its read index, which it does when it found the ring empty, and only then
    // makes the write index invalid for a moment: the receiver's check for a message saw a valid
    // empty ring; its wait path (the spin on "empty", the sleep preparation) meets the corruption.
    const attacker = startFixture('wait-path-attacker.ts', [name, '0', String(0x7ffffff8)], { stdin: true });
    let tx: Sender<Uint8Array> | undefined;
    try {
      await attacker.waitFor('mapped');
      tx = await openShmSender(name);
      const first = outcome(rx.receive());
      await sleep(30); // the receive is asleep on the empty ring
      attacker.write('go\n');
      expect(await within(30_000, 'a receive to find the corruption', first)).toEqual(
        expect.objectContaining({ code: 'ERR_CHANNEL_CORRUPT' }),
      );
      attacker.endInput();
      expect(await within(5000, 'attacker exit', attacker.child.exited)).toEqual({ code: 0, signal: null });
      // Repair the header: valid (empty) indices, the ring marked ready again.
      const h = new Int32Array(repair.buffer, 0, DATA_OFFSET / 4);
      Atomics.store(h, I_WRITE, 0);
      Atomics.store(h, I_READ, 0);
      Atomics.store(h, I_STATE, STATE_READY);
      const next = outcome(rx.receive());
      await tx.send(labelled(7, 16)).catch(() => undefined); // the sender may refuse too; if it sends, the receiver must not deliver
      expect(await within(5000, 'the receive after the corruption', next)).toEqual(
        expect.objectContaining({ code: 'ERR_CHANNEL_CORRUPT' }),
      );
      expect(thrown(() => rx.tryReceive())).toEqual(expect.objectContaining({ code: 'ERR_CHANNEL_CORRUPT' }));
      expect(thrown(() => rx.receiveSync({ timeoutMs: 50 }))).toEqual(expect.objectContaining({ code: 'ERR_CHANNEL_CORRUPT' }));
      expect(await within(5000, 'one more receive', outcome(rx.receive()))).toEqual(
        expect.objectContaining({ code: 'ERR_CHANNEL_CORRUPT' }),
      );
    } finally {
      await attacker.stop();
      repair.close();
      rx.close();
      await tx?.close().catch(() => undefined);
      rmSync(shmPath(name), { force: true }); // if the sender never attached, the name is still there
    }
  }, 40_000);

  describe('opening over a segment its creator never sized does not block the event loop', () => {
    it('openShmReceiver over a size-0 segment fails after its bound while a 5 ms interval keeps ticking', async () => {
      const name = uniqueName('unsized-rx');
      writeFileSync(shmPath(name), '', { mode: 0o600 }); // what shm_open(O_CREAT | O_EXCL) and a SIGKILL leave on Linux
      try {
        const { gap, result } = await largestLoopGap(() => openShmReceiver(name));
        if (result.status === 'fulfilled') result.value.close();
        expect(gap).toBeLessThan(100);
        expect(result.status).toBe('rejected');
      } finally {
        rmSync(shmPath(name), { force: true });
      }
    });

    it('openShmSender over a size-0 segment fails after its bound while a 5 ms interval keeps ticking', async () => {
      const name = uniqueName('unsized-tx');
      writeFileSync(shmPath(name), '', { mode: 0o600 });
      try {
        const { gap, result } = await largestLoopGap(() => openShmSender(name));
        if (result.status === 'fulfilled') await result.value.close();
        expect(gap).toBeLessThan(100);
        expect(result.status).toBe('rejected');
      } finally {
        rmSync(shmPath(name), { force: true });
      }
    });

    it('openShmSender with create: true replaces a stale size-0 segment while a 5 ms interval keeps ticking', async () => {
      const name = uniqueName('unsized-create');
      writeFileSync(shmPath(name), '', { mode: 0o600 });
      let tx: Sender<Uint8Array> | undefined;
      let rx: Receiver<Uint8Array> | undefined;
      try {
        const { gap, result } = await largestLoopGap(() => openShmSender(name, { create: true, capacity: 4096 }));
        if (result.status === 'fulfilled') tx = result.value;
        expect(gap).toBeLessThan(100);
        expect(result.status).toBe('fulfilled');
        rx = await openShmReceiver(name, { timeoutMs: 5000 });
        await tx!.send(labelled(9, 8));
        expect(labelOf((await within(5000, 'receive', rx.receive()))!)).toBe(9);
      } finally {
        await tx?.close();
        rx?.close();
        rmSync(shmPath(name), { force: true });
      }
    });
  });
});

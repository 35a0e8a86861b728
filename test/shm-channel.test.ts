import { spawn as cpSpawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { codecs, openShmReceiver, openShmSender, removeStaleShmChannel, SharedMemory } from '../lib/index.js';
import { DATA_OFFSET } from '../lib/channels/shm/header.js';
import { uniqueName, within } from './support/helpers.js';

const CREATOR = new URL('./fixtures/shm-channel-creator.ts', import.meta.url).pathname;

function shmPath(name: string): string {
  return `/dev/shm${name}`;
}

describe('shared-memory channel', () => {
  it('carries a message of exactly the largest size and refuses one byte more', async () => {
    const name = uniqueName('max');
    const rx = await openShmReceiver(name, { create: true, capacity: 4096 });
    const tx = await openShmSender(name);
    expect(tx.capacity).toBe(4096);
    expect(tx.maxMessageSize).toBe(4096 - 8);
    await expect(tx.send(new Uint8Array(4089))).rejects.toThrow(RangeError);
    for (let round = 0; round < 3; round++) {
      const msg = new Uint8Array(4088).fill(round + 1);
      const pending = rx.receive();
      await tx.send(msg);
      expect(await pending).toEqual(msg);
    }
    await tx.close();
    expect(await rx.receive()).toBeUndefined();
    rx.close();
  });

  it('the opener unlinks the name once both sides are attached; nothing stays in /dev/shm', async () => {
    const name = uniqueName('unlink');
    const rx = await openShmReceiver(name, { create: true });
    expect(existsSync(shmPath(name))).toBe(true);
    const tx = await openShmSender(name);
    expect(existsSync(shmPath(name))).toBe(false);
    await tx.send(new Uint8Array([1]));
    expect(await rx.receive()).toEqual(new Uint8Array([1]));
    await tx.close();
    rx.close();
  });

  it('allows one sender and one receiver only (EBUSY)', async () => {
    const name = uniqueName('busy');
    const tx = await openShmSender(name, { create: true });
    await expect(openShmSender(name)).rejects.toMatchObject({ code: 'EBUSY', syscall: 'attach' });
    const rx = await openShmReceiver(name);
    rx.close();
    await tx.close();
  });

  it('zero-copy views stay valid until the next receive, then the space is reused', async () => {
    const name = uniqueName('view');
    const rx = await openShmReceiver(name, { create: true, capacity: 256, codec: codecs.bytesView });
    const tx = await openShmSender(name);
    await tx.send(new Uint8Array(100).fill(7));
    const view = (await rx.receive())!;
    expect(view.byteLength).toBe(100);
    // The view's frame is still held: a second 100-byte message fits, a third must wait.
    expect(tx.trySend(new Uint8Array(100).fill(8))).toBe(true);
    expect(tx.trySend(new Uint8Array(100).fill(9))).toBe(false);
    expect(view.every((b) => b === 7)).toBe(true);
    const next = (await rx.receive())!; // releases the first frame
    expect(next.every((b) => b === 8)).toBe(true);
    expect(tx.trySend(new Uint8Array(100).fill(9))).toBe(true);
    await tx.close();
    expect((await rx.receive())!.every((b) => b === 9)).toBe(true);
    expect(await rx.receive()).toBeUndefined();
    rx.close();
  });

  it('a hostile writer of garbage into the header gets a corruption error, not a crash, and poisons only that channel', async () => {
    const name = uniqueName('hostile');
    const other = uniqueName('healthy');
    const rx = await openShmReceiver(name, { create: true, capacity: 4096 });
    // The attacker maps the segment before the sender attaches (which unlinks the name).
    const attacker = SharedMemory.open(name, { create: 'open' });
    const tx = await openShmSender(name);
    const healthyRx = await openShmReceiver(other, { create: true, capacity: 4096 });
    const healthyTx = await openShmSender(other);
    await tx.send(new Uint8Array(16));
    expect(await rx.receive()).toHaveLength(16);
    const words = new Int32Array(attacker.buffer);
    words[16] = 0x7ffffff8; // write index far beyond the ring
    await expect(rx.receive()).rejects.toMatchObject({ code: 'ERR_CHANNEL_CORRUPT' });
    await expect(rx.receive()).rejects.toMatchObject({ code: 'ERR_CHANNEL_CORRUPT' }); // stays poisoned
    await expect(tx.send(new Uint8Array(1))).rejects.toMatchObject({ code: 'ERR_CHANNEL_CORRUPT' }); // the peer too
    // A frame length pointing outside the ring, in a fresh channel.
    await healthyTx.send(new Uint8Array([1, 2, 3]));
    expect(await healthyRx.receive()).toEqual(new Uint8Array([1, 2, 3]));
    attacker.close();
    rx.close();
    await tx.close();
    await healthyTx.close();
    healthyRx.close();
  });

  it('a frame length that overruns the ring is caught before any read', async () => {
    const name = uniqueName('overrun');
    const rx = await openShmReceiver(name, { create: true, capacity: 4096 });
    const attacker = SharedMemory.open(name, { create: 'open' });
    const tx = await openShmSender(name);
    await tx.send(new Uint8Array(8));
    const data = new Uint32Array(attacker.buffer, DATA_OFFSET);
    data[0] = 4000; // claims 4000 bytes where only 16 were published
    await expect(rx.receive()).rejects.toMatchObject({ code: 'ERR_CHANNEL_CORRUPT' });
    attacker.close();
    rx.close();
    await tx.close();
  });

  it('what a kill -9 before attachment leaves is removed by removeStaleShmChannel, and a new creation replaces it', async () => {
    for (const recovery of ['remove', 'recreate'] as const) {
      const name = uniqueName('stale');
      const child = cpSpawn(process.execPath, ['--import', 'tsx', CREATOR, name], { stdio: ['ignore', 'pipe', 'inherit'] });
      await within(10_000, 'creator ready', new Promise<void>((r) => child.stdout!.once('data', () => r())));
      // While the creator lives, the segment is not stale.
      expect(removeStaleShmChannel(name)).toBe(false);
      await expect(openShmReceiver(name, { create: true })).rejects.toMatchObject({ code: 'EEXIST' });
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
      expect(existsSync(shmPath(name))).toBe(true);
      if (recovery === 'remove') {
        expect(removeStaleShmChannel(name)).toBe(true);
        expect(existsSync(shmPath(name))).toBe(false);
        expect(removeStaleShmChannel(name)).toBe(false);
      } else {
        const rx = await openShmReceiver(name, { create: true });
        const tx = await openShmSender(name);
        await tx.send(new Uint8Array([42]));
        expect(await rx.receive()).toEqual(new Uint8Array([42]));
        await tx.close();
        rx.close();
      }
    }
  });

  it('an opener waits for the creator, then gives up with ETIMEDOUT', async () => {
    const name = uniqueName('late');
    const opening = openShmSender(name, { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 30));
    const rx = await openShmReceiver(name, { create: true });
    const tx = await opening;
    await tx.close();
    rx.close();
    await expect(openShmSender(uniqueName('never'), { timeoutMs: 50 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
  });

  it('a creator that closes before its peer attached keeps the name so a late receiver drains', async () => {
    const name = uniqueName('early');
    const tx = await openShmSender(name, { create: true });
    await tx.sendMany([new Uint8Array([1]), new Uint8Array([2])]);
    await tx.close();
    expect(existsSync(shmPath(name))).toBe(true);
    const rx = await openShmReceiver(name);
    expect(await rx.receiveMany()).toEqual([new Uint8Array([1]), new Uint8Array([2])]);
    expect(await rx.receive()).toBeUndefined();
    rx.close();
    expect(existsSync(shmPath(name))).toBe(false);
  });

  it('validates its options', async () => {
    await expect(openShmSender(uniqueName('v'), { create: true, capacity: 1000 })).rejects.toThrow(RangeError);
    await expect(openShmSender(uniqueName('v'), { create: true, capacity: 32 })).rejects.toThrow(RangeError);
    await expect(openShmSender('no-slash', { create: true })).rejects.toThrow(/"name"/);
    await expect(openShmSender(uniqueName('v'), { create: 'yes' as unknown as boolean })).rejects.toThrow(TypeError);
  });
});

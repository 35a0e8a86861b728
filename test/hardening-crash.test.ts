// Hardening, part 1: peers that crash at every stage of a transfer, peers
// that write garbage into the memory we share, and signals (EINTR, EPIPE).
// docs/reliability.md states each promise and names the test here that
// checks it. Crashes at an exact point use the test-only fault points of
// lib/internal/fault.ts (POSIX_IPC_FAULT=<stage>:<n>).
import { spawn as cpSpawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import {
  ChannelError,
  closeSync,
  codecs,
  mkfifo,
  openFifoSync,
  openShmReceiver,
  openShmSender,
  pipe,
  readSync,
  receiverFromFd,
  removeStaleShmChannel,
  Semaphore,
  senderFromFd,
  SharedMemory,
  type ChannelReceiver,
  type ChannelSender,
} from '../lib/index.js';
import {
  DATA_OFFSET,
  I_PRODUCER_CLOSED,
  I_READ,
  I_STATE,
  I_WRITE,
  initRing,
  maxPayload,
  segmentSize,
  STATE_READY,
} from '../lib/channels/shm/header.js';
import { RingConsumer, RingProducer } from '../lib/channels/shm/ring.js';
import { isRunning, startFixture } from './support/fixture-process.js';
import { crashMessage, MISSED_FAULT } from './fixtures/crash-messages.js';
import { noWake } from './support/helpers.js';
import { removePath, tempPath, uniqueName, within } from './support/helpers.js';

const WRAP = 0xffffffff;

function indexOf(message: Uint8Array): number {
  return new DataView(message.buffer, message.byteOffset, message.byteLength).getUint32(0, true);
}

function shmPath(name: string): string {
  return `/dev/shm${name}`;
}

/** Receives until end-of-stream; the messages, and how it ended. */
async function drain(rx: ChannelReceiver<Uint8Array>): Promise<{ got: Uint8Array[]; end: 'eos' | Error; at: number }> {
  const got: Uint8Array[] = [];
  try {
    for (;;) {
      const m = await rx.receive();
      if (m === undefined) return { got, end: 'eos', at: performance.now() };
      got.push(m);
    }
  } catch (err) {
    return { got, end: err as Error, at: performance.now() };
  }
}

describe('peer crashes', () => {
  describe('a shared-memory writer killed at each stage of a transfer', () => {
    // Frames of 8 + 1000 bytes in a 4096-byte ring: four fit, and message 4
    // needs a wrap marker at 4032 and goes to position 0 once message 0 is consumed.
    const CAPACITY = 4096;
    const SIZE = 1000;
    const COUNT = 10;

    it.each([
      // stage, n, messages the reader must get (all published before the crash)
      ['attach', 0, 0],
      ['reserve', 6, 6],
      ['copy', 4, 4], // message 4 is the one that wraps
      ['publish', 6, 6],
      ['wake', 6, 7], // published: delivered, though the reader was never woken
    ] as const)(
      '%s (message %i): the reader gets the %i published messages exactly once, intact, then end-of-stream within 2 s',
      async (stage, n, expected) => {
        for (let attempt = 0; ; attempt++) {
          const name = uniqueName(`crash-${stage}`);
          const rx = await openShmReceiver(name, { create: true, capacity: CAPACITY });
          // Map it before the writer attaches (which unlinks the name), to look at the ring afterwards.
          const inspect = SharedMemory.open(name);
          const writer = startFixture(
            'crash-writer.ts',
            ['shm', name, String(COUNT), String(SIZE), ...(stage === 'wake' ? ['sleeping'] : [])],
            {
              env: { ...process.env, POSIX_IPC_FAULT: `${stage}:${n}` },
            },
          );
          try {
            const reading = drain(rx);
            const exit = await within(15_000, 'writer', writer.child.exited);
            if (exit.code === MISSED_FAULT && attempt < 4) continue; // see crash-writer.ts: run it again
            expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
            const diedAt = performance.now();
            const { got, end, at } = await within(5000, 'reader end', reading);
            expect(end).toBe('eos');
            expect(at - diedAt).toBeLessThan(2000);
            expect(got.map(indexOf)).toEqual(Array.from({ length: expected }, (_, i) => i));
            got.forEach((m, i) => expect(Buffer.compare(m, crashMessage(i, SIZE))).toBe(0));
            expect(await rx.receive()).toBeUndefined(); // stays ended
            const data = new Uint32Array(inspect.buffer, DATA_OFFSET, CAPACITY / 4);
            if (stage === 'copy') {
              // The crash really was inside the copy of a wrapped message: the
              // marker, message 4's header and half its payload at 0, then the
              // old bytes of message 0.
              expect(data[4032 / 4]).toBe(WRAP);
              expect(data[0]).toBe(SIZE);
              const payload = new Uint8Array(inspect.buffer, DATA_OFFSET + 8, SIZE);
              expect(Buffer.compare(payload.subarray(0, SIZE / 2), crashMessage(4, SIZE).subarray(0, SIZE / 2))).toBe(0);
              expect(Buffer.compare(payload.subarray(SIZE / 2), crashMessage(0, SIZE).subarray(SIZE / 2))).toBe(0);
            }
            if (stage === 'publish') {
              // Message 6 is all there, but the write index still points before it.
              const h = new Int32Array(inspect.buffer, 0, DATA_OFFSET / 4);
              const at6 = (6 * 1008 + (4096 - 4032)) % CAPACITY; // after the wrap marker
              expect(data[at6 / 4]).toBe(SIZE);
              expect(Atomics.load(h, I_WRITE) & (CAPACITY - 1)).toBe(at6);
            }
          } finally {
            await writer.stop();
            inspect.close();
            rx.close();
          }
          break;
        }
      },
    );
  });

  it('a pipe writer killed inside a frame: the whole messages, then ERR_CHANNEL_PEER_GONE, never a torn message', async () => {
    const [r, w] = pipe();
    const writer = startFixture('crash-writer.ts', ['pipe', '3', '1000'], { fds: { 3: w } });
    closeSync(w);
    const rx = receiverFromFd(r);
    try {
      // The writer wrote 3 messages and the start of a 1 MiB one, which the full pipe stopped.
      await writer.waitFor('partial');
      writer.child.kill('SIGKILL');
      expect(await within(5000, 'writer', writer.child.exited)).toEqual({ code: null, signal: 'SIGKILL' });
      for (let i = 0; i < 3; i++)
        expect(Buffer.compare((await within(2000, 'whole message', rx.receive()))!, crashMessage(i, 1000))).toBe(0);
      await expect(within(2000, 'torn frame', rx.receive())).rejects.toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' });
    } finally {
      rx.close();
      await writer.stop();
    }
  });

  describe('a reader killed while the writer is blocked in sendSync on a full channel', () => {
    it('shared-memory ring: ERR_CHANNEL_PEER_GONE, not a hang', async () => {
      const name = uniqueName('rdead');
      const tx = await openShmSender(name, { create: true, capacity: 4096 });
      const reader = startFixture('crash-reader.ts', ['shm', name, '300']);
      try {
        await reader.waitFor('ready');
        const t0 = performance.now();
        let err: unknown;
        try {
          for (;;) tx.sendSync(new Uint8Array(1000), { timeoutMs: 10_000 });
        } catch (e) {
          err = e;
        }
        const elapsed = performance.now() - t0;
        expect(err).toBeInstanceOf(ChannelError);
        expect(err).toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' });
        expect(elapsed).toBeGreaterThanOrEqual(200); // it really was blocked until the reader died
        expect(elapsed).toBeLessThan(2300); // died after 300 ms; noticed within the 100 ms liveness slice
        expect(await reader.child.exited).toEqual({ code: null, signal: 'SIGKILL' });
      } finally {
        await reader.stop();
        await tx.close();
      }
    });

    it('pipe: ERR_CHANNEL_PEER_GONE caused by EPIPE, and this process survives (Node ignores SIGPIPE)', async () => {
      const [r, w] = pipe();
      const reader = startFixture('crash-reader.ts', ['pipe', '300'], { fds: { 3: r } });
      closeSync(r);
      const tx = senderFromFd(w);
      try {
        await reader.waitFor('ready');
        const t0 = performance.now();
        let err: unknown;
        try {
          for (;;) tx.sendSync(new Uint8Array(64 * 1024), { timeoutMs: 10_000 });
        } catch (e) {
          err = e;
        }
        const elapsed = performance.now() - t0;
        expect(err).toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE', cause: { code: 'EPIPE', errno: -32 } });
        expect(['write', 'writev']).toContain((err as { cause: { syscall: string } }).cause.syscall);
        expect(elapsed).toBeGreaterThanOrEqual(200);
        expect(elapsed).toBeLessThan(2300);
        await expect(tx.send(new Uint8Array(1))).rejects.toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' }); // stays failed
      } finally {
        await tx.close();
        await reader.stop();
      }
    });
  });

  it('a holder killed while holding a named semaphore as a lock: waiters time out instead of deadlocking, see it is dead, and take over', async () => {
    const semName = uniqueName('lock');
    const ownerName = uniqueName('owner');
    const lock = Semaphore.open(semName, { create: 'exclusive', initialValue: 1, unlinkOnClose: true });
    // The documented pattern: the holder records its pid where waiters can read it.
    const owner = SharedMemory.open(ownerName, { create: 'exclusive', size: 64 });
    const ownerWord = new Int32Array(owner.buffer, 0, 1);
    const holder = startFixture('sem-holder.ts', [semName, ownerName]);
    try {
      await holder.waitFor('held');
      const holderPid = Atomics.load(ownerWord, 0);
      expect(holderPid).toBe(holder.child.pid);

      // A live holder: the timed wait fails, the holder is alive, so keep waiting.
      expect(await lock.wait({ timeoutMs: 100 })).toBe(false);
      expect(isRunning(holderPid)).toBe(true);

      holder.child.kill('SIGKILL');
      await within(5000, 'holder exit', holder.child.exited);
      // Not robust: nothing gave the count back.
      expect(lock.value).toBe(0);
      const t0 = performance.now();
      expect(await lock.wait({ timeoutMs: 200 })).toBe(false); // a timeout, never a silent hang
      expect(performance.now() - t0).toBeGreaterThanOrEqual(195);
      expect(isRunning(holderPid)).toBe(false);

      // Take over: the dead holder's count is ours now (exactly one waiter wins the swap).
      expect(Atomics.compareExchange(ownerWord, 0, holderPid, process.pid)).toBe(holderPid);
      // ... repair what the lock protects, then release as a holder would:
      Atomics.store(ownerWord, 0, 0);
      lock.post();
      expect(lock.tryWait()).toBe(true);
      expect(lock.tryWait()).toBe(false); // one lock, not two
      lock.post();
    } finally {
      await holder.stop();
      lock.close();
      owner.close();
      SharedMemory.unlink(ownerName);
    }
  });

  it('a creator killed after the exclusive create, before writing the header: openers fail with ERR_CHANNEL_CORRUPT after ~2 s; the name is recovered', async () => {
    // Two such crashes, one per way back: removeStaleShmChannel(), or a new exclusive creation.
    const removed = uniqueName('halfmade-rm');
    const replaced = uniqueName('halfmade-new');
    const creators = [removed, replaced].map((name) =>
      startFixture('shm-channel-creator.ts', [name], { env: { ...process.env, POSIX_IPC_FAULT: 'create' } }),
    );
    for (const creator of creators) {
      expect(await within(15_000, 'creator', creator.child.exited)).toEqual({ code: null, signal: 'SIGKILL' });
      await creator.stop();
    }
    // What each left: a sized segment whose header is all zero.
    for (const name of [removed, replaced]) {
      const left = SharedMemory.open(name);
      expect(left.size).toBe(segmentSize(4096));
      expect(new Int32Array(left.buffer, 0, DATA_OFFSET / 4).every((w) => w === 0)).toBe(true);
      left.close();
    }
    const t0 = performance.now();
    const [opened, created] = await Promise.allSettled([
      within(5000, 'opener', openShmSender(removed)),
      within(5000, 'recreate', openShmReceiver(replaced, { create: true, capacity: 4096 })),
    ]);
    const waited = performance.now() - t0;
    expect(opened).toMatchObject({ status: 'rejected', reason: { code: 'ERR_CHANNEL_CORRUPT' } });
    expect(waited).toBeGreaterThanOrEqual(1900); // the opener gave the creator its 2 s ...
    expect(waited).toBeLessThan(4000); // ... and no more
    expect(removeStaleShmChannel(removed)).toBe(true);
    expect(removeStaleShmChannel(removed)).toBe(false);
    expect(created.status).toBe('fulfilled');
    for (const [name, rx] of [
      [removed, await openShmReceiver(removed, { create: true, capacity: 4096 })],
      [replaced, (created as PromiseFulfilledResult<ChannelReceiver<Uint8Array>>).value],
    ] as const) {
      const tx = await openShmSender(name);
      await tx.send(new Uint8Array([42]));
      expect(await rx.receive()).toEqual(new Uint8Array([42]));
      await tx.close();
      rx.close();
    }
  });

  it('a creator still writing its header is waited for, not taken for dead: a new creation then gets EEXIST', async () => {
    const name = uniqueName('slowmade');
    const creator = startFixture('slow-creator.ts', [name], { stdin: true });
    try {
      await creator.waitFor('sized'); // created and sized; header all zero, no pid yet
      const creating = openShmReceiver(name, { create: true, capacity: 4096 });
      creating.catch(() => {});
      await new Promise((r) => setTimeout(r, 300)); // it is polling the half-made segment
      creator.write('go\n');
      await creator.waitFor('ready');
      await expect(within(5000, 'second creation', creating)).rejects.toMatchObject({ code: 'EEXIST', syscall: 'shm_open' });
      // The creator's segment survived: an opener attaches to it.
      const tx = await openShmSender(name, { timeoutMs: 1000 });
      await tx.close();
    } finally {
      creator.endInput();
      expect(await within(5000, 'creator exit', creator.child.exited)).toEqual({ code: 0, signal: null });
      await creator.stop();
    }
  });

  it('a creator killed before it sized the segment (size 0, simulated in /dev/shm): a new creation replaces it', async () => {
    const name = uniqueName('unsized');
    writeFileSync(shmPath(name), '', { mode: 0o600 }); // what shm_open(O_CREAT | O_EXCL) and a SIGKILL leave on Linux
    const rx = await within(6000, 'recreate', openShmReceiver(name, { create: true, capacity: 4096 }));
    const tx = await openShmSender(name);
    await tx.send(new Uint8Array([7]));
    expect(await rx.receive()).toEqual(new Uint8Array([7]));
    await tx.close();
    rx.close();
  });

  it('a child started by forkNode notices that its parent was killed (end-of-stream on the pipe from it) and exits', async () => {
    const parent = startFixture('orphan-parent.ts');
    try {
      const childPid = Number((await parent.waitFor(/child (\d+)/))[1]);
      await parent.waitFor('ready'); // the child is reading
      parent.child.kill('SIGKILL');
      await within(5000, 'parent exit', parent.child.exited);
      // The child shares our stdout pipe: it says it saw the end, then it is gone.
      await parent.waitFor('eof', 5000);
      await within(
        2000,
        'orphan exit',
        (async () => {
          while (isRunning(childPid)) await new Promise((r) => setTimeout(r, 10));
        })(),
      );
    } finally {
      await parent.stop();
    }
  });
});

/** Whether a view returned by the ring lies wholly inside its data area. */
function insideRing(view: Uint8Array, buffer: ArrayBufferLike, capacity: number): boolean {
  return view.buffer === buffer && view.byteOffset >= DATA_OFFSET + 8 && view.byteOffset + view.byteLength <= DATA_OFFSET + capacity;
}

describe('hostile peers', () => {
  it('peek loads each frame length exactly once and uses only that value (no double fetch)', () => {
    const capacity = 256;
    const memory = new ArrayBuffer(segmentSize(capacity));
    initRing(memory, capacity, maxPayload(capacity));
    const producer = new RingProducer(memory, noWake);
    const sizes = [16, 0, 100, 40, 200]; // 200 needs a wrap marker
    const consumer = new RingConsumer(memory, noWake);
    // Every load of a data word through the consumer returns the true value
    // and then overwrites it with garbage: a second load would see garbage.
    const real = (consumer as unknown as { words: Uint32Array }).words;
    const loads = new Map<number, number>();
    const spy = new Proxy(real, {
      get(target, prop) {
        if (typeof prop === 'string' && /^\d+$/.test(prop)) {
          const i = Number(prop);
          loads.set(i, (loads.get(i) ?? 0) + 1);
          const value = target[i];
          target[i] = 0xfffffff0;
          return value;
        }
        return Reflect.get(target, prop, target);
      },
    });
    Object.defineProperty(consumer, 'words', { value: spy });
    for (const [k, size] of sizes.entries()) {
      const msg = crashMessage(k, Math.max(size, 4)).subarray(0, size);
      if (!producer.tryWrite(msg)) {
        producer.publish();
        expect(consumer.peek()).toBeNull(); // skips the wrap marker (one load of it)
        consumer.publish();
        expect(producer.tryWrite(msg)).toBe(true);
      }
      producer.publish();
      loads.clear();
      const view = consumer.peek()!;
      expect(view.byteLength).toBe(size);
      expect(Buffer.compare(view, msg)).toBe(0);
      expect([...loads.values()]).toEqual([1]); // the header word, once
      consumer.release();
      consumer.publish();
    }
  });

  it('a frame length flipped by another process while the reader checks it is never acted on: every view has a length that fits', async () => {
    const capacity = 4096;
    const name = uniqueName('flip');
    const shm = SharedMemory.open(name, { create: 'exclusive', size: segmentSize(capacity) });
    initRing(shm.buffer, capacity, maxPayload(capacity));
    new Uint32Array(shm.buffer, DATA_OFFSET, 1)[0] = 16; // the frame's true length, until the flipper starts
    // 16 and 8 fit the 24 published bytes; 40 overruns them, WRAP lies beyond them, 0xfffffff0 exceeds the maximum.
    const flipper = startFixture('hostile-peer.ts', ['flip', name, '16', '8', '40', String(WRAP), String(0xfffffff0)], { stdin: true });
    try {
      await flipper.waitFor('mapped');
      flipper.write('go\n');
      const h = new Int32Array(shm.buffer, 0, DATA_OFFSET / 4);
      const outcomes = new Map<string, number>();
      const bad: string[] = [];
      const until = performance.now() + 1000;
      let iterations = 0;
      while (performance.now() < until) {
        for (let k = 0; k < 500; k++, iterations++) {
          // One published 16-byte frame at position 0, nothing consumed.
          Atomics.store(h, I_STATE, STATE_READY);
          Atomics.store(h, I_WRITE, 24);
          Atomics.store(h, I_READ, 0);
          const consumer = new RingConsumer(shm.buffer, noWake);
          let outcome: string;
          try {
            const view = consumer.peek();
            outcome = view === null ? 'null' : `view ${view.byteLength}`;
            if (
              view === null ||
              !insideRing(view, shm.buffer, capacity) ||
              view.byteOffset !== DATA_OFFSET + 8 ||
              (view.byteLength !== 16 && view.byteLength !== 8)
            ) {
              bad.push(outcome);
            }
          } catch (err) {
            outcome = (err as ChannelError).code;
            if (outcome !== 'ERR_CHANNEL_CORRUPT') bad.push(String(err));
          }
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        }
      }
      flipper.endInput();
      expect(await within(5000, 'flipper exit', flipper.child.exited)).toEqual({ code: 0, signal: null });
      expect(bad).toEqual([]);
      // The flips really interleaved with the checks: both kinds of outcome happened.
      expect(outcomes.get('view 16') ?? 0).toBeGreaterThan(0);
      expect(outcomes.get('ERR_CHANNEL_CORRUPT') ?? 0).toBeGreaterThan(0);
      expect(iterations).toBeGreaterThan(10_000);
    } finally {
      await flipper.stop();
      shm.close();
      SharedMemory.unlink(name);
    }
  });

  it.each([
    ['header', 11],
    ['frames', 23],
    ['all', 37],
  ] as const)(
    'a peer writing garbage into the %s while we send and receive: values inside the ring or a channel error, and only that channel fails',
    async (mode, seed) => {
      const capacity = 4096;
      const name = uniqueName(`hostile-${mode}`);
      const rx = await openShmReceiver(name, { create: true, capacity, codec: codecs.bytesView });
      const attacker = startFixture('hostile-peer.ts', [mode, name, String(seed)], { stdin: true });
      let tx: ChannelSender<Uint8Array> | undefined;
      const healthyName = uniqueName('healthy');
      const healthyRx = await openShmReceiver(healthyName, { create: true, capacity });
      const healthyTx = await openShmSender(healthyName);
      try {
        await attacker.waitFor('mapped');
        tx = await openShmSender(name); // unlinks the name; the attacker keeps its mapping
        attacker.write('go\n'); // both ends attached: attack
        const errors: Error[] = [];
        let outside = 0;
        let ended = false;
        let senderFailed = false;
        let receiverFailed = false;
        const until = performance.now() + 2000;
        for (let round = 0; performance.now() < until && !(receiverFailed || ended); round++) {
          for (let k = 0; k < 8 && !senderFailed; k++) {
            try {
              tx.trySend(crashMessage(round * 8 + k, 4 + ((round * 8 + k) % 300)));
            } catch (err) {
              errors.push(err as Error);
              senderFailed = true;
            }
          }
          for (let k = 0; k < 8; k++) {
            let view: Uint8Array | undefined;
            try {
              view = rx.tryReceive();
            } catch (err) {
              errors.push(err as Error);
              receiverFailed = true;
              break;
            }
            if (view === undefined) {
              ended = rx.ended;
              break;
            }
            // A zero-copy view: its buffer is the mapping of the segment.
            if (view.buffer.byteLength !== segmentSize(capacity) || !insideRing(view, view.buffer, capacity)) outside++;
          }
          if (round % 64 === 0) await new Promise((r) => setImmediate(r));
        }
        attacker.endInput();
        expect(await within(5000, 'attacker exit', attacker.child.exited)).toEqual({ code: 0, signal: null });
        expect(Number((await attacker.waitFor(/^(\d+)$/m))[1])).toBeGreaterThan(0); // words it wrote

        expect(outside).toBe(0);
        // Every failure is a channel error: corrupt, or a peer that looks gone
        // (garbage in a pid or a closed flag is indistinguishable from the real thing).
        for (const err of errors) {
          expect(err).toBeInstanceOf(ChannelError);
          expect(['ERR_CHANNEL_CORRUPT', 'ERR_CHANNEL_PEER_GONE']).toContain((err as ChannelError).code);
        }
        // The garbage was noticed: the receiver failed or saw a (false) end.
        expect(receiverFailed || ended).toBe(true);
        if (mode === 'frames') {
          // Only frame lengths were hit: that is corruption, and it poisons both ends.
          expect(errors[errors.length - 1]).toMatchObject({ code: 'ERR_CHANNEL_CORRUPT' });
          expect(() => rx.tryReceive()).toThrow(expect.objectContaining({ code: 'ERR_CHANNEL_CORRUPT' }));
          expect(() => tx!.trySend(new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'ERR_CHANNEL_CORRUPT' }));
        }
        // Another channel of this process is untouched.
        for (let i = 0; i < 20; i++) {
          await within(2000, 'healthy send', healthyTx.send(crashMessage(i, 64)));
          expect(Buffer.compare((await within(2000, 'healthy receive', healthyRx.receive()))!, crashMessage(i, 64))).toBe(0);
        }
      } finally {
        await attacker.stop();
        await tx?.close();
        rx.close();
        await healthyTx.close();
        healthyRx.close();
        if (tx === undefined) removeStaleShmChannel(name);
      }
    },
  );

  it('an end that finds the ring corrupt when it attaches closes again, so its peer is not left waiting for it', async () => {
    const name = uniqueName('badattach');
    const rx = await openShmReceiver(name, { create: true, capacity: 4096 });
    const attacker = SharedMemory.open(name);
    const h = new Int32Array(attacker.buffer, 0, DATA_OFFSET / 4);
    Atomics.store(h, I_WRITE, 5); // not a frame boundary
    await expect(openShmSender(name)).rejects.toMatchObject({ code: 'ERR_CHANNEL_CORRUPT' });
    expect(Atomics.load(h, I_PRODUCER_CLOSED)).toBe(1);
    await expect(within(2000, 'receiver', rx.receive())).rejects.toMatchObject({ code: 'ERR_CHANNEL_CORRUPT' });
    attacker.close();
    rx.close();
  });

  it('a peer that truncates the segment: later openers see the new size and refuse the ring; a process touching a lost page dies of SIGBUS (documented limit)', async () => {
    const name = uniqueName('trunc');
    const capacity = 64 * 1024;
    const rx = await openShmReceiver(name, { create: true, capacity });
    const victim = startFixture('truncate-victim.ts', [name], { stdin: true });
    try {
      expect(Number((await victim.waitFor(/mapped (\d+)/))[1])).toBe(segmentSize(capacity));
      // Another process of the same user shrinks the segment to one page.
      const attacker = SharedMemory.open(name);
      attacker.resize(4096);
      attacker.close();
      // A later opener maps the new size, and a channel refuses the ring.
      const later = SharedMemory.open(name);
      expect(later.size).toBe(4096);
      later.close();
      await expect(openShmSender(name)).rejects.toMatchObject({ code: 'ERR_CHANNEL_CORRUPT' });
      // The victim mapped the old size: the page that is left still reads ...
      victim.write('100\n');
      await victim.waitFor('read 100');
      // ... a page past the new end raises SIGBUS, which kills it. posix-ipc installs no SIGBUS handler.
      victim.write(`${DATA_OFFSET + 8192}\n`);
      expect(await within(5000, 'victim', victim.child.exited)).toEqual({ code: null, signal: 'SIGBUS' });
    } finally {
      await victim.stop();
      rx.close(); // touches the header only, on the page that is left
      SharedMemory.unlink(name);
    }
  });

  it('our own channel ends never shrink a segment: a mapping taken before the lifecycle still reads its last byte after it', async () => {
    const name = uniqueName('nosh');
    const rx = await openShmReceiver(name, { create: true, capacity: 64 * 1024 });
    const watch = SharedMemory.open(name);
    const tx = await openShmSender(name);
    for (let i = 0; i < 200; i++) {
      await tx.send(crashMessage(i, 1000));
      await rx.receive();
    }
    await tx.close();
    expect(await rx.receive()).toBeUndefined();
    rx.close();
    // Had anything truncated the segment, this read would kill the test process with SIGBUS.
    expect(new Uint8Array(watch.buffer)[watch.size - 1]).toBeTypeOf('number');
    expect(watch.size).toBe(segmentSize(64 * 1024));
    watch.close();
  });
});

/** The main thread's context switches: each wake-up of a blocked call counts one. */
function contextSwitches(): number {
  const status = readFileSync('/proc/thread-self/status', 'utf8');
  return Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)![1]) + Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)![1]);
}

describe('signals, EINTR and EPIPE', () => {
  /**
   * Runs `block` (a call that blocks this thread) while another process sends
   * SIGUSR2 (handled in JS) every millisecond and children exit (SIGCHLD,
   * handled by libuv). Returns the call's result, its duration and how many
   * times this thread was woken meanwhile.
   */
  async function underSignals<T>(
    block: () => T,
    arm?: () => void,
  ): Promise<{ result: T | Error; ms: number; wakeups: number; handled: number }> {
    let handled = 0;
    const onSignal = (): void => {
      handled++;
    };
    process.on('SIGUSR2', onSignal);
    const killer = cpSpawn(
      process.execPath,
      [
        '-e',
        `const t = setInterval(() => process.kill(${process.pid}, 'SIGUSR2'), 1);
         process.stdin.on('end', () => { clearInterval(t); process.exit(0); }); process.stdin.resume();
         process.stdout.write('go\\n');`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const killerExit = new Promise((r) => killer.on('exit', r));
    const children: ChildProcess[] = [];
    let run: { result: T | Error; ms: number; wakeups: number; handled: number };
    try {
      await within(10_000, 'killer start', new Promise((r) => killer.stdout!.once('data', r)));
      // Children that exit while we are blocked: SIGCHLD, caught by libuv's handler.
      for (let k = 1; k <= 8; k++) children.push(cpSpawn('/bin/sleep', [String(0.02 * k)], { stdio: 'ignore' }));
      arm?.();
      const before = contextSwitches();
      const t0 = performance.now();
      let result: T | Error;
      try {
        result = block();
      } catch (err) {
        result = err as Error;
      }
      const ms = performance.now() - t0;
      run = { result, ms, wakeups: contextSwitches() - before, handled: 0 };
    } finally {
      killer.stdin!.end();
      await within(10_000, 'killer exit', killerExit);
      await within(
        10_000,
        'sleepers',
        Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.on('exit', r)) : null))),
      );
      await new Promise((r) => setTimeout(r, 20)); // signal events already queued
      process.off('SIGUSR2', onSignal);
    }
    // Counted now: the JS handler runs only once the event loop turns again.
    run.handled = handled;
    return run;
  }

  function expectTimedOut(run: { ms: number; wakeups: number; handled: number }): void {
    expect(run.ms).toBeGreaterThanOrEqual(195);
    expect(run.ms).toBeLessThan(1000);
    expect(run.wakeups).toBeGreaterThan(20); // the signals really interrupted the wait, over and over
    expect(run.handled).toBeGreaterThan(0); // and reached the JS handler afterwards
  }

  it('a semaphore waitSync: no EINTR reaches JS, and a 200 ms timeout ends near 200 ms', async () => {
    const sem = Semaphore.open(uniqueName('sig-sem'), { create: 'exclusive', unlinkOnClose: true });
    try {
      const run = await underSignals(() => sem.waitSync({ timeoutMs: 200 }));
      expect(run.result).toBe(false);
      expectTimedOut(run);
    } finally {
      sem.close();
    }
  });

  it('a ring receiveSync (futex wait): ETIMEDOUT near 200 ms, never EINTR', async () => {
    const name = uniqueName('sig-ring');
    const rx = await openShmReceiver(name, { create: true, capacity: 4096 });
    const tx = await openShmSender(name);
    try {
      const run = await underSignals(() => rx.receiveSync({ timeoutMs: 200 }));
      expect(run.result).toMatchObject({ code: 'ETIMEDOUT', syscall: 'futex_wait' });
      expectTimedOut(run);
    } finally {
      await tx.close();
      rx.close();
    }
  });

  it('openFifoSync of a reader with no writer: ETIMEDOUT near 200 ms, never EINTR', async () => {
    const path = tempPath('sig-fifo');
    mkfifo(path);
    try {
      const run = await underSignals(() => openFifoSync(path, 'r', { timeoutMs: 200 }));
      expect(run.result).toMatchObject({ code: 'ETIMEDOUT', syscall: 'open' });
      expectTimedOut(run);
    } finally {
      removePath(path);
    }
  });

  it('a FIFO readSync blocked until the writer writes: returns the bytes, never EINTR', async () => {
    const path = tempPath('sig-read');
    mkfifo(path);
    // Plain Node: opens the FIFO, writes 'a', and 'b' 250 ms after a byte on its stdin.
    const writer = cpSpawn(
      process.execPath,
      [
        '-e',
        `const fs = require('fs'); const fd = fs.openSync(process.argv[1], 'w'); fs.writeSync(fd, 'a');
         process.stdin.once('data', () => setTimeout(() => { fs.writeSync(fd, 'b'); fs.closeSync(fd); process.exit(0); }, 250));`,
        path,
      ],
      { stdio: ['pipe', 'ignore', 'inherit'] },
    );
    const writerExit = new Promise((r) => writer.on('exit', r));
    const fd = openFifoSync(path, 'r', { timeoutMs: 10_000 }); // returns once 'a' is there
    try {
      const buf = new Uint8Array(1);
      expect(readSync(fd, buf)).toBe(1);
      expect(buf[0]).toBe(0x61);
      // The byte goes into the stdin pipe at once (libuv tries the write synchronously).
      const run = await underSignals(
        () => readSync(fd, buf),
        () => writer.stdin!.write('g'),
      );
      expect(run.result).toBe(1);
      expect(buf[0]).toBe(0x62);
      expect(run.ms).toBeGreaterThanOrEqual(200); // it really blocked, for the writer's 250 ms
      expect(run.ms).toBeLessThan(1000);
      expect(run.wakeups).toBeGreaterThan(20);
      expect(run.handled).toBeGreaterThan(0);
      expect(readSync(fd, buf)).toBe(0); // end of file once the writer closed
    } finally {
      closeSync(fd);
      writer.stdin!.end();
      if (writer.exitCode === null) writer.kill('SIGKILL'); // a failure before 'g' left it waiting
      await within(5000, 'writer exit', writerExit);
      removePath(path);
    }
  });

  it('importing and using posix-ipc installs no signal handler and changes no disposition or mask', async () => {
    const probe = startFixture('signal-probe.ts');
    try {
      const line = (await probe.waitFor(/^\{.*\}$/m))[0];
      expect(await within(10_000, 'probe exit', probe.child.exited)).toEqual({ code: 0, signal: null });
      const { before, imported, used } = JSON.parse(line) as Record<string, Record<string, string | number>>;
      expect(imported).toEqual(before);
      expect(used).toEqual(before);
      expect(before!.SigCgt).toMatch(/^[0-9a-f]{16}$/); // a real reading
    } finally {
      await probe.stop();
    }
  });
});

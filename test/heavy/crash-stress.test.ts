// Long runs of the crash and hostile-peer promises of docs/reliability.md
// (`npm run test:heavy`): every fault point at many messages, kills at
// random moments of a stream in both directions, longer and more varied
// attacks. test/hardening-crash.test.ts checks each promise once, quickly.
import { describe, expect, it } from 'vitest';

import {
  ChannelError,
  closeSync,
  codecs,
  openShmReceiver,
  openShmSender,
  pipe,
  receiverFromFd,
  SharedMemory,
  type Receiver,
} from '../../lib/index.js';
import { DATA_OFFSET, I_READ, I_STATE, I_WRITE, initRing, maxPayload, segmentSize, STATE_READY } from '../../lib/channels/shm/header.js';
import { RingConsumer } from '../../lib/channels/shm/ring.js';
import { startFixture } from '../support/fixture-process.js';
import { message } from '../fixtures/channel-peer.js';
import { crashMessage, crashSize, MISSED_FAULT } from '../fixtures/crash-messages.js';
import { noWake } from '../support/helpers.js';
import { uniqueName, within } from '../support/helpers.js';

function indexOf(m: Uint8Array): number {
  return new DataView(m.buffer, m.byteOffset, m.byteLength).getUint32(0, true);
}

/** Receives until the end; the messages and how it ended. */
async function drain<T>(rx: Receiver<T>, onMessage?: (count: number) => void): Promise<{ got: T[]; end: 'eos' | Error; at: number }> {
  const got: T[] = [];
  try {
    for (;;) {
      const m = await rx.receive();
      if (m === undefined) return { got, end: 'eos', at: performance.now() };
      got.push(m);
      onMessage?.(got.length);
    }
  } catch (err) {
    return { got, end: err as Error, at: performance.now() };
  }
}

/** A deterministic pseudo-random sequence, so a failing round can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0) / 2 ** 32;
  };
}

function expectPrefix(got: Uint8Array[], sizeOf: (i: number) => number): void {
  got.forEach((m, i) => {
    expect(indexOf(m)).toBe(i); // in order, no gap, no duplicate
    expect(Buffer.compare(m, crashMessage(i, sizeOf(i)))).toBe(0); // intact
  });
}

describe('crash stress (heavy)', () => {
  it('every fault stage at each of messages 0..9, random sizes: exactly the published prefix, then end-of-stream within 2 s', async () => {
    const MAX = 1500; // frames up to 1.5 KiB in a 4 KiB ring: wraps at varying messages
    for (const stage of ['reserve', 'copy', 'publish', 'wake'] as const) {
      for (let n = 0; n < 10; n++) {
        // A writer that missed its 'wake' point (MISSED_FAULT, see crash-writer.ts)
        // runs again, a few times at most.
        for (let attempt = 0; ; attempt++) {
          const name = uniqueName(`hv-${stage}`);
          const rx = await openShmReceiver(name, { create: true, capacity: 4096 });
          const writer = startFixture('crash-writer.ts', ['shm', name, '20', `r${MAX}`, ...(stage === 'wake' ? ['sleeping'] : [])], {
            env: { ...process.env, POSIX_IPC_FAULT: `${stage}:${n}` },
          });
          try {
            const reading = drain(rx);
            const exit = await within(15_000, 'writer', writer.child.exited);
            if (exit.code === MISSED_FAULT && attempt < 4) continue;
            expect(exit, `${stage}:${n}`).toEqual({ code: null, signal: 'SIGKILL' });
            const diedAt = performance.now();
            const { got, end, at } = await within(5000, 'reader', reading);
            expect(end, `${stage}:${n}`).toBe('eos');
            expect(at - diedAt).toBeLessThan(2000);
            expect(got.length, `${stage}:${n}`).toBe(stage === 'wake' ? n + 1 : n);
            expectPrefix(got, (i) => crashSize(i, MAX));
          } finally {
            await writer.stop();
            rx.close();
          }
          break;
        }
      }
    }
  }, 600_000);

  it('a shared-memory writer killed at 30 random moments of a stream: an intact prefix, then end-of-stream within 2 s', async () => {
    const MAX = 3000;
    const random = rng(2024);
    for (let round = 0; round < 30; round++) {
      const name = uniqueName('hv-rkill');
      const rx = await openShmReceiver(name, { create: true, capacity: 16 * 1024 });
      const writer = startFixture('crash-writer.ts', ['shm', name, '10000000', `r${MAX}`]);
      try {
        let first: () => void = () => {};
        const started = new Promise<void>((r) => (first = r));
        const reading = drain(rx, () => first());
        await within(15_000, 'first message', started);
        await new Promise((r) => setTimeout(r, random() * 200));
        writer.child.kill('SIGKILL');
        await within(5000, 'writer exit', writer.child.exited);
        const diedAt = performance.now();
        const { got, end, at } = await within(5000, 'reader', reading);
        expect(end, `round ${round}`).toBe('eos');
        expect(at - diedAt).toBeLessThan(2000);
        expect(got.length).toBeGreaterThan(0);
        expectPrefix(got, (i) => crashSize(i, MAX));
      } finally {
        await writer.stop();
        rx.close();
      }
    }
  }, 600_000);

  it('a pipe writer killed at 30 random moments of a stream: an intact prefix, then end-of-stream or ERR_CHANNEL_PEER_GONE', async () => {
    const random = rng(77);
    const seed = 5;
    for (let round = 0; round < 30; round++) {
      const [r, w] = pipe();
      const writer = startFixture('channel-peer.ts', ['pipe', 'produce', '10000000', String(seed)], { fds: { 3: w } });
      closeSync(w);
      const rx = receiverFromFd(r);
      try {
        let first: () => void = () => {};
        const started = new Promise<void>((res) => (first = res));
        const reading = drain(rx, () => first());
        await within(15_000, 'first message', started);
        await new Promise((res) => setTimeout(res, random() * 200));
        writer.child.kill('SIGKILL');
        await within(5000, 'writer exit', writer.child.exited);
        const { got, end } = await within(5000, 'reader', reading);
        if (end !== 'eos') expect(end).toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' }); // killed inside a frame
        got.forEach((m, i) => expect(Buffer.compare(m, message(i, seed))).toBe(0));
      } finally {
        rx.close();
        await writer.stop();
      }
    }
  }, 600_000);

  it('a shared-memory reader killed at 20 random moments while we stream: the sender fails with ERR_CHANNEL_PEER_GONE within 2 s', async () => {
    const random = rng(99);
    for (let round = 0; round < 20; round++) {
      const name = uniqueName('hv-rdead');
      const tx = await openShmSender(name, { create: true, capacity: 16 * 1024 });
      const reader = startFixture('channel-peer.ts', ['shm', 'consume', '0', '1', name]);
      try {
        let sent = 0;
        const sending = (async () => {
          for (;;) {
            await tx.send(crashMessage(sent, crashSize(sent, 3000)));
            sent++;
            if (sent % 64 === 0) await new Promise((res) => setImmediate(res)); // let timers run
          }
        })();
        sending.catch(() => {});
        // The ring holds about 11 of these: 40 sent means the reader attached and reads.
        await within(
          15_000,
          `round ${round}: 40 messages sent`,
          (async () => {
            while (sent < 40) await new Promise((res) => setTimeout(res, 1));
          })(),
        );
        await new Promise((res) => setTimeout(res, random() * 200));
        reader.child.kill('SIGKILL');
        await within(5000, 'reader exit', reader.child.exited);
        const diedAt = performance.now();
        await expect(within(2000, 'sender notices', sending)).rejects.toBeInstanceOf(ChannelError);
        await expect(sending).rejects.toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' });
        expect(performance.now() - diedAt).toBeLessThan(2000);
      } finally {
        await reader.stop();
        await within(5000, 'sender close', tx.close()); // waits for the pending send, failed by now
      }
    }
  }, 600_000);
});

describe('hostile peers (heavy)', () => {
  it('a frame length flipped from another process for 10 s: never a view of a length that was not checked', async () => {
    const capacity = 4096;
    const name = uniqueName('hv-flip');
    const shm = SharedMemory.open(name, { create: 'exclusive', size: segmentSize(capacity) });
    initRing(shm.buffer, capacity, maxPayload(capacity));
    new Uint32Array(shm.buffer, DATA_OFFSET, 1)[0] = 16;
    const flipper = startFixture('hostile-peer.ts', ['flip', name, '16', '8', '40', String(0xffffffff), String(0xfffffff0), '24', '17'], {
      stdin: true,
    });
    try {
      await flipper.waitFor('mapped');
      flipper.write('go\n');
      const h = new Int32Array(shm.buffer, 0, DATA_OFFSET / 4);
      const outcomes = new Map<string, number>();
      const bad: string[] = [];
      const until = performance.now() + 10_000;
      while (performance.now() < until) {
        for (let k = 0; k < 1000; k++) {
          Atomics.store(h, I_STATE, STATE_READY);
          Atomics.store(h, I_WRITE, 24);
          Atomics.store(h, I_READ, 0);
          let outcome: string;
          try {
            const view = new RingConsumer(shm.buffer, noWake).peek();
            outcome = view === null ? 'null' : `view ${view.byteLength}`;
            // 16 and 8 fit the 24 published bytes; 17 and 24 need 32, 40 needs 48.
            if (view === null || view.byteOffset !== DATA_OFFSET + 8 || (view.byteLength !== 16 && view.byteLength !== 8))
              bad.push(outcome);
          } catch (err) {
            outcome = (err as ChannelError).code;
            if (outcome !== 'ERR_CHANNEL_CORRUPT') bad.push(String(err));
          }
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        }
        await new Promise((r) => setImmediate(r));
      }
      flipper.endInput();
      await within(5000, 'flipper exit', flipper.child.exited);
      expect(bad.slice(0, 5)).toEqual([]);
      expect(outcomes.get('view 16') ?? 0).toBeGreaterThan(0);
      expect(outcomes.get('view 8') ?? 0).toBeGreaterThan(0);
      expect(outcomes.get('ERR_CHANNEL_CORRUPT') ?? 0).toBeGreaterThan(0);
    } finally {
      await flipper.stop();
      shm.close();
      SharedMemory.unlink(name);
    }
  }, 60_000);

  it('15 seeds of each garbage attack: values inside the ring or a channel error, never anything else', async () => {
    const capacity = 4096;
    for (const mode of ['header', 'frames', 'all'] as const) {
      const codes = new Set<string>();
      for (let seed = 1; seed <= 15; seed++) {
        const name = uniqueName(`hv-hostile-${mode}`);
        const rx = await openShmReceiver(name, { create: true, capacity, codec: codecs.bytesView });
        const attacker = startFixture('hostile-peer.ts', [mode, name, String(seed * 7919)], { stdin: true });
        const tx = await (async () => {
          await attacker.waitFor('mapped');
          return openShmSender(name);
        })();
        try {
          attacker.write('go\n');
          const errors: unknown[] = [];
          let outside = 0;
          let done = false;
          const until = performance.now() + 2000;
          for (let round = 0; performance.now() < until && !done; round++) {
            for (let k = 0; k < 8; k++) {
              try {
                tx.trySend(crashMessage(round * 8 + k, 4 + ((round * 8 + k) % 500)));
              } catch (err) {
                errors.push(err);
                break;
              }
            }
            for (let k = 0; k < 8; k++) {
              let view: Uint8Array | undefined;
              try {
                view = rx.tryReceive();
              } catch (err) {
                errors.push(err);
                done = true;
                break;
              }
              if (view === undefined) {
                done = rx.ended;
                break;
              }
              if (view.byteOffset < DATA_OFFSET + 8 || view.byteOffset + view.byteLength > DATA_OFFSET + capacity) outside++;
            }
            if (round % 64 === 0) await new Promise((r) => setImmediate(r));
          }
          attacker.endInput();
          await within(5000, 'attacker exit', attacker.child.exited);
          expect(outside).toBe(0);
          for (const err of errors) {
            expect(err).toBeInstanceOf(ChannelError);
            expect(['ERR_CHANNEL_CORRUPT', 'ERR_CHANNEL_PEER_GONE']).toContain((err as ChannelError).code);
            codes.add((err as ChannelError).code);
          }
        } finally {
          await attacker.stop();
          await tx.close();
          rx.close();
        }
      }
      // Over the seeds, each kind of attack was caught as corruption at least once.
      expect([...codes]).toContain('ERR_CHANNEL_CORRUPT');
    }
  }, 600_000);

  it('an opener of a segment its creator never sized fails with ERR_CHANNEL_CORRUPT after ~2 s', async () => {
    const name = uniqueName('hv-unsized');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`/dev/shm${name}`, '', { mode: 0o600 });
    try {
      const t0 = performance.now();
      await expect(openShmReceiver(name, { timeoutMs: 10_000 })).rejects.toMatchObject({ code: 'ERR_CHANNEL_CORRUPT' });
      expect(performance.now() - t0).toBeGreaterThanOrEqual(1900);
    } finally {
      SharedMemory.unlink(name);
    }
  }, 30_000);
});

import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { AbortError, futexWaitSync, futexWake, SharedMemory, UnnamedSemaphore } from '../lib/index.js';
import { runChild, startFixture } from './fixtures/shm-run.js';
import { uniqueName, within } from './support/helpers.js';

let name: string;
let shm: SharedMemory;

beforeEach(() => {
  name = uniqueName('usem');
  shm = SharedMemory.open(name, { create: 'exclusive', size: 4096 });
});

afterEach(() => {
  shm.close();
  SharedMemory.unlink(name);
});

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('layout', () => {
  it('exposes sizeof and alignof sem_t', () => {
    // glibc on 64-bit Linux: union { char[32]; long; }.
    expect(UnnamedSemaphore.BYTES).toBe(32);
    expect(UnnamedSemaphore.ALIGNMENT).toBe(8);
  });

  it('checks the offset (aligned, inside the segment) and the initial value', () => {
    expect(() => UnnamedSemaphore.init(shm, 4, 0)).toThrow(RangeError);
    expect(() => UnnamedSemaphore.init(shm, 4096 - 24, 0)).toThrow(RangeError);
    expect(() => UnnamedSemaphore.init(shm, -8, 0)).toThrow(RangeError);
    expect(() => UnnamedSemaphore.init(shm, 0, -1)).toThrow(RangeError);
    expect(() => UnnamedSemaphore.init(shm, 0, 2 ** 31)).toThrow(RangeError);
    expect(() => UnnamedSemaphore.attach(shm, 12)).toThrow(RangeError);
    expect(() => UnnamedSemaphore.init({} as never, 0, 0)).toThrow(TypeError);
    using last = UnnamedSemaphore.init(shm, 4096 - 32, 3);
    expect(last.value).toBe(3);
  });
});

describe('in one process', () => {
  it('tryWait, post and value', () => {
    using sem = UnnamedSemaphore.init(shm, 64, 2);
    expect(sem.initialized).toBe(true);
    expect(sem.byteOffset).toBe(64);
    expect(sem.shm).toBe(shm);
    expect(sem.value).toBe(2);
    expect(sem.tryWait()).toBe(true);
    expect(sem.tryWait()).toBe(true);
    expect(sem.tryWait()).toBe(false);
    sem.post();
    expect(sem.value).toBe(1);
    using other = UnnamedSemaphore.attach(shm, 64);
    expect(other.initialized).toBe(false);
    expect(other.tryWait()).toBe(true);
    expect(sem.value).toBe(0);
  });

  it('waitSync and wait time out, measured', async () => {
    using sem = UnnamedSemaphore.init(shm, 0, 0);
    let t = performance.now();
    expect(sem.waitSync({ timeoutMs: 100 })).toBe(false);
    expect(performance.now() - t).toBeGreaterThanOrEqual(99);
    expect(performance.now() - t).toBeLessThan(1000);
    t = performance.now();
    await expect(sem.wait({ timeoutMs: 100 })).resolves.toBe(false);
    expect(performance.now() - t).toBeGreaterThanOrEqual(99);
    expect(performance.now() - t).toBeLessThan(1000);
    expect(sem.waitSync({ timeoutMs: 0 })).toBe(false);
    sem.post();
    expect(sem.waitSync({ timeoutMs: 0 })).toBe(true);
  });

  it('an AbortSignal rejects a pending wait, and a count taken meanwhile is given back', async () => {
    using sem = UnnamedSemaphore.init(shm, 0, 0);
    const controller = new AbortController();
    const waiting = sem.wait({ signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortError);
    sem.post();
    // The cancelled wait thread may still take the count for a moment; it must give it back.
    await new Promise((r) => setTimeout(r, 120));
    expect(sem.value).toBe(1);
    await expect(sem.wait({ signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORT_ERR' });
  });

  it('a count the wait thread took just before the cancellation reached it is given back', async () => {
    using sem = UnnamedSemaphore.init(shm, 0, 1);
    // The loop thread stays busy while the wait thread takes the count, so the
    // outcome "acquired" arrives only after the promise rejected.
    const controller = new AbortController();
    const waiting = sem.wait({ signal: controller.signal });
    const busyUntil = performance.now() + 30;
    while (performance.now() < busyUntil) {
      // busy: the count is taken meanwhile
    }
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortError);
    await until('the count back', () => sem.value === 1, 2_000);
    // Aborting at once, twenty times: whichever side wins, no count is lost.
    for (let i = 0; i < 20; i++) {
      const abort = new AbortController();
      const w = sem.wait({ signal: abort.signal });
      abort.abort();
      await expect(w).rejects.toBeInstanceOf(AbortError);
    }
    await until('the count back', () => sem.value === 1, 2_000);
    await new Promise((r) => setTimeout(r, 120)); // > 2 slices: every wait thread is gone
    expect(sem.value).toBe(1);
  });

  it('close() of the semaphore or of the segment rejects pending waits with ERR_POSIX_IPC_CLOSED', async () => {
    const sem = UnnamedSemaphore.init(shm, 0, 0);
    const waiting = sem.wait();
    sem.close();
    sem.close();
    await expect(within(5_000, 'closed wait', waiting)).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
    expect(sem.closed).toBe(true);
    for (const use of [() => sem.post(), () => sem.tryWait(), () => sem.value, () => sem.waitSync({ timeoutMs: 0 }), () => sem.destroy()]) {
      expect(use).toThrow(expect.objectContaining({ code: 'ERR_POSIX_IPC_CLOSED' }));
    }

    const peer = SharedMemory.open(name);
    const attached = UnnamedSemaphore.attach(peer, 0);
    const waiting2 = attached.wait();
    peer.close();
    await expect(within(5_000, 'segment closed', waiting2)).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
    expect(() => attached.post()).toThrow(expect.objectContaining({ code: 'ERR_POSIX_IPC_CLOSED' }));
  });

  it('only the initialising object may destroy (EPERM otherwise)', () => {
    const sem = UnnamedSemaphore.init(shm, 0, 1);
    const attached = UnnamedSemaphore.attach(shm, 0);
    expect(() => attached.destroy()).toThrow(expect.objectContaining({ code: 'EPERM', syscall: 'sem_destroy' }));
    sem.destroy();
    expect(sem.closed).toBe(true);
    attached.close();
  });
});

describe('across processes', () => {
  it('a post in another process wakes an async wait here', async () => {
    using sem = UnnamedSemaphore.init(shm, 128, 0);
    const waiting = sem.wait({ timeoutMs: 20_000 });
    await within(10_000, 'poster child', runChild('sem-post', name, 128));
    await expect(within(5_000, 'woken wait', waiting)).resolves.toBe(true);
    expect(sem.value).toBe(0);
  });

  it('a post here wakes a waitSync in another process', async () => {
    using sem = UnnamedSemaphore.init(shm, 128, 0);
    const child = startFixture('./shm-child.ts', ['sem-wait-sync', name, '128', '20000']);
    // Post once the child sleeps on the semaphore (the futex inside sem_t).
    await within(
      10_000,
      'child asleep',
      until('child asleep', () => {
        try {
          return readFileSync(`/proc/${child.child.pid}/wchan`, 'utf8').includes('futex') && sem.value === 0 && childOpened();
        } catch {
          return false;
        }
      }),
    );
    sem.post();
    const r = await within(10_000, 'child exit', child.done);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ acquired: true });
    expect(sem.value).toBe(0);

    function childOpened(): boolean {
      // The child maps the segment before it waits.
      return readFileSync(`/proc/${child.child.pid}/maps`, 'utf8').includes(name.slice(1));
    }
  });

  it('a waitSync in another process times out', async () => {
    using _sem = UnnamedSemaphore.init(shm, 128, 0);
    const r = await within(10_000, 'child', runChild('sem-wait-sync', name, 128, 100));
    expect(r.acquired).toBe(false);
    expect(r.ms as number).toBeGreaterThanOrEqual(99);
  });

  it("as a mutex, it makes N processes' non-atomic read-modify-write exact", async () => {
    const SEM = 0;
    const COUNTER = 64;
    const READY = 128;
    const GO = 192;
    const N = 3;
    const ITERATIONS = 20_000;
    using lock = UnnamedSemaphore.init(shm, SEM, 1);
    const words = new Int32Array(shm.buffer);
    const children = Array.from({ length: N }, () =>
      startFixture('./shm-child.ts', ['sem-mutex', name, SEM, COUNTER, ITERATIONS, READY, GO].map(String)),
    );
    while (Atomics.load(words, READY / 4) < N) futexWaitSync(shm, READY, Atomics.load(words, READY / 4), 100);
    Atomics.store(words, GO / 4, 1);
    futexWake(shm, GO);
    const results = await within(60_000, 'sem-mutex children', Promise.all(children.map((c) => c.done)));
    for (const r of results) expect(r, r.stderr).toMatchObject({ code: 0, signal: null });
    expect(new DataView(shm.buffer).getUint32(COUNTER, true)).toBe(N * ITERATIONS);
    expect(lock.value).toBe(1);
  });
});

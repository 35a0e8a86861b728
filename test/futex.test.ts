import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { AbortError, futexWait, futexWaitSync, futexWake, SharedMemory } from '../lib/index.js';
import { runChild, startFixture } from './fixtures/shm-run.js';
import { uniqueName, within } from './support/helpers.js';

let name: string;
let shm: SharedMemory;
let words: Int32Array;

beforeEach(() => {
  name = uniqueName('futex');
  shm = SharedMemory.open(name, { create: 'exclusive', size: 4096 });
  words = new Int32Array(shm.buffer);
});

afterEach(() => {
  shm.close();
  SharedMemory.unlink(name);
});

/** True while the process's main thread sleeps in the kernel's futex wait. */
function sleepsInFutex(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/wchan`, 'utf8').includes('futex');
  } catch {
    return false;
  }
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('cross-process wake', () => {
  it('wakes a process blocked in futexWaitSync', async () => {
    const child = startFixture('./shm-child.ts', ['futex-wait-sync', name, '0', '0', '20000', '64']);
    // Wake only once the child really sleeps on the word (it said it is about
    // to, and its main thread sleeps in the kernel's futex wait), so the test
    // shows a wake, not a value found already changed.
    await within(
      10_000,
      'child asleep in futex',
      until('child asleep', () => Atomics.load(words, 16) === 1 && sleepsInFutex(child.child.pid!)),
    );
    Atomics.store(words, 0, 1);
    expect(futexWake(shm, 0)).toBe(1);
    const r = await within(10_000, 'child exit', child.done);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ result: 'ok' });
    expect(r.json!.ms as number).toBeLessThan(20_000);
  });

  it('another process wakes an async futexWait of this one', async () => {
    const waiting = futexWait(shm, 8, 0);
    const result = await within(10_000, 'waker child', runChild('futex-store-wake', name, 8, 5));
    // A wake that lands between two of the waiter's 50 ms slices finds nobody
    // asleep (0); the wait still sees the new value and returns.
    expect([{ woken: 0 }, { woken: 1 }]).toContainEqual(result);
    await expect(within(5_000, 'woken wait', waiting)).resolves.toBe('ok');
    expect(Atomics.load(words, 2)).toBe(5);
  });
});

describe('results', () => {
  it("'not-equal' when the word already differs", async () => {
    Atomics.store(words, 1, 7);
    expect(futexWaitSync(shm, 4, 6)).toBe('not-equal');
    expect(futexWaitSync(shm, 4, 6, 0)).toBe('not-equal');
    await expect(futexWait(shm, 4, 6)).resolves.toBe('not-equal');
  });

  it("'timed-out' after the timeout, measured", async () => {
    let t = performance.now();
    expect(futexWaitSync(shm, 0, 0, 100)).toBe('timed-out');
    let elapsed = performance.now() - t;
    expect(elapsed).toBeGreaterThanOrEqual(99);
    expect(elapsed).toBeLessThan(1000);

    t = performance.now();
    await expect(futexWait(shm, 0, 0, { timeoutMs: 100 })).resolves.toBe('timed-out');
    elapsed = performance.now() - t;
    expect(elapsed).toBeGreaterThanOrEqual(99);
    expect(elapsed).toBeLessThan(1000);

    expect(futexWaitSync(shm, 0, 0, 0)).toBe('timed-out');
  });

  it('compares all 32 bits: uint32 and int32 spellings of a value are the same word', () => {
    Atomics.store(words, 0, -1);
    expect(futexWaitSync(shm, 0, 0xffffffff, 0)).toBe('timed-out');
    expect(futexWaitSync(shm, 0, -1, 0)).toBe('timed-out');
    expect(futexWaitSync(shm, 0, 0x7fffffff, 0)).toBe('not-equal');
  });

  it('futexWake counts the waiters it woke, and never more than asked', async () => {
    expect(futexWake(shm, 12)).toBe(0);
    expect(futexWake(shm, 12, 0)).toBe(0);
    const waits = [futexWait(shm, 12, 0), futexWait(shm, 12, 0), futexWait(shm, 12, 0)];
    // The waits reach the kernel on threads of their own, each in its own
    // time: wake one at a time until all three were woken.
    let total = 0;
    await within(
      5_000,
      'three wakes',
      until('three wakes', () => {
        const n = futexWake(shm, 12, 1);
        expect(n).toBeLessThanOrEqual(1);
        total += n;
        return total === 3;
      }),
    );
    await expect(within(5_000, 'woken waits', Promise.all(waits))).resolves.toEqual(['ok', 'ok', 'ok']);
    expect(futexWake(shm, 12)).toBe(0);
  });
});

describe('cancellation', () => {
  it('an AbortSignal rejects a pending wait with AbortError at once', async () => {
    const controller = new AbortController();
    const waiting = futexWait(shm, 0, 0, { signal: controller.signal });
    setTimeout(() => controller.abort(), 30);
    const t = performance.now();
    await expect(within(5_000, 'aborted wait', waiting)).rejects.toBeInstanceOf(AbortError);
    expect(performance.now() - t).toBeLessThan(1000);
    await expect(futexWait(shm, 0, 0, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
  });

  it('close() rejects pending waits with ERR_POSIX_IPC_CLOSED', async () => {
    const other = SharedMemory.open(name);
    const waiting = futexWait(other, 0, 0);
    other.close();
    await expect(within(5_000, 'closed wait', waiting)).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
  });

  it('resize() refuses to shrink below a pending wait (EBUSY), and allows it once the wait is over', async () => {
    const controller = new AbortController();
    const waiting = futexWait(shm, 4000, 0, { signal: controller.signal });
    expect(() => shm.resize(2048)).toThrow(expect.objectContaining({ code: 'EBUSY', syscall: 'ftruncate' }));
    shm.resize(8192); // growing is fine: the wait goes on, on the old mapping of the same page
    words = new Int32Array(shm.buffer);
    // The word stays 0: only a wake can end the wait, and it reports 'ok'.
    expect(await within(5_000, 'wake after grow', untilWoken(4000))).toBe(1);
    await expect(waiting).resolves.toBe('ok');
    shm.resize(2048);
    expect(shm.size).toBe(2048);
  });
});

async function untilWoken(offset: number): Promise<number> {
  for (;;) {
    const n = futexWake(shm, offset);
    if (n > 0) return n;
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('many pending waits', () => {
  it('more than UV_THREADPOOL_SIZE pending waits leave fs working', async () => {
    const COUNT = 12; // libuv's pool has 4 threads unless told otherwise
    const waits = Array.from({ length: COUNT }, () => futexWait(shm, 16, 0));
    const t = performance.now();
    const text = await within(5_000, 'readFile under pending waits', readFile(new URL(import.meta.url), 'utf8'));
    expect(text).toContain('many pending waits');
    expect(performance.now() - t).toBeLessThan(1000);
    // The word stays 0, so each wait ends only when woken: wake until all were.
    let total = 0;
    await within(
      5_000,
      'all woken',
      until('all woken', () => (total += futexWake(shm, 16)) === COUNT),
    );
    await expect(within(5_000, 'woken waits', Promise.all(waits))).resolves.toEqual(Array(COUNT).fill('ok'));
  });
});

describe('arguments', () => {
  it('checks the segment, the offset (4-byte aligned, in bounds), the value and the options', () => {
    expect(() => futexWake({} as never, 0)).toThrow(TypeError);
    expect(() => futexWaitSync(shm, 2, 0, 0)).toThrow(RangeError);
    expect(() => futexWaitSync(shm, 4096, 0, 0)).toThrow(RangeError);
    expect(() => futexWaitSync(shm, -4, 0, 0)).toThrow(RangeError);
    expect(() => futexWake(shm, 4093)).toThrow(RangeError);
    expect(() => futexWake(shm, '0' as never)).toThrow(TypeError);
    expect(() => futexWake(shm, 0, -1)).toThrow(RangeError);
    expect(() => futexWake(shm, 0, 1.5)).toThrow(RangeError);
    expect(() => futexWaitSync(shm, 0, 2 ** 32, 0)).toThrow(RangeError);
    expect(() => futexWaitSync(shm, 0, 0.5, 0)).toThrow(RangeError);
    expect(() => futexWaitSync(shm, 0, 0, -1)).toThrow(RangeError);
    expect(() => futexWait(shm, 0, 0, { signal: 'no' as never })).toThrow(TypeError);
    expect(futexWaitSync(shm, 4092, 0, 0)).toBe('timed-out');
  });
});

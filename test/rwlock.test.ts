// The readers/writer lock (lib/sync/rwlock.ts) across real processes: a
// mixed load (readers overlap, writers alone, nobody starves), writer
// preference against a stream of readers, the read phase against a stream
// of writers, dead readers and writers (SIGKILL) while holding and while
// claiming, timeouts and aborts giving a claim back, the event loop during
// a wait, a corrupt segment, bad arguments.
import { afterEach, describe, expect, it } from 'vitest';

import { Condition, futexWake, LockError, ReadWriteLock, SharedMemory, type ReadWriteLockGuard } from '../lib/index.js';
import { startFixture, type FixtureProcess } from './support/fixture-process.js';
import { sleep, uniqueName, within } from './support/helpers.js';

const names: string[] = [];
const open: { close(): void }[] = [];
const fixtures: FixtureProcess[] = [];

afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.stop();
  for (const o of open.splice(0)) o.close();
  for (const name of names.splice(0)) {
    try {
      SharedMemory.unlink(name);
    } catch {
      // removed by the test
    }
  }
});

function newLock(tag: string, readerSlots?: number): ReadWriteLock {
  const name = uniqueName(tag);
  names.push(name);
  const lock = ReadWriteLock.open(name, { create: 'exclusive', ...(readerSlots === undefined ? {} : { readerSlots }) });
  open.push(lock);
  return lock;
}

function openAgain(name: string): ReadWriteLock {
  const lock = ReadWriteLock.open(name);
  open.push(lock);
  return lock;
}

function holder(lock: ReadWriteLock, mode: 'read' | 'write'): FixtureProcess {
  const f = startFixture('lock-holder.ts', [lock.name, mode], { stdin: true });
  fixtures.push(f);
  return f;
}

async function held(f: FixtureProcess): Promise<{ mode: string; ownerDied: boolean }> {
  const m = await f.waitFor(/\{"held":true.*\}\n/, 20_000);
  return JSON.parse(m[0]) as { mode: string; ownerDied: boolean };
}

async function killed(f: FixtureProcess): Promise<void> {
  f.child.kill('SIGKILL');
  await f.stop();
}

/** Word indices of the state segment; see test/fixtures/rw-worker.ts. */
const STATE = { readers: 0, writers: 1, violations: 2, maxReaders: 3, value: 4, go: 5, overlaps: 6, done: 16, maxWait: 48 };

interface Load {
  role: 'read' | 'write';
  iterations: number;
  mode: 'async' | 'sync';
  holdMs: number;
}

/**
 * Starts one worker process per entry of `load` on `lock` and lets them go
 * together; resolves once they run, with the promise of the state words at
 * their end.
 */
async function startLoad(lock: ReadWriteLock, load: Load[]): Promise<{ done: Promise<Int32Array> }> {
  const stateName = uniqueName('rw-state');
  names.push(stateName);
  const state = SharedMemory.open(stateName, { create: 'exclusive', size: 4096 });
  open.push(state);
  const s = new Int32Array(state.buffer);
  const workers = load.map((w, i) => {
    const f = startFixture('rw-worker.ts', [lock.name, stateName, String(i), w.role, String(w.iterations), w.mode, String(w.holdMs)]);
    fixtures.push(f);
    return f;
  });
  for (const f of workers) await f.waitFor('ready\n', 20_000);
  Atomics.store(s, STATE.go, 1);
  futexWake(state, STATE.go * 4, Infinity);
  const done = within(90_000, 'the workers finish', Promise.all(workers.map((f) => f.waitFor('done\n', 90_000)))).then(() => s);
  return { done };
}

async function runLoad(lock: ReadWriteLock, load: Load[]): Promise<Int32Array> {
  return (await startLoad(lock, load)).done;
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  const run = typeof p === 'function' ? Promise.resolve().then(p) : p;
  await expect(run).rejects.toMatchObject({ code });
}

describe('ReadWriteLock', () => {
  it('a mixed load of readers and writers across processes: readers overlap, writers are alone, every section completes', async () => {
    const lock = newLock('rw-mixed');
    const load: Load[] = [
      { role: 'read', iterations: 60, mode: 'async', holdMs: 2 },
      { role: 'read', iterations: 60, mode: 'sync', holdMs: 2 },
      { role: 'read', iterations: 60, mode: 'async', holdMs: 2 },
      { role: 'write', iterations: 30, mode: 'sync', holdMs: 1 },
      { role: 'write', iterations: 30, mode: 'async', holdMs: 1 },
    ];
    const s = await runLoad(lock, load);
    expect(Atomics.load(s, STATE.violations)).toBe(0);
    expect(Atomics.load(s, STATE.value)).toBe(60); // every write, none torn
    load.forEach((w, i) => expect(Atomics.load(s, STATE.done + i), `worker ${i}`).toBe(w.iterations));
    // Measured overlap: readers were inside together.
    expect(Atomics.load(s, STATE.maxReaders)).toBeGreaterThanOrEqual(2);
    expect(Atomics.load(s, STATE.overlaps)).toBeGreaterThan(0);
    expect(lock.readers).toBe(0);
    expect(lock.writerPid).toBe(0);
  });

  it('no writer starvation: a writer gets in while readers keep the lock read-held without a gap', async () => {
    const lock = newLock('rw-wpref');
    // Three readers, each holding 20 ms, 100 times: alone they keep a reader inside all the time.
    const readers = await startLoad(
      lock,
      [0, 1, 2].map(() => ({ role: 'read' as const, iterations: 100, mode: 'sync' as const, holdMs: 20 })),
    );
    await within(
      5_000,
      'the readers hold the lock',
      (async () => {
        while (lock.readers === 0) await sleep(5);
      })(),
    );
    await sleep(100);
    const asked = performance.now();
    const guard = await lock.writeLock({ timeoutMs: 20_000 });
    const waited = performance.now() - asked;
    guard.unlock();
    console.log('WWAIT', Math.round(waited), lock.readers);
    // The writer waits for the readers inside (20 ms) and a load's delays, not for the readers' 2 s of work.
    expect(waited).toBeLessThan(1000);
    expect(Atomics.load(await readers.done, STATE.violations)).toBe(0);
  });

  it('no reader starvation: after a writer unlocks, the readers waiting go before the next writer', async () => {
    const lock = newLock('rw-rphase');
    const writers = await startLoad(
      lock,
      [0, 1].map(() => ({ role: 'write' as const, iterations: 300, mode: 'sync' as const, holdMs: 5 })),
    );
    await within(
      5_000,
      'the writers hold the lock',
      (async () => {
        while (lock.writerPid === 0) await sleep(1);
      })(),
    );
    const waits: number[] = [];
    for (let i = 0; i < 10; i++) {
      const asked = performance.now();
      const guard = await lock.readLock({ timeoutMs: 20_000 });
      waits.push(performance.now() - asked);
      guard.unlock();
    }
    const state = await writers.done;
    expect(Atomics.load(state, STATE.violations)).toBe(0);
    // Each read waits for about one writer's section (5 ms), never for the writers' whole run (1.5 s).
    console.log('WAITS', waits.map(Math.round).join(' '));
    expect(Math.max(...waits)).toBeLessThan(750);
  });

  it('the read phase: a writer that unlocks and locks again at once lets the reader that was waiting go first', async () => {
    const lock = newLock('rw-phase');
    const reader = openAgain(lock.name);
    const third = openAgain(lock.name);
    const w = lock.writeLockSync();
    const reading = reader.readLock({ timeoutMs: 5_000 }); // asleep: counted among the waiting readers
    w.unlock();
    // Without the phase the writer would win every such race and the reader could wait for ever.
    expect(lock.tryWriteLock()).toBeNull();
    expect(third.tryReadLock()?.unlock()).toBeUndefined(); // readers are welcome in the phase
    const r = await within(5_000, 'the waiting reader', reading);
    expect(r.mode).toBe('read');
    // The phase is over once its reader is in: a writer claims, and gets in when the reader leaves.
    const writing = lock.writeLock({ timeoutMs: 5_000 });
    await sleep(20);
    expect(lock.writerPid).toBe(process.pid);
    r.unlock();
    (await writing).unlock();
  });

  it('a reader killed while holding: its slot is freed by the next writer, without owner-died', async () => {
    const lock = newLock('rw-deadreader');
    const r = holder(lock, 'read');
    expect(await held(r)).toEqual({ held: true, mode: 'read', ownerDied: false });
    expect(lock.readers).toBe(1);
    expect(lock.tryWriteLock()).toBeNull();
    await killed(r);
    const guard = await within(5_000, 'the writer gets in', lock.writeLock({ timeoutMs: 5_000 }));
    expect(guard.ownerDied).toBe(false);
    expect(lock.state).toBe('consistent');
    guard.unlock();
    expect(lock.readers).toBe(0);
  });

  it('a writer killed while holding: the next writer gets owner-died, repairs and marks it consistent', async () => {
    const lock = newLock('rw-deadwriter');
    const w = holder(lock, 'write');
    expect(await held(w)).toEqual({ held: true, mode: 'write', ownerDied: false });
    expect(lock.writerPid).toBe(w.child.pid);
    const waiting = lock.writeLock({ timeoutMs: 10_000 });
    await sleep(50);
    await killed(w);
    const guard = await within(5_000, 'the next writer', waiting);
    expect(guard.ownerDied).toBe(true);
    expect(lock.state).toBe('owner-died');
    guard.markConsistent();
    expect(lock.state).toBe('consistent');
    guard.unlock();
    // It works as before: readers, then a writer.
    const other = openAgain(lock.name);
    const r1 = lock.readLockSync();
    const r2 = other.readLockSync();
    expect(lock.readers).toBe(2);
    r1.unlock();
    r2.unlock();
    lock.writeLockSync().unlock();
  });

  it('a writer killed while holding, and a reader next: the read holding is exclusive, with owner-died; unlocked unrepaired, the lock is not recoverable', async () => {
    const lock = newLock('rw-deadwriter-reader');
    const w = holder(lock, 'write');
    await held(w);
    await killed(w);
    const guard = lock.readLockSync({ timeoutMs: 5_000 });
    expect(guard.mode).toBe('write');
    expect(guard.ownerDied).toBe(true);
    // Exclusive: nobody else reads while it repairs.
    const other = openAgain(lock.name);
    expect(other.tryReadLock()).toBeNull();
    const w2 = holder(lock, 'write');
    await w2.waitFor('locking\n');
    guard.unlock(); // not repaired
    expect(lock.state).toBe('not-recoverable');
    expect(await w2.waitFor(/\{"error":"(\w+)"\}/, 10_000)).toMatchObject({ 1: 'ERR_LOCK_NOT_RECOVERABLE' });
    await expectCode(lock.readLock(), 'ERR_LOCK_NOT_RECOVERABLE');
    expect(() => other.tryWriteLock()).toThrow(LockError);
  });

  it('a writer killed while it only claimed the lock (readers inside): the claim is freed, nobody gets owner-died', async () => {
    const lock = newLock('rw-deadclaim');
    const reading = lock.readLockSync();
    const w = holder(lock, 'write');
    await w.waitFor('locking\n');
    // Its claim turns new readers away.
    const other = openAgain(lock.name);
    await within(
      5_000,
      'the claim shows',
      (async () => {
        while (lock.writerPid !== w.child.pid) await sleep(10);
      })(),
    );
    expect(other.tryReadLock()).toBeNull();
    await killed(w);
    const second = await within(5_000, 'a reader after the dead claim', other.readLock({ timeoutMs: 5_000 }));
    expect(second.ownerDied).toBe(false);
    expect(second.mode).toBe('read');
    second.unlock();
    reading.unlock();
    const guard = lock.tryWriteLock();
    expect(guard?.ownerDied).toBe(false);
    guard?.unlock();
    expect(lock.state).toBe('consistent');
  });

  it('a write wait that times out or aborts gives its claim back: readers get in again', async () => {
    const lock = newLock('rw-giveback');
    const other = openAgain(lock.name);
    const reading = lock.readLockSync();
    await expectCode(other.writeLock({ timeoutMs: 150 }), 'ETIMEDOUT');
    expect(lock.writerPid).toBe(0);
    const r = lock.tryReadLock();
    expect(r).not.toBeNull();
    r!.unlock();
    const ac = new AbortController();
    const aborted = other.writeLock({ signal: ac.signal });
    await sleep(30);
    expect(lock.writerPid).toBe(process.pid); // claimed
    ac.abort();
    await expectCode(aborted, 'ABORT_ERR');
    expect(lock.writerPid).toBe(0);
    expect(() => other.writeLockSync({ timeoutMs: 50 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }) as Error);
    expect(lock.writerPid).toBe(0);
    reading.unlock();
    other.writeLockSync().unlock();
  });

  it('waits keep the event loop running, and close() rejects them and releases what the object held', async () => {
    const lock = newLock('rw-loop');
    const other = openAgain(lock.name);
    const w = lock.writeLockSync();
    expect(w.mode).toBe('write');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const waiting = other.readLock();
    await sleep(300);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(10);
    other.close();
    await expectCode(waiting, 'ERR_POSIX_IPC_CLOSED');
    lock.close(); // holding the write lock: released
    expect(w.held).toBe(false);
    const third = openAgain(lock.name);
    third.tryWriteLock()!.unlock();
  });

  it('reader slots bound the readers; sync self-deadlocks are EDEADLK; ownership stays with the object', async () => {
    const lock = newLock('rw-slots', 2);
    const other = openAgain(lock.name);
    expect(other.readerSlots).toBe(2);
    const a = lock.readLockSync();
    const b = other.readLockSync();
    expect(lock.tryReadLock()).toBeNull();
    expect(() => lock.writeLockSync()).toThrow(expect.objectContaining({ code: 'EDEADLK' }) as Error);
    a.unlock();
    expect(() => a.unlock()).toThrow(expect.objectContaining({ code: 'ERR_LOCK_NOT_OWNER' }) as Error);
    b.unlock();
    const w: ReadWriteLockGuard = lock.writeLockSync();
    expect(() => lock.readLockSync()).toThrow(expect.objectContaining({ code: 'EDEADLK' }) as Error);
    expect(other.tryReadLock()).toBeNull();
    expect(other.tryWriteLock()).toBeNull();
    w.markConsistent(); // a no-op while consistent
    {
      using _ = w;
    }
    expect(w.held).toBe(false);
    expect(lock.tryWriteLock()).not.toBeNull();
  });

  it('a condition variable refuses a readers/writer holding, which stays held', () => {
    const lock = newLock('rw-cond');
    const condName = uniqueName('rw-cond-c');
    names.push(condName);
    const cond = Condition.open(condName, { create: 'exclusive' });
    open.push(cond);
    const w = lock.writeLockSync();
    expect(() => cond.waitSync(w, { timeoutMs: 10 })).toThrow(/holding of a RobustMutex/);
    expect(w.held).toBe(true);
    expect(lock.writerPid).toBe(process.pid);
    w.unlock();
  });

  it('a segment that is not a readers/writer lock is ERR_LOCK_CORRUPT; bad arguments are TypeError/RangeError', async () => {
    const lock = newLock('rw-corrupt');
    const raw = SharedMemory.open(lock.name);
    open.push(raw);
    const words = new Int32Array(raw.buffer);
    words[6] = 5000; // reader slot count out of range
    expect(() => lock.tryReadLock()).toThrow(expect.objectContaining({ code: 'ERR_LOCK_CORRUPT' }) as Error);
    expect(() => ReadWriteLock.open(lock.name)).toThrow(expect.objectContaining({ code: 'ERR_LOCK_CORRUPT' }) as Error);
    words[6] = 64;
    words[9] = 7; // writer-held word
    await expectCode(lock.writeLock(), 'ERR_LOCK_CORRUPT');
    words[9] = 0;
    new BigUint64Array(raw.buffer)[8 + 3] = 1n; // a slot naming pid 0
    const w = lock.tryWriteLock;
    expect(() => w.call(lock)).toThrow(expect.objectContaining({ code: 'ERR_LOCK_CORRUPT' }) as Error);
    new BigUint64Array(raw.buffer)[8 + 3] = 0n;
    words[0] = 0x1234;
    expect(() => lock.state).toThrow(/readers\/writer lock .* is corrupt: bad magic/);
    // A robust mutex's segment is not one.
    const shmName = uniqueName('rw-small');
    names.push(shmName);
    SharedMemory.open(shmName, { create: 'exclusive', size: 32 }).close();
    expect(() => ReadWriteLock.open(shmName)).toThrow(expect.objectContaining({ code: 'ERR_LOCK_CORRUPT' }) as Error);

    expect(() => ReadWriteLock.open(uniqueName('rw-x'), { create: 'exclusive', readerSlots: 0 })).toThrow(RangeError);
    expect(() => ReadWriteLock.open(uniqueName('rw-x'), { create: 'exclusive', readerSlots: 1.5 })).toThrow(/options.readerSlots/);
    words[0] = 0x4c575250;
    expect(() => lock.readLock({ timeoutMs: -1 })).toThrow(RangeError);
    expect(() => lock.writeLock({ signal: 'x' as never })).toThrow(TypeError);
    expect(() => lock.readLockSync('x' as never)).toThrow(TypeError);
  });
});

// The robust mutex (lib/sync/robust-mutex.ts) across real processes: holders
// killed with SIGKILL inside their critical section, owner-died handed to
// exactly one next owner, repair and markConsistent, the not-recoverable
// path, pid reuse, timeouts, aborts, the event loop during a wait, a corrupt
// segment, bad arguments.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

import { afterEach, describe, expect, it } from 'vitest';

import { futexWake, LockError, RobustMutex, SharedMemory, type RobustMutexGuard } from '../lib/index.js';
import { processStartTime } from '../lib/internal/liveness.js';
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

function newMutex(tag: string): RobustMutex {
  const name = uniqueName(tag);
  names.push(name);
  const mutex = RobustMutex.open(name, { create: 'exclusive' });
  open.push(mutex);
  return mutex;
}

function openAgain(name: string): RobustMutex {
  const mutex = RobustMutex.open(name);
  open.push(mutex);
  return mutex;
}

function holder(mutex: RobustMutex): FixtureProcess {
  const f = startFixture('lock-holder.ts', [mutex.name], { stdin: true });
  fixtures.push(f);
  return f;
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  const run = typeof p === 'function' ? Promise.resolve().then(p) : p;
  await expect(run).rejects.toMatchObject({ code });
}

/** Word indices of the counter segment; see test/fixtures/mutex-counter.ts. */
const COUNTER = { value: 0, holder: 1, active: 2, deaths: 6, go: 7, violations: 8, repairs: 9, deadPids: 16, done: 64 };

function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.charAt(stat.lastIndexOf(')') + 2);
  } catch {
    return undefined;
  }
}

describe('RobustMutex', () => {
  it('N processes count exactly while holders are killed inside the critical section; each death is reported to exactly one next owner', async () => {
    const mutex = newMutex('rmx-count');
    const counterName = uniqueName('rmx-counter');
    names.push(counterName);
    const counter = SharedMemory.open(counterName, { create: 'exclusive', size: 4096 });
    open.push(counter);
    const c = new Int32Array(counter.buffer);
    const ITERATIONS = 100;
    const WORKERS = 5;
    const KILLS = 3;
    const workers = new Map<number, { f: FixtureProcess; index: number }>();
    let next = 0;
    const spawn = (): FixtureProcess => {
      const index = next++;
      const f = startFixture('mutex-counter.ts', [
        mutex.name,
        counterName,
        String(index),
        String(ITERATIONS),
        index % 2 ? 'sync' : 'async',
      ]);
      fixtures.push(f);
      workers.set(f.child.pid, { f, index });
      return f;
    };
    const all = Array.from({ length: WORKERS }, spawn);
    await Promise.all(all.map((f) => f.waitFor('ready')));
    Atomics.store(c, COUNTER.go, 1);
    futexWake(counter, COUNTER.go * 4);

    const killed: number[] = [];
    const killedIndex = new Set<number>();
    const stopBy = performance.now() + 20_000;
    while (killed.length < KILLS && performance.now() < stopBy) {
      await sleep(10 + Math.random() * 40);
      const pid = Atomics.load(c, COUNTER.holder);
      const w = workers.get(pid);
      if (w === undefined || w.f.child.status !== null) continue;
      // Freeze it, and kill it only if it still holds the lock: then it dies inside its section.
      process.kill(pid, 'SIGSTOP');
      const stoppedBy = performance.now() + 1000;
      while (procState(pid) === 'R' || procState(pid) === 'S' || procState(pid) === 'D') {
        if (performance.now() > stoppedBy) break;
        await sleep(1);
      }
      if (procState(pid) !== 'T') continue; // it was exiting
      if (Atomics.load(c, COUNTER.holder) === pid) {
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
        killedIndex.add(w.index);
      } else {
        process.kill(pid, 'SIGCONT');
      }
    }
    expect(killed).toHaveLength(KILLS);
    const statuses = await within(25_000, 'every worker to finish', Promise.all([...workers.values()].map(({ f }) => f.child.exited)));
    expect(statuses.filter((s) => s.signal === 'SIGKILL')).toHaveLength(KILLS);
    expect(statuses.filter((s) => s.code === 0)).toHaveLength(workers.size - KILLS);

    // Every owner death was reported once, to one next owner, in the order of the kills.
    const deaths = Atomics.load(c, COUNTER.deaths);
    expect([...c.subarray(COUNTER.deadPids, COUNTER.deadPids + deaths)]).toEqual(killed);
    expect(Atomics.load(c, COUNTER.violations)).toBe(0);
    // Exact count: one per committed section, the killed holders' half-done sections rolled back.
    const done = [...c.subarray(COUNTER.done, COUNTER.done + next)];
    const total = done.reduce((a, b) => a + b, 0);
    expect(Atomics.load(c, COUNTER.value)).toBe(total);
    expect(Atomics.load(c, COUNTER.active)).toBe(0);
    expect(Atomics.load(c, COUNTER.repairs)).toBeGreaterThan(0); // kills do land between the two writes
    for (let i = 0; i < next; i++) {
      if (killedIndex.has(i)) expect(done[i]).toBeLessThan(ITERATIONS);
      else expect(done[i]).toBe(ITERATIONS);
    }
    expect(total).toBeGreaterThanOrEqual((next - KILLS) * ITERATIONS);
    expect(mutex.state).toBe('consistent');
    expect(mutex.ownerPid).toBe(0);
  }, 30_000);

  it('tryLock fails while a live process holds it, succeeds once it unlocks', async () => {
    const mutex = newMutex('rmx-try');
    const h = holder(mutex);
    await h.waitFor('"held":true');
    expect(mutex.tryLock()).toBeNull();
    expect(mutex.ownerPid).toBe(h.child.pid);
    expect(mutex.held).toBe(false);
    h.write('unlock\n');
    await h.waitFor('unlocked');
    const guard = mutex.tryLock();
    expect(guard).not.toBeNull();
    expect(guard!.ownerDied).toBe(false);
    expect(mutex.held).toBe(true);
    expect(mutex.ownerPid).toBe(process.pid);
    // This process holds it: another object (and this one) cannot take it either.
    expect(openAgain(mutex.name).tryLock()).toBeNull();
    expect(mutex.tryLock()).toBeNull();
    guard!.unlock();
    expect(mutex.ownerPid).toBe(0);
  });

  it('lock and lockSync time out with ETIMEDOUT against a live holder', async () => {
    const mutex = newMutex('rmx-timeout');
    const h = holder(mutex);
    await h.waitFor('"held":true');
    const t0 = performance.now();
    await expectCode(mutex.lock({ timeoutMs: 250 }), 'ETIMEDOUT');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(240);
    expect(() => mutex.lockSync({ timeoutMs: 150 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'lock' }));
    await expectCode(mutex.lock({ timeoutMs: 0 }), 'ETIMEDOUT');
  });

  it('lock is cancelled by its AbortSignal, and the event loop keeps ticking while it waits', async () => {
    const mutex = newMutex('rmx-abort');
    const h = holder(mutex);
    await h.waitFor('"held":true');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    try {
      const ac = new AbortController();
      const waiting = mutex.lock({ signal: ac.signal });
      setTimeout(() => ac.abort(), 500);
      const t0 = performance.now();
      await expect(waiting).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
      expect(performance.now() - t0).toBeLessThan(2000);
      expect(ticks).toBeGreaterThanOrEqual(10); // ~50 ticks of 10 ms in 500 ms (fewer on a loaded machine); a blocked loop gives 0-1
    } finally {
      clearInterval(timer);
    }
    await expectCode(mutex.lock({ signal: AbortSignal.abort() }), 'ABORT_ERR');
    // The aborted waits left nothing behind: a waiter gets it as soon as the holder lets go.
    const next = mutex.lock({ timeoutMs: 5000 });
    h.write('unlock\n');
    const guard = await next;
    expect(guard.ownerDied).toBe(false);
    guard.unlock();
  });

  it("pending lock() waits leave libuv's pool free", async () => {
    const mutex = newMutex('rmx-pool');
    const guard = mutex.lockSync();
    const others = Array.from({ length: 8 }, () => openAgain(mutex.name));
    const waits = others.map((m) => m.lock({ timeoutMs: 10_000 })); // 8 waits, against 4 pool threads
    await sleep(50);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 8 }, () => readFile(new URL(import.meta.url))));
    expect(performance.now() - t0).toBeLessThan(1000);
    guard.unlock();
    await Promise.all(waits.map(async (w) => (await w).unlock())); // each gets it in turn
  });

  it('unlock and markConsistent by a non-owner throw ERR_LOCK_NOT_OWNER; lockSync on a held object throws EDEADLK', async () => {
    const mutex = newMutex('rmx-owner');
    const other = openAgain(mutex.name);
    expect(() => mutex.unlock()).toThrow(expect.objectContaining({ code: 'ERR_LOCK_NOT_OWNER' }));
    const guard = mutex.lockSync();
    expect(() => other.unlock()).toThrow(expect.objectContaining({ code: 'ERR_LOCK_NOT_OWNER', lockName: mutex.name }));
    expect(() => other.markConsistent()).toThrow(LockError);
    expect(() => mutex.lockSync({ timeoutMs: 10 })).toThrow(expect.objectContaining({ code: 'EDEADLK' }));
    guard.unlock();
    expect(() => guard.unlock()).toThrow(expect.objectContaining({ code: 'ERR_LOCK_NOT_OWNER' }));
    expect(() => guard.markConsistent()).toThrow(expect.objectContaining({ code: 'ERR_LOCK_NOT_OWNER' }));
    // A process that does not hold it cannot release it from its own side either.
    const h = holder(mutex);
    await h.waitFor('"held":true');
    expect(() => mutex.unlock()).toThrow(expect.objectContaining({ code: 'ERR_LOCK_NOT_OWNER' }));
    expect(mutex.ownerPid).toBe(h.child.pid);
  });

  it('using disposes the guard (unlock) and the mutex (close)', async () => {
    const mutex = newMutex('rmx-using');
    {
      using guard = await mutex.lock();
      expect(guard.held).toBe(true);
      expect(mutex.ownerPid).toBe(process.pid);
    }
    expect(mutex.ownerPid).toBe(0);
    {
      using again = RobustMutex.open(mutex.name);
      again.lockSync();
      expect(mutex.ownerPid).toBe(process.pid);
    } // close() while holding unlocks
    expect(mutex.ownerPid).toBe(0);
    // Two async lockers of one process queue like any others.
    const a = await mutex.lock();
    const b = mutex.lock({ timeoutMs: 5000 });
    await sleep(30);
    a.unlock();
    (await b).unlock();
  });

  it('a dead owner: the next locker gets ownerDied; markConsistent makes it normal again', async () => {
    const mutex = newMutex('rmx-died');
    const h = holder(mutex);
    await h.waitFor('"held":true');
    const other = openAgain(mutex.name);
    const lockers = [mutex, other];
    const waits = lockers.map((m) => m.lock({ timeoutMs: 1000 }));
    h.child.kill('SIGKILL');
    const results = await Promise.allSettled(waits);
    // Exactly one of the two waiters took it over, told that the owner died; the other timed out.
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'ETIMEDOUT' } });
    const guard = (won[0] as PromiseFulfilledResult<RobustMutexGuard>).value;
    expect(guard.ownerDied).toBe(true);
    expect(mutex.state).toBe('owner-died');
    guard.markConsistent();
    expect(mutex.state).toBe('consistent');
    guard.unlock();
    const again = other.tryLock();
    expect(again?.ownerDied).toBe(false);
    again!.unlock();
  });

  it('unlocking after an owner death without markConsistent makes it not recoverable for every locker', async () => {
    const mutex = newMutex('rmx-lost');
    const h = holder(mutex);
    await h.waitFor('"held":true');
    h.child.kill('SIGKILL');
    await h.child.exited;
    const guard = mutex.tryLock(); // tryLock takes a dead owner's lock too
    expect(guard?.ownerDied).toBe(true);
    guard!.unlock();
    expect(mutex.state).toBe('not-recoverable');
    expect(() => mutex.tryLock()).toThrow(expect.objectContaining({ code: 'ERR_LOCK_NOT_RECOVERABLE' }));
    expect(() => mutex.lockSync({ timeoutMs: 100 })).toThrow(expect.objectContaining({ code: 'ERR_LOCK_NOT_RECOVERABLE' }));
    await expectCode(mutex.lock(), 'ERR_LOCK_NOT_RECOVERABLE');
    expect(() => openAgain(mutex.name).tryLock()).toThrow(expect.objectContaining({ code: 'ERR_LOCK_NOT_RECOVERABLE' }));
    expect(mutex.ownerPid).toBe(0);
  });

  it('a waiter in another process, blocked in lockSync, is woken by a not-recoverable unlock and fails at once', async () => {
    const mutex = newMutex('rmx-lost-wake');
    const h = holder(mutex);
    await h.waitFor('"held":true');
    h.child.kill('SIGKILL');
    await h.child.exited;
    const guard = mutex.lockSync({ timeoutMs: 2000 });
    expect(guard.ownerDied).toBe(true);
    const h2 = holder(mutex); // blocks in lockSync (10 s)
    const raw = SharedMemory.open(mutex.name);
    open.push(raw);
    const waiters = new Int32Array(raw.buffer, 20, 1); // the waiter count
    const by = performance.now() + 10_000;
    while (Atomics.load(waiters, 0) === 0 && performance.now() < by) await sleep(5);
    expect(Atomics.load(waiters, 0)).toBe(1);
    const t0 = performance.now();
    guard.unlock();
    await h2.waitFor('{"error":"ERR_LOCK_NOT_RECOVERABLE"}');
    expect(performance.now() - t0).toBeLessThan(3000);
    expect((await within(10_000, 'the waiter to fail', h2.child.exited)).code).toBe(3);
  });

  it('a reused pid is not taken for the owner: an owner word with a live pid but another start time is a dead owner', async () => {
    const mutex = newMutex('rmx-reuse');
    const h = holder(mutex);
    await h.waitFor('"held":true');
    const shm = SharedMemory.open(mutex.name);
    open.push(shm);
    const owner = new BigUint64Array(shm.buffer, 32, 1);
    const pid = BigInt(h.child.pid);
    const start = BigInt(processStartTime(h.child.pid)!);
    expect(owner[0]).toBe((pid << 42n) | start);
    // The same live pid, recorded with an earlier start: the process that holds the pid now is another one.
    Atomics.store(owner, 0, (pid << 42n) | (start - 1n));
    const guard: RobustMutexGuard | null = mutex.tryLock();
    expect(guard?.ownerDied).toBe(true);
    guard!.markConsistent();
    guard!.unlock();
  });

  it('a segment that is not a robust mutex is ERR_LOCK_CORRUPT, never an out-of-bounds access', () => {
    const name = uniqueName('rmx-corrupt');
    names.push(name);
    const shm = SharedMemory.open(name, { create: 'exclusive', size: 64 });
    open.push(shm);
    const w = new Int32Array(shm.buffer);
    w.fill(0x12345678);
    expect(() => RobustMutex.open(name)).toThrow(expect.objectContaining({ code: 'ERR_LOCK_CORRUPT' }));
    const small = uniqueName('rmx-small');
    names.push(small);
    open.push(SharedMemory.open(small, { create: 'exclusive', size: 16 }));
    expect(() => RobustMutex.open(small)).toThrow(expect.objectContaining({ code: 'ERR_LOCK_CORRUPT' }));
    const zero = uniqueName('rmx-zero');
    names.push(zero);
    open.push(SharedMemory.open(zero, { create: 'exclusive', size: 64 }));
    expect(() => RobustMutex.open(zero)).toThrow(expect.objectContaining({ code: 'EAGAIN' }));
    // A valid mutex scribbled on later: each call checks again.
    const mutex = newMutex('rmx-scribbled');
    const raw = SharedMemory.open(mutex.name);
    open.push(raw);
    new Int32Array(raw.buffer)[3] = 7; // the state word
    expect(() => mutex.tryLock()).toThrow(expect.objectContaining({ code: 'ERR_LOCK_CORRUPT' }));
    new Int32Array(raw.buffer)[3] = 0;
    Atomics.store(new BigUint64Array(raw.buffer, 32, 1), 0, 12345n); // taken, by pid 0
    expect(() => mutex.lockSync({ timeoutMs: 10 })).toThrow(expect.objectContaining({ code: 'ERR_LOCK_CORRUPT' }));
    // A holding whose owner word was overwritten: its unlock says so and leaves the word alone; close() still closes.
    Atomics.store(new BigUint64Array(raw.buffer, 32, 1), 0, 0n);
    const guard = mutex.lockSync();
    Atomics.store(new BigUint64Array(raw.buffer, 32, 1), 0, 1n << 42n); // pid 1
    expect(() => guard.unlock()).toThrow(expect.objectContaining({ code: 'ERR_LOCK_CORRUPT' }));
    expect(mutex.held).toBe(false);
    expect(mutex.ownerPid).toBe(1);
    mutex.close();
    expect(mutex.held).toBe(false);
  });

  it('bad arguments are TypeError/RangeError naming the argument; a closed mutex throws ERR_POSIX_IPC_CLOSED', async () => {
    expect(() => RobustMutex.open(42 as unknown as string)).toThrow(TypeError);
    expect(() => RobustMutex.open('/pipc-x', { create: 'always' as never })).toThrow(/options\.create/);
    expect(() => RobustMutex.open('/pipc-x', null as never)).toThrow(/"options"/);
    const mutex = newMutex('rmx-args');
    expect(() => mutex.lock({ timeoutMs: -1 })).toThrow(RangeError);
    expect(() => mutex.lock({ timeoutMs: 'soon' as never })).toThrow(/options\.timeoutMs/);
    expect(() => mutex.lock({ signal: {} as never })).toThrow(/options\.signal/);
    expect(() => mutex.lockSync({ timeoutMs: -5 })).toThrow(/options\.timeoutMs/);
    expect(() => mutex.lockSync(5 as never)).toThrow(TypeError);
    mutex.close();
    mutex.close();
    expect(() => mutex.tryLock()).toThrow(expect.objectContaining({ code: 'ERR_POSIX_IPC_CLOSED' }));
    await expectCode(mutex.lock(), 'ERR_POSIX_IPC_CLOSED');
  });
});

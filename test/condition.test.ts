// The condition variable (lib/sync/condition.ts) with RobustMutex across
// real processes: a bounded buffer with two conditions (exact counts),
// broadcast wakes every waiter, a holder killed with SIGKILL is reported as
// ownerDied after the wait, the event loop keeps ticking during a wait,
// timeouts and aborts re-take the mutex, a corrupt segment, bad arguments.
import { afterEach, describe, expect, it } from 'vitest';

import { Condition, RobustMutex, SharedMemory } from '../lib/index.js';
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

function named(tag: string): string {
  const name = uniqueName(tag);
  names.push(name);
  return name;
}

function newMutex(): RobustMutex {
  const m = RobustMutex.open(named('cv-mutex'), { create: 'exclusive' });
  open.push(m);
  return m;
}

function newCond(): Condition {
  const c = Condition.open(named('cv-cond'), { create: 'exclusive' });
  open.push(c);
  return c;
}

function newBuffer(): SharedMemory {
  const shm = SharedMemory.open(named('cv-buf'), { create: 'exclusive', size: 16384 });
  open.push(shm);
  return shm;
}

function start(file: string, args: string[], stdin = false): FixtureProcess {
  const f = startFixture(file, args, { stdin });
  fixtures.push(f);
  return f;
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  const run = typeof p === 'function' ? Promise.resolve().then(p) : p;
  await expect(run).rejects.toMatchObject({ code });
}

describe('Condition', () => {
  it('a bounded buffer across processes (RobustMutex + notFull + notEmpty): every item consumed exactly once, never over capacity', async () => {
    const mutex = newMutex();
    const notFull = newCond();
    const notEmpty = newCond();
    const buf = newBuffer();
    const b = new Int32Array(buf.buffer);
    const PRODUCERS = 2;
    const CONSUMERS = 2;
    const ITEMS = 150; // per process: producers and consumers move the same total
    const all = [
      ...Array.from({ length: PRODUCERS }, (_, i) =>
        start('cond-worker.ts', [
          mutex.name,
          notFull.name,
          notEmpty.name,
          buf.name,
          'producer',
          String(i),
          String(ITEMS),
          i ? 'sync' : 'async',
        ]),
      ),
      ...Array.from({ length: CONSUMERS }, (_, i) =>
        start('cond-worker.ts', [
          mutex.name,
          notFull.name,
          notEmpty.name,
          buf.name,
          'consumer',
          String(i),
          String(ITEMS),
          i ? 'async' : 'sync',
        ]),
      ),
    ];
    const statuses = await within(40_000, 'every worker to finish', Promise.all(all.map((f) => f.child.exited)));
    expect(statuses.map((s) => s.code)).toEqual(Array(all.length).fill(0));
    expect(b[3]).toBe(0); // violations
    expect(b[0]).toBe(0); // empty at the end
    for (let v = 1; v <= PRODUCERS * ITEMS; v++) expect(b[1024 + v], `value ${v}`).toBe(1);
    expect(b[1024 + PRODUCERS * ITEMS + 1]).toBe(0);
  });

  it('broadcast wakes every waiter in every process; signal wakes one', async () => {
    const mutex = newMutex();
    const cond = newCond();
    const buf = newBuffer();
    const b = new Int32Array(buf.buffer);
    // waitSync: one futex sleep until woken (an async wait re-checks the word every 50 ms on its thread,
    // which would hide a broadcast that wakes only one).
    const waiters = Array.from({ length: 3 }, (_, i) =>
      start('cond-worker.ts', [mutex.name, cond.name, '-', buf.name, 'waiter', String(i), '0', 'sync']),
    );
    for (const w of waiters) await w.waitFor('waiting');
    // Each printed "waiting" holding the mutex; once we get the mutex, each of them is inside wait() (or past it).
    await sleep(50);
    {
      using guard = await mutex.lock({ timeoutMs: 10_000 });
      expect(guard.held).toBe(true);
      cond.signal(); // the predicate is false: whoever wakes sleeps again
    }
    await sleep(100);
    expect(Atomics.load(b, 5)).toBe(0);
    {
      using _guard = await mutex.lock({ timeoutMs: 10_000 });
      Atomics.store(b, 4, 1);
      cond.broadcast();
    }
    const statuses = await within(15_000, 'every waiter to wake', Promise.all(waiters.map((w) => w.child.exited)));
    expect(statuses.map((s) => s.code)).toEqual([0, 0, 0]);
    expect(Atomics.load(b, 5)).toBe(3);
  });

  it('a holder killed with SIGKILL while the waiter re-takes the mutex: the wait returns the guard with ownerDied', async () => {
    const mutex = newMutex();
    const cond = newCond();
    const guard = await mutex.lock();
    const waiting = cond.wait(guard, { timeoutMs: 20_000 });
    expect(guard.held).toBe(false); // released while it waits
    const holder = start('lock-holder.ts', [mutex.name], true);
    await holder.waitFor('"held":true');
    cond.broadcast();
    await sleep(100); // the wait is now re-locking, against a live holder
    process.kill(holder.child.pid, 'SIGKILL');
    const back = await within(10_000, 'the wait to re-take the mutex', waiting);
    expect(back).toBe(guard);
    expect(guard.held).toBe(true);
    expect(guard.ownerDied).toBe(true);
    guard.markConsistent();
    guard.unlock();
    expect(mutex.state).toBe('consistent');
  });

  it('the event loop keeps ticking during a wait; a timeout and an abort re-take the mutex before rejecting; waitSync times out', async () => {
    const mutex = newMutex();
    const cond = newCond();
    using guard = await mutex.lock();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const started = performance.now();
    try {
      await expectCode(cond.wait(guard, { timeoutMs: 300 }), 'ETIMEDOUT');
    } finally {
      clearInterval(timer);
    }
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(ticks).toBeGreaterThanOrEqual(5);
    expect(guard.held).toBe(true);
    expect(mutex.ownerPid).toBe(process.pid);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await expectCode(cond.wait(guard, { signal: ac.signal }), 'ABORT_ERR');
    expect(guard.held).toBe(true);
    expect(() => cond.waitSync(guard, { timeoutMs: 30 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    expect(guard.held).toBe(true);
    // While it waits, another process can take the mutex: it was released.
    const waiting = cond.wait(guard, { timeoutMs: 20_000 });
    const holder = start('lock-holder.ts', [mutex.name], true);
    await holder.waitFor('"held":true');
    holder.write('unlock\n');
    await holder.waitFor('unlocked');
    cond.signal();
    expect(await within(10_000, 'the signalled wait', waiting)).toBe(guard);
    expect(guard.ownerDied).toBe(false);
  });

  it('a guard not held is ERR_LOCK_NOT_OWNER; a corrupt segment ERR_LOCK_CORRUPT; bad arguments TypeError/RangeError', async () => {
    const mutex = newMutex();
    const cond = newCond();
    const guard = mutex.lockSync();
    guard.unlock();
    await expectCode(cond.wait(guard), 'ERR_LOCK_NOT_OWNER');
    expect(() => cond.waitSync(guard)).toThrow(expect.objectContaining({ code: 'ERR_LOCK_NOT_OWNER' }));
    expect(() => cond.wait({} as never)).toThrow(TypeError);
    const g2 = mutex.lockSync();
    expect(() => cond.wait(g2, { timeoutMs: -5 })).toThrow(/options\.timeoutMs/);
    expect(() => cond.wait(g2, { signal: 1 as never })).toThrow(/options\.signal/);
    g2.unlock();
    const raw = SharedMemory.open(cond.name);
    open.push(raw);
    new Int32Array(raw.buffer)[0] = 0x1234;
    expect(() => cond.signal()).toThrow(expect.objectContaining({ code: 'ERR_LOCK_CORRUPT' }));
    expect(() => Condition.open(cond.name)).toThrow(expect.objectContaining({ code: 'ERR_LOCK_CORRUPT' }));
    cond.close();
    expect(() => cond.broadcast()).toThrow(expect.objectContaining({ code: 'ERR_POSIX_IPC_CLOSED' }));
  });
});

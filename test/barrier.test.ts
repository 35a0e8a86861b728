// The barrier (lib/sync/barrier.ts) across real processes: N parties over
// many generations (nobody passes g before all arrived at g, one serial
// party per generation), a party killed with SIGKILL while waiting breaks
// the generation for the others (no hang), timeouts and aborts break it,
// reset() restores it, the event loop keeps running during a wait, a
// corrupt segment, bad arguments; and the checker catches a barrier that
// does not wait.
import { afterEach, describe, expect, it } from 'vitest';

import { Barrier, SharedMemory } from '../lib/index.js';
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

function newBarrier(tag: string, parties: number): Barrier {
  const name = uniqueName(tag);
  names.push(name);
  const b = Barrier.open(name, { create: 'exclusive', parties });
  open.push(b);
  return b;
}

function newLog(): SharedMemory {
  const name = uniqueName('bar-log');
  names.push(name);
  const shm = SharedMemory.open(name, { create: 'exclusive', size: 8192 });
  open.push(shm);
  return shm;
}

function party(b: Barrier, log: SharedMemory, index: number, generations: number, mode: string, hang = false): FixtureProcess {
  const f = startFixture('barrier-party.ts', [b.name, log.name, String(index), String(generations), mode, ...(hang ? ['hang'] : [])]);
  fixtures.push(f);
  return f;
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  const run = typeof p === 'function' ? Promise.resolve().then(p) : p;
  await expect(run).rejects.toMatchObject({ code });
}

describe('Barrier', () => {
  it('N processes x many generations: nobody passes g before all arrived at g; exactly one serial party per generation', async () => {
    const PARTIES = 4;
    const GENERATIONS = 60;
    const b = newBarrier('bar-gen', PARTIES);
    const log = newLog();
    const w = new Int32Array(log.buffer);
    const all = Array.from({ length: PARTIES }, (_, i) => party(b, log, i, GENERATIONS, i % 2 ? 'sync' : 'async'));
    const statuses = await within(40_000, 'every party to finish', Promise.all(all.map((f) => f.child.exited)));
    for (const f of all) expect(f.output()).toContain('done');
    expect(statuses.map((s) => s.code)).toEqual(Array(PARTIES).fill(0));
    expect(w[0]).toBe(0); // violations
    for (let g = 0; g < GENERATIONS; g++) expect(w[1024 + g], `serial of generation ${g}`).toBe(1);
    expect(b.status).toEqual({ generation: GENERATIONS, arrived: 0, broken: false });
  });

  it('the checker catches a barrier that does not wait (the deliberately broken protocol)', async () => {
    const PARTIES = 3;
    const b = newBarrier('bar-nowait', PARTIES);
    const log = newLog();
    const w = new Int32Array(log.buffer);
    const all = Array.from({ length: PARTIES }, (_, i) => party(b, log, i, 40, 'nowait'));
    await within(30_000, 'every party to finish', Promise.all(all.map((f) => f.child.exited)));
    expect(w[0]).toBeGreaterThan(0);
  });

  it('a party killed with SIGKILL while waiting breaks the generation for the others, who fail instead of hanging; reset() restores it', async () => {
    const b = newBarrier('bar-kill', 3);
    const log = newLog();
    const victim = party(b, log, 0, 1, 'async', true);
    await victim.waitFor('waiting');
    await within(
      5000,
      'the victim to arrive',
      (async () => {
        while (b.status.arrived < 1) await sleep(5);
      })(),
    );
    const mine = b.wait({ timeoutMs: 20_000 });
    process.kill(victim.child.pid, 'SIGKILL');
    await within(10_000, 'the victim to exit', victim.child.exited);
    await expectCode(within(10_000, 'the waiter to fail', mine), 'ERR_BARRIER_BROKEN');
    expect(b.status.broken).toBe(true);
    await expectCode(b.wait(), 'ERR_BARRIER_BROKEN'); // a later arrival fails at once
    expect(() => b.waitSync()).toThrow(expect.objectContaining({ code: 'ERR_BARRIER_BROKEN' }));
    b.reset();
    expect(b.status.broken).toBe(false);
    // Usable again: two more parties and this one pass.
    const again = b.wait({ timeoutMs: 20_000 });
    const helpers = [party(b, log, 1, 1, 'async', true), party(b, log, 2, 1, 'sync', true)];
    const passed = await within(20_000, 'the generation to pass', again);
    expect(passed.generation).toBe(b.status.generation - 1);
    for (const h of helpers) await h.waitFor('"passed"');
  });

  it('a wait that times out (or is aborted) breaks the generation for the other waiters; the event loop keeps ticking meanwhile', async () => {
    const b = newBarrier('bar-timeout', 3);
    const log = newLog();
    const other = party(b, log, 0, 1, 'async', true);
    await other.waitFor('waiting');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const started = performance.now();
    try {
      await expectCode(b.wait({ timeoutMs: 300 }), 'ETIMEDOUT');
    } finally {
      clearInterval(timer);
    }
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(ticks).toBeGreaterThanOrEqual(5);
    await other.waitFor('{"error":"ERR_BARRIER_BROKEN"}');
    b.reset();
    const other2 = party(b, log, 1, 1, 'async', true);
    await other2.waitFor('waiting');
    const ac = new AbortController();
    const aborted = b.wait({ signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await expectCode(aborted, 'ABORT_ERR');
    await other2.waitFor('{"error":"ERR_BARRIER_BROKEN"}');
    b.reset();
    expect(() => b.waitSync({ timeoutMs: 50 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    expect(b.status.broken).toBe(true);
  });

  it('reset() while a party waits makes that wait fail with ERR_BARRIER_BROKEN', async () => {
    const b = newBarrier('bar-reset', 2);
    const log = newLog();
    const other = party(b, log, 0, 1, 'async', true);
    await other.waitFor('waiting');
    await within(
      5000,
      'the party to arrive',
      (async () => {
        while (b.status.arrived < 1) await sleep(5);
      })(),
    );
    b.reset();
    await other.waitFor('{"error":"ERR_BARRIER_BROKEN"}');
    expect(b.status).toMatchObject({ arrived: 0, broken: false });
  });

  it('one party: every wait passes at once as the serial party', async () => {
    const b = newBarrier('bar-one', 1);
    expect(b.waitSync()).toEqual({ generation: 0, serial: true });
    expect(await b.wait()).toEqual({ generation: 1, serial: true });
  });

  it('a segment that is not a barrier is ERR_LOCK_CORRUPT; bad arguments are TypeError/RangeError naming the argument', async () => {
    const name = uniqueName('bar-bad');
    names.push(name);
    const shm = SharedMemory.open(name, { create: 'exclusive', size: 128 });
    open.push(shm);
    new Int32Array(shm.buffer).fill(7);
    expect(() => Barrier.open(name)).toThrow(expect.objectContaining({ code: 'ERR_LOCK_CORRUPT' }));
    const b = newBarrier('bar-args', 2);
    const raw = SharedMemory.open(b.name);
    open.push(raw);
    const w = new Int32Array(raw.buffer);
    // A count beyond the parties is refused, never used as a slot index.
    const again = Barrier.open(b.name);
    open.push(again);
    w[6] = 999;
    expect(() => again.status).toThrow(expect.objectContaining({ code: 'ERR_LOCK_CORRUPT' }));
    w[6] = 0;
    w[3] = 5000;
    expect(() => Barrier.open(b.name)).toThrow(expect.objectContaining({ code: 'ERR_LOCK_CORRUPT' }));
    w[3] = 2;
    expect(() => Barrier.open(uniqueName('bar-x'), { create: 'exclusive' })).toThrow(TypeError);
    expect(() => Barrier.open(uniqueName('bar-x'), { create: 'exclusive', parties: 0 })).toThrow(/options\.parties/);
    expect(() => Barrier.open(uniqueName('bar-x'), { create: 'exclusive', parties: 1025 })).toThrow(RangeError);
    expect(() => Barrier.open(b.name, { parties: 3 })).toThrow(RangeError);
    expect(() => b.wait({ timeoutMs: -1 })).toThrow(/options\.timeoutMs/);
    expect(() => b.wait({ signal: 'x' as never })).toThrow(/options\.signal/);
    b.close();
    await expectCode(() => b.wait(), 'ERR_POSIX_IPC_CLOSED');
  });
});

// Named POSIX semaphores: real kernel objects, real processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';

import { AbortError, isSystemError, Semaphore } from '../lib/index.js';
import { native } from '../lib/internal/native.js';
import { ipcNameMaxBytes, validateIpcName } from '../lib/internal/names.js';
import { removePath, tempPath, uniqueName, within } from './support/helpers.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

// Every semaphore a test names is unlinked afterwards, whatever happened; the
// global leak gate then proves nothing was left in /dev/shm.
const names: string[] = [];
function semName(tag: string): string {
  const name = uniqueName(tag);
  names.push(name);
  return name;
}
const paths: string[] = [];
afterEach(() => {
  for (const name of names.splice(0)) {
    try {
      Semaphore.unlink(name);
    } catch (err) {
      if (!isSystemError(err, 'ENOENT')) throw err;
    }
  }
  for (const p of paths.splice(0)) removePath(p);
});

const backingFile = (name: string): string => `/dev/shm/sem.${name.slice(1)}`;

/**
 * Whether this process maps the semaphore's file. glibc maps it under a
 * temporary name before linking it, so the mapping is found by inode.
 */
function isMapped(name: string): boolean {
  const ino = String(statSync(backingFile(name)).ino);
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .some((line) => line.includes('/dev/shm/') && line.split(/\s+/)[4] === ino);
}

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Runs a TypeScript fixture in a new process (`node --import tsx`). */
function runFixture(name: string, args: string[]): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture(name), ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, output: () => stdout, exited };
}

/** Polls `cond` every 5 ms; rejects after `ms`. */
async function until(ms: number, what: string, cond: () => boolean): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('IPC names (lib/internal/names.ts)', () => {
  it('accepts names up to the platform limit and states the limit when rejecting longer ones', () => {
    const cases: Array<[kind: 'sem' | 'shm', platform: string, max: number]> = [
      ['sem', 'linux', 251],
      ['shm', 'linux', 255],
      ['sem', 'darwin', 29],
      ['shm', 'darwin', 30],
    ];
    for (const [kind, platform, max] of cases) {
      expect(ipcNameMaxBytes(kind, platform)).toBe(max);
      const ok = '/' + 'a'.repeat(max);
      expect(validateIpcName(ok, 'name', kind, platform)).toBe(ok);
      const long = '/' + 'a'.repeat(max + 1);
      expect(() => validateIpcName(long, 'name', kind, platform)).toThrow(RangeError);
      expect(() => validateIpcName(long, 'name', kind, platform)).toThrow(new RegExp(`"name".* at most ${max} bytes`));
    }
  });

  it('counts UTF-8 bytes, not characters', () => {
    // 'é' is 2 bytes: 125 of them are 250 bytes, 126 are 252.
    expect(validateIpcName('/' + 'é'.repeat(125), 'name', 'sem', 'linux')).toBeTypeOf('string');
    expect(() => validateIpcName('/' + 'é'.repeat(126), 'name', 'sem', 'linux')).toThrow(/at most 251 bytes.*Received 252 bytes/);
  });

  it('rejects malformed names with a RangeError naming the argument, and non-strings with a TypeError', () => {
    for (const kind of ['sem', 'shm'] as const) {
      for (const bad of ['', '/', 'noslash', '/a/b', '//a', '/.', '/..']) {
        expect(() => validateIpcName(bad, 'name', kind), bad).toThrow(RangeError);
        expect(() => validateIpcName(bad, 'name', kind), bad).toThrow(/"name"/);
      }
      expect(() => validateIpcName(42, 'name', kind)).toThrow(TypeError);
      expect(() => validateIpcName(undefined, 'name', kind)).toThrow(TypeError);
      expect(() => validateIpcName('/a\0b', 'name', kind)).toThrow(TypeError);
      expect(validateIpcName('/...', 'name', kind)).toBe('/...');
    }
  });

  it("matches the kernel's limit: 251 bytes work, 252 fail in sem_open with ENAMETOOLONG", () => {
    const prefix = uniqueName('max').slice(1);
    const longest = '/' + prefix + 'x'.repeat(251 - prefix.length);
    names.push(longest);
    const sem = Semaphore.open(longest, { create: 'exclusive' });
    expect(existsSync(backingFile(longest))).toBe(true);
    sem.close();
    Semaphore.unlink(longest);
    // The TypeScript check stops a 252-byte name first; the raw call shows the
    // kernel would refuse it too.
    const tooLong = longest + 'x';
    expect(() => Semaphore.open(tooLong, { create: 'exclusive' })).toThrow(RangeError);
    expect(() => new native.NamedSemaphore(tooLong, true, 0o600, 0)).toThrow(
      expect.objectContaining({ code: 'ENAMETOOLONG', syscall: 'sem_open' }),
    );
  });
});

describe('Semaphore.open: creation modes and ownership', () => {
  it("'exclusive' creates, and refuses a name that exists with EEXIST", () => {
    const name = semName('excl');
    const sem = Semaphore.open(name, { create: 'exclusive', initialValue: 3 });
    expect(sem.created).toBe(true);
    expect(sem.name).toBe(name);
    expect(sem.value).toBe(3);
    expect(() => Semaphore.open(name, { create: 'exclusive' })).toThrow(
      expect.objectContaining({ code: 'EEXIST', errno: -17, syscall: 'sem_open', path: name }),
    );
    sem.close();
  });

  it("'open' (the default) opens an existing one and never creates: ENOENT", () => {
    const name = semName('open');
    expect(() => Semaphore.open(name)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'sem_open', path: name }));
    expect(() => Semaphore.open(name, { create: 'open' })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(existsSync(backingFile(name))).toBe(false);
    const creator = Semaphore.open(name, { create: 'exclusive' });
    const opener = Semaphore.open(name);
    expect(opener.created).toBe(false);
    opener.post();
    expect(creator.tryWait()).toBe(true); // the same kernel object
    opener.close();
    creator.close();
  });

  it("'open-or-create' creates when absent, opens when present, and says which", () => {
    const name = semName('ooc');
    const first = Semaphore.open(name, { create: 'open-or-create', initialValue: 2 });
    const second = Semaphore.open(name, { create: 'open-or-create', initialValue: 7 });
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.value).toBe(2); // the existing object: initialValue 7 did not apply
    first.close();
    second.close();
  });

  it('unlinkOnClose removes the name only when this handle created it', () => {
    const name = semName('owner');
    const owner = Semaphore.open(name, { create: 'exclusive', unlinkOnClose: true });
    const guest = Semaphore.open(name, { create: 'open-or-create', unlinkOnClose: true });
    expect(guest.created).toBe(false);
    guest.close();
    expect(existsSync(backingFile(name))).toBe(true);
    owner.close();
    expect(existsSync(backingFile(name))).toBe(false);
  });

  it('Semaphore.unlink removes the name (ENOENT when absent); open handles keep working', () => {
    const name = semName('unlink');
    const sem = Semaphore.open(name, { create: 'exclusive' });
    Semaphore.unlink(name);
    expect(existsSync(backingFile(name))).toBe(false);
    sem.post();
    expect(sem.tryWait()).toBe(true);
    expect(() => Semaphore.unlink(name)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'sem_unlink', path: name }));
    expect(() => Semaphore.unlink('no-slash')).toThrow(RangeError);
    sem.close();
  });

  it('validates options: TypeError or RangeError naming the option', () => {
    const name = semName('opts');
    const open = (options: unknown) => () => Semaphore.open(name, options as never);
    expect(open('x')).toThrow(TypeError);
    expect(open({ create: 'bogus' })).toThrow(/"options.create"/);
    expect(open({ create: 'bogus' })).toThrow(TypeError);
    expect(open({ create: 'exclusive', initialValue: 'x' })).toThrow(TypeError);
    expect(open({ create: 'exclusive', initialValue: 'x' })).toThrow(/"options.initialValue"/);
    expect(open({ create: 'exclusive', initialValue: -1 })).toThrow(RangeError);
    expect(open({ create: 'exclusive', initialValue: 1.5 })).toThrow(RangeError);
    expect(open({ create: 'exclusive', initialValue: Semaphore.VALUE_MAX + 1 })).toThrow(/"options.initialValue"/);
    expect(open({ create: 'exclusive', mode: '600' })).toThrow(TypeError);
    expect(open({ create: 'exclusive', mode: 0o1000 })).toThrow(RangeError);
    expect(open({ create: 'exclusive', mode: 0o1000 })).toThrow(/"options.mode"/);
    expect(open({ create: 'exclusive', unlinkOnClose: 1 })).toThrow(/"options.unlinkOnClose"/);
    // Creation options make no sense when only opening: a mistake, said so.
    expect(open({ initialValue: 1 })).toThrow(TypeError);
    expect(open({ create: 'open', mode: 0o600 })).toThrow(/"options.mode".*only when creating/);
    expect(() => Semaphore.open(42 as never)).toThrow(TypeError);
    expect(existsSync(backingFile(name))).toBe(false); // nothing was created by any of these
  });

  it('exposes SEM_VALUE_MAX, and post beyond it fails with EOVERFLOW', () => {
    expect(Semaphore.VALUE_MAX).toBe(2147483647); // glibc
    const sem = Semaphore.open(semName('max'), { create: 'exclusive', initialValue: Semaphore.VALUE_MAX });
    expect(sem.value).toBe(Semaphore.VALUE_MAX);
    expect(() => sem.post()).toThrow(expect.objectContaining({ code: 'EOVERFLOW', syscall: 'sem_post' }));
    sem.close();
  });
});

describe('permissions', () => {
  function createdMode(mode: number | undefined, umask: number): number {
    const name = semName('mode');
    const old = process.umask(umask);
    try {
      const sem = Semaphore.open(name, mode === undefined ? { create: 'exclusive' } : { create: 'exclusive', mode });
      sem.close();
    } finally {
      process.umask(old);
    }
    return statSync(backingFile(name)).mode & 0o7777;
  }

  it('creates with mode 0600 by default, whatever the umask', () => {
    expect(createdMode(undefined, 0o000)).toBe(0o600);
    expect(createdMode(undefined, 0o277)).toBe(0o600); // the umask alone would give 0400
  });

  it('applies a custom mode exactly, whatever the umask', () => {
    expect(createdMode(0o640, 0o077)).toBe(0o640); // the umask alone would give 0600
    expect(createdMode(0o664, 0o000)).toBe(0o664);
    expect(createdMode(0o400, 0o022)).toBe(0o400);
  });
});

describe('post, tryWait, value', () => {
  it('counts', () => {
    const sem = Semaphore.open(semName('count'), { create: 'exclusive' });
    expect(sem.value).toBe(0);
    expect(sem.tryWait()).toBe(false);
    sem.post();
    sem.post();
    expect(sem.value).toBe(2);
    expect(sem.tryWait()).toBe(true);
    expect(sem.tryWait()).toBe(true);
    expect(sem.tryWait()).toBe(false);
    expect(sem.value).toBe(0);
    sem.close();
  });
});

describe('waitSync', () => {
  it('times out after timeoutMs, measured', () => {
    const sem = Semaphore.open(semName('wsync'), { create: 'exclusive' });
    const t0 = performance.now();
    expect(sem.waitSync({ timeoutMs: 100 })).toBe(false);
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(95);
    expect(elapsed).toBeLessThan(1000);
    expect(sem.waitSync({ timeoutMs: 0 })).toBe(false);
    sem.close();
  });

  it('acquires an available count at once', () => {
    const sem = Semaphore.open(semName('wsync'), { create: 'exclusive', initialValue: 1 });
    const t0 = performance.now();
    expect(sem.waitSync({ timeoutMs: 5000 })).toBe(true);
    expect(performance.now() - t0).toBeLessThan(50);
    sem.post();
    expect(sem.waitSync()).toBe(true); // no timeout: the untimed sem_wait path
    sem.close();
  });

  it('acquires a count posted by another process while blocked', async () => {
    const name = semName('wsync-x');
    const sem = Semaphore.open(name, { create: 'exclusive' });
    const poster = runFixture('sem-post.ts', [name, '300']);
    const t0 = performance.now();
    expect(sem.waitSync({ timeoutMs: 15_000 })).toBe(true);
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(250); // really waited for the other process
    expect((await within(10_000, 'poster exit', poster.exited)).code).toBe(0);
    sem.close();
  });

  it('is not interrupted by signals: EINTR never reaches JS, the timeout still holds', async () => {
    const sem = Semaphore.open(semName('eintr'), { create: 'exclusive' });
    let received = 0;
    const onSignal = (): void => {
      received++;
    };
    process.on('SIGUSR2', onSignal);
    // A plain node process that signals us every 5 ms for 1.5 s.
    const killer = spawn(
      process.execPath,
      [
        '-e',
        `process.stdout.write('go\\n'); const t = setInterval(() => process.kill(${process.pid}, 'SIGUSR2'), 5); setTimeout(() => clearInterval(t), 600);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((r) => killer.on('close', r));
    try {
      await within(10_000, 'killer start', new Promise((r) => killer.stdout!.once('data', r)));
      const t0 = performance.now();
      expect(sem.waitSync({ timeoutMs: 300 })).toBe(false);
      const elapsed = performance.now() - t0;
      expect(elapsed).toBeGreaterThanOrEqual(295);
      expect(elapsed).toBeLessThan(1500);
      await delay(20); // let the queued signal events run
      expect(received).toBeGreaterThan(0);
    } finally {
      await within(10_000, 'killer exit', exited);
      process.off('SIGUSR2', onSignal);
      sem.close();
    }
  });

  it('validates timeoutMs', () => {
    const sem = Semaphore.open(semName('wsync'), { create: 'exclusive' });
    expect(() => sem.waitSync({ timeoutMs: -1 })).toThrow(RangeError);
    expect(() => sem.waitSync({ timeoutMs: '1' as never })).toThrow(/"timeoutMs"/);
    expect(() => sem.waitSync('x' as never)).toThrow(TypeError);
    sem.close();
  });
});

describe('wait (async)', () => {
  it('resolves when another process posts', async () => {
    const name = semName('wait-x');
    const sem = Semaphore.open(name, { create: 'exclusive' });
    const t0 = performance.now();
    const acquired = sem.wait({ timeoutMs: 15_000 });
    const poster = runFixture('sem-post.ts', [name, '100']);
    expect(await within(15_000, 'wait', acquired)).toBe(true);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(100);
    expect((await within(10_000, 'poster exit', poster.exited)).code).toBe(0);
    expect(sem.value).toBe(0);
    sem.close();
  });

  it('resolves false on timeout, measured', async () => {
    const sem = Semaphore.open(semName('wait-t'), { create: 'exclusive' });
    const t0 = performance.now();
    expect(await sem.wait({ timeoutMs: 100 })).toBe(false);
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(95);
    expect(elapsed).toBeLessThan(1000);
    sem.close();
  });

  it('rejects with an AbortError on abort, and a later post is not swallowed', async () => {
    const sem = Semaphore.open(semName('abort'), { create: 'exclusive' });
    const ac = new AbortController();
    const pending = sem.wait({ signal: ac.signal });
    await delay(20); // the native thread is waiting
    const reason = new Error('stop');
    ac.abort(reason);
    const err = await pending.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AbortError);
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    // The cancelled thread may still be in its last slice: if it takes this
    // count it must give it back.
    sem.post();
    await within(
      2000,
      'count back',
      until(2000, 'value 1', () => sem.value === 1),
    );
    await delay(120); // > 2 slices: the wait thread is surely gone
    expect(sem.value).toBe(1);
    await expect(sem.wait({ signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    expect(sem.value).toBe(1);
    // A free count is taken at once (no thread), so an abort after wait() returned is too late.
    await expect(sem.wait({ signal: new AbortController().signal })).resolves.toBe(true);
    // A count posted just as the wait is aborted: the thread usually takes it
    // before the cancellation reaches it, and must give it back.
    for (let i = 0; i < 20; i++) {
      const abort = new AbortController();
      const w = sem.wait({ signal: abort.signal });
      sem.post();
      abort.abort();
      await expect(w).rejects.toBeInstanceOf(AbortError);
      await within(
        2000,
        'count back',
        until(2000, 'value 1', () => sem.value === 1),
      );
      expect(sem.tryWait()).toBe(true);
    }
    await delay(120);
    expect(sem.value).toBe(0);
    sem.close();
  });

  it('close() rejects pending waits with ERR_POSIX_IPC_CLOSED; posts through other handles are not lost', async () => {
    const name = semName('close-w');
    const creator = Semaphore.open(name, { create: 'exclusive' });
    const sem = Semaphore.open(name);
    const waits = [sem.wait(), sem.wait({ timeoutMs: 60_000 })];
    await delay(20);
    sem.close();
    for (const w of waits) await expect(w).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
    creator.post();
    await within(
      2000,
      'count',
      until(2000, 'value 1', () => creator.value === 1),
    );
    await delay(120);
    expect(creator.value).toBe(1);
    // Closing with waits pending, over and over: the sem_t* stays valid for
    // the threads still winding down (a use after sem_close would crash).
    expect(creator.tryWait()).toBe(true); // a count of 0: every wait below is pending
    for (let i = 0; i < 20; i++) {
      const h = Semaphore.open(name);
      const w = h.wait();
      h.close();
      await expect(w).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
    }
    await delay(120);
    expect(creator.value).toBe(0);
    creator.close();
  });

  it('close() with waits pending releases the handle (sem_close) once their threads have ended', async () => {
    const name = semName('close-m');
    const sem = Semaphore.open(name, { create: 'exclusive' });
    const waits = Array.from({ length: 3 }, () => sem.wait());
    await delay(20);
    sem.close();
    await Promise.allSettled(waits);
    await within(
      2000,
      'sem_close',
      until(2000, 'the mapping to go', () => !isMapped(name)),
    );
  });

  it('validates options', async () => {
    const sem = Semaphore.open(semName('wait-v'), { create: 'exclusive' });
    await expect(sem.wait({ timeoutMs: -5 })).rejects.toThrow(RangeError);
    await expect(sem.wait({ signal: 'x' as never })).rejects.toThrow(/"signal"/);
    sem.close();
  });

  it('16 pending waits neither block the loop nor starve the libuv pool (UV_THREADPOOL_SIZE default 4)', async () => {
    expect(process.env.UV_THREADPOOL_SIZE).toBeUndefined();
    const sem = Semaphore.open(semName('pool'), { create: 'exclusive' });
    const waits = Array.from({ length: 16 }, () => sem.wait({ timeoutMs: 30_000 }));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      await delay(50);
      // fs.promises uses the pool: 16 waits there would leave it no thread.
      const t0 = performance.now();
      const files = await within(2000, 'readFile', Promise.all([1, 2, 3, 4, 5, 6].map(() => readFile(fixture('sem-post.ts'), 'utf8'))));
      const readMs = performance.now() - t0;
      expect(files[0]).toContain('Semaphore');
      expect(readMs).toBeLessThan(1000);
      const before = ticks;
      await delay(200);
      expect(ticks - before).toBeGreaterThanOrEqual(10); // ~40 expected
      console.log(`[semaphore] 16 pending waits: 6 readFile in ${readMs.toFixed(1)} ms; ${ticks - before} ticks of 5 ms in 200 ms`);
      for (let i = 0; i < 16; i++) sem.post();
      const results = await within(3000, 'all waits', Promise.all(waits));
      expect(results).toEqual(Array(16).fill(true));
      expect(sem.value).toBe(0);
    } finally {
      clearInterval(timer);
      sem.close();
    }
  });
});

describe('mutual exclusion across processes', () => {
  const CHILDREN = 4;
  const ITERATIONS = 200;

  async function runCounters(lockName: string): Promise<{ total: number; created: boolean[] }> {
    const gateName = semName('gate');
    const counter = tempPath('sem-counter');
    paths.push(counter);
    writeFileSync(counter, '0');
    const gate = Semaphore.open(gateName, { create: 'exclusive' });
    try {
      const procs = Array.from({ length: CHILDREN }, () => runFixture('sem-counter.ts', [lockName, gateName, counter, String(ITERATIONS)]));
      await within(
        15_000,
        'children ready',
        until(15_000, 'ready lines', () => procs.every((p) => p.output().includes('ready'))),
      );
      for (let i = 0; i < CHILDREN; i++) gate.post();
      const exits = await within(15_000, 'children exit', Promise.all(procs.map((p) => p.exited)));
      for (const e of exits) expect(e, e.stderr).toMatchObject({ code: 0, signal: null });
      const created = procs.map((p) => (JSON.parse(p.output().split('\n')[1]!) as { created: boolean }).created);
      return { total: Number(readFileSync(counter, 'utf8')), created };
    } finally {
      gate.close();
    }
  }

  it(`${CHILDREN} processes x ${ITERATIONS} increments under the semaphore give exactly ${CHILDREN * ITERATIONS}`, async () => {
    const lockName = semName('lock');
    const { total, created } = await runCounters(lockName);
    expect(total).toBe(CHILDREN * ITERATIONS);
    // open-or-create: exactly one child made the lock.
    expect(created.filter(Boolean)).toHaveLength(1);
    Semaphore.unlink(lockName);
  });

  it('without the semaphore the same processes race (reported, not asserted)', async () => {
    const { total } = await runCounters('-');
    console.log(`[semaphore] without the lock: ${total} of ${CHILDREN * ITERATIONS} increments survived`);
    // No upper bound: unlocked, two truncate-then-write sequences can interleave
    // ("100" over "99" leaves "990"), so the racing file may even hold more.
    expect(Number.isInteger(total) && total > 0).toBe(true);
  });
});

describe('lifetime', () => {
  it('every method throws ERR_POSIX_IPC_CLOSED after close(); close() is idempotent', async () => {
    const sem = Semaphore.open(semName('closed'), { create: 'exclusive', initialValue: 1 });
    expect(sem.closed).toBe(false);
    sem.close();
    sem.close();
    expect(sem.closed).toBe(true);
    const closed = expect.objectContaining({ code: 'ERR_POSIX_IPC_CLOSED' });
    expect(() => sem.post()).toThrow(closed);
    expect(() => sem.tryWait()).toThrow(closed);
    expect(() => sem.waitSync({ timeoutMs: 0 })).toThrow(closed);
    expect(() => sem.value).toThrow(closed);
    await expect(sem.wait()).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
    sem[Symbol.dispose](); // still idempotent
  });

  it('`using` closes at the end of the block', () => {
    const name = semName('using');
    let kept: Semaphore | undefined;
    {
      using sem = Semaphore.open(name, { create: 'exclusive', unlinkOnClose: true });
      kept = sem;
      expect(sem.closed).toBe(false);
    }
    expect(kept.closed).toBe(true);
    expect(existsSync(backingFile(name))).toBe(false);
  });

  it('cannot be constructed directly', () => {
    const Ctor = Semaphore as unknown as new (...args: unknown[]) => Semaphore;
    expect(() => new Ctor(Symbol('x'))).toThrow(TypeError);
  });

  it('the garbage collector closes a forgotten handle as a backstop, and never unlinks', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const name = semName('gc');
    (() => {
      Semaphore.open(name, { create: 'exclusive' });
    })();
    expect(isMapped(name)).toBe(true);
    await within(
      5000,
      'finalizer',
      until(5000, 'the mapping to go', () => {
        gc();
        return !isMapped(name);
      }),
    );
    expect(existsSync(backingFile(name))).toBe(true); // closed, not unlinked
  });
});

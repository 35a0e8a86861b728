import * as cp from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';

import { Child, closeSync, defaultExecArgv, forkNode, pipe, spawn, streamFromFd, type FdMap } from '../lib/index.js';
import { tempPath, within, zombieChildren } from './support/helpers.js';

const fixture = (name: string): string => new URL(`./fixtures/${name}`, import.meta.url).pathname;

function pidfdCount(): number {
  let n = 0;
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) === 'anon_inode:[pidfd]') n++;
    } catch {
      // the directory's own descriptor
    }
  }
  return n;
}

/** What a descriptor of `pid` refers to: the object and the access mode (0 read, 1 write, 2 both). */
function describeFd(pid: number | 'self', fd: number): { target: string; access: number; cloexec: boolean } {
  const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
  const flags = parseInt(/^flags:\s+([0-7]+)/m.exec(info)![1]!, 8);
  return { target: readlinkSync(`/proc/${pid}/fd/${fd}`), access: flags & 3, cloexec: (flags & 0o2000000) !== 0 };
}

/**
 * The descriptors of a /bin/sleep child, once it sleeps: spawn() returns right
 * after exec, while the dynamic loader may still hold a library file open.
 */
function openFds(pid: number): number[] {
  const deadline = performance.now() + 2000;
  for (;;) {
    const wchan = readFileSync(`/proc/${pid}/wchan`, 'utf8');
    if (wchan.includes('nanosleep')) break;
    if (performance.now() > deadline) throw new Error(`child ${pid} never reached nanosleep (wchan '${wchan}')`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  }
  return readdirSync(`/proc/${pid}/fd`)
    .map(Number)
    .sort((a, b) => a - b);
}

/** Reads a pipe end to end-of-file on the event loop (the stream closes the fd). */
function readAll(fd: number): Promise<Buffer> {
  const stream = streamFromFd(fd, 'r');
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      stream.destroy();
      resolve(Buffer.concat(chunks));
    });
    stream.on('error', reject);
  });
}

function writeAllAndClose(fd: number, data: Buffer): Promise<void> {
  const stream = streamFromFd(fd, 'w');
  return new Promise((resolve, reject) => {
    stream.on('error', reject);
    stream.end(data, () => {
      stream.destroy();
      resolve();
    });
  });
}

function lcg(count: number): Buffer {
  const buf = Buffer.alloc(count);
  let seed = 1;
  for (let i = 0; i < count; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    buf[i] = seed >>> 24;
  }
  return buf;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('spawn: exit status, signals, waitSync', () => {
  it('reports the exit code', async () => {
    const child = spawn('/bin/sh', ['-c', 'exit 42']);
    expect(child).toBeInstanceOf(Child);
    expect(child.pid).toBeGreaterThan(0);
    expect(child.status).toBeNull();
    await expect(within(5000, 'exit', child.exited)).resolves.toEqual({ code: 42, signal: null });
    expect(child.status).toEqual({ code: 42, signal: null });
  });

  it('searches PATH and passes argv, env and cwd', async () => {
    const [r, w] = pipe();
    const child = spawn('sh', ['-c', 'printf "%s|%s|%s|%s" "$0" "$1" "$GREETING" "$(pwd)"', 'arg-one'], {
      fds: { 1: w },
      env: { PATH: '/usr/bin:/bin', GREETING: 'hello', UNSET: undefined },
      cwd: '/tmp',
      argv0: 'custom-argv0',
    });
    closeSync(w);
    const out = await within(5000, 'output', readAll(r));
    // $0 is the -c script's first extra argument, not argv[0].
    expect(out.toString()).toBe('arg-one||hello|/tmp');
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });

  it('inherits process.env by default', async () => {
    process.env.PIPC_PROCESS_TEST = 'inherited';
    try {
      const [r, w] = pipe();
      const child = spawn('/bin/sh', ['-c', 'printf %s "$PIPC_PROCESS_TEST"'], { fds: { 1: w } });
      closeSync(w);
      expect((await within(5000, 'output', readAll(r))).toString()).toBe('inherited');
      expect(await child.exited).toEqual({ code: 0, signal: null });
    } finally {
      delete process.env.PIPC_PROCESS_TEST;
    }
  });

  it('kill() delivers signals while the child runs and returns false once it is reaped', async () => {
    const child = spawn('/bin/sleep', ['10'], { fds: {} });
    expect(child.kill(0)).toBe(true);
    expect(child.kill()).toBe(true); // SIGTERM
    expect(await within(5000, 'SIGTERM', child.exited)).toEqual({ code: null, signal: 'SIGTERM' });
    expect(child.kill('SIGKILL')).toBe(false);
    expect(child.kill(0)).toBe(false);

    const other = spawn('/bin/sleep', ['10'], { fds: {} });
    expect(other.kill(9)).toBe(true);
    expect(await within(5000, 'SIGKILL', other.exited)).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('waitSync() blocks until the exit, and exited resolves with the same value', async () => {
    const t0 = performance.now();
    const child = spawn('/bin/sh', ['-c', 'sleep 0.15; exit 3'], { fds: {} });
    const status = child.waitSync();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(100);
    expect(status).toEqual({ code: 3, signal: null });
    expect(await child.exited).toBe(status);
    expect(child.waitSync()).toBe(status);
    expect(child.kill()).toBe(false);
    expect(zombieChildren()).toEqual([]);
  });

  it('waitSync() after a kill reports the signal', () => {
    const child = spawn('/bin/sleep', ['10'], { fds: {} });
    child.kill('SIGINT');
    expect(child.waitSync()).toEqual({ code: null, signal: 'SIGINT' });
  });

  it('Symbol.asyncDispose terminates a running child and waits for it', async () => {
    const child = spawn('/bin/sleep', ['10'], { fds: {} });
    await within(5000, 'dispose', child[Symbol.asyncDispose]());
    expect(child.status).toEqual({ code: null, signal: 'SIGTERM' });
    await child[Symbol.asyncDispose](); // idempotent
  });
});

describe('spawn: exact descriptor map', () => {
  /** Spawns a sleeper with `map` and checks its descriptors are exactly the map. */
  function checkMap(map: Record<number, number>): void {
    const child = spawn('/bin/sleep', ['10'], { fds: map });
    try {
      // spawn() returns after exec: close-on-exec descriptors are gone by now.
      const targets = Object.keys(map)
        .map(Number)
        .sort((a, b) => a - b);
      expect(openFds(child.pid)).toEqual(targets);
      for (const t of targets) {
        const want = describeFd('self', map[t]!);
        const got = describeFd(child.pid, t);
        expect({ fd: t, target: got.target, access: got.access, cloexec: got.cloexec }).toEqual({
          fd: t,
          target: want.target,
          access: want.access,
          cloexec: false,
        });
      }
    } finally {
      child.kill('SIGKILL');
      child.waitSync();
    }
  }

  it('gives the child fds 0-2 of the parent by default, and nothing else', () => {
    const child = spawn('/bin/sleep', ['10']);
    try {
      expect(openFds(child.pid)).toEqual([0, 1, 2]);
      for (const fd of [0, 1, 2]) expect(readlinkSync(`/proc/${child.pid}/fd/${fd}`)).toBe(readlinkSync(`/proc/self/fd/${fd}`));
    } finally {
      child.kill('SIGKILL');
      child.waitSync();
    }
  });

  it('maps pipe ends onto chosen numbers, clears close-on-exec, closes everything else', () => {
    const [r1, w1] = pipe();
    const [r2, w2] = pipe();
    try {
      expect(describeFd('self', w1).cloexec).toBe(true); // so the child really had to clear it
      checkMap({ 3: w1, 4: r2 });
      checkMap({});
      checkMap({ 0: r1, 1: w2, 2: w2, 9: w2, 200: r1 });
    } finally {
      for (const fd of [r1, w1, r2, w2]) closeSync(fd);
    }
  });

  it('handles swapped and cyclic maps whose numbers overlap the parent fds', () => {
    const [r1, w1] = pipe();
    const [r2, w2] = pipe();
    try {
      checkMap({ [r1]: w2, [w2]: r1 }); // a swap: each target is the other's source
      checkMap({ [r1]: w1, [w1]: r2, [r2]: r1 }); // a 3-cycle
      checkMap({ [r1]: r1, [w1]: r1, 0: w1 }); // identity plus duplicates
    } finally {
      for (const fd of [r1, w1, r2, w2]) closeSync(fd);
    }
  });

  it('property: any map over open parent fds is reproduced exactly', () => {
    const ends = [...pipe(), ...pipe(), ...pipe()];
    try {
      fc.assert(
        fc.property(
          fc.uniqueArray(fc.integer({ min: 0, max: 64 }), { maxLength: 6 }),
          fc.array(fc.integer({ min: 0, max: ends.length - 1 }), { minLength: 6, maxLength: 6 }),
          fc.boolean(),
          (targets, picks, overlap) => {
            // With `overlap`, targets are drawn from the parent's own fd numbers.
            const map: Record<number, number> = {};
            targets.forEach((t, i) => {
              const target = overlap ? ends[t % ends.length]! : t;
              map[target] = ends[picks[i]!]!;
            });
            checkMap(map);
          },
        ),
        { numRuns: 30 },
      );
    } finally {
      for (const fd of ends) closeSync(fd);
    }
  });

  it('reports a target the child cannot place (above RLIMIT_NOFILE) and reaps that child', () => {
    expect(() => spawn('/bin/true', [], { fds: { 100_000_000: 0 } })).toThrow(
      expect.objectContaining({ code: 'EINVAL', syscall: 'fcntl' }),
    );
    expect(zombieChildren()).toEqual([]);
  });

  it('refuses a map naming a parent fd that is not open, before forking', () => {
    const [r, w] = pipe();
    closeSync(r);
    closeSync(w);
    const before = zombieChildren();
    expect(() => spawn('/bin/true', [], { fds: { 3: r } })).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'fcntl' }));
    expect(zombieChildren()).toEqual(before);
  });
});

describe('spawn: exec failures are thrown, with no child left behind', () => {
  const dir = tempPath('procdir');
  mkdirSync(dir, { mode: 0o700 });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function expectSpawnError(fn: () => unknown, fields: Record<string, unknown>): void {
    const pipesBefore = readdirSync('/proc/self/fd').length;
    let caught: unknown;
    try {
      fn();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Error);
    expect(caught).toMatchObject(fields);
    // The failed child was reaped before the throw, and the error pipe closed.
    expect(zombieChildren()).toEqual([]);
    expect(readdirSync('/proc/self/fd').length).toBe(pipesBefore);
  }

  it('ENOENT for a missing file, by path and through PATH', () => {
    expectSpawnError(() => spawn('/nonexistent/pipc-prog'), {
      code: 'ENOENT',
      errno: -2,
      syscall: 'execve',
      path: '/nonexistent/pipc-prog',
    });
    expectSpawnError(() => spawn('pipc-no-such-command', [], { env: { PATH: `${dir}:/usr/bin:/bin` } }), {
      code: 'ENOENT',
      syscall: 'execve',
      path: 'pipc-no-such-command',
    });
  });

  it('EACCES for a file without execute permission, also when PATH finds it first', () => {
    const script = join(dir, 'not-executable');
    writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    expectSpawnError(() => spawn(script), { code: 'EACCES', errno: -13, syscall: 'execve', path: script });
    // execvp's rule: a permission error seen on the way wins over a later ENOENT.
    expectSpawnError(() => spawn('not-executable', [], { env: { PATH: `${dir}:/usr/bin:/bin` } }), {
      code: 'EACCES',
      syscall: 'execve',
      path: 'not-executable',
    });
  });

  it('ENOEXEC for an executable without a #! line (no /bin/sh fallback)', () => {
    const garbage = join(dir, 'garbage');
    writeFileSync(garbage, 'neither ELF nor #!\n', { mode: 0o755 });
    chmodSync(garbage, 0o755);
    expectSpawnError(() => spawn(garbage), { code: 'ENOEXEC', syscall: 'execve', path: garbage });
  });

  it('ENOENT/ENOTDIR from chdir, naming the directory', () => {
    expectSpawnError(() => spawn('/bin/true', [], { cwd: '/nonexistent-pipc-dir' }), {
      code: 'ENOENT',
      syscall: 'chdir',
      path: '/nonexistent-pipc-dir',
    });
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    expectSpawnError(() => spawn('/bin/true', [], { cwd: new URL(`file://${file}`) }), { code: 'ENOTDIR', syscall: 'chdir', path: file });
  });
});

describe('spawn: signals in the child', () => {
  it('starts the program with no ignored and no blocked signals (SIGPIPE back to default)', async () => {
    // Node ignores SIGPIPE: the parent's mask shows it, so a missing reset would show too.
    const own = readFileSync('/proc/self/status', 'utf8');
    expect(BigInt(`0x${/^SigIgn:\s+([0-9a-f]+)/m.exec(own)![1]}`) & (1n << 12n)).not.toBe(0n);

    const [r, w] = pipe();
    const child = spawn('/bin/cat', ['/proc/self/status'], { fds: { 1: w } });
    closeSync(w);
    const status = (await within(5000, 'cat', readAll(r))).toString();
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(/^SigIgn:\s+([0-9a-f]+)/m.exec(status)![1]).toMatch(/^0+$/);
    expect(/^SigBlk:\s+([0-9a-f]+)/m.exec(status)![1]).toMatch(/^0+$/);
  });

  it('a child writing to a pipe without readers dies of SIGPIPE', async () => {
    const [r, w] = pipe();
    closeSync(r);
    const child = spawn('/usr/bin/yes', [], { fds: { 1: w } });
    closeSync(w);
    expect(await within(5000, 'yes', child.exited)).toEqual({ code: null, signal: 'SIGPIPE' });
  });
});

describe('reaping', () => {
  it('watches each child with a pidfd on the event loop (Linux), closed after the reap', async () => {
    const before = pidfdCount();
    const child = spawn('/bin/sleep', ['10'], { fds: {} });
    expect(pidfdCount()).toBe(before + 1);
    child.kill('SIGKILL');
    await within(5000, 'exit', child.exited);
    expect(pidfdCount()).toBe(before);
  });

  it('reaps 50 concurrent children, each with its own status, leaving no zombie or pidfd', async () => {
    const before = pidfdCount();
    const children = Array.from({ length: 50 }, (_, i) => spawn('/bin/sh', ['-c', `exit ${i}`], { fds: {} }));
    const statuses = await within(10_000, '50 children', Promise.all(children.map((c) => c.exited)));
    expect(statuses.map((s) => s.code)).toEqual(children.map((_, i) => i));
    expect(zombieChildren()).toEqual([]);
    expect(pidfdCount()).toBe(before);
  });

  it('leaves node:child_process children to libuv, which still reports their exit', async () => {
    const ours = Array.from({ length: 10 }, () => spawn('/bin/sleep', ['0.2'], { fds: {} }));
    const theirs = cp.spawn('/bin/sh', ['-c', 'sleep 0.1; exit 7'], { stdio: 'ignore' });
    const quick = spawn('/bin/sh', ['-c', 'exit 5'], { fds: {} });
    const [code, signal] = await within(
      5000,
      'child_process exit',
      new Promise<[number | null, string | null]>((resolve) => theirs.on('exit', (c, s) => resolve([c, s]))),
    );
    expect([code, signal]).toEqual([7, null]);
    expect(await quick.exited).toEqual({ code: 5, signal: null });
    const statuses = await within(5000, 'ours', Promise.all(ours.map((c) => c.exited)));
    expect(statuses.every((s) => s.code === 0)).toBe(true);
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) =>
      cp.execFile('/bin/sh', ['-c', 'echo fine'], (err, out) => (err ? reject(err) : resolve({ stdout: out }))),
    );
    expect(stdout).toBe('fine\n');
  });

  // Each mode in a fresh process: the choice is read when the module loads.
  it.each([
    ['pidfd', ''],
    ['thread', '1'],
  ])('the %s reaper: kill, exit codes, waitSync, ref/unref, child_process beside it', async (mode, noPidfd) => {
    const [r, w] = pipe();
    const child = forkNode(fixture('proc-reaper.ts'), {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, POSIX_IPC_NO_PIDFD: noPidfd },
      fds: { 0: 0, 1: 1, 2: 2, 3: w },
    });
    closeSync(w);
    const [out, status] = await within(15_000, `${mode} fixture`, Promise.all([readAll(r), child.exited]));
    const exitedAt = Date.now();
    expect(status).toEqual({ code: 0, signal: null });
    const report = JSON.parse(out.toString()) as Record<string, unknown>;
    try {
      if (mode === 'pidfd') {
        expect(report.pidfdsWhileRunning).toBe(1);
        expect(report.threadsWhileRunning).toBe(0);
      } else {
        expect(report.pidfdsWhileRunning).toBe(0);
        expect(report.threadsWhileRunning).toBe(1);
      }
      expect(report).toMatchObject({
        probe: true,
        killed: true,
        sleeper: { code: null, signal: 'SIGKILL' },
        killAfterExit: false,
        codes: Array.from({ length: 20 }, (_, i) => i),
        waitSync: { code: 9, signal: null },
        exitedAfterWaitSync: { code: 9, signal: null },
        killAfterWaitSync: false,
        childProcessCode: 7,
        ours: { code: 0, signal: null },
        pidfdsAfter: 0,
      });
      // The ref'd 300 ms sleeper kept the fixture alive; the unref'd 5 s one did not. Measured from just before
      // the sleeper's spawn (not from the report, which a loaded machine may write well after it): at least 300 ms.
      const lingered = exitedAt - (report.sleeperAt as number);
      expect(lingered).toBeGreaterThanOrEqual(295);
      expect(exitedAt - (report.reportedAt as number)).toBeLessThan(3000);
      expect(() => process.kill(report.unrefPid as number, 0)).not.toThrow(); // unref() does not kill
    } finally {
      try {
        process.kill(report.unrefPid as number, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  it.each([
    ['pidfd', true],
    ['thread', false],
  ])('worker teardown (%s): pidfds closed at once, running children reaped when they end', async (_mode, usePidfd) => {
    const before = pidfdCount();
    const worker = new Worker(fixture('proc-teardown-worker.mjs'), { workerData: { usePidfd, count: 3, seconds: 0.3 } });
    const pids = await within(5000, 'worker', new Promise<number[]>((resolve) => worker.once('message', resolve)));
    expect(pidfdCount()).toBe(before + (usePidfd ? 3 : 0));
    await worker.terminate();
    expect(pidfdCount()).toBe(before);
    for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(true); // still running
    // Reaped after they exit, by threads that outlive the worker: no zombies.
    await within(
      5000,
      'reaped after teardown',
      (async () => {
        while (pids.some((pid) => existsSync(`/proc/${pid}`))) await new Promise((r) => setTimeout(r, 20));
      })(),
    );
    expect(zombieChildren()).toEqual([]);
  });
});

describe('forkNode', () => {
  it('runs a .mjs module wired by pipes both ways, checksummed', async () => {
    const [toChildR, toChildW] = pipe();
    const [fromChildR, fromChildW] = pipe();
    const count = 1 << 20;
    const child = forkNode(fixture('proc-pipe-echo.mjs'), {
      args: [String(count), '4'],
      fds: { 2: 2, 3: toChildR, 4: fromChildW },
    });
    closeSync(toChildR);
    closeSync(fromChildW);
    const payload = randomBytes(3 << 19);
    const [, back, status] = await within(
      15_000,
      'echo child',
      Promise.all([writeAllAndClose(toChildW, payload), readAll(fromChildR), child.exited]),
    );
    expect(status).toEqual({ code: 4, signal: null });
    expect(back.subarray(0, 64).toString()).toBe(sha256(payload));
    expect(back.length).toBe(64 + count);
    expect(sha256(back.subarray(64))).toBe(sha256(lcg(count)));
  });

  it('defaultExecArgv() keeps loaders and V8 flags, drops eval, inspector, watch and test-runner flags', () => {
    const saved = process.execArgv;
    try {
      process.execArgv = [
        '--inspect-brk=0',
        '--eval',
        'x()',
        '--import',
        'tsx',
        '-p',
        '1',
        '-pe',
        '2',
        '--watch',
        '--watch-path',
        'src',
        '--test-reporter',
        'spec',
        '--test',
        '--max-old-space-size=100',
        '--conditions',
        'node',
        '--inspect',
        '--input-type=module',
        '--require',
        '/x.cjs',
      ];
      expect(defaultExecArgv()).toEqual(['--import', 'tsx', '--max-old-space-size=100', '--conditions', 'node', '--require', '/x.cjs']);
    } finally {
      process.execArgv = saved;
    }
  });
});

describe('argument validation', () => {
  const ok = '/bin/true';
  it.each<[string, () => unknown, ErrorConstructor, RegExp]>([
    ['file type', () => spawn(1 as unknown as string), TypeError, /"file"/],
    ['file empty', () => spawn(''), TypeError, /"file"/],
    ['file null byte', () => spawn('a\0b'), TypeError, /"file"/],
    ['args type', () => spawn(ok, 'x' as unknown as string[]), TypeError, /"args"/],
    ['args element', () => spawn(ok, ['a', 2 as unknown as string]), TypeError, /"args\[1\]"/],
    ['options type', () => spawn(ok, [], 5 as never), TypeError, /"options"/],
    ['fds type', () => spawn(ok, [], { fds: [0, 1] as unknown as FdMap }), TypeError, /"options.fds"/],
    ['fds key', () => spawn(ok, [], { fds: { x: 1 } as unknown as FdMap }), RangeError, /"options.fds"/],
    ['fds negative value', () => spawn(ok, [], { fds: { 3: -1 } }), RangeError, /"options.fds\[3\]"/],
    ['fds fraction', () => spawn(ok, [], { fds: { 3: 1.5 } }), RangeError, /"options.fds\[3\]"/],
    ['fds value type', () => spawn(ok, [], { fds: { 3: '1' as unknown as number } }), TypeError, /"options.fds\[3\]"/],
    ['env type', () => spawn(ok, [], { env: 'x' as never }), TypeError, /"options.env"/],
    ['env value', () => spawn(ok, [], { env: { A: 1 as unknown as string } }), TypeError, /"options.env.A"/],
    ['env key', () => spawn(ok, [], { env: { 'A=B': 'x' } }), TypeError, /"options.env"/],
    ['cwd type', () => spawn(ok, [], { cwd: 5 as unknown as string }), TypeError, /"options.cwd"/],
    ['argv0 type', () => spawn(ok, [], { argv0: 5 as unknown as string }), TypeError, /"options.argv0"/],
    ['modulePath', () => forkNode(5 as unknown as string), TypeError, /"modulePath"/],
    ['forkNode args', () => forkNode('/x.mjs', { args: 'x' as never }), TypeError, /"options.args"/],
    ['forkNode execArgv', () => forkNode('/x.mjs', { execArgv: [1] as never }), TypeError, /"options.execArgv\[0\]"/],
  ])('%s', (_name, fn, type, pattern) => {
    expect(fn).toThrow(type);
    expect(fn).toThrow(pattern);
  });

  it('kill() validates the signal; Child cannot be constructed directly', async () => {
    const child = spawn('/bin/sleep', ['10'], { fds: {} });
    try {
      expect(() => child.kill('SIGNOPE' as NodeJS.Signals)).toThrow(TypeError);
      expect(() => child.kill(65)).toThrow(RangeError);
      expect(() => child.kill(1.5)).toThrow(RangeError);
      expect(() => child.kill({} as unknown as number)).toThrow(TypeError);
      expect(child.status).toBeNull(); // none of that reached the child
    } finally {
      child.kill('SIGKILL');
      await child.exited;
    }
    const make = Child as unknown as new (...args: unknown[]) => Child;
    expect(() => new make(Symbol('x'), () => [null, 1])).toThrow(TypeError);
  });
});

// Leaks: descriptors, mappings, names, children, threads and waits, after
// success, failure, exit and crash. The create/close cycles are in
// leak-suite.ts (1,000 cycles in test/heavy/leaks.test.ts).
import * as cp from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readlinkSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';

import {
  closeSync,
  connectUnix,
  forkNode,
  openFifoReceiver,
  openFifoSender,
  openShmReceiver,
  openShmSender,
  pipe,
  pipeChannel,
  removeStaleShmChannel,
  Semaphore,
  SharedMemory,
  socketPair,
  spawn,
  streamFromFd,
  UnixServer,
  type Child,
} from '../lib/index.js';
import { tempPath, uniqueName, within, zombieChildren } from './support/helpers.js';
import { defineLeakCycles } from './support/leak-suite.js';

const fixture = (name: string): string => new URL(`./fixtures/${name}`, import.meta.url).pathname;

defineLeakCycles(200, 50);

/** Reads a pipe end to end-of-file on the event loop (the stream closes the fd). */
function readAll(fd: number): Promise<string> {
  const stream = streamFromFd(fd, 'r');
  let out = '';
  return new Promise((resolve, reject) => {
    stream.on('data', (c: Buffer) => (out += c.toString()));
    stream.on('end', () => {
      stream.destroy();
      resolve(out);
    });
    stream.on('error', reject);
  });
}

function fdTargets(): Map<number, string> {
  const out = new Map<number, string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      out.set(Number(fd), readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // the directory's own descriptor
    }
  }
  return out;
}

/** A TypeScript fixture with stdin, stdout and stderr on pipes: a two-way handshake instead of sleeps. */
function startFixture(
  name: string,
  args: string[],
): {
  child: Child;
  stdout: () => string;
  waitFor: (text: string) => Promise<void>;
  send: (text: string) => void;
  done: Promise<[string, string]>;
} {
  const [inR, inW] = pipe();
  const [outR, outW] = pipe();
  const [errR, errW] = pipe();
  const child = forkNode(fixture(name), { execArgv: ['--import', 'tsx'], args, fds: { 0: inR, 1: outW, 2: errW } });
  closeSync(inR);
  closeSync(outW);
  closeSync(errW);
  let out = '';
  const waiters: Array<() => void> = [];
  const stream = streamFromFd(outR, 'r');
  const stdoutDone = new Promise<string>((resolve, reject) => {
    stream.on('data', (c: Buffer) => {
      out += c.toString();
      for (const w of waiters) w();
    });
    stream.on('end', () => {
      stream.destroy();
      resolve(out);
    });
    stream.on('error', reject);
  });
  let stdinOpen = true;
  const closeStdin = (): void => {
    if (stdinOpen) closeSync(inW);
    stdinOpen = false;
  };
  return {
    child,
    stdout: () => out,
    waitFor: (text) =>
      within(
        20_000,
        `fixture ${name} prints ${JSON.stringify(text)}`,
        new Promise<void>((resolve) => {
          const check = (): void => {
            if (out.includes(text)) resolve();
          };
          waiters.push(check);
          check();
        }),
      ),
    send: (text) => writeSync(inW, text),
    done: Promise.all([stdoutDone, readAll(errR)]).finally(closeStdin),
  };
}

describe('names are gone after close, exit and crash; what SIGKILL leaves, the documented clean-up removes', () => {
  const shmPath = (name: string): string => `/dev/shm${name}`;

  it.each([
    ['close', 0],
    ['return', 0],
    ['exit', 3],
    ['throw', 1],
    ['reject', 1],
  ] as const)(
    'a process that creates a FIFO channel, a UNIX server and an unattached shm channel, then ends by %s',
    async (how, expectedCode) => {
      const fifo = tempPath('nfifo');
      const sock = tempPath('nsock');
      const chan = uniqueName('nchan');
      const f = startFixture('leak-names.ts', [how, fifo, sock, chan]);
      try {
        await f.waitFor('ready\n');
        expect([existsSync(fifo), existsSync(sock), existsSync(shmPath(chan))]).toEqual([true, true, true]);
        f.send('go\n');
        const [status, [stdout, stderr]] = await within(20_000, 'fixture exit', Promise.all([f.child.exited, f.done]));
        expect(status, stderr).toEqual({ code: expectedCode, signal: null });
        if (how === 'close') {
          // close() removes the FIFO and the socket file at once; a creator whose
          // peer never came keeps the channel's name until it exits, so that a
          // late receiver can still drain what was sent.
          expect(JSON.parse(stdout.split('\n')[1]!)).toEqual({ fifo: false, sock: false, chan: true });
        }
        if (how === 'throw' || how === 'reject') expect(stderr).toContain('on purpose');
        expect([existsSync(fifo), existsSync(sock), existsSync(shmPath(chan))]).toEqual([false, false, false]);
      } finally {
        f.child.kill('SIGKILL');
        rmSync(fifo, { force: true });
        rmSync(sock, { force: true });
        rmSync(shmPath(chan), { force: true });
      }
    },
  );

  it('after SIGKILL the names stay; removeStaleShmChannel, UnixServer.listen and unlink clean them up', async () => {
    const fifo = tempPath('kfifo');
    const sock = tempPath('ksock');
    const chan = uniqueName('kchan');
    const f = startFixture('leak-names.ts', ['hang', fifo, sock, chan]);
    try {
      await f.waitFor('ready\n');
      f.send('go\n');
      // While the creator lives nothing is stale.
      expect(removeStaleShmChannel(chan)).toBe(false);
      expect(() => UnixServer.listen(sock)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }) as Error);
      f.child.kill('SIGKILL');
      expect(await within(10_000, 'killed fixture', f.child.exited)).toEqual({ code: null, signal: 'SIGKILL' });
      await f.done;
      expect([existsSync(fifo), existsSync(sock), existsSync(shmPath(chan))]).toEqual([true, true, true]);

      expect(removeStaleShmChannel(chan)).toBe(true);
      expect(existsSync(shmPath(chan))).toBe(false);

      const server = UnixServer.listen(sock); // replaces the stale socket file
      const accepted = server.accept();
      const client = await connectUnix(sock);
      await (await accepted).close();
      await client.close();
      server.close();
      expect(existsSync(sock)).toBe(false);

      // A FIFO cannot tell a dead creator from a live one: creating it again is
      // EEXIST, and the documented clean-up is unlinking the path.
      await expect(openFifoReceiver(fifo, { create: true })).rejects.toMatchObject({ code: 'EEXIST', syscall: 'mkfifo' });
      unlinkSync(fifo);
      const rx = await openFifoReceiver(fifo, { create: true });
      rx.close();
      expect(existsSync(fifo)).toBe(false);
    } finally {
      f.child.kill('SIGKILL');
      rmSync(fifo, { force: true });
      rmSync(sock, { force: true });
      rmSync(shmPath(chan), { force: true });
    }
  });
});

describe('children', () => {
  it('200 children through spawn (in batches of 50) beside 20 through child_process at once: every exit reported, no zombie', async () => {
    const pidfds = (): number => [...fdTargets().values()].filter((t) => t === 'anon_inode:[pidfd]').length;
    const before = pidfds();
    const theirs = Array.from({ length: 20 }, (_, i) => {
      const c = cp.spawn('/bin/sh', ['-c', `exit ${i}`], { stdio: 'ignore' });
      return new Promise<number | null>((resolve) => c.on('exit', (code) => resolve(code)));
    });
    let ours = 0;
    for (let batch = 0; batch < 4; batch++) {
      const children = Array.from({ length: 50 }, () => spawn('/bin/true', [], { fds: {} }));
      const statuses = await within(20_000, `batch ${batch}`, Promise.all(children.map((c) => c.exited)));
      expect(statuses.every((s) => s.code === 0 && s.signal === null)).toBe(true);
      ours += statuses.length;
    }
    expect(ours).toBe(200);
    expect(await within(10_000, 'child_process exits', Promise.all(theirs))).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(zombieChildren()).toEqual([]);
    expect(pidfds()).toBe(before);
  });

  it("no posix-ipc descriptor reaches a child, ours or child_process's: only what was mapped", async () => {
    const before = fdTargets();
    // One of every kind of posix-ipc object.
    const [pr, pw] = pipe();
    const fifoPath = tempPath('inh');
    const fifoRx = await openFifoReceiver(fifoPath, { create: true });
    const fifoTx = await openFifoSender(fifoPath);
    const sockPath = tempPath('inh');
    const server = UnixServer.listen(sockPath);
    const accepted = server.accept();
    const client = await connectUnix(sockPath);
    const conn = await accepted;
    const [sa, sb] = socketPair();
    const shm = SharedMemory.open(uniqueName('inh'), { create: 'exclusive', size: 4096 });
    shm.unlink();
    const sem = Semaphore.open(uniqueName('inh'), { create: 'exclusive', unlinkOnClose: true });
    const ringName = uniqueName('inh');
    const ringRx = await openShmReceiver(ringName, { create: true, capacity: 4096 });
    const ringTx = await openShmSender(ringName);
    const sleeper = spawn('/bin/sleep', ['30'], { fds: {} }); // holds a pidfd
    const chan = pipeChannel();
    const polled = chan.receiver.receive(); // a poller watching its descriptor
    const ringWait = ringRx.receive(); // a wait thread on the ring
    const ours = new Set([...fdTargets()].filter(([fd, t]) => before.get(fd) !== t).map(([, t]) => t));
    for (const kind of [/^pipe:/, /^socket:/, /^\/dev\/shm\//, /^anon_inode:\[pidfd\]$/, /pipc-inh/]) {
      expect(
        [...ours].some((t) => kind.test(t)),
        String(kind),
      ).toBe(true);
    }
    // The control: a pipe made inheritable on purpose must be seen in
    // child_process's children, so the check below can see a leak.
    const [lr, lw] = pipe({ cloexec: false });
    const control = readlinkSync(`/proc/self/fd/${lw}`);

    const parse = (text: string): Map<number, string> => {
      const out = new Map<number, string>();
      if (text.startsWith('{')) {
        for (const [fd, t] of Object.entries(JSON.parse(text) as Record<string, string>)) out.set(Number(fd), t);
        return out;
      }
      for (const line of text.split('\n')) {
        const m = / (\d+) -> (.+)$/.exec(line);
        if (m) out.set(Number(m[1]), m[2]!);
      }
      return out;
    };
    const listed = (fds: Map<number, string>): Map<number, string> => new Map([...fds].filter(([, t]) => !/^\/proc\/\d+\/fd$/.test(t)));
    const leaked = (fds: Map<number, string>): string[] => [...fds.values()].filter((t) => ours.has(t));

    // Ours: exactly the mapped descriptor, and nothing unmapped (not even the inheritable control).
    {
      const [r, w] = pipe();
      const child = spawn('/bin/ls', ['-ln', '/proc/self/fd/'], { fds: { 1: w } });
      const mapped = readlinkSync(`/proc/self/fd/${w}`);
      closeSync(w);
      const [text] = await within(10_000, 'ls', Promise.all([readAll(r), child.exited]));
      expect([...listed(parse(text))]).toEqual([[1, mapped]]);
    }
    {
      const [r, w] = pipe();
      const child = forkNode(fixture('fd-list.mjs'), { execArgv: [], fds: { 1: w } });
      const mapped = readlinkSync(`/proc/self/fd/${w}`);
      closeSync(w);
      const [text] = await within(10_000, 'node child', Promise.all([readAll(r), child.exited]));
      const fds = parse(text);
      expect(fds.get(1)).toBe(mapped);
      expect(leaked(fds)).toEqual([]);
      expect([...fds.values()]).not.toContain(control);
    }
    // child_process: its stdio and the control, and nothing of posix-ipc.
    const viaChildProcess = async (what: string, run: () => cp.ChildProcess): Promise<void> => {
      const c = run();
      let text = '';
      c.stdout!.on('data', (d: Buffer) => (text += d.toString()));
      await within(10_000, what, new Promise((resolve) => c.on('close', resolve)));
      const fds = parse(text);
      expect(leaked(fds), what).toEqual([]);
      expect([...fds.values()], what).toContain(control);
    };
    const ls = ['-ln', '/proc/self/fd/'];
    await viaChildProcess('child_process.spawn', () => cp.spawn('/bin/ls', ls, { stdio: ['ignore', 'pipe', 'ignore'] }));
    await viaChildProcess('child_process.execFile', () => cp.execFile('/bin/ls', ls));
    await viaChildProcess('child_process.exec', () => cp.exec('ls -ln /proc/self/fd/'));
    await viaChildProcess('child_process.fork', () =>
      cp.fork(fixture('fd-list.mjs'), { stdio: ['ignore', 'pipe', 'ignore', 'ipc'], execArgv: [] }),
    );

    closeSync(lr);
    closeSync(lw);
    sleeper.kill('SIGKILL');
    await within(5000, 'sleeper', sleeper.exited);
    await chan.sender.close();
    expect(await polled).toBeUndefined();
    chan.receiver.close();
    await ringTx.close();
    expect(await ringWait).toBeUndefined();
    ringRx.close();
    closeSync(pr);
    closeSync(pw);
    closeSync(sa);
    closeSync(sb);
    sem.close();
    shm.close();
    await client.close();
    await conn.close();
    server.close();
    await fifoTx.close();
    fifoRx.close();
  });
});

describe('worker threads', () => {
  it('terminating a worker that loaded posix-ipc releases its descriptors, mappings, threads, waits and names; the process goes on', async () => {
    const tag = `wt${randomBytes(3).toString('hex')}`;
    const child = cp.spawn(process.execPath, [fixture('worker-teardown-main.mjs'), tag], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code, signal] = await within(
      60_000,
      'worker fixture',
      new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s]))),
    );
    expect({ code, signal }, err).toEqual({ code: 0, signal: null });
    const report = JSON.parse(out) as {
      addonBefore: boolean;
      addonAfter: boolean;
      before: { fds: number; maps: number; tasks: number };
      during: { fds: number; maps: number; tasks: number };
      after: { fds: number; maps: number; tasks: number };
      gained: string[];
      lost: string[];
      raw: [number, number];
      rawStillOpen: boolean[];
      namesLeft: string[];
      childAlive: boolean;
      goesOn: { ms: number; fileRead: boolean; childCode: number };
    };
    // The main thread never loaded the addon; the workers did.
    expect([report.addonBefore, report.addonAfter]).toEqual([false, true]);
    // The worker really held things: descriptors, mappings, wait threads.
    expect(report.during.fds).toBeGreaterThan(report.before.fds + 15);
    expect(report.during.maps).toBeGreaterThanOrEqual(report.before.maps + 3);
    expect(report.during.tasks).toBeGreaterThanOrEqual(report.before.tasks + 4);
    // All of it is gone, but for the raw pipe() descriptors: plain numbers
    // that belong to the caller, as fs.openSync's do.
    expect(report.after.maps).toBe(report.before.maps);
    expect(report.after.tasks).toBe(report.before.tasks);
    expect(report.lost).toEqual([]);
    expect(report.gained.map((g) => Number(g.split(' ')[0])).sort()).toEqual([...report.raw].sort());
    expect(report.rawStillOpen).toEqual([true, true]);
    expect(report.namesLeft).toEqual([]);
    expect(report.childAlive).toBe(false);
    expect(report.goesOn).toMatchObject({ fileRead: true, childCode: 4 });
    expect(report.goesOn.ms).toBeLessThan(2000);
    for (const dir of ['/dev/shm', tmpdir()]) {
      expect(readdirSync(dir).filter((n) => n.includes(tag))).toEqual([]);
    }
  });
});

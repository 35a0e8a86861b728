// Permissions of everything posix-ipc creates, under the most permissive
// umask; exclusive creation; FIFO paths that are symlinks. Each primitive's
// own file checks its modes too: this file checks all of them together,
// including the UNIX socket file and the shared-memory channel segment.
import { existsSync, lstatSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  closeSync,
  listenUnixSocket,
  mkfifo,
  openFifo,
  openFifoReceiver,
  openFifoSender,
  openFifoSync,
  openShmReceiver,
  openShmSender,
  removeUnixSocketFile,
  Semaphore,
  SharedMemory,
  UnixServer,
} from '../lib/index.js';
import { tempPath, uniqueName } from './support/helpers.js';

const shmFile = (name: string): string => `/dev/shm${name}`;
const semFile = (name: string): string => `/dev/shm/sem.${name.slice(1)}`;
/** Permission bits (and set-id/sticky bits) of a path, not following a symlink. */
const modeOf = (path: string): number => lstatSync(path).mode & 0o7777;

let savedUmask: number;
beforeAll(() => {
  savedUmask = process.umask(0o000);
});
afterAll(() => {
  process.umask(savedUmask);
});

describe('with umask 000, new objects have exactly the mode asked for (default 0600)', () => {
  it('the umask really is 000 here', () => {
    expect(readFileSync('/proc/self/status', 'utf8')).toMatch(/^Umask:\s+0000$/m);
  });

  it.each([
    ['the default, 0600', undefined, 0o600],
    ['0640 when asked', 0o640, 0o640],
  ])(
    'shared memory, named semaphore, FIFO (made directly and by a channel), UNIX socket file (server and listenUnixSocket), shm channel segment: %s',
    async (_label, mode, expected) => {
      const options = mode === undefined ? {} : { mode };
      const made: Array<[string, string]> = [];

      const shmName = uniqueName('perm');
      const shm = SharedMemory.open(shmName, { create: 'exclusive', size: 4096, ...options });
      made.push(['shared memory', shmFile(shmName)]);

      const semName = uniqueName('perm');
      const sem = Semaphore.open(semName, { create: 'exclusive', unlinkOnClose: true, ...options });
      made.push(['named semaphore', semFile(semName)]);

      const fifoPath = tempPath('perm');
      mkfifo(fifoPath, expected);
      made.push(['mkfifo', fifoPath]);

      const chanFifo = tempPath('perm');
      const fifoRx = await openFifoReceiver(chanFifo, { create: true, ...options });
      made.push(['FIFO channel', chanFifo]);

      const sockPath = tempPath('perm');
      const server = UnixServer.listen(sockPath, options);
      made.push(['UNIX socket file', sockPath]);

      const rawSockPath = tempPath('perm');
      const rawSock = listenUnixSocket(rawSockPath, options);
      made.push(['listenUnixSocket file', rawSockPath]);

      const ringName = uniqueName('perm');
      const ringRx = await openShmReceiver(ringName, { create: true, capacity: 4096, ...options });
      made.push(['shm channel segment', shmFile(ringName)]);

      try {
        const modes = Object.fromEntries(made.map(([what, path]) => [what, modeOf(path).toString(8)]));
        expect(modes).toEqual(Object.fromEntries(made.map(([what]) => [what, expected.toString(8)])));
        expect(lstatSync(sockPath).isSocket()).toBe(true);
        expect(lstatSync(chanFifo).isFIFO()).toBe(true);
      } finally {
        ringRx.close();
        SharedMemory.unlink(ringName); // no sender attached: the creator would remove it only at exit
        server.close();
        closeSync(rawSock);
        removeUnixSocketFile(rawSockPath);
        fifoRx.close();
        rmSync(fifoPath, { force: true });
        sem.close();
        shm.unlink();
        shm.close();
      }
      for (const [, path] of made) expect(existsSync(path)).toBe(false);
    },
  );
});

describe('an exclusive create on a name that exists fails, and leaves the existing object alone', () => {
  it('EEXIST for shared memory, named semaphores, FIFOs (direct and channel) and shm channels; EADDRINUSE for a live socket', async () => {
    const shmName = uniqueName('excl');
    const shm = SharedMemory.open(shmName, { create: 'exclusive', size: 4096 });
    new Uint8Array(shm.buffer)[0] = 42;
    const semName = uniqueName('excl');
    const sem = Semaphore.open(semName, { create: 'exclusive', initialValue: 3, unlinkOnClose: true });
    const fifoPath = tempPath('excl');
    mkfifo(fifoPath);
    const sockPath = tempPath('excl');
    const server = UnixServer.listen(sockPath);
    const ringName = uniqueName('excl');
    const ringRx = await openShmReceiver(ringName, { create: true, capacity: 4096 });
    try {
      expect(() => SharedMemory.open(shmName, { create: 'exclusive', size: 4096 })).toThrow(
        expect.objectContaining({ code: 'EEXIST', syscall: 'shm_open', path: shmName }) as Error,
      );
      expect(() => Semaphore.open(semName, { create: 'exclusive' })).toThrow(
        expect.objectContaining({ code: 'EEXIST', syscall: 'sem_open', path: semName }) as Error,
      );
      expect(() => mkfifo(fifoPath)).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'mkfifo', path: fifoPath }) as Error);
      await expect(openFifoReceiver(fifoPath, { create: true })).rejects.toMatchObject({ code: 'EEXIST', syscall: 'mkfifo' });
      await expect(openFifoSender(fifoPath, { create: true, timeoutMs: 0 })).rejects.toMatchObject({ code: 'EEXIST', syscall: 'mkfifo' });
      expect(() => UnixServer.listen(sockPath)).toThrow(expect.objectContaining({ code: 'EADDRINUSE', syscall: 'bind' }) as Error);
      // The live channel belongs to this very process: still EEXIST, never replaced as if stale.
      await expect(openShmSender(ringName, { create: true, capacity: 4096 })).rejects.toMatchObject({
        code: 'EEXIST',
        syscall: 'shm_open',
      });
      await expect(openShmReceiver(ringName, { create: true, capacity: 4096 })).rejects.toMatchObject({
        code: 'EEXIST',
        syscall: 'shm_open',
      });

      // Nothing was replaced: the same objects answer.
      using again = SharedMemory.open(shmName);
      expect(new Uint8Array(again.buffer)[0]).toBe(42);
      expect(sem.value).toBe(3);
      expect(lstatSync(fifoPath).isFIFO()).toBe(true);
      expect(lstatSync(sockPath).isSocket()).toBe(true);
      const tx = await openShmSender(ringName);
      await tx.send(new Uint8Array([9]));
      expect(await ringRx.receive()).toEqual(new Uint8Array([9]));
      await tx.close();
    } finally {
      ringRx.close();
      server.close();
      rmSync(fifoPath, { force: true });
      sem.close();
      shm.unlink();
      shm.close();
    }
  });

  it('UnixServer.listen never removes what is not a stale socket: a regular file or a symlink at the path is EADDRINUSE', () => {
    const file = tempPath('notsock');
    writeFileSync(file, 'precious');
    const link = tempPath('linksock');
    symlinkSync(file, link);
    try {
      expect(() => UnixServer.listen(file)).toThrow(expect.objectContaining({ code: 'EADDRINUSE', syscall: 'bind' }) as Error);
      expect(() => UnixServer.listen(link)).toThrow(expect.objectContaining({ code: 'EADDRINUSE', syscall: 'bind' }) as Error);
      expect(readFileSync(file, 'utf8')).toBe('precious');
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
    } finally {
      rmSync(file, { force: true });
      rmSync(link, { force: true });
    }
  });
});

describe('FIFO paths that are symlinks', () => {
  it('opening one is refused with ELOOP by every FIFO call; creating one where a symlink stands is EEXIST', async () => {
    const fifo = tempPath('real');
    mkfifo(fifo);
    const link = tempPath('link');
    symlinkSync(fifo, link);
    const dangling = tempPath('dangling');
    const target = tempPath('target');
    symlinkSync(target, dangling);
    try {
      await expect(openFifo(link, 'r')).rejects.toMatchObject({ code: 'ELOOP', syscall: 'open', path: link });
      await expect(openFifo(link, 'w', { timeoutMs: 0 })).rejects.toMatchObject({ code: 'ELOOP', syscall: 'open' });
      expect(() => openFifoSync(link, 'r', { timeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'ELOOP', syscall: 'open' }) as Error);
      await expect(openFifoReceiver(link)).rejects.toMatchObject({ code: 'ELOOP', syscall: 'open' });
      await expect(openFifoSender(link, { timeoutMs: 0 })).rejects.toMatchObject({ code: 'ELOOP', syscall: 'open' });
      // mkfifo does not follow a symlink: nothing is made at its target.
      expect(() => mkfifo(dangling)).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'mkfifo' }) as Error);
      await expect(openFifoReceiver(dangling, { create: true })).rejects.toMatchObject({ code: 'EEXIST', syscall: 'mkfifo' });
      expect(existsSync(target)).toBe(false);
      // The real FIFO still works through its own path.
      const r = await openFifo(fifo, 'r');
      closeSync(r);
      expect(statSync(fifo).isFIFO()).toBe(true);
    } finally {
      rmSync(fifo, { force: true });
      rmSync(link, { force: true });
      rmSync(dangling, { force: true });
    }
  });
});

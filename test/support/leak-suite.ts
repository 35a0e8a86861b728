// Create/close cycles of every primitive and channel, including cycles that
// fail half-way, each followed by a check that descriptors, /dev/shm mappings
// and names are back to where they were. Shared by the default suite
// (hardening-leaks.test.ts, few cycles) and the heavy one (heavy/leaks.test.ts).
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';

import {
  closeSync,
  connectUnix,
  duplexFromFd,
  mkfifo,
  openFifo,
  openFifoReceiver,
  openFifoSender,
  openShmReceiver,
  openShmSender,
  pipe,
  pipeChannel,
  Semaphore,
  SharedMemory,
  socketPair,
  spawn,
  UnixServer,
  UnnamedSemaphore,
  type Duplex,
} from '../../lib/index.js';
import { openPair, TRANSPORTS } from './channel-transports.js';
import { tempPath, uniqueName } from './helpers.js';

/** Every name made here carries this tag, so only this file's objects are counted. */
const TAG = `lk${randomBytes(3).toString('hex')}`;
const name = (what: string): string => uniqueName(`${TAG}${what}`);
const path = (what: string): string => tempPath(`${TAG}${what}`);
/** An option every channel refuses (validated before anything is opened). */
const BAD_CODEC = { codec: 42 as never };

export interface Snapshot {
  /** `fd -> target` for every entry of /proc/self/fd. */
  fds: string[];
  /** /proc/self/maps lines of /dev/shm objects (segments and named semaphores). */
  maps: number;
  /** /dev/shm and tmpdir entries carrying this file's tag. */
  names: string[];
}

/** This process's open descriptors and what each names, sorted. */
export function fdList(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      out.push(`${fd} -> ${readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      // the directory's own descriptor, closed by now
    }
  }
  return out.sort();
}

function tagged(): string[] {
  return [
    ...readdirSync('/dev/shm')
      .filter((n) => n.includes(TAG))
      .map((n) => `/dev/shm/${n}`),
    ...readdirSync(tmpdir())
      .filter((n) => n.includes(TAG))
      .map((n) => `${tmpdir()}/${n}`),
  ].sort();
}

export function snapshot(): Snapshot {
  const maps = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes('/dev/shm/')).length;
  return { fds: fdList(), maps, names: tagged() };
}

function differences(
  base: Snapshot,
  now: Snapshot,
): { gainedFds: string[]; lostFds: string[]; maps: number; gainedNames: string[]; lostNames: string[] } {
  return {
    gainedFds: now.fds.filter((f) => !base.fds.includes(f)),
    lostFds: base.fds.filter((f) => !now.fds.includes(f)),
    maps: now.maps - base.maps,
    gainedNames: now.names.filter((f) => !base.names.includes(f)),
    lostNames: base.names.filter((f) => !now.names.includes(f)),
  };
}

const CLEAN = { gainedFds: [], lostFds: [], maps: 0, gainedNames: [], lostNames: [] };

/**
 * Waits (up to 3 s) for what is released asynchronously — a wait thread
 * letting go of a semaphore, a detached buffer's finalizer unmapping it, a
 * pidfd closed after the reap — then expects exactly the baseline.
 */
export async function expectBaseline(base: Snapshot): Promise<void> {
  const deadline = performance.now() + 3000;
  let diff = differences(base, snapshot());
  while (JSON.stringify(diff) !== JSON.stringify(CLEAN) && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    diff = differences(base, snapshot());
  }
  expect(diff).toEqual(CLEAN);
}

/** Runs `cycle` once to warm up lazily created state, takes the baseline, runs it `n` times, checks. */
async function cycles(n: number, cycle: (i: number) => Promise<void> | void): Promise<void> {
  await cycle(-1);
  // Let the warm-up's asynchronous releases (buffer finalizers) happen first.
  await new Promise((r) => setTimeout(r, 50));
  const base = snapshot();
  for (let i = 0; i < n; i++) await cycle(i);
  await expectBaseline(base);
}

/** Expects `op` to fail (throw or reject) with `code` and, if given, `syscall`. */
async function expectCode(op: Promise<unknown> | (() => unknown), code: string, syscall?: string): Promise<void> {
  const promise = typeof op === 'function' ? Promise.resolve().then(op) : op;
  await expect(promise).rejects.toMatchObject(syscall === undefined ? { code } : { code, syscall });
}

/** Expects `op` to fail with a validation error of class `type` (naming the option). */
async function expectInvalid(op: Promise<unknown> | (() => unknown), type: typeof TypeError | typeof RangeError): Promise<void> {
  const promise = typeof op === 'function' ? Promise.resolve().then(op) : op;
  await expect(promise).rejects.toThrow(type);
}

/** Sends one message and checks it arrives intact. */
async function roundTrip(
  tx: { send(m: Uint8Array): Promise<void> },
  rx: { receive(): Promise<Uint8Array | undefined> },
  i: number,
): Promise<void> {
  const msg = randomBytes(1 + (Math.abs(i) % 300));
  await tx.send(msg);
  expect(Buffer.from((await rx.receive())!).equals(msg)).toBe(true);
}

async function closeDuplex(d: Duplex<Uint8Array>): Promise<void> {
  await d.close().catch(() => undefined);
}

/**
 * Defines the cycle tests with `n` cycles each, `spawns` for the failing
 * spawns (each forks a process: the slow one).
 */
export function defineLeakCycles(n: number, spawns = n): void {
  afterAll(() => {
    // Removed either way, so that a failing test does not leave names to the next run.
    const left = tagged();
    for (const p of left) rmSync(p, { force: true });
    expect(left).toEqual([]);
  });

  describe(`${n} create/close cycles return descriptors, mappings and names to their baseline`, () => {
    it('pipe, and a pipe channel', async () => {
      await cycles(n, async (i) => {
        const [r, w] = pipe();
        closeSync(r);
        closeSync(w);
        const { sender, receiver } = pipeChannel();
        await roundTrip(sender, receiver, i);
        await sender.close();
        receiver.close();
      });
    });

    it('FIFO: made, both ends opened and closed, unlinked', async () => {
      await cycles(n, async () => {
        const p = path('fifo');
        mkfifo(p);
        const r = await openFifo(p, 'r');
        const w = await openFifo(p, 'w');
        closeSync(w);
        closeSync(r);
        unlinkSync(p);
      });
    });

    it('UNIX socket server and connection, both ways', async () => {
      await cycles(n, async (i) => {
        const p = path('sock');
        const server = UnixServer.listen(p);
        const accepted = server.accept();
        const client = await connectUnix(p);
        const conn = await accepted;
        await roundTrip(client.sender, conn.receiver, i);
        await roundTrip(conn.sender, client.receiver, i);
        server.close();
        await closeDuplex(client);
        await closeDuplex(conn);
      });
    });

    it('socket pair, raw and as duplex channels', async () => {
      await cycles(n, async (i) => {
        const [a, b] = socketPair();
        closeSync(a);
        closeSync(b);
        const [c, d] = socketPair();
        const left = duplexFromFd(c);
        const right = duplexFromFd(d);
        await roundTrip(left.sender, right.receiver, i);
        await roundTrip(right.sender, left.receiver, i);
        await closeDuplex(left);
        await closeDuplex(right);
      });
    });

    it('SharedMemory: created, opened by a second handle, both closed, unlinked', async () => {
      await cycles(n, () => {
        const nm = name('shm');
        const shm = SharedMemory.open(nm, { create: 'exclusive', size: 8192 });
        new Int32Array(shm.buffer)[0] = 7;
        const other = SharedMemory.open(nm);
        expect(new Int32Array(other.buffer)[0]).toBe(7);
        other.close();
        shm.unlink();
        shm.close();
      });
    });

    it('named Semaphore, with an async wait pending at close every 20th cycle', async () => {
      await cycles(n, async (i) => {
        const sem = Semaphore.open(name('sem'), { create: 'exclusive', initialValue: 1, unlinkOnClose: true });
        expect(sem.tryWait()).toBe(true);
        sem.post();
        expect(await sem.wait({ timeoutMs: 1000 })).toBe(true);
        const pending = i % 20 === 0 ? sem.wait() : undefined;
        sem.close();
        if (pending) await expectCode(pending, 'ERR_POSIX_IPC_CLOSED');
      });
    });

    it('UnnamedSemaphore in a segment, with async waits pending every 20th cycle', async () => {
      await cycles(n, async (i) => {
        const shm = SharedMemory.open(name('usem'), { create: 'exclusive', size: 4096 });
        shm.unlink();
        const sem = UnnamedSemaphore.init(shm, 0, 1);
        expect(await sem.wait({ timeoutMs: 1000 })).toBe(true);
        const woken = i % 20 === 0 ? sem.wait() : undefined;
        sem.post();
        if (woken) expect(await woken).toBe(true);
        const cancelled = i % 20 === 0 ? sem.wait() : undefined;
        shm.close(); // rejects the wait; its thread lets go of the mapping within a slice
        if (cancelled) await expectCode(cancelled, 'ERR_POSIX_IPC_CLOSED');
      });
    });

    it.each(TRANSPORTS)('channel over %s: opened, a message carried, closed', async (transport) => {
      await cycles(n, async (i) => {
        const pair = await openPair(transport);
        await roundTrip(pair.sender, pair.receiver, i);
        await pair.cleanup();
      });
    });
  });

  describe(`${n} cycles that fail half-way leave nothing behind`, () => {
    it('an exclusive create of a name that exists: EEXIST (EADDRINUSE for a live socket)', async () => {
      const shmName = name('xshm');
      const semName = name('xsem');
      const fifoPath = path('xfifo');
      const sockPath = path('xsock');
      const chanName = name('xchan');
      const shm = SharedMemory.open(shmName, { create: 'exclusive', size: 4096 });
      const sem = Semaphore.open(semName, { create: 'exclusive', unlinkOnClose: true });
      mkfifo(fifoPath);
      const server = UnixServer.listen(sockPath);
      const chan = await openShmReceiver(chanName, { create: true, capacity: 4096 });
      try {
        await cycles(n, async () => {
          await expectCode(() => SharedMemory.open(shmName, { create: 'exclusive', size: 4096 }), 'EEXIST', 'shm_open');
          await expectCode(() => Semaphore.open(semName, { create: 'exclusive' }), 'EEXIST', 'sem_open');
          await expectCode(() => mkfifo(fifoPath), 'EEXIST', 'mkfifo');
          await expectCode(openFifoReceiver(fifoPath, { create: true }), 'EEXIST', 'mkfifo');
          await expectCode(openFifoSender(fifoPath, { create: true, timeoutMs: 0 }), 'EEXIST', 'mkfifo');
          await expectCode(() => UnixServer.listen(sockPath), 'EADDRINUSE', 'bind');
          await expectCode(openShmSender(chanName, { create: true, capacity: 4096 }), 'EEXIST', 'shm_open');
        });
        // The objects that exist were not touched by the failed creates.
        for (const p of [fifoPath, sockPath, `/dev/shm${chanName}`, `/dev/shm${shmName}`, `/dev/shm/sem.${semName.slice(1)}`]) {
          expect(existsSync(p)).toBe(true);
        }
      } finally {
        chan.close();
        SharedMemory.unlink(chanName); // no peer came: the creator would remove it only at exit
        server.close();
        unlinkSync(fifoPath);
        sem.close();
        shm.unlink();
        shm.close();
      }
    });

    it('an open of a name that does not exist: ENOENT, or ETIMEDOUT for a channel that waits for it', async () => {
      await cycles(n, async () => {
        await expectCode(() => SharedMemory.open(name('none')), 'ENOENT', 'shm_open');
        await expectCode(() => Semaphore.open(name('none')), 'ENOENT', 'sem_open');
        await expectCode(openFifo(path('none'), 'r'), 'ENOENT', 'open');
        await expectCode(openFifoReceiver(path('none')), 'ENOENT', 'open');
        await expectCode(connectUnix(path('none')), 'ENOENT', 'connect');
        await expectCode(openShmSender(name('none'), { timeoutMs: 0 }), 'ETIMEDOUT', 'shm_open');
      });
    });

    it('a channel whose open times out or is aborted removes what it made', async () => {
      const sockPath = path('full');
      const server = UnixServer.listen(sockPath, { backlog: 1 });
      // Linux queues backlog + 1 connections; later ones find the backlog full.
      const queued = await Promise.all([connectUnix(sockPath), connectUnix(sockPath)]);
      try {
        await cycles(n, async () => {
          await expectCode(openFifoSender(path('late'), { create: true, timeoutMs: 1 }), 'ETIMEDOUT', 'open');
          await expectCode(openFifoSender(path('late'), { create: true, signal: AbortSignal.abort() }), 'ABORT_ERR');
          await expectCode(openShmReceiver(name('late'), { timeoutMs: 1 }), 'ETIMEDOUT', 'shm_open');
          await expectCode(connectUnix(sockPath, { timeoutMs: 1 }), 'ETIMEDOUT', 'connect');
          await expectCode(connectUnix(sockPath, { signal: AbortSignal.abort() }), 'ABORT_ERR');
        });
      } finally {
        for (const d of queued) await closeDuplex(d);
        server.close();
      }
    });

    it('bad options after (or before) a resource would be acquired: nothing is left open', async () => {
      const fifoPath = path('opts');
      const sockPath = path('opts');
      const server = UnixServer.listen(sockPath);
      try {
        await cycles(n, async () => {
          await expectInvalid(() => pipeChannel(BAD_CODEC), TypeError);
          await expectInvalid(openFifoReceiver(fifoPath, { ...BAD_CODEC, create: true }), TypeError);
          await expectInvalid(openFifoSender(fifoPath, { ...BAD_CODEC, create: true, timeoutMs: 0 }), TypeError);
          await expectInvalid(connectUnix(sockPath, BAD_CODEC), TypeError);
          await expectInvalid(() => UnixServer.listen(path('opts'), BAD_CODEC), TypeError);
          await expectInvalid(openShmReceiver(name('opts'), { ...BAD_CODEC, create: true }), TypeError);
          await expectInvalid(() => SharedMemory.open(name('opts'), { create: 'exclusive', size: -1 }), RangeError);
          await expectInvalid(() => Semaphore.open(name('opts'), { create: 'exclusive', initialValue: -1 }), RangeError);
          // A descriptor handed to a channel constructor that throws stays the caller's, untouched.
          const [a, b] = socketPair();
          await expectInvalid(() => duplexFromFd(a, BAD_CODEC), TypeError);
          closeSync(a);
          closeSync(b);
        });
        expect(existsSync(fifoPath)).toBe(false);
      } finally {
        server.close();
      }
    });

    it(`a spawn that fails (missing program, bad working directory) leaves no descriptor or child (${spawns} cycles)`, async () => {
      await cycles(spawns, async () => {
        await expectCode(() => spawn('/nonexistent/program', [], { fds: {} }), 'ENOENT', 'execve');
        await expectCode(() => spawn('/bin/true', [], { fds: {}, cwd: path('nowhere') }), 'ENOENT', 'chdir');
      });
    });
  });
}

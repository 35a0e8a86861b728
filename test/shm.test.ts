import { constants as bufferConstants } from 'node:buffer';
import { spawn } from 'node:child_process';
import { existsSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';

import { futexWake, futexWaitSync, isSystemError, SharedMemory } from '../lib/index.js';
import { startFixture, runChild } from './fixtures/shm-run.js';
import { uniqueName, within } from './support/helpers.js';

const names: string[] = [];
function shmName(tag: string): string {
  const name = uniqueName(tag);
  names.push(name);
  return name;
}
const devShm = (name: string): string => `/dev/shm/${name.slice(1)}`;

afterEach(() => {
  for (const name of names.splice(0)) {
    try {
      SharedMemory.unlink(name);
    } catch {
      // already unlinked by the test
    }
  }
});

function expectSystemError(fn: () => unknown, code: string, syscall: string, path?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(Error);
  expect(caught).toMatchObject({ code, syscall, ...(path === undefined ? {} : { path }) });
  expect((caught as { errno: number }).errno).toBeLessThan(0);
}

describe('SharedMemory.open creation modes', () => {
  it("'exclusive' creates a zero-filled segment of the given size, then refuses with EEXIST", () => {
    const name = shmName('excl');
    using shm = SharedMemory.open(name, { create: 'exclusive', size: 10_000 });
    expect(shm.created).toBe(true);
    expect(shm.name).toBe(name);
    expect(shm.size).toBe(10_000);
    expect(shm.buffer).toBeInstanceOf(ArrayBuffer);
    expect(shm.buffer.byteLength).toBe(10_000);
    expect(new Uint8Array(shm.buffer).every((b) => b === 0)).toBe(true);
    expect(statSync(devShm(name)).size).toBe(10_000);
    expectSystemError(() => SharedMemory.open(name, { create: 'exclusive', size: 10 }), 'EEXIST', 'shm_open', name);
  });

  it("'open' (the default) maps an existing segment with its own size, and is ENOENT when absent", () => {
    const name = shmName('open');
    expectSystemError(() => SharedMemory.open(name), 'ENOENT', 'shm_open', name);
    expectSystemError(() => SharedMemory.open(name, { create: 'open' }), 'ENOENT', 'shm_open', name);
    using a = SharedMemory.open(name, { create: 'exclusive', size: 8192 });
    using b = SharedMemory.open(name);
    expect(b.created).toBe(false);
    expect(b.size).toBe(8192);
    // Two mappings of the same pages.
    new Uint32Array(a.buffer)[100] = 0xdeadbeef;
    expect(new Uint32Array(b.buffer)[100]).toBe(0xdeadbeef);
  });

  it("'open-or-create' creates once, then opens, keeping the existing size", () => {
    const name = shmName('ooc');
    using first = SharedMemory.open(name, { create: 'open-or-create', size: 4096 });
    using second = SharedMemory.open(name, { create: 'open-or-create', size: 100_000 });
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.size).toBe(4096);
  });

  it('validates options: size required when creating, refused when only opening', () => {
    const name = shmName('opts');
    expect(() => SharedMemory.open(name, { create: 'exclusive' })).toThrow(TypeError);
    expect(() => SharedMemory.open(name, { create: 'open-or-create', size: 0 })).toThrow(RangeError);
    expect(() => SharedMemory.open(name, { create: 'exclusive', size: 1.5 })).toThrow(RangeError);
    expect(() => SharedMemory.open(name, { create: 'exclusive', size: 10, mode: 0o10000 })).toThrow(RangeError);
    expect(() => SharedMemory.open(name, { size: 10 })).toThrow(TypeError);
    expect(() => SharedMemory.open(name, { mode: 0o600 })).toThrow(TypeError);
    expect(() => SharedMemory.open(name, { create: 'yes' as never, size: 10 })).toThrow(TypeError);
    expect(existsSync(devShm(name))).toBe(false);
  });

  it('applies the mode exactly with fchmod, whatever the umask', () => {
    const old = process.umask(0);
    try {
      const a = shmName('mode');
      SharedMemory.open(a, { create: 'exclusive', size: 16 }).close();
      expect(statSync(devShm(a)).mode & 0o7777).toBe(0o600);
      process.umask(0o077);
      const b = shmName('mode');
      SharedMemory.open(b, { create: 'open-or-create', size: 16, mode: 0o644 }).close();
      expect(statSync(devShm(b)).mode & 0o7777).toBe(0o644);
    } finally {
      process.umask(old);
    }
  });
});

describe('a segment its creator has not sized yet', () => {
  /** Opens `name`, as a caller's own retry policy would: EAGAIN means "again in 5 ms", on the event loop. */
  async function openWhenSized(name: string): Promise<SharedMemory> {
    for (;;) {
      try {
        return SharedMemory.open(name);
      } catch (err) {
        if (!isSystemError(err, 'EAGAIN')) throw err;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  it('is refused at once with EAGAIN (syscall mmap) while another process sizes it; a retry then opens it', async () => {
    const name = shmName('empty');
    // What a creator looks like between shm_open and ftruncate.
    writeFileSync(devShm(name), '', { mode: 0o600 });
    const sizer = spawn(process.execPath, [
      '-e',
      `setTimeout(() => require('fs').truncateSync(${JSON.stringify(devShm(name))}, 8192), 300)`,
    ]);
    const exited = new Promise((resolve) => sizer.on('close', resolve));
    const t = performance.now();
    expectSystemError(() => SharedMemory.open(name), 'EAGAIN', 'mmap', name);
    expect(performance.now() - t).toBeLessThan(200); // no 2-s wait any more
    using shm = await within(5_000, 'the segment to be sized', openWhenSized(name));
    expect(performance.now() - t).toBeGreaterThan(100); // it was the sizer's 300 ms
    expect(shm.size).toBe(8192);
    expect(shm.created).toBe(false);
    await within(5_000, 'sizer exit', exited);
  });

  it("'open-or-create' finding one is refused at once with EAGAIN too, never sleeping, and leaves it as it was", () => {
    const name = shmName('empty');
    writeFileSync(devShm(name), '', { mode: 0o600 });
    const t = performance.now();
    expectSystemError(() => SharedMemory.open(name, { create: 'open-or-create', size: 64 }), 'EAGAIN', 'mmap', name);
    expect(performance.now() - t).toBeLessThan(200); // it used to block the thread for 2 s
    expect(() => SharedMemory.open(name)).toThrow(/size 0 \(its creator has not sized it yet; try again shortly\)/);
    expect(statSync(devShm(name)).size).toBe(0); // neither sized nor removed: the creator's business
  });
});

describe('names', () => {
  it('must be "/" then at least one byte and no other "/"', () => {
    for (const bad of ['noslash', '/', '/a/b', '//a', '']) {
      expect(() => SharedMemory.open(bad, { create: 'exclusive', size: 1 }), bad).toThrow(RangeError);
      expect(() => SharedMemory.unlink(bad), bad).toThrow(RangeError);
    }
    expect(() => SharedMemory.open(42 as never)).toThrow(TypeError);
    expect(() => SharedMemory.open('/a\0b')).toThrow(TypeError);
  });

  it('may have 255 bytes after the "/" on Linux (NAME_MAX), and no more (RangeError naming the limit)', () => {
    const base = shmName('long');
    const name = base + 'x'.repeat(256 - base.length);
    names.push(name);
    SharedMemory.open(name, { create: 'exclusive', size: 1 }).close();
    SharedMemory.unlink(name);
    const tooLong = name + 'x';
    expect(() => SharedMemory.open(tooLong, { create: 'exclusive', size: 1 })).toThrow(RangeError);
    expect(() => SharedMemory.open(tooLong, { create: 'exclusive', size: 1 })).toThrow(/255 bytes/);
    // Multi-byte characters count in bytes.
    expect(() => SharedMemory.open('/' + 'é'.repeat(128))).toThrow(RangeError);
  });

  it('SharedMemory.unlink removes the name, and is ENOENT when there is none', () => {
    const name = shmName('unlink');
    SharedMemory.open(name, { create: 'exclusive', size: 1 }).close();
    SharedMemory.unlink(name);
    expect(existsSync(devShm(name))).toBe(false);
    expectSystemError(() => SharedMemory.unlink(name), 'ENOENT', 'shm_unlink', name);
  });

  it('unlink() on an open segment removes the name while the mapping stays usable', () => {
    const name = shmName('unlink2');
    using shm = SharedMemory.open(name, { create: 'exclusive', size: 64 });
    shm.unlink();
    expect(existsSync(devShm(name))).toBe(false);
    new Uint8Array(shm.buffer)[0] = 9;
    expect(new Uint8Array(shm.buffer)[0]).toBe(9);
    expectSystemError(() => shm.unlink(), 'ENOENT', 'shm_unlink', name);
  });
});

describe('sizes the system cannot hold', () => {
  it('fails at creation with ENOSPC, leaving nothing in /dev/shm', () => {
    const fs = statfsSync('/dev/shm');
    const free = fs.bavail * fs.bsize;
    const impossible = free + 64 * 1024 * 1024;
    for (const create of ['exclusive', 'open-or-create'] as const) {
      const name = shmName('nospc');
      expectSystemError(() => SharedMemory.open(name, { create, size: impossible }), 'ENOSPC', 'posix_fallocate', name);
      expect(existsSync(devShm(name))).toBe(false);
    }
  });

  it('refuses a size above the largest ArrayBuffer with RangeError (or ENOSPC first), leaving nothing', () => {
    const name = shmName('huge');
    const size = bufferConstants.MAX_LENGTH + 4096;
    const fs = statfsSync('/dev/shm');
    const fits = size <= fs.bavail * fs.bsize;
    let caught: unknown;
    try {
      SharedMemory.open(name, { create: 'exclusive', size });
    } catch (err) {
      caught = err;
    }
    if (fits) expect(caught).toBeInstanceOf(RangeError);
    else expect(caught).toMatchObject({ code: 'ENOSPC' });
    expect(existsSync(devShm(name))).toBe(false);
  });
});

describe('sharing between processes', () => {
  it('data written in one process is read in another, both ways', async () => {
    const name = shmName('data');
    using shm = SharedMemory.open(name, { create: 'exclusive', size: 4096 });
    Buffer.from(shm.buffer).write('hello from the parent', 0, 'utf8');
    const seen = await within(10_000, 'reader child', runChild('read', name, 0, 21));
    expect(seen).toEqual({ text: 'hello from the parent', size: 4096, created: false });
    await within(10_000, 'writer child', runChild('write', name, 1000, 'and back from the child'));
    expect(Buffer.from(shm.buffer, 1000, 23).toString()).toBe('and back from the child');
  });

  it('N processes incrementing one counter with Atomics.add give the exact sum', async () => {
    const name = shmName('atomics');
    using shm = SharedMemory.open(name, { create: 'exclusive', size: 4096 });
    const words = new Int32Array(shm.buffer);
    const COUNTER = 0;
    const READY = 64;
    const GO = 128;
    const N = 3;
    const ITERATIONS = 300_000;
    const children = Array.from({ length: N }, () =>
      startFixture('./shm-child.ts', ['atomic-add', name, COUNTER, ITERATIONS, READY, GO].map(String)),
    );
    // Start them together so that their increments really overlap.
    while (Atomics.load(words, READY / 4) < N) futexWaitSync(shm, READY, Atomics.load(words, READY / 4), 100);
    Atomics.store(words, GO / 4, 1);
    futexWake(shm, GO);
    const results = await within(30_000, 'atomic-add children', Promise.all(children.map((c) => c.done)));
    for (const r of results) expect(r, r.stderr).toMatchObject({ code: 0, signal: null });
    expect(Atomics.load(words, COUNTER / 4)).toBe(N * ITERATIONS);
  });
});

describe('resize', () => {
  it('grows: the old buffer is detached, data is kept, new bytes are zero, the file has the new size', () => {
    const name = shmName('grow');
    using shm = SharedMemory.open(name, { create: 'exclusive', size: 4096 });
    const old = shm.buffer;
    const oldView = new Uint8Array(old);
    oldView.fill(0xab);
    const grown = shm.resize(3 * 4096 + 10);
    expect(old.byteLength).toBe(0);
    expect(oldView.length).toBe(0);
    expect(grown).toBe(shm.buffer);
    expect(shm.size).toBe(3 * 4096 + 10);
    expect(statSync(devShm(name)).size).toBe(3 * 4096 + 10);
    const bytes = new Uint8Array(grown);
    expect(bytes.subarray(0, 4096).every((b) => b === 0xab)).toBe(true);
    expect(bytes.subarray(4096).every((b) => b === 0)).toBe(true);
  });

  it('shrinks: data kept up to the new size; a later opener sees the new size', async () => {
    const name = shmName('shrink');
    using shm = SharedMemory.open(name, { create: 'exclusive', size: 8192 });
    Buffer.from(shm.buffer).write('kept', 0);
    Buffer.from(shm.buffer).write('gone', 5000);
    const old = shm.buffer;
    shm.resize(100);
    expect(old.byteLength).toBe(0);
    expect(shm.size).toBe(100);
    expect(Buffer.from(shm.buffer, 0, 4).toString()).toBe('kept');
    expect(statSync(devShm(name)).size).toBe(100);
    const seen = await within(10_000, 'reader child', runChild('read', name, 0, 4));
    expect(seen).toMatchObject({ text: 'kept', size: 100 });
    // Growing back: the bytes past the old end come back as zeros.
    shm.resize(8192);
    expect(new Uint8Array(shm.buffer, 5000, 4).every((b) => b === 0)).toBe(true);
  });

  it('validates its argument, and ENOSPC leaves the segment as it was', () => {
    const name = shmName('resize');
    using shm = SharedMemory.open(name, { create: 'exclusive', size: 4096 });
    const buffer = shm.buffer;
    expect(() => shm.resize(0)).toThrow(RangeError);
    expect(() => shm.resize(-1)).toThrow(RangeError);
    expect(() => shm.resize('1' as never)).toThrow(TypeError);
    const fs = statfsSync('/dev/shm');
    expectSystemError(() => shm.resize(fs.bavail * fs.bsize + 64 * 1024 * 1024), 'ENOSPC', 'posix_fallocate');
    expect(shm.buffer).toBe(buffer);
    expect(buffer.byteLength).toBe(4096);
    expect(statSync(devShm(name)).size).toBe(4096);
  });
});

describe('close', () => {
  it('is idempotent, and every other use afterwards throws ERR_POSIX_IPC_CLOSED', () => {
    const name = shmName('close');
    const shm = SharedMemory.open(name, { create: 'exclusive', size: 4096 });
    const buffer = shm.buffer;
    expect(shm.closed).toBe(false);
    shm.close();
    shm.close();
    shm[Symbol.dispose]();
    expect(shm.closed).toBe(true);
    expect(buffer.byteLength).toBe(0);
    for (const use of [() => shm.buffer, () => shm.size, () => shm.resize(8192), () => shm.unlink(), () => futexWake(shm, 0)]) {
      expect(use).toThrow(expect.objectContaining({ code: 'ERR_POSIX_IPC_CLOSED' }));
    }
    // close() does not unlink.
    expect(existsSync(devShm(name))).toBe(true);
    expect(shm.name).toBe(name);
    expect(shm.created).toBe(true);
  });

  it('using-declarations close at the end of the scope', () => {
    const name = shmName('using');
    let buffer: ArrayBuffer;
    {
      using shm = SharedMemory.open(name, { create: 'exclusive', size: 64 });
      buffer = shm.buffer;
      expect(buffer.byteLength).toBe(64);
    }
    expect(buffer.byteLength).toBe(0);
  });

  it('cannot be constructed directly', () => {
    expect(() => new (SharedMemory as unknown as new () => unknown)()).toThrow(TypeError);
  });
});

describe('stale views never crash (each scenario in a child process)', () => {
  async function runStale(scenario: string): Promise<Record<string, unknown>> {
    const name = shmName('stale');
    const r = await within(15_000, `stale-view ${scenario}`, startFixture('./shm-stale-view.ts', [scenario, name], ['--expose-gc']).done);
    // A SIGSEGV or SIGBUS would show here as a signal or a non-zero code.
    expect(r.signal, r.stderr).toBeNull();
    expect(r.code, r.stderr).toBe(0);
    return r.json!;
  }

  const detached = {
    byteLength: 0,
    i32Length: 0,
    u8Length: 0,
    bigLength: 0,
    read: true,
    atomicsLoad: 'TypeError',
    atomicsAdd: 'TypeError',
    atomicsBig: 'TypeError',
    dataView: 'TypeError',
    newView: 'TypeError',
    slice: 'TypeError',
    bufferFrom: expect.stringMatching(/^(TypeError|RangeError)$/), // Node checks the offset first
  };

  it('after close(): views read as empty and Atomics/DataView throw TypeError, before and after GC', async () => {
    const seen = await runStale('after-close');
    expect(seen).toEqual({ first: detached, second: detached, closedCall: 'ClosedError' });
  });

  it('after resize(): the old views behave the same, the new buffer holds the data', async () => {
    const seen = await runStale('after-resize');
    expect(seen).toEqual({ first: detached, second: detached, kept: 7 });
  });

  it('a SharedMemory lost without close(): the GC backstop closes its descriptor, never unlinks, and the buffer stays valid', async () => {
    const seen = await runStale('gc-backstop');
    expect(seen).toEqual({ fdsBefore: 1, fdsAfter: 0, stillNamed: true, value: 42, byteLength: 65536 });
  });
});

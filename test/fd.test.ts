import { spawn as cpSpawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, symlinkSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';

import {
  AbortError,
  closeSync,
  getFdFlags,
  getPipeCapacity,
  mkfifo,
  openFifo,
  openFifoSync,
  pipe,
  readSync,
  setCloexec,
  setNonBlocking,
  setPipeCapacity,
  streamFromFd,
  writeSync,
} from '../lib/index.js';
import { removePath, tempPath, within } from './support/helpers.js';

const paths: string[] = [];
function fifoPath(tag: string): string {
  const p = tempPath(tag);
  paths.push(p);
  return p;
}
afterEach(() => {
  for (const p of paths.splice(0)) removePath(p);
});

function expected(count: number): string {
  // Same generator as fixtures/fifo-writer.mjs.
  const buf = Buffer.alloc(count);
  let seed = 1;
  for (let i = 0; i < count; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    buf[i] = seed >>> 24;
  }
  return createHash('sha256').update(buf).digest('hex');
}

describe('pipe', () => {
  it('carries bytes within one process, like the classic C example', () => {
    const [r, w] = pipe();
    try {
      const msg = Buffer.from('Message in a pipe.\n\0');
      expect(writeSync(w, msg)).toBe(msg.length);
      const buf = Buffer.alloc(100);
      const n = readSync(r, buf);
      expect(n).toBe(msg.length);
      expect(buf.subarray(0, n!).toString()).toBe('Message in a pipe.\n\0');
    } finally {
      closeSync(r);
      closeSync(w);
    }
  });

  it('is close-on-exec by default, and blocking unless asked', () => {
    const [r, w] = pipe();
    expect(getFdFlags(r)).toEqual({ nonBlocking: false, cloexec: true });
    expect(getFdFlags(w)).toEqual({ nonBlocking: false, cloexec: true });
    closeSync(r);
    closeSync(w);
    const [r2, w2] = pipe({ cloexec: false, nonBlocking: { read: true } });
    expect(getFdFlags(r2)).toEqual({ nonBlocking: true, cloexec: false });
    expect(getFdFlags(w2)).toEqual({ nonBlocking: false, cloexec: false });
    setNonBlocking(w2, true);
    setCloexec(w2, true);
    expect(getFdFlags(w2)).toEqual({ nonBlocking: true, cloexec: true });
    closeSync(r2);
    closeSync(w2);
  });

  it('returns null instead of blocking on an empty or full non-blocking pipe', () => {
    const [r, w] = pipe({ nonBlocking: true });
    try {
      expect(readSync(r, Buffer.alloc(16))).toBeNull();
      const cap = getPipeCapacity(w);
      const big = Buffer.alloc(cap);
      expect(writeSync(w, big)).toBe(cap);
      expect(writeSync(w, Buffer.alloc(1))).toBeNull();
    } finally {
      closeSync(r);
      closeSync(w);
    }
  });

  it('reports end of file once the write end is closed', () => {
    const [r, w] = pipe();
    writeSync(w, Buffer.from('x'));
    closeSync(w);
    const buf = Buffer.alloc(4);
    expect(readSync(r, buf)).toBe(1);
    expect(readSync(r, buf)).toBe(0);
    closeSync(r);
  });

  it('throws EPIPE when writing with no reader, and the process survives', () => {
    const [r, w] = pipe();
    closeSync(r);
    expect(() => writeSync(w, Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'EPIPE', syscall: 'write', errno: -32 }));
    closeSync(w);
  });

  it('gets and sets the capacity (Linux)', () => {
    const [r, w] = pipe();
    try {
      expect(getPipeCapacity(r)).toBe(65536);
      expect(setPipeCapacity(w, 100_000)).toBe(131072);
      expect(getPipeCapacity(r)).toBe(131072);
    } finally {
      closeSync(r);
      closeSync(w);
    }
  });

  it('honours offset and length, and validates them', () => {
    const [r, w] = pipe();
    try {
      expect(writeSync(w, Buffer.from('abcdef'), 2, 3)).toBe(3);
      const buf = Buffer.alloc(8, '.');
      expect(readSync(r, buf, 4)).toBe(3);
      expect(buf.toString()).toBe('....cde.');
      expect(() => readSync(r, buf, 9)).toThrow(RangeError);
      expect(() => readSync(r, buf, 2, 7)).toThrow(RangeError);
      expect(() => writeSync(w, 'text' as unknown as Uint8Array)).toThrow(TypeError);
    } finally {
      closeSync(r);
      closeSync(w);
    }
  });

  it('names bad arguments and maps errno on bad descriptors', () => {
    expect(() => pipe({ cloexec: 'yes' as unknown as boolean })).toThrow(/options\.cloexec/);
    expect(() => readSync(-1, Buffer.alloc(1))).toThrow(RangeError);
    expect(() => closeSync(1.5)).toThrow(/"fd"/);
    expect(() => closeSync(987654)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'close' }));
    expect(() => getPipeCapacity(987654)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'fcntl' }));
  });
});

describe('mkfifo and FIFOs', () => {
  it('creates a FIFO with exactly mode 0600 whatever the umask', () => {
    const path = fifoPath('mode');
    const old = process.umask(0);
    try {
      mkfifo(path);
    } finally {
      process.umask(old);
    }
    const st = lstatSync(path);
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o7777).toBe(0o600);
    const other = fifoPath('mode2');
    const old2 = process.umask(0o077);
    try {
      mkfifo(other, 0o640);
    } finally {
      process.umask(old2);
    }
    expect(lstatSync(other).mode & 0o7777).toBe(0o640);
  });

  it('throws EEXIST and ENOENT with the path', () => {
    const path = fifoPath('exists');
    mkfifo(path);
    expect(() => mkfifo(path)).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'mkfifo', path }));
    expect(() => mkfifo('/nonexistent-dir/x')).toThrow(expect.objectContaining({ code: 'ENOENT', path: '/nonexistent-dir/x' }));
    expect(() => mkfifo(path, 0o10000)).toThrow(RangeError);
  });

  it('a writer with no reader times out with ETIMEDOUT instead of blocking', async () => {
    const path = fifoPath('noreader');
    mkfifo(path);
    const started = performance.now();
    await expect(openFifo(path, 'w', { timeoutMs: 100 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'open', path });
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    expect(() => openFifoSync(path, 'w', { timeoutMs: 30 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
  });

  it('a waiting writer can be aborted, and the event loop keeps running meanwhile', async () => {
    const path = fifoPath('abort');
    mkfifo(path);
    const ac = new AbortController();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const pending = openFifo(path, 'w', { signal: ac.signal });
    setTimeout(() => ac.abort(), 60);
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(3);
  });

  it('refuses a symlink (ELOOP) and a path that is not a FIFO (EFTYPE)', async () => {
    const fifo = fifoPath('target');
    mkfifo(fifo);
    const link = fifoPath('link');
    symlinkSync(fifo, link);
    await expect(openFifo(link, 'r')).rejects.toMatchObject({ code: 'ELOOP', syscall: 'open', path: link });
    const file = fifoPath('file');
    writeFileSync(file, 'x');
    await expect(openFifo(file, 'r')).rejects.toMatchObject({ code: 'EFTYPE', path: file });
    await expect(openFifo(fifoPath('missing'), 'r')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(openFifo(fifo, 'x' as 'r')).rejects.toThrow(TypeError);
  });

  it('a reader and writer in one process pair up (writer waits for the reader)', async () => {
    const path = fifoPath('pair');
    mkfifo(path);
    const writer = openFifo(path, 'w', { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 20));
    const rfd = await openFifo(path, 'r');
    const wfd = await writer;
    setNonBlocking(wfd, false);
    writeSync(wfd, Buffer.from('Hello, Named Pipe!'));
    closeSync(wfd);
    const buf = Buffer.alloc(100);
    expect(buf.subarray(0, readSync(rfd, buf)!).toString()).toBe('Hello, Named Pipe!');
    closeSync(rfd);
  });

  it('carries 1 MiB from an unrelated process, read on the event loop', async () => {
    const path = fifoPath('xproc');
    mkfifo(path);
    const size = 1 << 20;
    // The reader opens first and waits on the event loop for a writer.
    const fd = await openFifo(path, 'r');
    const stream = streamFromFd(fd, 'r');
    const child = cpSpawn(process.execPath, [new URL('./fixtures/fifo-writer.mjs', import.meta.url).pathname, path, String(size)], {
      stdio: 'inherit',
    });
    const hash = createHash('sha256');
    let total = 0;
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => {
        total += chunk.length;
        hash.update(chunk);
      });
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    await within(10_000, 'FIFO transfer', done);
    stream.destroy();
    const [code] = await new Promise<[number | null]>((r) => child.on('exit', (c) => r([c])));
    expect(code).toBe(0);
    expect(total).toBe(size);
    expect(hash.digest('hex')).toBe(expected(size));
  });

  it('openFifoSync reader blocks until the writer connects, then reads like C', async () => {
    const path = fifoPath('syncread');
    mkfifo(path);
    const child = cpSpawn(process.execPath, [new URL('./fixtures/fifo-writer.mjs', import.meta.url).pathname, path, '10000'], {
      stdio: 'inherit',
    });
    const fd = openFifoSync(path, 'r');
    expect(getFdFlags(fd).nonBlocking).toBe(false);
    const buf = Buffer.alloc(20_000);
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, total);
      if (n === 0) break;
      total += n!;
    }
    closeSync(fd);
    await new Promise((r) => child.on('exit', r));
    expect(total).toBe(10_000);
    expect(createHash('sha256').update(buf.subarray(0, total)).digest('hex')).toBe(expected(10_000));
  });
});

describe('streamFromFd', () => {
  it('refuses regular files', () => {
    const file = fifoPath('regular');
    writeFileSync(file, 'x');
    const fd = openFifoSyncSafe(file);
    try {
      expect(() => streamFromFd(fd, 'r')).toThrow(TypeError);
    } finally {
      closeSync(fd);
    }
  });
});

import { openSync } from 'node:fs';
function openFifoSyncSafe(path: string): number {
  return openSync(path, 'r');
}

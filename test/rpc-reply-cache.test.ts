// The at-most-once reply cache's retention rule (lib/coord/rpc/reply-cache.ts):
// the client's ack drops entries and raises the floor, the byte bound drops
// replies but remembers them, the entry bound raises the floor, idle clients
// are forgotten, and the persisted file survives (a torn last record too).
// The cache is a data structure: these run it directly; rpc-semantics.test.ts
// runs it between processes.
import { appendFileSync, existsSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { ReplyCache } from '../lib/index.js';
import { Deadlines, type Timed } from '../lib/coord/rpc/deadlines.js';
import { removePath, tempPath } from './support/helpers.js';

const ID = 'ab'.repeat(16);
const frame = (n: number, size = 8): Buffer => Buffer.alloc(size, n);

describe('ReplyCache', () => {
  it('runs a new call, waits on a running one, replays a finished one, refuses at or below the ack floor', async () => {
    const cache = new ReplyCache();
    try {
      expect(cache.begin(ID, 1, 0).kind).toBe('run');
      const waiting = cache.begin(ID, 1, 0);
      expect(waiting.kind).toBe('wait');
      cache.finish(ID, 1, frame(1));
      expect(await (waiting as { done: Promise<Buffer> }).done).toEqual(frame(1));
      expect(cache.begin(ID, 1, 0)).toEqual({ kind: 'replay', frame: frame(1) });
      expect(cache.begin(ID, 2, 1).kind).toBe('run'); // acks 1: dropped
      expect(cache.stats(ID)).toMatchObject({ entries: 1, floor: 1, running: 1 });
      expect(cache.begin(ID, 1, 1).kind).toBe('duplicate');
    } finally {
      await cache.close();
    }
  });

  it('bounds bytes (oldest replies dropped, their retries refused) and entries (the floor rises), and forgets idle clients', async () => {
    const cache = new ReplyCache({ maxBytes: 100, maxEntries: 10, idleMs: 1000 });
    try {
      for (let s = 1; s <= 5; s++) {
        cache.begin(ID, s, 0);
        cache.finish(ID, s, frame(s, 40));
      }
      const st = cache.stats(ID)!;
      expect(st.bytes).toBeLessThanOrEqual(100);
      expect(cache.begin(ID, 1, 0).kind).toBe('duplicate'); // dropped by the byte bound: remembered, refused
      expect(cache.begin(ID, 5, 0).kind).toBe('replay');
      for (let s = 6; s <= 30; s++) {
        cache.begin(ID, s, 0);
        cache.finish(ID, s, frame(s, 1));
      }
      expect(cache.stats(ID)!.entries).toBeLessThanOrEqual(10);
      expect(cache.stats(ID)!.floor).toBeGreaterThanOrEqual(20);
      expect(cache.begin(ID, 3, 0).kind).toBe('duplicate');
      cache.begin(ID, 31, 0); // running: never forgotten while it runs
      cache.sweep(performance.now() + 2000);
      expect(cache.stats(ID)).toBeDefined();
      cache.finish(ID, 31, frame(31));
      cache.sweep(performance.now() + 2000);
      expect(cache.stats(ID)).toBeUndefined();
    } finally {
      await cache.close();
    }
  });

  it('at maxClients evicts only the least recently seen client idle past idleMs; with none idle a new client is refused', async () => {
    const cache = new ReplyCache({ maxClients: 3, idleMs: 60_000 });
    const id = (n: number): string => n.toString(16).padStart(32, '0');
    try {
      for (let n = 1; n <= 3; n++) {
        cache.begin(id(n), 1, 0);
        cache.finish(id(n), 1, frame(n));
      }
      // None idle for 60 s yet: fresh ids are refused, the oldest client (whose reply may have been lost) stays.
      for (let n = 4; n < 20; n++) expect(cache.begin(id(n), 1, 0).kind).toBe('full');
      expect(cache.begin(id(1), 1, 0)).toEqual({ kind: 'replay', frame: frame(1) });
      expect(cache.stats(id(4))).toBeUndefined();
    } finally {
      await cache.close();
    }
    const idle = new ReplyCache({ maxClients: 3, idleMs: 50 });
    try {
      for (let n = 1; n <= 3; n++) {
        idle.begin(id(n), 1, 0);
        idle.finish(id(n), 1, frame(n));
      }
      await new Promise((r) => setTimeout(r, 100));
      idle.begin(id(1), 2, 1); // client 1 seen again: client 2 is now the least recently seen
      idle.finish(id(1), 2, frame(1));
      expect(idle.begin(id(4), 1, 0).kind).toBe('run');
      expect(idle.stats(id(2))).toBeUndefined();
      expect(idle.stats(id(1))).toBeDefined();
      expect(idle.stats(id(3))).toBeDefined();
    } finally {
      await idle.close();
    }
  });

  it('persists: a new cache on the same file replays finished calls and refuses those that had begun; a torn record is ignored', async () => {
    const path = tempPath('rpc-cache-file');
    try {
      const a = new ReplyCache({ persistPath: path });
      await a.load(path);
      a.begin(ID, 1, 0);
      await a.durable();
      a.finish(ID, 1, frame(1));
      a.begin(ID, 2, 0);
      await a.durable();
      await a.close();
      expect(statSync(path).mode & 0o777).toBe(0o600);
      appendFileSync(path, Buffer.from([2, 1, 2, 3])); // a crash mid-append
      const b = new ReplyCache();
      await b.load(path);
      expect(b.begin(ID, 1, 0)).toEqual({ kind: 'replay', frame: frame(1) });
      expect(b.begin(ID, 2, 0).kind).toBe('duplicate');
      expect(b.begin(ID, 3, 0).kind).toBe('run');
      await b.close();
    } finally {
      removePath(path);
    }
  });

  it('one server per file: a second cache on the same persistPath fails EBUSY while the first holds its lock', async () => {
    const path = tempPath('rpc-cache-lock');
    try {
      const a = new ReplyCache();
      await a.load(path);
      const b = new ReplyCache();
      await expect(b.load(path)).rejects.toMatchObject({ code: 'EBUSY', syscall: 'flock' });
      await b.close();
      await a.close();
      expect(existsSync(`${path}.lock`)).toBe(false);
      const c = new ReplyCache();
      await c.load(path); // free again
      await c.close();
    } finally {
      removePath(path);
      removePath(`${path}.lock`);
    }
  });
});

describe('Deadlines', () => {
  it('fires items in deadline order with one timer; removed items never fire', async () => {
    const d = new Deadlines();
    const fired: number[] = [];
    const now = performance.now();
    const items: Timed[] = [50, 10, 30, 20, 40].map((ms) => ({ deadlineAt: now + ms, heapIndex: -1, expire: () => fired.push(ms) }));
    for (const i of items) d.add(i);
    d.remove(items[2]!); // 30
    expect(d.size).toBe(4);
    await new Promise((r) => setTimeout(r, 200));
    expect(fired).toEqual([10, 20, 40, 50]);
    expect(d.size).toBe(0);
  });
});

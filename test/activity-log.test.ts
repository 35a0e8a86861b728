// The activity log (lib/coord/activity-log.ts): real files in a temporary
// directory, real fdatasync, real processes for the lock and for kill -9.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { ActivityLog, TxError } from '../lib/index.js';
import { sleep, within } from './support/helpers.js';
import { startFixture } from './support/fixture-process.js';
import { fdList } from './support/leak-suite.js';

const HEADER = Buffer.from('PIPCLOG1');
/** prlimit(1) (util-linux) lowers a running fixture's file-size limit: how the latch test makes write(2) fail for real. */
const hasPrlimit = spawnSync('prlimit', ['--version']).status === 0;
const rec = (s: string): Buffer => Buffer.from(s);
const strings = (records: readonly Buffer[]): string[] => records.map((r) => r.toString());

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pipc-txlog-'));
  path = join(dir, 'site.log');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A log holding `records`, closed. */
async function makeLog(records: string[]): Promise<void> {
  const { log } = await ActivityLog.open(path);
  for (const r of records) await log.append(rec(r));
  await log.close();
}

async function reopen(): Promise<{ records: string[]; truncatedBytes: number }> {
  const { log, records, truncatedBytes } = await ActivityLog.open(path);
  await log.close();
  return { records: strings(records), truncatedBytes };
}

describe('ActivityLog', () => {
  it('round trip: records come back in order, in the documented format, mode 0600', async () => {
    const big = Buffer.alloc(100_000, 0x5a);
    const opened = await ActivityLog.open(path);
    expect(opened.records).toEqual([]);
    expect(opened.truncatedBytes).toBe(0);
    const { log } = opened;
    expect(readFileSync(path)).toEqual(HEADER); // the header is written at creation
    await log.append(rec('a'));
    await log.append(big);
    await log.append(rec('third record'));
    expect(log.size).toBe(statSync(path).size);
    expect(log.syncedSize).toBe(log.size);
    await log.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const again = await ActivityLog.open(path);
    expect(again.records).toEqual([rec('a'), big, rec('third record')]);
    await again.log.close();
    // Byte layout of the first record: magic, u32 LE length, u32 LE crc32(length bytes + payload), payload.
    const bytes = readFileSync(path);
    expect(bytes.subarray(0, 8)).toEqual(HEADER);
    expect(bytes[8]).toBe(0xa5);
    expect(bytes.readUInt32LE(9)).toBe(1);
    expect(bytes.readUInt32LE(13)).toBe(crc32(Buffer.from([1, 0, 0, 0, 0x61])));
    expect(bytes[17]).toBe(0x61);
    expect(bytes.length).toBe(8 + 3 * 9 + 1 + big.length + 12);
  });

  it('group commit: 50 appends started together share a few fdatasyncs, all resolve, all read back in order', async () => {
    const { log } = await ActivityLog.open(path);
    const all = Array.from({ length: 50 }, (_, i) => log.append(rec(`r${i}`)));
    await Promise.all(all);
    expect(log.syncs).toBeLessThanOrEqual(5);
    expect(log.syncs).toBeGreaterThanOrEqual(1);
    await log.close();
    expect((await reopen()).records).toEqual(Array.from({ length: 50 }, (_, i) => `r${i}`));
  });

  it('lazy appends are written with the next forced append, or after lazyMs, or at close', async () => {
    const { log } = await ActivityLog.open(path, { lazyMs: 10 });
    log.appendLazy(rec('lazy1'));
    await log.append(rec('forced'));
    expect(log.syncs).toBe(1); // one batch for both
    log.appendLazy(rec('lazy2'));
    for (let n = 0; n < 500 && log.syncs < 2; n++) await sleep(10);
    expect(log.syncs).toBe(2);
    expect(log.syncedSize).toBe(statSync(path).size);
    log.appendLazy(rec('lazy3'));
    await log.close();
    expect((await reopen()).records).toEqual(['lazy1', 'forced', 'lazy2', 'lazy3']);
  });

  it('deferred appends ride with the next forced append, or are flushed alone within their delay; a checkpoint or close takes them', async () => {
    const { log } = await ActivityLog.open(path);
    const before = log.syncs;
    let done = false;
    const deferred = log.appendDeferred(rec('deferred1'), 60_000).then(() => (done = true));
    await sleep(50);
    expect(done).toBe(false); // no batch of its own
    expect(log.syncs).toBe(before);
    await log.append(rec('forced'));
    await deferred; // it rode with the forced append's batch
    expect(log.syncs).toBe(before + 1);
    const t = performance.now();
    await log.appendDeferred(rec('deferred2'), 30); // nothing else comes: flushed alone after its delay
    expect(performance.now() - t).toBeGreaterThanOrEqual(25);
    expect(log.syncs).toBe(before + 2);
    const superseded = log.appendDeferred(rec('gone'), 60_000);
    await log.checkpoint([rec('ckpt')]); // its state is in the checkpoint's records
    await superseded;
    const last = log.appendDeferred(rec('deferred3'), 60_000);
    await log.close(); // close writes it
    await last;
    expect((await reopen()).records).toEqual(['ckpt', 'deferred3']);
    await expect(log.appendDeferred(rec('x'), 1)).rejects.toMatchObject({ code: 'ERR_TX_CLOSED' });
  });

  describe('a torn tail is cut at open and appends continue after it', () => {
    const cases: Array<[string, (size: number) => void, string[]]> = [
      ['cut in the header of the last record', (size) => truncateSync(path, size - 5 - 4), ['one', 'two']],
      ['cut in the payload of the last record', (size) => truncateSync(path, size - 2), ['one', 'two']],
      [
        'a flipped payload byte in the last record',
        (size) => {
          const b = readFileSync(path);
          b[size - 1]! ^= 0x01;
          writeFileSync(path, b);
        },
        ['one', 'two'],
      ],
      ['a zero-filled 4 KiB tail (power loss)', () => appendFileSync(path, Buffer.alloc(4096)), ['one', 'two', 'three']],
      ['the last record header only (length past EOF)', (size) => truncateSync(path, size - 4), ['one', 'two']],
    ];
    for (const [name, damage, kept] of cases) {
      it(name, async () => {
        await makeLog(['one', 'two', 'three']);
        const size = statSync(path).size;
        damage(size);
        const damaged = statSync(path).size;
        const end = 8 + 9 * kept.length + kept.join('').length;
        const { log, records, truncatedBytes } = await ActivityLog.open(path);
        expect(strings(records)).toEqual(kept);
        expect(truncatedBytes).toBe(damaged - end);
        expect(truncatedBytes).toBeGreaterThan(0);
        expect(statSync(path).size).toBe(end);
        expect(log.size).toBe(end);
        await log.append(rec('after'));
        await log.close();
        expect(await reopen()).toEqual({ records: [...kept, 'after'], truncatedBytes: 0 });
      });
    }
  });

  it('a corrupt record followed by valid ones: ERR_TX_LOG_CORRUPT naming the path and offset, file untouched', async () => {
    await makeLog(['one', 'two', 'three']);
    const b = readFileSync(path);
    b[8 + 9 + 3 + 9]! ^= 0xff; // the first payload byte of 'two'
    writeFileSync(path, b);
    const err = await ActivityLog.open(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TxError);
    expect(err).toMatchObject({ name: 'TxError', code: 'ERR_TX_LOG_CORRUPT' });
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).toContain(`offset ${8 + 9 + 3}`);
    expect(readFileSync(path)).toEqual(b);
    expect(existsSync(`${path}.lock`)).toBe(false); // the lock was released
  });

  it('a file with a wrong header is ERR_TX_LOG_CORRUPT and never truncated', async () => {
    for (const content of [Buffer.from('NOTALOG!and some data'), Buffer.from('NOTALOG!'), Buffer.from('PIPX')]) {
      writeFileSync(path, content);
      await expect(ActivityLog.open(path)).rejects.toMatchObject({ code: 'ERR_TX_LOG_CORRUPT' });
      expect(readFileSync(path)).toEqual(content);
    }
  });

  it('a file shorter than the header holding a prefix of it (a crash during creation) is re-initialized', async () => {
    for (const content of [Buffer.alloc(0), Buffer.from('PIPC'), Buffer.from('PIPCLOG')]) {
      writeFileSync(path, content);
      const { log, records, truncatedBytes } = await ActivityLog.open(path);
      expect(records).toEqual([]);
      expect(truncatedBytes).toBe(0);
      expect(readFileSync(path)).toEqual(HEADER);
      await log.append(rec('x'));
      await log.close();
      expect((await reopen()).records).toEqual(['x']);
    }
  });

  it('checkpoint: appends issued during it go to the new file after its records, in order', async () => {
    const { log } = await ActivityLog.open(path);
    for (const r of ['a', 'b', 'c', 'd']) await log.append(rec(r));
    const inode = statSync(path).ino;
    const done = log.checkpoint([rec('snap1'), rec('snap2')]);
    const during = [log.append(rec('e')), log.append(rec('f'))];
    log.appendLazy(rec('g'));
    during.push(log.append(rec('h')));
    await Promise.all([done, ...during]);
    expect(statSync(path).ino).not.toBe(inode); // a new file renamed over the old one
    expect(readdirSync(dir).sort()).toEqual(['site.log', 'site.log.lock']); // no temporary left
    expect(log.size).toBe(statSync(path).size);
    // Appends queued before the call are in the caller's state, hence in the checkpoint: superseded, and resolved.
    const before = log.append(rec('superseded'));
    const second = log.checkpoint([rec('snap3')]);
    const after = log.append(rec('i'));
    await Promise.all([before, second, after]);
    await log.close();
    expect((await reopen()).records).toEqual(['snap3', 'i']);
    const { log: log2 } = await ActivityLog.open(path);
    await Promise.all([log2.checkpoint([]), log2.append(rec('j'))]);
    await log2.close();
    expect((await reopen()).records).toEqual(['j']);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('a second opener in another process gets EBUSY while the first holds the log, and succeeds once it is kill -9ed', async () => {
    await makeLog(['one']);
    const holder = startFixture('activity-log-peer.ts', ['hold', path]);
    try {
      await holder.waitFor('open 1');
      await expect(ActivityLog.open(path)).rejects.toMatchObject({ code: 'EBUSY', syscall: 'flock', path: `${path}.lock` });
    } finally {
      await holder.stop();
    }
    expect((await reopen()).records).toEqual(['one']);
  });

  it('kill -9 of a process appending in a loop: every resolved append is present, the rest present or cut cleanly', async () => {
    const child = startFixture('activity-log-peer.ts', ['append', path, '200']);
    let out: string;
    try {
      await child.waitFor(/ok (\d{3,})\n/, 30_000);
    } finally {
      await child.stop();
      out = child.output();
    }
    const acked = [...out.matchAll(/^ok (\d+)$/gm)].map((m) => Number(m[1]));
    const { log, records } = await ActivityLog.open(path);
    await log.close();
    expect(records.length).toBeGreaterThan(Math.max(...acked));
    records.forEach((r, i) => {
      expect(r.length).toBe(200);
      expect(r.readUInt32LE(0)).toBe(i);
      expect(r[199]).toBe(i & 0xff);
    });
  });

  it('onSynced reports durable sizes; truncating to the last one gives exactly the records appended before it', async () => {
    const reported: number[] = [];
    const { log } = await ActivityLog.open(path, { onSynced: (n) => reported.push(n) });
    expect(reported).toEqual([8]);
    for (const r of ['a', 'b', 'c']) await log.append(rec(r));
    expect(reported).toEqual([8, 18, 28, 38]);
    const last = reported.at(-1)!;
    expect(log.syncedSize).toBe(last);
    const unsynced = [log.append(rec('d')), log.append(rec('e'))]; // written after the size we keep
    await Promise.all(unsynced);
    await log.close();
    expect(statSync(path).size).toBeGreaterThan(last);
    truncateSync(path, last); // lose what was not known durable at that point
    expect(await reopen()).toEqual({ records: ['a', 'b', 'c'], truncatedBytes: 0 });
  });

  it.skipIf(!hasPrlimit)(
    'a write failure latches: that append and every later append/sync/checkpoint reject with the same system error',
    async () => {
      const child = startFixture('activity-log-peer.ts', ['latch', path], { stdin: true });
      let out: string;
      try {
        await child.waitFor('open 0');
        execFileSync('prlimit', ['--pid', String(child.child.pid), '--fsize=65536:']);
        child.write('go\n');
        await child.waitFor(/\{.*\}\n/, 30_000);
      } finally {
        await child.stop();
        out = child.output();
      }
      const report = JSON.parse(/\{.*\}/.exec(out)![0]) as Record<string, unknown>;
      expect(report).toMatchObject({
        code: 'EFBIG',
        errno: -27,
        syscall: 'write',
        path,
        sameAppend: true,
        sameSync: true,
        sameCheckpoint: true,
        lazyQuiet: true,
        closed: 'resolved',
      });
      const { records } = await ActivityLog.open(path).then(async (r) => (await r.log.close(), r));
      expect(records.length).toBeGreaterThan(100); // what fitted under the limit, a torn tail cut
      expect(records.length).toBeLessThan(report.appended as number);
    },
  );

  it('after close: ERR_TX_CLOSED, close is idempotent, the log and lock descriptors are closed', async () => {
    const before = fdList();
    const { log } = await ActivityLog.open(path);
    expect(fdList().length).toBe(before.length + 2);
    log.appendLazy(rec('queued'));
    const c1 = log.close();
    await expect(log.append(rec('x'))).rejects.toMatchObject({ name: 'TxError', code: 'ERR_TX_CLOSED' });
    await Promise.all([c1, log.close()]);
    await log.close();
    await expect(log.sync()).rejects.toMatchObject({ code: 'ERR_TX_CLOSED' });
    await expect(log.checkpoint([])).rejects.toMatchObject({ code: 'ERR_TX_CLOSED' });
    expect(() => log.appendLazy(rec('y'))).toThrow(expect.objectContaining({ code: 'ERR_TX_CLOSED' }));
    expect(fdList()).toEqual(before);
    expect(existsSync(`${path}.lock`)).toBe(false);
    expect((await reopen()).records).toEqual(['queued']);
    // A refused open leaks nothing either.
    writeFileSync(path, 'NOTALOG!');
    await expect(ActivityLog.open(path)).rejects.toMatchObject({ code: 'ERR_TX_LOG_CORRUPT' });
    expect(fdList()).toEqual(before);
  });

  it('bad arguments: TypeError / RangeError naming them; a symbolic link is refused (O_NOFOLLOW)', async () => {
    await expect(ActivityLog.open(42 as never)).rejects.toThrow(TypeError);
    await expect(ActivityLog.open('')).rejects.toThrow(TypeError);
    await expect(ActivityLog.open(path, 'x' as never)).rejects.toThrow(TypeError);
    await expect(ActivityLog.open(path, { maxRecordBytes: '1' as never })).rejects.toThrow(/maxRecordBytes/);
    await expect(ActivityLog.open(path, { maxRecordBytes: 0 })).rejects.toThrow(RangeError);
    await expect(ActivityLog.open(path, { onSynced: 1 as never })).rejects.toThrow(TypeError);
    await expect(ActivityLog.open(path, { lazyMs: -1 })).rejects.toThrow(RangeError);
    expect(existsSync(path)).toBe(false);
    const { log } = await ActivityLog.open(path, { maxRecordBytes: 10 });
    await expect(log.append(new Uint8Array(0))).rejects.toThrow(RangeError);
    await expect(log.append(new Uint8Array(11))).rejects.toThrow(/"record".*<= 10/);
    await expect(log.append('text' as never)).rejects.toThrow(TypeError);
    expect(() => log.appendLazy(new Uint8Array(0))).toThrow(RangeError);
    await expect(log.checkpoint([new Uint8Array(11)])).rejects.toThrow(RangeError);
    await expect(log.checkpoint(5 as never)).rejects.toThrow(TypeError);
    await log.append(new Uint8Array(10)); // the bound itself is fine
    await log.close();
    const link = join(dir, 'link.log');
    symlinkSync(path, link);
    await expect(ActivityLog.open(link)).rejects.toMatchObject({ code: 'ELOOP' });
    await within(5000, 'open', reopen());
  });
});

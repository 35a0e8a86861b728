/**
 * The physical floor of a commit: one writer appending 128 B records and
 * syncing each, in the directory the sites' logs are in (the same disk).
 * Through {@link ActivityLog} (a forced `append`: writev + fdatasync on the
 * thread pool, the crc32 framing) and raw (`fs.writeSync` + `fs.fdatasyncSync`
 * in a loop, O_APPEND: the syscalls alone).
 * @module
 */
import { closeSync, fdatasyncSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';

import { ActivityLog } from '../../lib/index.js';

/** One repetition: the start and end of the loop (monotonic ns) and each append's latency (ns). */
export interface Rep {
  start: bigint;
  end: bigint;
  samples: number[];
}

const RECORD = Buffer.alloc(128, 0x5a);

/** `n` forced appends of 128 B to a new ActivityLog in `dir`, one after the other. */
export async function activityLogRep(dir: string, n: number, tag: string): Promise<Rep> {
  const path = join(dir, `floor-${tag}.log`);
  const { log } = await ActivityLog.open(path);
  const samples = new Array<number>(n);
  try {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      await log.append(RECORD);
      samples[i] = Number(process.hrtime.bigint() - t0);
    }
    const end = process.hrtime.bigint();
    if (log.syncs !== n) throw new Error(`ActivityLog: ${log.syncs} fdatasyncs for ${n} appends`);
    return { start, end, samples };
  } finally {
    await log.close();
    rmSync(path, { force: true });
    rmSync(`${path}.lock`, { force: true });
  }
}

/** `n` times `writeSync` of 128 B + `fdatasyncSync` on a new O_APPEND file in `dir` (blocking: this process does nothing else meanwhile). */
export function rawRep(dir: string, n: number, tag: string): Rep {
  const path = join(dir, `floor-${tag}.raw`);
  const fd = openSync(path, 'a', 0o600);
  const samples = new Array<number>(n);
  try {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      if (writeSync(fd, RECORD) !== RECORD.length) throw new Error('short write');
      fdatasyncSync(fd);
      samples[i] = Number(process.hrtime.bigint() - t0);
    }
    return { start, end: process.hrtime.bigint(), samples };
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
}

const FS_TYPES: Record<number, string> = {
  0xef53: 'ext2/3/4',
  0x01021994: 'tmpfs',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x794c7630: 'overlayfs',
};

/** The file system type of `dir` (a tmpfs makes every figure here meaningless: fdatasync is free there). */
export function fsType(dir: string): string {
  const t = statfsSync(dir).type;
  return FS_TYPES[t] ?? `0x${t.toString(16)}`;
}

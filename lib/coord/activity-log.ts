/**
 * The activity log of a transaction site: a durable append-only file of
 * checksummed records (format in docs/transactions.md, "Activity log"),
 * with group commit (concurrent appends share one `writev` and one
 * `fdatasync`), lazy appends, recovery that cuts a torn tail but refuses a
 * corrupt middle, and atomic checkpoints (write a new file, rename it over).
 * @module
 */
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';

import { isSystemError, systemError, TxError } from '../errors.js';
import { lockHeldFile, releaseHeld } from '../internal/held-file.js';
import { validateBytes, validateFunction, validateInteger, validateOptions, validateString } from '../internal/validators.js';
import { TIMER_MAX_MS } from '../internal/waiting.js';

/** Options of {@link ActivityLog.open}. */
export interface ActivityLogOptions {
  /** Largest record payload accepted by append and read back (default 16 MiB); a longer length read from the file is a bad record. */
  maxRecordBytes?: number;
  /** Called after each fdatasync with the file size now known durable (tests use it to simulate losing un-synced writes). */
  onSynced?: (syncedSize: number) => void;
  /** A lazy append is written at the latest this many milliseconds after it was queued (default 20). */
  lazyMs?: number;
}

/** What {@link ActivityLog.open} found in the file. */
export interface RecoveredLog {
  /** The valid records, in order. */
  readonly records: readonly Buffer[];
  /** bytes of torn/corrupt tail cut off at open */
  readonly truncatedBytes: number;
}

/** The file's first 8 bytes. */
const HEADER = Buffer.from('PIPCLOG1', 'latin1');
/** Bytes before each record's payload: magic (1), length (u32 LE), crc32 of length bytes + payload (u32 LE). */
const OVERHEAD = 9;
const MAGIC = 0xa5;
const DEFAULT_MAX_RECORD = 16 * 1024 * 1024;
const NOFOLLOW = constants.O_NOFOLLOW;

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A durable append-only log of records, one per site, held by one process at a time. */
export class ActivityLog {
  readonly #path: string;
  readonly #lockPath: string;
  readonly #maxRecord: number;
  readonly #onSynced: ((size: number) => void) | undefined;
  readonly #lazyMs: number;
  #file: FileHandle;
  #lockFd: number;
  #size: number;
  #synced: number;
  #syncs = 0;
  #pending: Buffer[] = [];
  #waiting: Waiter[] = [];
  #checkpoint: { data: Buffer[]; waiting: Waiter[] } | undefined;
  #failed: unknown;
  #flushing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Deferred forced records: they ride with the next batch, or are flushed when #deferTimer fires. */
  #deferred: Buffer[] = [];
  #deferredWaiting: Waiter[] = [];
  #deferTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  private constructor(
    path: string,
    file: FileHandle,
    lockFd: number,
    size: number,
    o: { maxRecordBytes: number; lazyMs: number; onSynced: ((size: number) => void) | undefined },
  ) {
    this.#path = path;
    this.#lockPath = `${path}.lock`;
    this.#file = file;
    this.#lockFd = lockFd;
    this.#size = this.#synced = size;
    this.#maxRecord = o.maxRecordBytes;
    this.#onSynced = o.onSynced;
    this.#lazyMs = o.lazyMs;
  }

  /** Opens or creates the log at `path` (0600, O_NOFOLLOW), holding `<path>.lock` (EBUSY, syscall 'flock', when another live process holds it). Returns the log and the valid records in order. */
  static async open(path: string, options?: ActivityLogOptions): Promise<{ log: ActivityLog } & RecoveredLog> {
    validateString(path, 'path');
    if (path === '') throw new TypeError('The "path" argument must not be empty');
    const o = validateOptions(options);
    const maxRecordBytes =
      o.maxRecordBytes === undefined ? DEFAULT_MAX_RECORD : validateInteger(o.maxRecordBytes, 'options.maxRecordBytes', 1, 2 ** 31 - 1);
    const lazyMs = o.lazyMs === undefined ? 20 : validateInteger(o.lazyMs, 'options.lazyMs', 0, TIMER_MAX_MS);
    const onSynced = validateFunction<(size: number) => void>(o.onSynced, 'options.onSynced');
    const lockPath = `${path}.lock`;
    const lockFd = lockHeldFile(lockPath, 'activity log');
    let file: FileHandle | undefined;
    try {
      let created = false;
      try {
        file = await open(path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
        created = true;
      } catch (err) {
        if (!isSystemError(err, 'EEXIST')) throw err;
        file = await open(path, constants.O_RDWR | constants.O_APPEND | NOFOLLOW);
      }
      if (!created && !(await file.stat()).isFile()) throw corrupt(path, 0, 'is not a regular file');
      const data = created ? Buffer.alloc(0) : await file.readFile();
      let records: Buffer[] = [];
      let end = HEADER.length;
      if (data.length < HEADER.length) {
        // New, or a crash during creation: (re)write the header, make the name durable too.
        if (!HEADER.subarray(0, data.length).equals(data)) throw corrupt(path, 0, 'is not an activity log (bad header)');
        if (data.length > 0) await file.truncate(0);
        await file.write(HEADER);
        await file.datasync();
        await syncDir(path);
      } else {
        if (!data.subarray(0, HEADER.length).equals(HEADER)) throw corrupt(path, 0, 'is not an activity log (bad header)');
        ({ records, end } = scan(data, maxRecordBytes));
        if (end < data.length) {
          for (let at = end + 1; at < data.length; at++) {
            if (recordAt(data, at, maxRecordBytes) > 0)
              throw corrupt(path, end, `has a corrupt record followed by a valid one at offset ${at}`);
          }
          await file.truncate(end); // a torn tail: nothing valid after it
        }
        await file.datasync(); // what we recovered is durable before anyone acts on it
      }
      const log = new ActivityLog(path, file, lockFd, end, { maxRecordBytes, lazyMs, onSynced });
      onSynced?.(end);
      return { log, records, truncatedBytes: Math.max(0, data.length - end) };
    } catch (err) {
      await file?.close().catch(() => undefined);
      releaseHeld(lockFd, lockPath);
      throw err;
    }
  }

  /** Forced append: resolves once the record is on disk (fdatasync). Concurrent appends are grouped: one writev + one fdatasync per batch (group commit). */
  append(record: Uint8Array): Promise<void> {
    return this.#guard(() => {
      this.#pending.push(this.#encode(record, 'record'));
      return this.#wait();
    });
  }

  /** Lazy append: queued and written with the next batch (the next forced append, sync(), checkpoint or close, or at the latest after `lazyMs`, default 20 ms), never waited for by the caller. Errors latch and surface on the next append/sync. */
  appendLazy(record: Uint8Array): void {
    const rec = this.#encode(record, 'record');
    if (this.#closing !== undefined) throw closed(this.#path);
    if (this.#failed !== undefined) return; // latched: the next append/sync reports it
    this.#pending.push(rec);
    if (this.#flushing === undefined && this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#flushing ??= this.#flush();
      }, this.#lazyMs);
    }
  }

  /**
   * Deferred forced append: resolves once the record is on disk, as
   * {@link ActivityLog.append} does, but does not start a batch of its own:
   * the record rides with the next forced append's batch (group commit
   * across unrelated callers), or is flushed after `withinMs` at the latest.
   * For a record whose dependent message may wait a little (a participant's
   * commit record before its acknowledgement), so that it does not put an
   * `fdatasync` in front of the next transaction's.
   */
  appendDeferred(record: Uint8Array, withinMs: number): Promise<void> {
    return this.#guard(() => {
      validateInteger(withinMs, 'withinMs', 0, 60_000);
      this.#deferred.push(this.#encode(record, 'record'));
      const p = new Promise<void>((resolve, reject) => this.#deferredWaiting.push({ resolve, reject }));
      this.#deferTimer ??= setTimeout(() => {
        this.#deferTimer = undefined;
        this.#takeDeferred();
        if (this.#pending.length > 0) this.#flushing ??= this.#flush();
      }, withinMs);
      return p;
    });
  }

  /** Moves the deferred records into the next batch. */
  #takeDeferred(): void {
    if (this.#deferred.length === 0) return;
    // Ahead of the batch that takes them: they were queued before the forced append that did (a replay sees that order).
    this.#pending.unshift(...this.#deferred.splice(0));
    this.#waiting.push(...this.#deferredWaiting.splice(0));
    clearTimeout(this.#deferTimer);
    this.#deferTimer = undefined;
  }

  /** Forces everything queued so far. */
  sync(): Promise<void> {
    return this.#guard(() => (this.#busy() ? this.#wait() : Promise.resolve()));
  }

  /** Bytes in the file (written, synced or not) */
  get size(): number {
    return this.#size;
  }

  /** Bytes known durable. */
  get syncedSize(): number {
    return this.#synced;
  }

  /** Number of batches flushed (fdatasync calls), for group-commit tests and benchmarks. */
  get syncs(): number {
    return this.#syncs;
  }

  /**
   * Atomically replaces the log's content by `records` (a checkpoint/compaction): written to `<path>.<pid>.tmp`, fdatasync, rename over `path`, fsync of the directory; appends queued meanwhile go to the new file after them, in order. The caller computes `records` synchronously from its state at the call, so the state includes every earlier append.
   *
   * Records queued before the call and not yet being written are therefore
   * superseded (never written to the old file): their promises resolve when
   * the checkpoint is durable. Two checkpoints queued behind a write in
   * progress collapse into the later one.
   */
  checkpoint(records: Iterable<Uint8Array>): Promise<void> {
    return this.#guard(() => {
      if (records === null || typeof (records as Partial<Iterable<Uint8Array>>)?.[Symbol.iterator] !== 'function') {
        throw new TypeError('The "records" argument must be an iterable of Uint8Array');
      }
      const data: Buffer[] = [HEADER];
      for (const r of records) data.push(this.#encode(r, 'records[]'));
      this.#takeDeferred(); // superseded like the other queued records: the checkpoint includes their state
      const waiting = [...(this.#checkpoint?.waiting ?? []), ...this.#waiting];
      const p = new Promise<void>((resolve, reject) => waiting.push({ resolve, reject }));
      [this.#checkpoint, this.#pending, this.#waiting] = [{ data, waiting }, [], []];
      this.#flushing ??= this.#flush();
      return p;
    });
  }

  /** Writes and syncs what is queued, closes the file and releases the lock. Idempotent. Later appends reject ERR_TX_CLOSED; rejects only when what was queued at the call could not be written. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      let failure: unknown;
      this.#takeDeferred();
      if (this.#failed === undefined && this.#busy()) {
        await this.#wait().catch((err: unknown) => (failure = err));
      }
      await this.#flushing?.catch(() => undefined);
      clearTimeout(this.#timer);
      this.#timer = undefined;
      try {
        await this.#file.close();
      } finally {
        releaseHeld(this.#lockFd, this.#lockPath);
      }
      if (failure !== undefined) throw failure;
    })();
    return this.#closing;
  }

  /** Runs `op` on a usable log (arguments checked by it); a closed or failed log, or a bad argument, rejects. */
  #guard(op: () => Promise<void>): Promise<void> {
    try {
      if (this.#closing !== undefined) throw closed(this.#path);
      if (this.#failed !== undefined) throw this.#failed;
      return op();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #busy(): boolean {
    return this.#pending.length > 0 || this.#flushing !== undefined || this.#checkpoint !== undefined;
  }

  #encode(record: Uint8Array, name: string): Buffer {
    validateBytes(record, name);
    if (record.length === 0 || record.length > this.#maxRecord) {
      throw new RangeError(`The length of "${name}" is out of range. It must be >= 1 and <= ${this.#maxRecord}. Received ${record.length}`);
    }
    const rec = Buffer.allocUnsafe(OVERHEAD + record.length);
    rec[0] = MAGIC;
    rec.writeUInt32LE(record.length, 1);
    rec.set(record, OVERHEAD);
    rec.writeUInt32LE(crc32(rec.subarray(OVERHEAD), crc32(rec.subarray(1, 5))), 5);
    return rec;
  }

  #wait(): Promise<void> {
    const p = new Promise<void>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    this.#flushing ??= this.#flush();
    return p;
  }

  /** The group-commit loop: one batch at a time, each batch what was queued while the previous one was written. */
  async #flush(): Promise<void> {
    await null; // let the appends of this tick join the first batch
    clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      while (this.#checkpoint !== undefined || this.#pending.length > 0) {
        const ckpt = this.#checkpoint;
        if (ckpt === undefined) this.#takeDeferred(); // deferred records ride with this batch
        const batch = ckpt?.data ?? this.#pending;
        const waiting = ckpt?.waiting ?? this.#waiting;
        if (ckpt !== undefined) this.#checkpoint = undefined;
        else [this.#pending, this.#waiting] = [[], []];
        try {
          if (ckpt !== undefined) await this.#replace(batch);
          else {
            await writeAll(this.#file, batch);
            this.#size += byteLength(batch);
            await this.#file.datasync();
          }
        } catch (err) {
          if (isSystemError(err) && err.path === undefined) err.path = this.#path; // a FileHandle's errors name no path
          this.#failed = err;
          for (const w of [...waiting, ...(this.#checkpoint?.waiting ?? []), ...this.#waiting, ...this.#deferredWaiting]) w.reject(err);
          [this.#pending, this.#waiting, this.#checkpoint, this.#deferred, this.#deferredWaiting] = [[], [], undefined, [], []];
          clearTimeout(this.#deferTimer);
          this.#deferTimer = undefined;
          return;
        }
        this.#syncs++;
        this.#synced = this.#size;
        this.#onSynced?.(this.#synced);
        for (const w of waiting) w.resolve();
      }
      for (const w of this.#waiting.splice(0)) w.resolve();
    } finally {
      this.#flushing = undefined;
    }
  }

  /** A checkpoint: the new content in `<path>.<pid>.tmp`, synced, renamed over the log, the directory synced. */
  async #replace(data: Buffer[]): Promise<void> {
    const tmp = `${this.#path}.${process.pid}.tmp`;
    const out = await open(tmp, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_TRUNC | NOFOLLOW, 0o600);
    try {
      await writeAll(out, data);
      await out.datasync();
      await rename(tmp, this.#path);
    } catch (err) {
      await out.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    const old = this.#file;
    this.#file = out;
    this.#size = byteLength(data);
    await old.close().catch(() => undefined);
    await syncDir(this.#path); // the rename is durable only once the directory is
  }
}

/** The payload length of a valid record at `at`, or 0. */
function recordAt(data: Buffer, at: number, max: number): number {
  if (at + OVERHEAD > data.length || data[at] !== MAGIC) return 0;
  const len = data.readUInt32LE(at + 1);
  if (len === 0 || len > max || len > data.length - at - OVERHEAD) return 0;
  const payload = data.subarray(at + OVERHEAD, at + OVERHEAD + len);
  return crc32(payload, crc32(data.subarray(at + 1, at + 5))) === data.readUInt32LE(at + 5) ? len : 0;
}

/** The valid records from the header on, and where the first invalid one (or the end) is. */
function scan(data: Buffer, max: number): { records: Buffer[]; end: number } {
  const records: Buffer[] = [];
  let at = HEADER.length;
  for (let len = 0; at < data.length && (len = recordAt(data, at, max)) > 0; at += OVERHEAD + len) {
    records.push(data.subarray(at + OVERHEAD, at + OVERHEAD + len));
  }
  return { records, end: at };
}

/** One writev; after a short one (rare: a signal, a full disk) the rest, in order (the file is O_APPEND). */
async function writeAll(file: FileHandle, data: Buffer[]): Promise<void> {
  const first = (await file.writev(data)).bytesWritten;
  if (first === byteLength(data)) return;
  const rest = Buffer.concat(data).subarray(first);
  for (let off = 0; off < rest.length;) {
    const n = (await file.write(rest, off)).bytesWritten;
    if (n === 0) throw systemError('EIO', 'write', undefined, 'a write made no progress');
    off += n;
  }
}

function byteLength(data: Buffer[]): number {
  let n = 0;
  for (const b of data) n += b.length;
  return n;
}

async function syncDir(path: string): Promise<void> {
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function corrupt(path: string, offset: number, what: string): TxError {
  return new TxError('ERR_TX_LOG_CORRUPT', `The activity log '${path}' ${what} (offset ${offset}); refusing to open it`);
}

function closed(path: string): TxError {
  return new TxError('ERR_TX_CLOSED', `The activity log '${path}' is closed`);
}

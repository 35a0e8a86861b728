/**
 * The server's at-most-once memory: per client id, the replies of its
 * deduplicated calls by sequence number, with a retention rule (see
 * docs/rpc.md): the client's `ack` (every seq at or below it was answered)
 * drops entries at or below it and raises its floor (a call at or below the
 * floor is a duplicate: refused); over `maxBytes` the oldest replies are
 * dropped but remembered (a retry of one is refused); over `maxEntries` the
 * oldest entries go and the floor rises past them; a client with nothing
 * running and silent for `idleMs` is forgotten.
 * @module
 */
import { open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { dirname } from 'node:path';

import { lockHeldFile, releaseHeld } from '../../internal/held-file.js';

/** Bounds of a {@link ReplyCache}. */
export interface ReplyCacheOptions {
  /** Entries kept per client (running, answered or dropped). Default 1024. */
  maxEntries?: number;
  /** Bytes of replies kept per client. Default 1 MiB. */
  maxBytes?: number;
  /** A client with nothing running, silent this long, is forgotten. Default 300 000 (5 min). */
  idleMs?: number;
  /**
   * Clients remembered at once. A new client id beyond it evicts the least
   * recently seen client idle (nothing running, silent) for `idleMs`; when none
   * is, the new client's deduplicated calls are refused `ERR_RPC_SYSTEM`
   * (never run) rather than forgetting a client that may still retry. Default 10 000.
   */
  maxClients?: number;
  /**
   * A file that makes the cache survive a restart: each call's start and
   * each reply are appended (and `fdatasync`ed, in groups) before the
   * handler runs and before the reply is sent. Loaded (and compacted) when
   * the server starts. Created mode 0600. One server at a time: it holds an
   * exclusive lock on `<persistPath>.lock` (a second one fails `EBUSY`).
   */
  persistPath?: string;
}

const RUNNING = 0;
const DONE = 1;
const DROPPED = 2;

interface Entry {
  state: number;
  frame: Buffer | undefined;
  waiters: Array<(frame: Buffer | undefined) => void> | undefined;
}

interface ClientState {
  floor: number;
  entries: Map<number, Entry>;
  bytes: number;
  running: number;
  lastUsed: number;
}

/** What {@link ReplyCache.begin} decided. */
export type Begin =
  | { readonly kind: 'run' }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'full' }
  | { readonly kind: 'replay'; readonly frame: Buffer }
  | { readonly kind: 'wait'; readonly done: Promise<Buffer | undefined> };

const RUN: Begin = { kind: 'run' };
const DUPLICATE: Begin = { kind: 'duplicate' };
const FULL: Begin = { kind: 'full' };
const REC_BEGIN = 1;
const REC_DONE = 2;
const REC_HEADER = 1 + 16 + 4 + 4 + 4;

/** The reply cache of one server. */
export class ReplyCache {
  readonly #clients = new Map<string, ClientState>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #idleMs: number;
  readonly #maxClients: number;
  readonly #sweeper: NodeJS.Timeout;
  #file: FileHandle | undefined;
  #lock: { fd: number; path: string } | undefined;
  #pending: Buffer[] = [];
  #waiting: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  #failed: unknown;
  #flushing: Promise<void> | undefined;

  constructor(options: ReplyCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 1024;
    this.#maxBytes = options.maxBytes ?? 1024 * 1024;
    this.#idleMs = options.idleMs ?? 300_000;
    this.#maxClients = options.maxClients ?? 10_000;
    this.#sweeper = setInterval(() => this.sweep(), Math.max(1000, this.#idleMs / 4));
    this.#sweeper.unref();
  }

  /** Opens (and loads, then compacts) the persistence file, holding its lock file (`EBUSY` when another server holds it). */
  async load(path: string): Promise<void> {
    const lockPath = `${path}.lock`;
    this.#lock = { fd: lockHeldFile(lockPath, 'reply cache file'), path: lockPath };
    try {
      await this.#load(path);
    } catch (err) {
      releaseHeld(this.#lock.fd, lockPath);
      this.#lock = undefined;
      throw err;
    }
  }

  async #load(path: string): Promise<void> {
    let data: Buffer | undefined;
    try {
      data = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (let at = 0; data !== undefined && at + REC_HEADER <= data.length;) {
      const type = data[at]!;
      const id = data.toString('hex', at + 1, at + 17);
      const seq = data.readUInt32LE(at + 17);
      const ack = data.readUInt32LE(at + 21);
      const len = data.readUInt32LE(at + 25);
      if (at + REC_HEADER + len > data.length) break; // torn last record (a crash mid-append)
      const c = this.#client(id, true);
      this.#ack(c, ack);
      if (type === REC_BEGIN) c.entries.set(seq, { state: DROPPED, frame: undefined, waiters: undefined });
      else if (type === REC_DONE) this.#store(c, seq, Buffer.from(data.subarray(at + REC_HEADER, at + REC_HEADER + len)));
      at += REC_HEADER + len;
    }
    // Compact: what is remembered now, written anew. A begin without its done stays DROPPED (it may have run).
    const tmp = `${path}.${process.pid}.tmp`;
    const out = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
    try {
      for (const [id, c] of this.#clients) {
        for (const [seq, e] of c.entries) {
          await out.write(record(e.state === DONE ? REC_DONE : REC_BEGIN, id, seq, c.floor, e.frame));
        }
        if (c.entries.size === 0 && c.floor > 0) await out.write(record(REC_BEGIN, id, c.floor, c.floor, undefined));
      }
      await out.datasync();
    } finally {
      await out.close();
    }
    await rename(tmp, path);
    // The rename is durable only once the directory is: fsync it, or a power loss could bring back the old file.
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    this.#file = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  }

  /** True when calls are persisted (then {@link durable} must be awaited before running and before replying). */
  get persistent(): boolean {
    return this.#file !== undefined;
  }

  /** Decides what to do with call `seq` of client `id` that acknowledges `ack`. */
  begin(id: string, seq: number, ack: number): Begin {
    const c = this.#client(id, false);
    if (c === undefined) return FULL;
    c.lastUsed = performance.now();
    if (ack > c.floor) this.#ack(c, ack);
    const e = c.entries.get(seq);
    if (e !== undefined) {
      if (e.state === DONE) return { kind: 'replay', frame: e.frame! };
      if (e.state === DROPPED) return DUPLICATE;
      return { kind: 'wait', done: new Promise((resolve) => (e.waiters ??= []).push(resolve)) };
    }
    if (seq <= c.floor) return DUPLICATE;
    c.entries.set(seq, { state: RUNNING, frame: undefined, waiters: undefined });
    c.running++;
    if (c.entries.size > this.#maxEntries) this.#trim(c);
    if (this.#file !== undefined && this.#failed === undefined) this.#pending.push(record(REC_BEGIN, id, seq, c.floor, undefined));
    return RUN;
  }

  /** Records the reply `frame` of call `seq` (its call id is patched when replayed); wakes duplicates waiting. */
  finish(id: string, seq: number, frame: Buffer): void {
    const c = this.#clients.get(id);
    const e = c?.entries.get(seq);
    if (c === undefined || e === undefined || e.state !== RUNNING) return;
    c.running--;
    c.lastUsed = performance.now();
    e.state = DONE;
    e.frame = frame;
    c.bytes += frame.length;
    if (this.#file !== undefined && this.#failed === undefined) this.#pending.push(record(REC_DONE, id, seq, c.floor, frame)); // once failed, durable() rejects: nothing more is queued
    const waiters = e.waiters;
    e.waiters = undefined;
    if (c.bytes > this.#maxBytes) this.#shed(c);
    if (waiters !== undefined) for (const w of waiters) w(e.frame);
  }

  /**
   * Resolves once every record so far is on disk (at once without a file).
   * A failed write or flush latches: this and every later call reject with it.
   */
  durable(): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    if (this.#file === undefined || (this.#pending.length === 0 && this.#flushing === undefined)) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    this.#flushing ??= this.#flush();
    return p;
  }

  async #flush(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending;
        const waiting = this.#waiting;
        this.#pending = [];
        this.#waiting = [];
        try {
          await this.#file!.writev(batch);
          await this.#file!.datasync();
        } catch (err) {
          this.#failed = err;
          for (const w of [...waiting, ...this.#waiting.splice(0)]) w.reject(err);
          return;
        }
        for (const w of waiting) w.resolve();
      }
      for (const w of this.#waiting.splice(0)) w.resolve();
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Forgets clients with nothing running, silent for `idleMs`. */
  sweep(now = performance.now()): void {
    for (const [id, c] of this.#clients) if (c.running === 0 && now - c.lastUsed >= this.#idleMs) this.#clients.delete(id);
  }

  /** Stops the sweeper and closes the file (after what is queued is written). */
  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    if (this.#file !== undefined) {
      await this.durable().catch(() => undefined);
      await this.#file.close();
      this.#file = undefined;
    }
    if (this.#lock !== undefined) {
      releaseHeld(this.#lock.fd, this.#lock.path);
      this.#lock = undefined;
    }
  }

  /** Per-client figures, for tests and monitoring. */
  stats(id: string): { entries: number; bytes: number; floor: number; running: number } | undefined {
    const c = this.#clients.get(id);
    return c && { entries: c.entries.size, bytes: c.bytes, floor: c.floor, running: c.running };
  }

  /** The state of client `id`, created if new; `undefined` when the cache is full of clients that may still retry (unless `force`). */
  #client(id: string, force: true): ClientState;
  #client(id: string, force: boolean): ClientState | undefined;
  #client(id: string, force: boolean): ClientState | undefined {
    let c = this.#clients.get(id);
    if (c === undefined) {
      if (this.#clients.size >= this.#maxClients && !force) {
        // Evict the least recently seen client idle past idleMs; never one that may still retry a lost reply.
        const now = performance.now();
        let victim: string | undefined;
        let oldest = Infinity;
        for (const [old, oc] of this.#clients) {
          if (oc.running === 0 && now - oc.lastUsed >= this.#idleMs && oc.lastUsed < oldest) {
            oldest = oc.lastUsed;
            victim = old;
          }
        }
        if (victim === undefined) return undefined;
        this.#clients.delete(victim);
      }
      c = { floor: 0, entries: new Map(), bytes: 0, running: 0, lastUsed: performance.now() };
      this.#clients.set(id, c);
    }
    return c;
  }

  #ack(c: ClientState, ack: number): void {
    c.floor = Math.max(c.floor, ack);
    for (const [seq, e] of c.entries) {
      if (seq <= ack && e.state !== RUNNING) {
        c.entries.delete(seq);
        if (e.frame !== undefined) c.bytes -= e.frame.length;
      }
    }
  }

  #store(c: ClientState, seq: number, frame: Buffer): void {
    if (seq <= c.floor) return;
    const old = c.entries.get(seq);
    if (old?.frame !== undefined) c.bytes -= old.frame.length;
    c.entries.set(seq, { state: DONE, frame, waiters: undefined });
    c.bytes += frame.length;
    if (c.bytes > this.#maxBytes) this.#shed(c);
    if (c.entries.size > this.#maxEntries) this.#trim(c);
  }

  /** Over maxBytes: drop the oldest replies, remembering that they existed. */
  #shed(c: ClientState): void {
    for (const seq of [...c.entries.keys()].sort((a, b) => a - b)) {
      if (c.bytes <= this.#maxBytes) break;
      const e = c.entries.get(seq)!;
      if (e.state !== DONE) continue;
      c.bytes -= e.frame!.length;
      e.frame = undefined;
      e.state = DROPPED;
    }
  }

  /** Over maxEntries: forget the oldest finished entries; the floor rises past them. */
  #trim(c: ClientState): void {
    const excess = c.entries.size - this.#maxEntries;
    let removed = 0;
    for (const seq of [...c.entries.keys()].sort((a, b) => a - b)) {
      if (removed >= excess) break;
      const e = c.entries.get(seq)!;
      if (e.state === RUNNING) continue;
      c.entries.delete(seq);
      if (e.frame !== undefined) c.bytes -= e.frame.length;
      c.floor = Math.max(c.floor, seq);
      removed++;
    }
  }
}

function record(type: number, id: string, seq: number, ack: number, frame: Buffer | undefined): Buffer {
  const len = frame?.length ?? 0;
  const r = Buffer.allocUnsafe(REC_HEADER + len);
  r[0] = type;
  r.write(id, 1, 16, 'hex');
  r.writeUInt32LE(seq, 17);
  r.writeUInt32LE(ack, 21);
  r.writeUInt32LE(len, 25);
  if (frame !== undefined) r.set(frame, REC_HEADER);
  return r;
}

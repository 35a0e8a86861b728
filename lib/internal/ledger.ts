/**
 * The object ledger: each process (each worker thread) that holds names to
 * remove at exit (see ./cleanup.ts, the one place that records them) keeps a
 * file `<runtime dir>/objects/<pid>-<nonce>.json` listing them, with the
 * identity (device and inode) each had when it was made. The file is a held
 * file (./held-file.ts): locked while its process lives, so `posix-ipc ls`
 * can tell a live owner from one that was `kill -9`ed, and `posix-ipc clean`
 * removes what a dead one left, and only what still is the object it made.
 *
 * The ledger is written when an object is recorded or forgotten (object
 * creation and removal, never a message path): a new file is written, locked
 * and renamed over the old one, so a reader never sees half a ledger and
 * the path always names a locked file. It is removed when the last object
 * goes, and at exit. Fail-soft: when the runtime directory is unusable the
 * ledger is off for the process (one warning), and nothing else changes;
 * a write that fails for want of descriptors or space is tried again at the
 * next change.
 * A `kill -9` between an object's creation and its ledger write leaves that
 * one object unlisted.
 * @internal
 * @module
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

import { isSystemError } from '../errors.js';
import { pidExists } from './liveness.js';
import { createHeld, dropHeld, probeHeld, releaseHeld, releaseProbe, removeDead } from './held-file.js';
import { native } from './native.js';
import { runtimeDir } from './runtime-dir.js';

/** One object a process made: a path (FIFO, socket file) or a shared-memory name. */
export interface LedgerObject {
  kind: 'file' | 'shm';
  name: string;
  /** `"dev:ino:birth"` when it was made (see {@link identityOf}). */
  identity: string;
}

/** A ledger as read back by {@link readLedgers}. */
export interface Ledger {
  path: string;
  pid: number;
  /** The process's title and script, for the listing. */
  command: string;
  alive: boolean;
  /** The objects that still exist as made (the others are gone already). */
  objects: LedgerObject[];
}

const objects = new Map<string, LedgerObject>();
const nonce = randomBytes(4).toString('hex');
let held: { fd: number; path: string } | undefined;
let off = false;
let pruned = false;
/** The most ledgers a process looks at when it prunes. */
const PRUNE_MAX = 256;

function command(): string {
  const script = process.argv[1];
  return script === undefined ? process.title : `${process.title} ${script}`;
}

function disable(err: unknown): void {
  off = true;
  if (held) releaseHeld(held.fd, held.path); // a ledger no longer kept up is not left behind
  held = undefined;
  process.emitWarning(`posix-ipc: the object ledger is off for this process (posix-ipc ls/clean will not see its objects): ${String(err)}`);
}

function write(): void {
  if (off) return;
  try {
    if (objects.size === 0) {
      if (held) releaseHeld(held.fd, held.path);
      held = undefined;
      return;
    }
    const dir = runtimeDir('objects');
    if (!pruned) prune(dir);
    const path = join(dir, `${process.pid}-${nonce}.json`);
    const tmp = join(dir, `.${process.pid}-${nonce}.tmp`);
    const text = JSON.stringify({ v: 1, pid: process.pid, command: command(), objects: [...objects.values()] });
    const fd = createHeld(tmp, text);
    try {
      renameSync(tmp, path);
    } catch (err) {
      releaseHeld(fd, tmp);
      throw err;
    }
    if (held) dropHeld(held.fd);
    held = { fd, path };
  } catch (err) {
    // Out of descriptors or space for a moment: the held ledger stays as it
    // was (its objects still listed, its owner still seen alive), and the
    // next record or removal writes it again. Anything else turns it off.
    if (isSystemError(err) && TRANSIENT.has(err.code)) return;
    disable(err);
  }
}

const TRANSIENT = new Set(['EMFILE', 'ENFILE', 'ENOSPC', 'EDQUOT', 'ENOMEM']);

/**
 * What a name names now: device and inode (native, as the worker teardown
 * records them), plus the birth time where the file system keeps one (ext4,
 * tmpfs, APFS): ext4 hands a freed inode number to the next file at once,
 * so a path re-made by another process after the owner died can have the
 * old device and inode, never the old birth time. Shared memory on macOS
 * has no path to look at: device and inode only.
 */
function identityOf(kind: 'file' | 'shm', name: string): string | null {
  const base = native.nameIdentity(kind === 'file' ? 0 : 1, name);
  if (base === null) return null;
  const path = kind === 'file' ? name : process.platform === 'linux' ? `/dev/shm${name}` : undefined;
  if (path === undefined) return base;
  try {
    const st = lstatSync(path, { bigint: true });
    if (`${st.dev}:${st.ino}` === base && st.birthtimeNs > 0n) return `${base}:${st.birthtimeNs}`;
  } catch {
    // gone meanwhile: the next look says so
  }
  return base;
}

/** Records an object this process made and will remove (a no-op when the name does not exist). */
export function ledgerRecord(key: string, kind: 'file' | 'shm', name: string): void {
  if (off) return;
  const identity = identityOf(kind, name);
  if (identity === null) return;
  objects.set(key, { kind, name, identity });
  write();
}

/** Forgets an object (it was removed). */
export function ledgerForget(key: string): void {
  if (objects.delete(key)) write();
}

/** At exit, after every object was removed: the ledger goes too. */
export function ledgerEnd(): void {
  objects.clear();
  write();
}

function parseLedger(path: string, text: string): Omit<Ledger, 'alive'> | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as Record<string, unknown>;
  if (d.v !== 1 || !Number.isSafeInteger(d.pid) || !Array.isArray(d.objects)) return undefined;
  const list: LedgerObject[] = [];
  for (const o of d.objects.slice(0, 4096) as unknown[]) {
    if (typeof o !== 'object' || o === null) continue;
    const { kind, name, identity } = o as Record<string, unknown>;
    if ((kind === 'file' || kind === 'shm') && typeof name === 'string' && typeof identity === 'string')
      list.push({ kind, name, identity });
  }
  return { path, pid: d.pid as number, command: typeof d.command === 'string' ? d.command : '', objects: list };
}

function stillThere(o: LedgerObject): boolean {
  return identityOf(o.kind, o.name) === o.identity;
}

/**
 * Every ledger in the runtime directory, its owner's liveness (by its lock)
 * and the objects of it that still exist. With `clean`, a dead owner's
 * objects and ledger are removed as they are read: `removed` lists what was.
 */
export function readLedgers(clean = false, removed: LedgerObject[] = []): Ledger[] {
  const dir = runtimeDir('objects');
  const out: Ledger[] = [];
  for (const file of readdirSync(dir).sort()) {
    const path = join(dir, file);
    if (file.startsWith('.')) {
      // a temporary file of a writer that died before its rename
      const pid = Number(/^\.(\d+)-/.exec(file)?.[1] ?? 0);
      if (clean && pid > 0 && !pidExists(pid)) removeIfDead(path);
      continue;
    }
    if (!file.endsWith('.json')) continue;
    const probe = probeHeld(path);
    if (probe.state === 'missing') continue;
    const ledger = parseLedger(path, probe.text);
    if (!ledger) {
      releaseProbe(probe);
      continue;
    }
    const alive = probe.state === 'alive';
    ledger.objects = ledger.objects.filter(stillThere);
    if (clean && probe.state === 'dead') {
      for (const o of ledger.objects) if (removeObject(o)) removed.push(o);
      ledger.objects = ledger.objects.filter(stillThere);
      if (ledger.objects.length === 0) removeDead(probe);
      else releaseProbe(probe); // kept, so that what is left is still listed
    } else {
      releaseProbe(probe);
    }
    out.push({ ...ledger, alive });
  }
  return out;
}

/**
 * Once per process, before its first ledger: removes dead processes'
 * ledgers none of whose objects is left (a killed process whose objects
 * were cleaned by other means), so that the directory does not grow. Their
 * owners' objects are never touched here: that is `posix-ipc clean`'s job.
 */
function prune(dir: string): void {
  pruned = true;
  for (const file of readdirSync(dir).slice(0, PRUNE_MAX)) {
    if (file.startsWith('.') || !file.endsWith('.json')) continue;
    const probe = probeHeld(join(dir, file));
    if (probe.state !== 'dead') continue;
    const ledger = parseLedger(probe.path, probe.text);
    if (ledger && !ledger.objects.some(stillThere)) removeDead(probe);
    else releaseProbe(probe);
  }
}

function removeIfDead(path: string): void {
  const probe = probeHeld(path);
  if (probe.state === 'dead') removeDead(probe);
}

/** Removes one object of a dead owner while its name still names what that owner made. */
function removeObject(o: LedgerObject): boolean {
  if (!stillThere(o)) return false;
  try {
    if (o.kind === 'file') unlinkSync(o.name);
    else native.shmUnlink(o.name);
    return true;
  } catch {
    return false; // gone meanwhile, or not ours to remove: the listing shows what is left
  }
}

/**
 * Names this process created and must remove: on close, and on normal exit
 * or an uncaught exception (Node runs 'exit' listeners in both cases). A
 * worker thread stopped by `terminate()` runs no listener: its names are
 * removed by the environment's native teardown instead (teardown.cc), only
 * while they still name the object they named when registered. A SIGKILL
 * leaves them behind: each transport documents its clean-up call.
 * posix-ipc installs no signal handlers.
 *
 * Each name registered here is also written to this process's object ledger
 * (./ledger.ts), which `posix-ipc ls` lists and `posix-ipc clean` uses to
 * remove what a killed process left.
 * @internal
 * @module
 */
import { ledgerEnd, ledgerForget, ledgerRecord } from './ledger.js';
import { native } from './native.js';

/** What native teardown removes: a path (FIFO, socket file) or a shared-memory name. */
export interface TeardownName {
  kind: 'file' | 'shm';
  name: string;
}

interface Entry {
  remove: () => void;
  /** The native teardown registration (0: none). */
  id: number;
}

const pending = new Map<string, Entry>();
let hooked = false;

function forget(entry: Entry): void {
  if (entry.id !== 0) native.cancelUnlinkAtTeardown(entry.id);
}

function runAll(): void {
  for (const entry of pending.values()) {
    forget(entry);
    try {
      entry.remove();
    } catch {
      // already gone, or not ours any more: nothing else to do at exit
    }
  }
  pending.clear();
  ledgerEnd();
}

/**
 * Registers `remove` to run at exit (and `teardown` for a terminated worker);
 * returns a function that runs it now (once) instead.
 */
export function removeAtExit(key: string, remove: () => void, teardown?: TeardownName): () => void {
  if (!hooked) {
    hooked = true;
    process.on('exit', runAll);
  }
  const previous = pending.get(key);
  if (previous) forget(previous);
  const entry: Entry = { remove, id: teardown ? native.unlinkAtTeardown(teardown.kind === 'file' ? 0 : 1, teardown.name) : 0 };
  pending.set(key, entry);
  if (teardown) ledgerRecord(key, teardown.kind, teardown.name);
  return () => {
    if (pending.get(key) !== entry) return;
    pending.delete(key);
    forget(entry);
    try {
      remove();
    } finally {
      ledgerForget(key);
    }
  };
}

/**
 * The locks the locks scenario compares, behind one shape: open by name,
 * acquire/release blocking, and (where there is one) async acquire.
 * @module
 */
import { closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';

import { native } from '../../lib/internal/native.js';
import { ReadWriteLock, RobustMutex, Semaphore, type RobustMutexGuard } from '../../lib/index.js';

/** The kinds of lock measured. */
export type LockKind =
  'robust' | 'robust-async' | 'rwlock-write' | 'rwlock-read' | 'semaphore' | 'semaphore-async' | 'flock' | 'proper-lockfile';

/** One opened lock of a kind. */
export interface BenchLock {
  acquire(): void | Promise<void>;
  release(): void;
  close(): void;
}

/** Opens lock `name` of `kind`; `create` in the parent, which makes it. `file` is the path of the flock/lockfile kinds. */
export function openLock(kind: LockKind, name: string, file: string, create: boolean, lockfileDir?: string): BenchLock {
  switch (kind) {
    case 'robust':
    case 'robust-async': {
      const mutex = RobustMutex.open(name, { create: create ? 'exclusive' : 'open' });
      let guard: RobustMutexGuard | undefined;
      return kind === 'robust'
        ? {
            acquire: () => void (guard = mutex.lockSync()),
            release: () => guard!.unlock(),
            close: () => (create ? (mutex.unlink(), mutex.close()) : mutex.close()),
          }
        : {
            acquire: async () => void (guard = await mutex.lock()),
            release: () => guard!.unlock(),
            close: () => (create ? (mutex.unlink(), mutex.close()) : mutex.close()),
          };
    }
    case 'rwlock-write':
    case 'rwlock-read': {
      // The readers/writer lock's Sync forms. Read holdings do not exclude each other: its handoff
      // row is the cost of the shared path under two processes, not a handoff.
      const rw = ReadWriteLock.open(name, { create: create ? 'exclusive' : 'open' });
      let guard: RobustMutexGuard | undefined;
      return {
        acquire: kind === 'rwlock-write' ? () => void (guard = rw.writeLockSync()) : () => void (guard = rw.readLockSync()),
        release: () => guard!.unlock(),
        close: () => (create ? (rw.unlink(), rw.close()) : rw.close()),
      };
    }
    case 'semaphore':
    case 'semaphore-async': {
      const sem = Semaphore.open(name, create ? { create: 'exclusive', initialValue: 1 } : {});
      return {
        acquire: kind === 'semaphore' ? () => void sem.waitSync() : async () => void (await sem.wait()),
        release: () => sem.post(),
        close: () => {
          if (create) Semaphore.unlink(name);
          sem.close();
        },
      };
    }
    case 'flock': {
      // flock(LOCK_EX | LOCK_NB) through the addon (the project exposes no blocking flock): a contended
      // acquire retries at once, so its handoff figure is a spinning one.
      const fd = openSync(file, 'a');
      return {
        acquire: () => {
          while (!native.tryFlock(fd, true));
        },
        release: () => void native.tryFlock(fd, false),
        close: () => closeSync(fd),
      };
    }
    case 'proper-lockfile': {
      if (lockfileDir === undefined) throw new Error('proper-lockfile needs --proper-lockfile <package dir>');
      const lockfile = createRequire(`${lockfileDir}/`)(lockfileDir) as {
        lockSync(file: string, options?: object): () => void;
      };
      let release: (() => void) | undefined;
      if (create) closeSync(openSync(file, 'a'));
      return {
        acquire: () => {
          for (;;) {
            try {
              release = lockfile.lockSync(file, { realpath: false, stale: 10_000 });
              return;
            } catch (err) {
              if ((err as { code?: string }).code !== 'ELOCKED') throw err;
            }
          }
        },
        release: () => release!(),
        close: () => undefined,
      };
    }
  }
}

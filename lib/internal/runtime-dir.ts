/**
 * The per-user runtime directory where posix-ipc keeps what must outlive one
 * call but not the machine: the name service's entries, shared-memory
 * listeners' sockets, the ledger of objects each process made.
 *
 * `$POSIX_IPC_RUNTIME_DIR` when set (tests and labs point it at a directory of
 * their own), else `$XDG_RUNTIME_DIR/posix-ipc`, else `<tmpdir>/posix-ipc-<uid>`.
 * Every directory is made `0700` and must be a real directory (not a symbolic
 * link) owned by this user with no group or other access: anything else is
 * refused with `EACCES`, since another user could otherwise plant entries.
 * @internal
 * @module
 */
import { lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { isSystemError, systemError } from '../errors.js';

const checked = new Set<string>();

/** Makes `dir` (0700) when missing, and checks that it is ours and private. */
function ensurePrivateDir(dir: string): string {
  if (checked.has(dir)) return dir;
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if (!isSystemError(err, 'EEXIST')) throw err;
  }
  const st = lstatSync(dir);
  const uid = process.getuid?.() ?? st.uid;
  if (!st.isDirectory()) throw systemError('EACCES', 'mkdir', dir, 'the runtime directory is not a directory (a symbolic link?)');
  if (st.uid !== uid) throw systemError('EACCES', 'mkdir', dir, `the runtime directory belongs to uid ${st.uid}, not ${uid}`);
  if ((st.mode & 0o077) !== 0) {
    throw systemError(
      'EACCES',
      'mkdir',
      dir,
      `the runtime directory is open to others (mode ${(st.mode & 0o777).toString(8)}); it must be 0700`,
    );
  }
  checked.add(dir);
  return dir;
}

/** The runtime directory's base path, without creating it. */
export function runtimeBase(): string {
  const own = process.env.POSIX_IPC_RUNTIME_DIR;
  if (own) return own;
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg) return join(xdg, 'posix-ipc');
  return join(tmpdir(), `posix-ipc-${process.getuid?.() ?? 'user'}`);
}

/**
 * The runtime directory (or its subdirectory `sub`), made and checked.
 * Throws `EACCES` when it is not private to this user.
 */
export function runtimeDir(sub?: string): string {
  const base = ensurePrivateDir(runtimeBase());
  return sub === undefined ? base : ensurePrivateDir(join(base, sub));
}

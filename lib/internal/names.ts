/**
 * Validation of POSIX IPC object names (`sem_open`, `shm_open`), shared by
 * named semaphores and shared memory, and their one `'open-or-create'` loop.
 *
 * Rules: a leading `'/'`, at least one more byte, no other `'/'`, not `"/."`
 * or `"/.."`, and at most the platform's length. Lengths are UTF-8 bytes after
 * the leading `'/'`:
 *
 * | kind  | Linux | macOS |
 * | ----- | ----- | ----- |
 * | `sem` | 251: the file is `/dev/shm/sem.<name>`, and `NAME_MAX` (255) includes the 4 bytes of `sem.` | 29: the kernel's `PSEMNAMLEN` (31) counts the `'/'` and the terminating NUL |
 * | `shm` | 255: the file is `/dev/shm/<name>`, `NAME_MAX` | 30: `PSHMNAMLEN` (31) counts the `'/'`; the name buffer has one more byte for the NUL |
 *
 * @internal
 * @module
 */
import { isSystemError } from '../errors.js';
import { validateString } from './validators.js';

/** Which namespace a name lives in. */
export type IpcNameKind = 'sem' | 'shm';

/** The platforms whose rules are known; others use Linux's. */
type NamePlatform = 'linux' | 'darwin';

const LIMITS: Record<NamePlatform, Record<IpcNameKind, { max: number; why: string }>> = {
  linux: {
    sem: { max: 251, why: "NAME_MAX 255 minus the 4 bytes of the 'sem.' prefix" },
    shm: { max: 255, why: 'NAME_MAX' },
  },
  darwin: {
    sem: { max: 29, why: "PSEMNAMLEN 31 counts the '/' and the terminating NUL" },
    shm: { max: 30, why: "PSHMNAMLEN 31 counts the '/'" },
  },
};

function rulesFor(platform: string): NamePlatform {
  return platform === 'darwin' ? 'darwin' : 'linux';
}

/** The longest name of `kind`, in UTF-8 bytes after the leading `'/'`, on `platform`. */
export function ipcNameMaxBytes(kind: IpcNameKind, platform: string = process.platform): number {
  return LIMITS[rulesFor(platform)][kind].max;
}

/**
 * Validates a POSIX IPC object name and returns it unchanged.
 * Throws `TypeError` when `name` is not a string (or holds a NUL byte), and
 * `RangeError` naming `argName` when its shape or length is wrong; the
 * message states the limit.
 * `platform` exists for tests: it defaults to `process.platform`.
 */
export function validateIpcName(name: unknown, argName: string, kind: IpcNameKind, platform: string = process.platform): string {
  const value = validateString(name, argName);
  const what = kind === 'sem' ? 'a semaphore name' : 'a shared-memory name';
  if (!value.startsWith('/') || value.length < 2) {
    throw new RangeError(`The "${argName}" argument must be ${what}: '/' followed by at least one character. Received '${value}'`);
  }
  if (value.indexOf('/', 1) !== -1) {
    throw new RangeError(`The "${argName}" argument must be ${what} with no '/' after the first character. Received '${value}'`);
  }
  if (value === '/.' || value === '/..') {
    throw new RangeError(`The "${argName}" argument must not be '${value}'`);
  }
  const bytes = Buffer.byteLength(value, 'utf8') - 1;
  const rules = rulesFor(platform);
  const { max, why } = LIMITS[rules][kind];
  if (bytes > max) {
    const os = rules === 'darwin' ? 'macOS' : 'Linux';
    throw new RangeError(
      `The "${argName}" argument is too long: ${what} may have at most ${max} bytes after the leading '/' on ${os} (${why}). Received ${bytes} bytes`,
    );
  }
  return value;
}

/**
 * How many times {@link openOrCreate} tries: each miss means another process
 * created or unlinked the name in between, and the bound turns a
 * pathological create/unlink loop into an error instead of a hang.
 */
const OPEN_OR_CREATE_ATTEMPTS = 100;

/**
 * `'open-or-create'` for a named object: `create()` exclusively first (so
 * the caller knows whether it created the object), and on `EEXIST`
 * `open()`; when that meets `ENOENT` (unlinked in between), again. Any other
 * error ends it; after {@link OPEN_OR_CREATE_ATTEMPTS} misses, the last
 * `ENOENT` is thrown. Never sleeps.
 */
export function openOrCreate<T>(create: () => T, open: () => T): T {
  let lastError: unknown;
  for (let attempt = 0; attempt < OPEN_OR_CREATE_ATTEMPTS; attempt++) {
    try {
      return create();
    } catch (err) {
      if (!isSystemError(err, 'EEXIST')) throw err;
    }
    try {
      return open();
    } catch (err) {
      if (!isSystemError(err, 'ENOENT')) throw err;
      lastError = err;
    }
  }
  throw lastError;
}

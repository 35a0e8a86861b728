/**
 * What every lock in a shared memory segment shares: opening or creating
 * the segment, writing a new header (the magic last, so an opener never
 * sees half a header as valid), refusing a segment still being written
 * (`EAGAIN`), and checking the header's magic, version and size on every
 * use (shared memory is untrusted). The robust mutex, the readers/writer
 * lock, the barrier and the condition variable each name their layout.
 * @internal
 * @module
 */
import { LockError, systemError } from '../errors.js';
import { validateMode } from '../internal/validators.js';
import { SharedMemory, type ShmCreateMode } from '../shm.js';

/** `ERR_LOCK_CORRUPT`: the segment `name` holds what no locker writes. */
export function corrupt(name: string, what: string, kind = 'robust mutex'): LockError {
  return new LockError('ERR_LOCK_CORRUPT', name, `The ${kind} '${name}' is corrupt: ${what}`);
}

/** A kind of lock segment: the first three Int32 words are its magic, version and header size. */
export interface LockLayout {
  /** Its name in messages ("robust mutex", "barrier"). */
  readonly kind: string;
  readonly magic: number;
  readonly version: number;
  readonly headerBytes: number;
}

const I_MAGIC = 0;
const I_VERSION = 1;
const I_HEADER_BYTES = 2;

/** What `open()` of a lock takes about its segment. */
export interface LockSegmentOptions {
  create?: ShmCreateMode;
  mode?: number;
}

/**
 * Opens (or creates, `size` bytes) the segment `name` as a lock of
 * `layout`: `init` writes a created segment's own header words before the
 * magic goes in; `build` makes the lock from the segment and its header
 * words (check what is particular to the kind there). The segment is closed
 * if anything throws.
 */
export function openLockSegment<T>(
  name: string,
  options: LockSegmentOptions,
  layout: LockLayout,
  size: () => number,
  init: ((words: Int32Array) => void) | undefined,
  build: (shm: SharedMemory, words: Int32Array) => T,
): T {
  const create = options.create ?? 'open';
  const mode = options.mode === undefined ? {} : { mode: validateMode(options.mode, 'options.mode') };
  const shm =
    create === 'open' ? SharedMemory.open(name, { create: 'open', ...mode }) : SharedMemory.open(name, { create, size: size(), ...mode });
  try {
    if (shm.size < layout.headerBytes) throw corrupt(name, `a segment of ${shm.size} bytes is too small`, layout.kind);
    const words = new Int32Array(shm.buffer, 0, layout.headerBytes / 4);
    if (shm.created) {
      init?.(words);
      words[I_VERSION] = layout.version;
      words[I_HEADER_BYTES] = layout.headerBytes;
      Atomics.store(words, I_MAGIC, layout.magic); // last: an opener never sees half a header as valid
    } else if (Atomics.load(words, I_MAGIC) === 0 && words.every((w) => w === 0)) {
      throw systemError('EAGAIN', 'open', name, `the ${layout.kind} is still being created (try again shortly)`);
    }
    checkLockHeader(name, words, layout);
    return build(shm, words);
  } catch (err) {
    shm.close();
    throw err;
  }
}

/** Checks the magic, version and header size words: `ERR_LOCK_CORRUPT` for anything else. */
export function checkLockHeader(name: string, w: Int32Array, layout: LockLayout): void {
  const magic = Atomics.load(w, I_MAGIC) >>> 0;
  if (magic !== layout.magic) throw corrupt(name, `bad magic 0x${magic.toString(16)}`, layout.kind);
  if (w[I_VERSION] !== layout.version) throw corrupt(name, `unsupported version ${w[I_VERSION]}`, layout.kind);
  if (w[I_HEADER_BYTES] !== layout.headerBytes) throw corrupt(name, `bad header size ${w[I_HEADER_BYTES]}`, layout.kind);
}

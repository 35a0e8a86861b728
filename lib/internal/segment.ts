/**
 * What the futex and in-segment semaphore modules need from a
 * {@link SharedMemory} without it being public: its native handle (or a
 * closed error), and the set of pending waits on it, so that `close()` and
 * `resize()` can act on them (see {@link nativeWait}).
 * @internal
 * @module
 */
import { closedError } from '../errors.js';
import { type ShmHandle } from './native.js';
import { type PendingWait } from './waiting.js';

/** The private state of one SharedMemory object. */
export class SegmentState {
  handle: ShmHandle | null;
  /** The size this process maps (the ArrayBuffer's length). */
  size: number;
  /** An Int32Array over the whole mapping (over its first size & ~3 bytes). */
  words: Int32Array;
  readonly waits = new Set<PendingWait>();

  constructor(handle: ShmHandle, buffer: ArrayBuffer) {
    this.handle = handle;
    this.size = buffer.byteLength;
    this.words = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
  }

  /** After a remap. */
  setBuffer(buffer: ArrayBuffer): void {
    this.size = buffer.byteLength;
    this.words = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
  }

  /** The native handle; throws `ERR_POSIX_IPC_CLOSED` once closed. */
  open(): ShmHandle {
    if (this.handle === null) throw closedError('SharedMemory');
    return this.handle;
  }
}

/**
 * The key of SharedMemory's getter for its {@link SegmentState}, like Node's
 * `kHandle`: a symbol that only lib/ can name (the package exports no
 * internal module). A prototype getter is not enumerable, so the state
 * stays out of `util.inspect` too.
 */
export const kSegment: unique symbol = Symbol('posix-ipc.segment');

/** The state behind a SharedMemory argument; TypeError for anything else. */
export function segmentOf(value: unknown, name = 'shm'): SegmentState {
  const state = typeof value === 'object' && value !== null ? (value as { [kSegment]?: unknown })[kSegment] : undefined;
  if (!(state instanceof SegmentState)) {
    throw new TypeError(`The "${name}" argument must be an instance of SharedMemory`);
  }
  return state;
}

/**
 * Checks a byte offset for `length` bytes at `alignment` inside the segment
 * (the native side checks again).
 */
export function validateSlice(state: SegmentState, byteOffset: unknown, length: number, alignment: number, name = 'byteOffset'): number {
  if (typeof byteOffset !== 'number') {
    throw new TypeError(`The "${name}" argument must be of type number. Received type ${typeof byteOffset}`);
  }
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset + length > state.size) {
    throw new RangeError(
      `The value of "${name}" is out of range. It must be an integer >= 0 and <= ${state.size - length} ` +
        `(a ${length}-byte slot inside ${state.size} bytes). Received ${byteOffset}`,
    );
  }
  if (byteOffset % alignment !== 0) {
    throw new RangeError(`The value of "${name}" must be a multiple of ${alignment}. Received ${byteOffset}`);
  }
  return byteOffset;
}

/**
 * What the futex and in-segment semaphore modules need from a
 * {@link SharedMemory} without it being public: its native handle (or a
 * closed error), and a registry of pending waits so that `close()` and
 * `resize()` can act on them.
 * @internal
 * @module
 */
import { abortError, closedError } from '../errors.js';
import { native, type ShmHandle, type WaitCallback, type WaitHandle } from './native.js';

/** A pending native wait on bytes of a segment, up to byte `end`. */
export interface PendingWait {
  readonly end: number;
  /** Cancels the native wait and rejects its promise with `reason`. */
  cancel(reason: Error): void;
}

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

let access: ((value: unknown) => SegmentState | undefined) | undefined;

/** Called once by lib/shm.ts, whose private field holds the state. */
export function registerSegmentAccess(fn: (value: unknown) => SegmentState | undefined): void {
  access = fn;
}

/** The state behind a SharedMemory argument; TypeError for anything else. */
export function segmentOf(value: unknown, name = 'shm'): SegmentState {
  const state = access?.(value);
  if (state === undefined) {
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

/**
 * Runs a native wait on bytes [.., end) of the segment as a Promise. It
 * rejects with an AbortError when `signal` aborts, and with the owner's
 * closed error when the segment (or `owner`) is closed; in every case the
 * native wait is cancelled and its thread lets go of the mapping within one
 * slice (50 ms).
 */
export function segmentWait(
  state: SegmentState,
  end: number,
  start: (callback: WaitCallback) => WaitHandle,
  signal: AbortSignal | undefined,
  owner?: Set<PendingWait>,
): Promise<number> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      state.waits.delete(pending);
      owner?.delete(pending);
      return true;
    };
    const pending: PendingWait = {
      end,
      cancel(reason: Error): void {
        if (!settle()) return;
        native.cancelWait(handle); // only reachable once `handle` is set below
        reject(reason);
      },
    };
    const onAbort = (): void => pending.cancel(abortError(signal!));
    const handle = start((err, result) => {
      if (!settle()) return;
      if (err) reject(err);
      else resolve(result);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    state.waits.add(pending);
    owner?.add(pending);
  });
}

/**
 * Cross-process wait and wake on a 32-bit word inside a {@link SharedMemory}
 * segment: what `Atomics.wait`/`Atomics.notify` do for threads, for
 * processes (which `Atomics.wait` cannot reach, and which cannot use it on
 * the segment's non-shared `ArrayBuffer`).
 *
 * The usual pattern: the word is an `Int32Array` element read and written
 * with `Atomics`; a sleeper calls `futexWait*(shm, offset, seenValue)`, which
 * returns at once (`'not-equal'`) if the word has already moved on; a waker
 * changes the word with `Atomics`, then calls {@link futexWake}.
 *
 * - Linux: `futex(2)` on the shared page (not the process-private variant),
 *   with absolute `CLOCK_MONOTONIC` deadlines.
 * - macOS 14.4+: `os_sync_wait_on_address` / `os_sync_wake_by_address_any`
 *   with the SHARED flags. Older macOS: waits poll the word with backoff
 *   (50 us to 5 ms) and `futexWake` returns 0.
 * @module
 */
import { abortError } from './errors.js';
import { validateAbortSignal, validateInteger, validateOptions, validateTimeout } from './internal/validators.js';
import { native } from './internal/native.js';
import { segmentOf, validateSlice } from './internal/segment.js';
import { nativeWait } from './internal/waiting.js';
import type { SharedMemory } from './shm.js';

/** The outcome of a futex wait, as the strings of `Atomics.wait`. */
export type FutexWaitResult = 'ok' | 'not-equal' | 'timed-out';

/** Native result codes 0, 1, 2 (native/posix/futex.h FutexResult). */
const RESULTS: readonly FutexWaitResult[] = ['ok', 'not-equal', 'timed-out'];

/** Options of {@link futexWait}. */
export interface FutexWaitOptions {
  /** Give up after this many ms (`'timed-out'`). Default: no limit. */
  timeoutMs?: number;
  /** Cancels the wait: the promise rejects with an `AbortError`. */
  signal?: AbortSignal;
}

function validateExpected(value: unknown): number {
  // Accept int32 and uint32 spellings of the same 32 bits.
  return validateInteger(value, 'expected', -(2 ** 31), 2 ** 32 - 1) | 0;
}

/**
 * Blocks the calling thread while the 32-bit word at `byteOffset` of `shm`
 * equals `expected`, until another process (or thread) calls
 * {@link futexWake} on it, or `timeoutMs` passes.
 *
 * Returns `'not-equal'` when the word differs at the call, `'timed-out'`
 * after `timeoutMs`, `'ok'` otherwise: woken, or a wake-up without a wake
 * (as with `Atomics.wait`, re-check the word in a loop).
 *
 * `byteOffset` must be a multiple of 4 inside the segment (RangeError);
 * `expected` an int32 or uint32 (its 32 bits are compared). Throws
 * `ERR_POSIX_IPC_CLOSED` when `shm` is closed, `EFAULT` (syscall `futex`)
 * if the word lies past the end of a segment another process shrank.
 * This blocks the event loop: for a worker thread or a dedicated process;
 * otherwise use {@link futexWait}.
 */
export function futexWaitSync(shm: SharedMemory, byteOffset: number, expected: number, timeoutMs?: number): FutexWaitResult {
  const state = segmentOf(shm);
  const handle = state.open();
  validateSlice(state, byteOffset, 4, 4);
  const value = validateExpected(expected);
  const timeout = validateTimeout(timeoutMs);
  // The kernel would say the same, for the price of a system call.
  if (Atomics.load(state.words, byteOffset >>> 2) !== value) return 'not-equal';
  return RESULTS[native.futexWaitSync(handle, byteOffset, value, timeout)]!;
}

/**
 * The event-loop form of {@link futexWaitSync}: the wait runs on a thread of
 * its own (never libuv's pool), so any number can be pending while `fs` and
 * `dns` keep working. Resolves with the same strings.
 *
 * Rejects with an `AbortError` when `options.signal` aborts, and with
 * `ERR_POSIX_IPC_CLOSED` when `shm` is closed meanwhile; the native wait
 * notices either within 50 ms. Throws synchronously for bad arguments
 * (TypeError/RangeError) or a closed `shm`.
 */
export function futexWait(shm: SharedMemory, byteOffset: number, expected: number, options?: FutexWaitOptions): Promise<FutexWaitResult> {
  const state = segmentOf(shm);
  const handle = state.open();
  validateSlice(state, byteOffset, 4, 4);
  const value = validateExpected(expected);
  const opts = validateOptions(options);
  const timeout = validateTimeout(opts.timeoutMs);
  const signal = validateAbortSignal(opts.signal);
  if (signal?.aborted) return Promise.reject(abortError(signal));
  // No thread to start when the word has already moved on.
  if (Atomics.load(state.words, byteOffset >>> 2) !== value) return Promise.resolve('not-equal');
  return nativeWait((cb) => native.futexWait(handle, byteOffset, value, timeout, cb), {
    signal,
    pending: [state.waits],
    end: byteOffset + 4,
  }).then((code) => RESULTS[code]!);
}

/**
 * Wakes up to `count` waiters (default: all) sleeping on the word at
 * `byteOffset` of `shm`, in this or any other process, and returns how many
 * were woken. Change the word (with `Atomics`) before waking, or a waiter
 * may sleep again. Throws like {@link futexWaitSync} for bad arguments or a
 * closed `shm`.
 */
export function futexWake(shm: SharedMemory, byteOffset: number, count = Infinity): number {
  const state = segmentOf(shm);
  const handle = state.open();
  validateSlice(state, byteOffset, 4, 4);
  if (count !== Infinity) validateInteger(count, 'count', 0);
  return native.futexWake(handle, byteOffset, count);
}

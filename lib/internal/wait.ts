/**
 * Turns a wait running on a dedicated native thread (native/binding/waiter.cc)
 * into a Promise, with AbortSignal support.
 * @internal
 * @module
 */
import { abortError } from '../errors.js';
import { native, type WaitCallback, type WaitHandle } from './native.js';

/** Native wait results (native/posix/semaphore.h WaitResult, and alike). */
export const WAIT_ACQUIRED = 0;
export const WAIT_TIMED_OUT = 1;
export const WAIT_CANCELLED = 2;
/** binding::kCancelled */
export const WAIT_ABORTED = -1;

/**
 * Starts a native wait and resolves with its result code. When `signal`
 * aborts, the native wait is cancelled (it notices within one slice, 50 ms at
 * most) and the promise rejects with an AbortError at once.
 *
 * A count the native side acquires after noticing the cancel flag is given
 * back there; but the thread may acquire just before the flag is set, after
 * the promise already rejected. `giveBack` runs in that case, so a counting
 * wait (a semaphore) never loses a count.
 */
export function nativeWait(start: (callback: WaitCallback) => WaitHandle, signal?: AbortSignal, giveBack?: () => void): Promise<number> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const onAbort = (): void => {
      if (settled) return;
      settled = true;
      native.cancelWait(handle);
      reject(abortError(signal!));
    };
    const handle = start((err, result) => {
      signal?.removeEventListener('abort', onAbort);
      if (settled) {
        if (err === null && result === WAIT_ACQUIRED) giveBack?.();
        return;
      }
      settled = true;
      if (err) reject(err);
      else resolve(result);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

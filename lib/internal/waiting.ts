/**
 * Every way posix-ipc waits, in one place: deadlines, abort listeners,
 * backoff loops (async and sync), a bounded spin, an abortable delay, and
 * the Promise over a wait on a dedicated native thread.
 * Nothing here blocks the event loop except the functions named `...Sync`.
 * @internal
 * @module
 */
import { addAbortListener } from 'node:events';

import { abortError } from '../errors.js';
import { native, type WaitCallback, type WaitHandle } from './native.js';
import { sleepSync } from './sleep.js';

/** The monotonic time (`performance.now()`) at which `timeoutMs` from now ends; Infinity for no limit. */
export function deadlineAfter(timeoutMs: number): number {
  return timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
}

/** Milliseconds left until `deadline` (never negative). */
export function msLeft(deadline: number): number {
  return Math.max(0, deadline - performance.now());
}

/** The longest delay `setTimeout` honours (Node clamps a longer one to 1 ms, with a TimeoutOverflowWarning). */
export const TIMER_MAX_MS = 2 ** 31 - 1;

/**
 * Calls `fn` once after `ms` (any finite length: a delay over
 * {@link TIMER_MAX_MS} is armed in steps of at most that and re-armed until
 * the real deadline). Returns the cancel. `unref` the timer with `unref`.
 */
export function afterMs(ms: number, fn: () => void, unref = false): () => void {
  const deadline = deadlineAfter(ms);
  let timer: NodeJS.Timeout;
  const arm = (left: number): void => {
    timer = setTimeout(
      () => {
        const rest = msLeft(deadline);
        if (rest > 0) arm(rest);
        else fn();
      },
      Math.min(left, TIMER_MAX_MS),
    );
    if (unref) timer.unref();
  };
  arm(ms);
  return () => clearTimeout(timer);
}

const NOTHING: Disposable = { [Symbol.dispose]() {} };

/**
 * Calls `fn` once when `signal` aborts (Node's `events.addAbortListener`:
 * other listeners calling `stopImmediatePropagation` cannot suppress it).
 * Dispose the result to stop listening. No signal: nothing to dispose.
 */
export function onAbort(signal: AbortSignal | undefined, fn: () => void): Disposable {
  return signal === undefined ? NOTHING : addAbortListener(signal, fn);
}

/**
 * One abort listener for many waits on the same signal. Adding and removing
 * an abort listener costs over 1 us, more than a whole message on a fast
 * channel; an end's waits reuse one signal, so this adds a listener only when
 * the signal changes (dropping the previous one) and `onAborted` wakes the
 * waiters that used it. Dispose it when the owner closes.
 */
export class AbortWatch {
  readonly #onAborted: (signal: AbortSignal) => void;
  #signal: AbortSignal | undefined;
  #listener: Disposable | undefined;

  constructor(onAborted: (signal: AbortSignal) => void) {
    this.#onAborted = onAborted;
  }

  watch(signal: AbortSignal | undefined): void {
    if (signal === undefined || signal === this.#signal) return;
    this.dispose();
    this.#signal = signal;
    this.#listener = onAbort(signal, () => this.#onAborted(signal));
  }

  dispose(): void {
    this.#listener?.[Symbol.dispose]();
    this.#listener = undefined;
    this.#signal = undefined;
  }
}

/** Throws the AbortError for `signal` if it has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/**
 * Resolves after `ms`, or rejects with an AbortError when `signal` aborts
 * first. The timer does not keep a process alive any more than the caller's
 * pending promise does.
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      listener[Symbol.dispose]();
      resolve();
    }, ms);
    const listener = onAbort(signal, () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    });
  });
}

/** Options of {@link backoff} and {@link backoffSync}. */
export interface BackoffOptions {
  /** `performance.now()` time after which `onTimeout()` is thrown. */
  deadline: number;
  /** The error for a deadline that passed. */
  onTimeout: () => Error;
  signal?: AbortSignal;
  /** First pause in ms (default 1); each pause doubles up to `maxMs`. */
  firstMs?: number;
  /** Longest pause in ms (default 20). */
  maxMs?: number;
}

/**
 * Calls `step` until it returns something other than `undefined`, pausing
 * between calls with exponential backoff (1, 2, 4 ... 20 ms by default) on
 * the event loop. Rejects with `onTimeout()` once the deadline passed, or an
 * AbortError. `step` may throw to end the loop with that error.
 */
export async function backoff<R>(step: () => R | undefined, options: BackoffOptions): Promise<R> {
  let pause = options.firstMs ?? 1;
  const max = options.maxMs ?? 20;
  for (;;) {
    throwIfAborted(options.signal);
    const result = step();
    if (result !== undefined) return result;
    const left = options.deadline - performance.now();
    if (left <= 0) throw options.onTimeout();
    await delay(Math.min(pause, left), options.signal);
    pause = Math.min(pause * 2, max);
  }
}

/** {@link backoff} for the blocking (`...Sync`) paths: the pauses block the thread. */
export function backoffSync<R>(step: () => R | undefined, options: Omit<BackoffOptions, 'signal'>): R {
  let pause = options.firstMs ?? 1;
  const max = options.maxMs ?? 20;
  for (;;) {
    const result = step();
    if (result !== undefined) return result;
    const left = options.deadline - performance.now();
    if (left <= 0) throw options.onTimeout();
    sleepSync(Math.min(pause, left));
    pause = Math.min(pause * 2, max);
  }
}

/**
 * Busy-waits up to `ns` nanoseconds for `ready()` to become true, and
 * returns its last answer. A peer that answers within the spin never pays
 * for a sleep and a wake-up.
 */
export function spin(ready: () => boolean, ns: bigint): boolean {
  if (ready()) return true;
  const until = process.hrtime.bigint() + ns;
  while (process.hrtime.bigint() < until) {
    if (ready()) return true;
  }
  return ready();
}

/**
 * Runs `wait` (which must honour the signal it is given) under the caller's
 * `signal` and `deadline`: resolves with its result, or rejects with an
 * AbortError or `onTimeout()`; in both cases the inner wait is aborted, so
 * nothing stays pending.
 */
export function bounded<R>(
  wait: (signal: AbortSignal) => Promise<R>,
  signal: AbortSignal | undefined,
  deadline: number,
  onTimeout: () => Error,
): Promise<R> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  if (deadline <= performance.now()) return Promise.reject(onTimeout());
  const inner = new AbortController();
  return new Promise<R>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      clearTimeout(timer);
      listener[Symbol.dispose]();
    };
    const listener = onAbort(signal, () => {
      finish();
      inner.abort();
      reject(abortError(signal!));
    });
    if (deadline !== Infinity) {
      timer = setTimeout(() => {
        finish();
        inner.abort();
        reject(onTimeout());
      }, msLeft(deadline));
    }
    wait(inner.signal).then(
      (value) => {
        finish();
        resolve(value);
      },
      (err: unknown) => {
        finish();
        reject(err);
      },
    );
  });
}

/**
 * Waits in `list` until someone takes the entry out and settles it: the
 * entry is built from the wait's own resolve and reject and pushed at once;
 * on abort or timeout ({@link bounded}) it is taken out again, so nothing
 * stays queued. What a port's, a rendezvous's and a group's waiters share.
 */
export function waitInList<T, E>(
  list: E[],
  entry: (resolve: (value: T) => void, reject: (err: unknown) => void) => E,
  signal: AbortSignal | undefined,
  deadline: number,
  onTimeout: () => Error,
): Promise<T> {
  // Nothing can end the wait but its list: no controller, listener or timer to set up (a hot path: a group's multicast, an inbox).
  if (signal === undefined && deadline === Infinity) return new Promise<T>((resolve, reject) => void list.push(entry(resolve, reject)));
  return bounded(
    (inner) =>
      new Promise<T>((resolve, reject) => {
        const e = entry(resolve, reject);
        list.push(e);
        onAbort(inner, () => {
          const i = list.indexOf(e);
          if (i >= 0) list.splice(i, 1);
          reject(abortError(inner));
        });
      }),
    signal,
    deadline,
    onTimeout,
  );
}

/**
 * Native wait results (native/posix/semaphore.h WaitResult, and alike): 0 and
 * 1; a cancelled wait reports another code, which never reaches the caller.
 */
export const WAIT_ACQUIRED = 0;
export const WAIT_TIMED_OUT = 1;

/** A native wait in progress, as the pending sets of {@link nativeWait} hold it. */
export interface PendingWait {
  /** One past the last byte of a segment the wait uses (0: none), which `resize()` must keep. */
  readonly end: number;
  /** Cancels the native wait and rejects its promise with `reason`. Idempotent. */
  cancel(reason: Error): void;
}

/** Options of {@link nativeWait}. */
export interface NativeWaitOptions {
  /** Cancels the wait: the promise rejects with an AbortError. */
  signal?: AbortSignal | undefined;
  /**
   * Sets that hold the wait while it is pending, so that their owners can
   * cancel it (`close()`) or see the bytes it uses (`resize()`).
   */
  pending?: readonly Set<PendingWait>[];
  /** {@link PendingWait.end}; default 0. */
  end?: number;
  /**
   * Runs when the thread acquired (a count, for a semaphore) after the
   * promise was already rejected, so that a counting wait never loses one.
   * (What the thread acquires after noticing the cancellation, the native
   * side gives back itself.)
   */
  giveBack?: () => void;
}

/**
 * Starts a native wait (native/binding/waiter.cc) and resolves with its
 * result code. When `signal` aborts, or an owner calls `cancel(reason)` on
 * it through a pending set, the native wait is cancelled (its thread notices
 * within one slice, 50 ms at most, and lets go of any mapping) and the
 * promise rejects at once, with an AbortError or `reason`.
 */
export function nativeWait(start: (callback: WaitCallback) => WaitHandle, options: NativeWaitOptions = {}): Promise<number> {
  const { signal, pending = [], end = 0, giveBack } = options;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      listener[Symbol.dispose]();
      for (const set of pending) set.delete(wait);
      return true;
    };
    const wait: PendingWait = {
      end,
      cancel(reason: Error): void {
        if (!settle()) return;
        native.cancelWait(handle);
        reject(reason);
      },
    };
    // The callback and cancel() only run after `handle` and `listener` are set.
    const handle = start((err, result) => {
      if (settle()) {
        if (err) reject(err);
        else resolve(result);
      } else if (err === null && result === WAIT_ACQUIRED) {
        giveBack?.();
      }
    });
    const listener = onAbort(signal, () => wait.cancel(abortError(signal!)));
    for (const set of pending) set.add(wait);
  });
}

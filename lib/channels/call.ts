/**
 * What every async call of a channel end shares: its options checked once
 * into settings, and the arming of a queued call's deadline and signal.
 * @internal
 * @module
 */
import { AbortError, isSystemError } from '../errors.js';
import { validateAbortSignal, validateOptions, validateTimeout } from '../internal/validators.js';
import { deadlineAfter, msLeft, onAbort } from '../internal/waiting.js';
import type { CallOptions, SyncOptions } from './types.js';

/** Resolved call options: the caller's signal and the deadline (`performance.now()` time). */
export interface CallSettings {
  signal: AbortSignal | undefined;
  deadline: number;
}

/** No signal, no deadline. */
export const NO_LIMIT: CallSettings = { signal: undefined, deadline: Infinity };

/** Checks async call options once. */
export function callSettings(options: CallOptions | undefined): CallSettings {
  if (options === undefined) return NO_LIMIT;
  const opts = validateOptions(options);
  return {
    signal: validateAbortSignal(opts.signal, 'options.signal'),
    deadline: deadlineAfter(validateTimeout(opts.timeoutMs, 'options.timeoutMs')),
  };
}

/** The deadline of a sync call's options. */
export function syncDeadline(options: SyncOptions | undefined): number {
  return options === undefined ? Infinity : deadlineAfter(validateTimeout(validateOptions(options).timeoutMs, 'options.timeoutMs'));
}

/** The AbortError of a call whose signal aborted. */
export function aborted(call: CallSettings): AbortError {
  return new AbortError(undefined, { cause: call.signal?.reason });
}

export function isAbortOrTimeout(err: unknown): boolean {
  return err instanceof AbortError || isSystemError(err, 'ETIMEDOUT');
}

/**
 * Arms a queued call: `giveUp` runs (at most once per cause) with an
 * AbortError when the signal aborts, or with `timedOut()` at the deadline.
 * Returns the disarm function, called once the call is settled.
 */
export function armCall(call: CallSettings, timedOut: () => Error, giveUp: (err: Error) => void): () => void {
  if (call === NO_LIMIT) return () => undefined;
  const listener = onAbort(call.signal, () => giveUp(aborted(call)));
  const timer = call.deadline === Infinity ? undefined : setTimeout(() => giveUp(timedOut()), msLeft(call.deadline));
  return () => {
    clearTimeout(timer);
    listener[Symbol.dispose]();
  };
}

/** A receive found nothing to take now. */
export const NONE: unique symbol = Symbol('none');
/** A receive found the end of the stream. */
export const DONE: unique symbol = Symbol('done');

/** What `select` takes from a receiver: one message now, NONE or DONE (never waits). */
export const kTake = Symbol('take');

/** A waiting receive: one message, up to `max` messages, or readiness only (`max` 0). */
export interface Waiter {
  readonly max: number;
  resolve(value: unknown): void;
  reject(err: Error): void;
  dispose: () => void;
}

/**
 * A server's `for await`: its connections, from `accept()`, until it is
 * closed (then the iteration ends quietly; any other error is thrown).
 */
export async function* acceptEach<C>(accept: () => Promise<C>, closed: () => boolean): AsyncGenerator<C> {
  while (!closed()) {
    try {
      yield await accept();
    } catch (err) {
      if (closed()) return;
      throw err;
    }
  }
}

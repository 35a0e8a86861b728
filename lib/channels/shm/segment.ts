/**
 * The life of a shared-memory channel's name: create it (replacing what a
 * killed process left), open it once its creator finished the header, tell
 * live from stale, and remove it only while it is still ours.
 * @internal
 * @module
 */
import { randomInt } from 'node:crypto';

import { corruptError, isSystemError, systemError } from '../../errors.js';
import { die, FAULTS, faultHere } from '../../internal/fault.js';
import { isAlive } from '../../internal/liveness.js';
import { backoff, backoffSync, deadlineAfter } from '../../internal/waiting.js';
import { SharedMemory } from '../../shm.js';
import {
  headerWords,
  I_CONSUMER_CLOSED,
  I_CONSUMER_PID,
  I_CREATOR_PID,
  I_NONCE,
  I_PRODUCER_CLOSED,
  I_PRODUCER_PID,
  I_STATE,
  initRing,
  segmentSize,
  STATE_INIT,
} from './header.js';

/** How long a segment may stay without a header (its creator is writing it) before it counts as stale. */
export const INIT_BOUND_MS = 2000;

/** A segment this process mapped for a channel end. */
export interface Opened {
  shm: SharedMemory;
  created: boolean;
  /** Identifies the creator's segment, so its exit hook never removes a successor's. */
  nonce: number;
}

/** What a segment found at a channel's name is: used by a live process, being created right now, or left by the dead. */
type SegmentStatus = 'live' | 'creating' | 'stale';

/** A segment of size 0: its creator is between shm_open and sizing it, or died there. */
function isUnsized(err: unknown): boolean {
  return isSystemError(err) && err.syscall === 'mmap' && (err.code === 'EAGAIN' || err.code === 'EINVAL');
}

function segmentStatus(shm: SharedMemory): SegmentStatus {
  if (shm.size < segmentSize(64)) return 'stale'; // a creator sizes it whole, in one call: not a ring
  const h = headerWords(shm.buffer);
  const pids = [h[I_CREATOR_PID]!, h[I_PRODUCER_PID]!, h[I_CONSUMER_PID]!];
  if (pids.some((pid) => pid !== process.pid && isAlive(pid))) return 'live';
  // This process counts as a user while an end it attached is still open, or
  // while it created the segment and has not attached an end yet: a second
  // creation in the same process must fail with EEXIST like one elsewhere.
  const mine = [
    [I_PRODUCER_PID, I_PRODUCER_CLOSED],
    [I_CONSUMER_PID, I_CONSUMER_CLOSED],
  ].filter(([pid]) => Atomics.load(h, pid!) === process.pid);
  if (mine.some(([, closed]) => Atomics.load(h, closed!) === 0)) return 'live';
  if (h[I_CREATOR_PID] === process.pid && mine.length === 0) return 'live';
  // No pid and no header yet: its creator may be between the exclusive
  // create and its first header store, or may have died there.
  if (pids.every((pid) => pid === 0) && Atomics.load(h, I_STATE) === STATE_INIT) return 'creating';
  return 'stale';
}

/** One look at `name`. A segment of size 0 counts as being created. */
function lookAt(name: string): SegmentStatus | 'absent' {
  let shm: SharedMemory;
  try {
    shm = SharedMemory.open(name, { create: 'open' });
  } catch (err) {
    if (isSystemError(err, 'ENOENT')) return 'absent';
    if (isUnsized(err)) return 'creating';
    throw err;
  }
  try {
    return segmentStatus(shm);
  } finally {
    shm.close();
  }
}

/**
 * One step of the stale-segment clean-up: `true` (removed), `false` (nothing
 * to remove: absent or live), or `undefined` to look again. A segment still
 * being created `INIT_BOUND_MS` after `since` is stale: its creator died.
 */
function removeStaleStep(name: string, since: number): boolean | undefined {
  const status = lookAt(name);
  if (status === 'absent' || status === 'live') return false;
  if (status === 'creating' && performance.now() - since <= INIT_BOUND_MS) return undefined;
  try {
    SharedMemory.unlink(name);
  } catch (err) {
    if (isSystemError(err, 'ENOENT')) return false; // someone else removed it first
    throw err;
  }
  return true;
}

const NEVER = { deadline: Infinity, onTimeout: () => new Error('unreachable') };

/**
 * Removes a channel's segment if nobody alive uses it (what a `kill -9`
 * leaves). Returns true when it removed one. A live channel is left alone.
 * A segment whose creator is still writing its header is waited for; one
 * left without any header (its creator died right after creating it) is
 * removed once it stayed so for 2 s, so this call may block that long.
 */
export function removeStaleShmChannel(name: string): boolean {
  const since = performance.now();
  return backoffSync(() => removeStaleStep(name, since), NEVER);
}

/** {@link removeStaleShmChannel} for the event loop: waits for a creator without blocking. */
function removeStaleShmChannelAsync(name: string): Promise<boolean> {
  const since = performance.now();
  return backoff(() => removeStaleStep(name, since), NEVER);
}

/** Unlinks `name` only while it still names the segment this process created with `nonce`. */
export function unlinkIfOurs(name: string, nonce: number): void {
  let shm: SharedMemory;
  try {
    shm = SharedMemory.open(name, { create: 'open' });
  } catch (err) {
    if (isSystemError(err, 'ENOENT') || isUnsized(err)) return;
    throw err;
  }
  try {
    if (shm.size < segmentSize(64)) return;
    const h = headerWords(shm.buffer);
    if (h[I_CREATOR_PID] === process.pid && h[I_NONCE] === nonce) SharedMemory.unlink(name);
  } finally {
    shm.close();
  }
}

/** Creates the segment exclusively, replacing a stale one once; writes the header. */
export async function createSegment(name: string, capacity: number, mode: number, maxMessage: number): Promise<Opened> {
  for (let attempt = 0; ; attempt++) {
    let shm: SharedMemory;
    try {
      shm = SharedMemory.open(name, { create: 'exclusive', size: segmentSize(capacity), mode });
    } catch (err) {
      if (!isSystemError(err, 'EEXIST') || attempt > 0 || !(await removeStaleShmChannelAsync(name))) throw err;
      continue;
    }
    if (FAULTS && faultHere('create')) die();
    const nonce = randomInt(1, 2 ** 31 - 1);
    try {
      initRing(shm.buffer, capacity, maxMessage, nonce);
    } catch (err) {
      shm.close();
      SharedMemory.unlink(name);
      throw err;
    }
    return { shm, created: true, nonce };
  }
}

/**
 * Opens a segment someone else creates: waits (on the event loop) for it to
 * appear, be sized and get its header, up to `timeoutMs`; one stuck half-made
 * for {@link INIT_BOUND_MS} is reported as corrupt.
 */
export function openSegment(name: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<Opened> {
  let halfSeen: number | undefined;
  const halfMade = (): undefined => {
    halfSeen ??= performance.now();
    if (performance.now() - halfSeen > INIT_BOUND_MS) {
      throw corruptError(
        `The shared ring '${name}' stayed half-made for ${INIT_BOUND_MS} ms (its creator died?); remove it with removeStaleShmChannel()`,
      );
    }
    return undefined;
  };
  return backoff<Opened>(
    () => {
      let shm: SharedMemory;
      try {
        shm = SharedMemory.open(name, { create: 'open' });
      } catch (err) {
        if (isUnsized(err)) return halfMade();
        if (isSystemError(err, 'ENOENT')) return undefined;
        throw err;
      }
      // The creator sets the size and then the header; state becomes ready last.
      if (shm.size >= segmentSize(64) && Atomics.load(headerWords(shm.buffer), I_STATE) !== STATE_INIT)
        return { shm, created: false, nonce: 0 };
      shm.close();
      return halfMade();
    },
    {
      deadline: deadlineAfter(timeoutMs),
      signal,
      onTimeout: () => systemError('ETIMEDOUT', 'shm_open', name, 'the channel was not created in time'),
    },
  );
}

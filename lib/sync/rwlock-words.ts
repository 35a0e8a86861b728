/**
 * The words of a readers/writer lock's segment and the header check (shared
 * memory is untrusted). See ./rwlock.ts for the protocol.
 * @internal
 * @module
 */
import { checkLockHeader, type LockLayout } from './lock-segment.js';
import { corrupt, ownerPidOf, CONSISTENT, NOT_RECOVERABLE, OWNER_DIED } from './mutex-words.js';

export const RW_MAGIC = 0x4c575250; // 'PRWL' little-endian
export const RW_VERSION = 1;
export const RW_HEADER_BYTES = 64;
export const KIND = 'readers/writer lock';
export const RW_LAYOUT: LockLayout = { kind: KIND, magic: RW_MAGIC, version: RW_VERSION, headerBytes: RW_HEADER_BYTES };

// Int32 indices.
// 0 magic, 1 version, 2 header bytes: see ./lock-segment.ts.
export const I_STATE = 3;
/** The wake sequence: every release bumps it; waiters sleep on it. */
export const I_SEQ = 4;
/** Callers asleep on the wake sequence (readers and writers). */
export const I_WAITERS = 5;
/** The number of reader slots. */
export const I_SLOTS = 6;
/** Readers asleep on the wake sequence. */
export const I_READERS_WAITING = 7;
/** The read phase: readers that may still enter before the next writer claims. */
export const I_READ_PHASE = 8;
/** 1 while the writer word's owner holds the lock (its readers drained); 0 while it is only claimed. */
export const I_WRITER_HELD = 9;

// BigUint64 indices.
/** The writer word: 0, or the owner word (pid and start time) of the writer that claimed or holds the lock. */
export const I_WRITER = 6;
/** The first reader slot: each is 0 or a reader's owner word. */
export const I_FIRST_SLOT = 8;

export const DEFAULT_SLOTS = 64;
export const MAX_SLOTS = 4096;

export function segmentBytes(slots: number): number {
  return RW_HEADER_BYTES + 8 * slots;
}

/**
 * Checks the header of the segment `name` (of `size` bytes) and the writer
 * word; returns the state. Garbage is an `ERR_LOCK_CORRUPT`, never an
 * access out of bounds.
 */
export function checkRwHeader(name: string, size: number, w: Int32Array, big: BigUint64Array): number {
  checkLockHeader(name, w, RW_LAYOUT);
  const slots = w[I_SLOTS]!;
  if (slots < 1 || slots > MAX_SLOTS || segmentBytes(slots) > size) throw corrupt(name, `bad reader slot count ${slots}`, KIND);
  const state = Atomics.load(w, I_STATE);
  if (state !== CONSISTENT && state !== OWNER_DIED && state !== NOT_RECOVERABLE) throw corrupt(name, `bad state ${state}`, KIND);
  const held = Atomics.load(w, I_WRITER_HELD);
  if (held !== 0 && held !== 1) throw corrupt(name, `bad writer-held word ${held}`, KIND);
  ownerPidOf(name, Atomics.load(big, I_WRITER), KIND);
  return state;
}

/**
 * The words of a robust mutex's segment, and what reads them: the header
 * check (shared memory is untrusted), the owner word's encoding, and
 * whether the owner it names has ended. See ./robust-mutex.ts.
 * @internal
 * @module
 */
import { LockError } from '../errors.js';
import { isAlive, processStartTime } from '../internal/liveness.js';
import { checkLockHeader, corrupt, type LockLayout } from './lock-segment.js';

export { corrupt };

export const MAGIC = 0x584d5250; // 'PRMX' little-endian
export const VERSION = 1;
/** Bytes of a robust mutex's segment. */
export const HEADER_BYTES = 64;
/** The robust mutex's segment: its magic, version and size words are checked by ./lock-segment.ts. */
export const MUTEX_LAYOUT: LockLayout = { kind: 'robust mutex', magic: MAGIC, version: VERSION, headerBytes: HEADER_BYTES };
export const I_STATE = 3;
export const I_SEQ = 4;
export const I_WAITERS = 5;
export const SEQ_OFFSET = I_SEQ * 4;
/** Index of the owner word in a BigUint64Array over the header. */
export const I_OWNER = 4;

export const CONSISTENT = 0;
export const OWNER_DIED = 1;
export const NOT_RECOVERABLE = 2;

export const PID_BITS = 42n;
export const START_MASK = (1n << PID_BITS) - 1n;
/** Linux pids are below 2^22 (PID_MAX_LIMIT); macOS's far below. */
export const PID_LIMIT = 2 ** 22;

let ownToken: bigint | undefined;

/** This process's owner word: its pid and start time (0 where the start time is unknown: macOS). */
export function myToken(): bigint {
  ownToken ??= (BigInt(process.pid) << PID_BITS) | (BigInt(processStartTime(process.pid) ?? 0) & START_MASK);
  return ownToken;
}

export function notOwner(name: string, what: string, kind = 'robust mutex'): LockError {
  return new LockError('ERR_LOCK_NOT_OWNER', name, `${what}() of ${kind} '${name}' by a caller that does not hold it`);
}

/** The pid in owner word `token` (0: free); `ERR_LOCK_CORRUPT` for a word no locker writes. */
export function ownerPidOf(name: string, token: bigint, kind?: string): number {
  const pid = Number(token >> PID_BITS);
  if (token !== 0n && (pid <= 0 || pid >= PID_LIMIT)) throw corrupt(name, `bad owner word 0x${token.toString(16)}`, kind);
  return pid;
}

/**
 * Checks the header words `w` and the owner word of the segment `name`;
 * returns the state. Garbage is an `ERR_LOCK_CORRUPT`, never a wrong access.
 */
export function checkHeader(name: string, w: Int32Array, owner: BigUint64Array): number {
  checkLockHeader(name, w, MUTEX_LAYOUT);
  const state = Atomics.load(w, I_STATE);
  if (state !== CONSISTENT && state !== OWNER_DIED && state !== NOT_RECOVERABLE) throw corrupt(name, `bad state ${state}`);
  ownerPidOf(name, Atomics.load(owner, I_OWNER));
  return state;
}

/**
 * Whether the owner `token` names has ended: its pid does not run, or now
 * belongs to a process started at another time (pid reuse). Where the
 * start time is unknown (recorded as 0, or /proc hides the process), the
 * pid alone decides.
 */
export function ownerGone(name: string, token: bigint, kind?: string): boolean {
  const pid = ownerPidOf(name, token, kind);
  if (pid === process.pid) return false;
  if (!isAlive(pid)) return true;
  const recorded = token & START_MASK;
  if (recorded === 0n) return false;
  const start = processStartTime(pid);
  return start !== undefined && (BigInt(start) & START_MASK) !== recorded;
}

/**
 * The protocol of a readers/writer lock on its segment's words: the
 * attempts of readers and writers, the releases, the read phase, the
 * takeovers from dead holders. The API around it is ./rwlock.ts, whose
 * header describes the protocol.
 * @internal
 * @module
 */
import { closedError, LockError } from '../errors.js';
import { futexWake } from '../futex.js';
import type { SharedMemory } from '../shm.js';
import { CONSISTENT, corrupt, myToken, NOT_RECOVERABLE, OWNER_DIED, ownerGone, ownerPidOf } from './mutex-words.js';
import {
  checkRwHeader,
  I_FIRST_SLOT,
  I_READ_PHASE,
  I_READERS_WAITING,
  I_SEQ,
  I_SLOTS,
  I_STATE,
  I_WAITERS,
  I_WRITER,
  I_WRITER_HELD,
  KIND,
  RW_HEADER_BYTES,
  segmentBytes,
} from './rwlock-words.js';

/** What one acquisition tracks between its attempts. */
export interface Acquisition {
  /** A writer's claim of the writer word (readers: never). */
  claimed: boolean;
  /** The read phase seen at the previous attempt (writers). */
  phaseSeen: number;
  /** True after the first sleep (readers: counted against the read phase). */
  waited: boolean;
}

export function newAcquisition(): Acquisition {
  return { claimed: false, phaseSeen: 0, waited: false };
}

/** What an attempt won. */
export interface Grant {
  readonly mode: 'read' | 'write';
  /** The reader slot held; -1 for a write holding. */
  readonly slot: number;
  readonly ownerDied: boolean;
}

/** Decrements the word at `index` unless it is 0 already; returns the new value (-1: it was 0). */
function decrementToZero(w: Int32Array, index: number): number {
  for (let v = Atomics.load(w, index); v > 0;) {
    const seen = Atomics.compareExchange(w, index, v, v - 1);
    if (seen === v) return v - 1;
    v = seen;
  }
  return -1;
}

/** One object's view of a readers/writer lock's segment. */
export class RwProtocol {
  readonly #shm: SharedMemory;
  readonly #w: Int32Array;
  readonly #big: BigUint64Array;
  #nextSlot: number;
  /** This object's callers asleep on the wake sequence (all, readers). */
  #sleepers = 0;
  #readerSleepers = 0;
  /** A pending write acquisition's claim, given back by closing(). */
  claim: Acquisition | null = null;

  constructor(
    readonly name: string,
    shm: SharedMemory,
    readonly slots: number,
  ) {
    this.#shm = shm;
    this.#w = new Int32Array(shm.buffer, 0, RW_HEADER_BYTES / 4);
    this.#big = new BigUint64Array(shm.buffer, 0, segmentBytes(slots) / 8);
    this.#nextSlot = (process.pid * 7) % slots;
  }

  get words(): Int32Array {
    return this.#w;
  }

  check(): number {
    if (this.#shm.closed) throw closedError('ReadWriteLock');
    const state = checkRwHeader(this.name, this.#shm.size, this.#w, this.#big);
    if (this.#w[I_SLOTS] !== this.slots) throw corrupt(this.name, `the reader slot count changed to ${this.#w[I_SLOTS]}`, KIND);
    return state;
  }

  notRecoverable(): LockError {
    return new LockError(
      'ERR_LOCK_NOT_RECOVERABLE',
      this.name,
      `The readers/writer lock '${this.name}' is not recoverable: a writer died holding it and the next owner unlocked it without markConsistent()`,
    );
  }

  /** Bumps the wake sequence and wakes every sleeper (readers and a writer may all be able to go). */
  wakeAll(force = false): void {
    Atomics.add(this.#w, I_SEQ, 1);
    if (force || Atomics.load(this.#w, I_WAITERS) > 0) futexWake(this.#shm, I_SEQ * 4, Infinity);
  }

  /** Takes the writer word over from a dead `seen` owner; returns true when this call won it. */
  #takeOver(seen: bigint, to: bigint): boolean {
    return Atomics.compareExchange(this.#big, I_WRITER, seen, to) === seen;
  }

  /** An exclusive holding after a writer died holding the lock (the taker holds the writer word, "held" is still 1). */
  #grantRepair(): Grant {
    if (Atomics.load(this.#w, I_STATE) === NOT_RECOVERABLE) {
      this.releaseWriter(false);
      throw this.notRecoverable();
    }
    Atomics.store(this.#w, I_STATE, OWNER_DIED);
    return { mode: 'write', slot: -1, ownerDied: true };
  }

  /** A free slot taken for this process (dead readers' slots freed when `checkOwners`), or -1 when all are held. */
  #takeSlot(mine: bigint, checkOwners: boolean): number {
    const n = this.slots;
    for (let k = 0; k < n; k++) {
      const i = (this.#nextSlot + k) % n;
      let seen = Atomics.compareExchange(this.#big, I_FIRST_SLOT + i, 0n, mine);
      if (seen !== 0n && checkOwners && ownerGone(this.name, seen, KIND)) {
        seen = Atomics.compareExchange(this.#big, I_FIRST_SLOT + i, seen, mine) === seen ? 0n : seen;
      }
      if (seen === 0n) {
        this.#nextSlot = (i + 1) % n;
        return i;
      }
    }
    return -1;
  }

  readAttempt(a: Acquisition, checkOwners: boolean): Grant | undefined {
    if (this.check() === NOT_RECOVERABLE) throw this.notRecoverable();
    const mine = myToken();
    const writer = Atomics.load(this.#big, I_WRITER);
    if (writer !== 0n) {
      if (!checkOwners || !ownerGone(this.name, writer, KIND)) return undefined;
      if (Atomics.load(this.#w, I_WRITER_HELD) === 1) return this.#takeOver(writer, mine) ? this.#grantRepair() : undefined;
      // It died while only claiming: its readers' data is intact. Free the word and go on.
      if (this.#takeOver(writer, 0n)) this.wakeAll();
    }
    const slot = this.#takeSlot(mine, checkOwners);
    if (slot < 0) return undefined;
    if (Atomics.load(this.#big, I_WRITER) !== 0n) {
      // A writer claimed between our look and our slot: it goes first.
      Atomics.store(this.#big, I_FIRST_SLOT + slot, 0n);
      this.wakeAll();
      return undefined;
    }
    if (Atomics.load(this.#w, I_STATE) === NOT_RECOVERABLE) {
      // Marked after the check at the top (a repairer's unlock): the slot goes back.
      Atomics.store(this.#big, I_FIRST_SLOT + slot, 0n);
      throw this.notRecoverable();
    }
    // A reader that waited fills the read phase; the last one lets the writers go.
    if (a.waited && decrementToZero(this.#w, I_READ_PHASE) === 0) this.wakeAll();
    return { mode: 'read', slot, ownerDied: false };
  }

  writeAttempt(a: Acquisition, checkOwners: boolean): Grant | undefined {
    if (this.check() === NOT_RECOVERABLE) throw this.notRecoverable();
    const mine = myToken();
    if (!a.claimed) {
      const phase = Atomics.load(this.#w, I_READ_PHASE);
      if (phase > 0) {
        // The readers waiting at the last writer's unlock go first; a phase
        // unchanged over a whole slice has no one left to enter it.
        if (!checkOwners || a.phaseSeen !== phase) {
          a.phaseSeen = phase;
          return undefined;
        }
        // Stale: its readers died or gave up waiting, and the count of
        // waiting readers may be too high for the same reason. Live waiters
        // count themselves in again before their next sleep (one slice).
        if (Atomics.compareExchange(this.#w, I_READ_PHASE, phase, 0) === phase) Atomics.store(this.#w, I_READERS_WAITING, 0);
      }
      const seen = Atomics.compareExchange(this.#big, I_WRITER, 0n, mine);
      if (seen !== 0n) {
        if (!checkOwners || !ownerGone(this.name, seen, KIND) || !this.#takeOver(seen, mine)) return undefined;
        if (Atomics.load(this.#w, I_WRITER_HELD) === 1) return this.#grantRepair();
      } else if (Atomics.load(this.#w, I_READ_PHASE) > 0) {
        // A writer's unlock opened a phase between our look and our claim: the readers first.
        Atomics.compareExchange(this.#big, I_WRITER, mine, 0n);
        this.wakeAll();
        return undefined;
      }
      a.claimed = true;
      this.claim = a;
    }
    for (let i = 0; i < this.slots; i++) {
      const r = Atomics.load(this.#big, I_FIRST_SLOT + i);
      if (r === 0n) continue;
      if (!checkOwners || !ownerGone(this.name, r, KIND)) return undefined;
      Atomics.compareExchange(this.#big, I_FIRST_SLOT + i, r, 0n);
    }
    // The repairer that made the lock unrecoverable releases the word after marking it: a claim won since then
    // sees the mark here (the check at the top may have come before it).
    if (Atomics.load(this.#w, I_STATE) === NOT_RECOVERABLE) {
      this.abandon(a);
      throw this.notRecoverable();
    }
    Atomics.store(this.#w, I_WRITER_HELD, 1);
    a.claimed = false;
    this.claim = null;
    return { mode: 'write', slot: -1, ownerDied: Atomics.load(this.#w, I_STATE) === OWNER_DIED };
  }

  /** Gives the writer word back: the end of a write holding, or of a claim that gave up. */
  releaseWriter(lost: boolean): void {
    Atomics.store(this.#w, I_WRITER_HELD, 0);
    const waiting = Atomics.load(this.#w, I_READERS_WAITING);
    if (waiting > 0) Atomics.store(this.#w, I_READ_PHASE, waiting); // before the writer word: a writer that sees it free sees the phase
    const word = Atomics.compareExchange(this.#big, I_WRITER, myToken(), 0n);
    if (word !== myToken()) throw corrupt(this.name, `the writer word 0x${word.toString(16)} is not this process's`, KIND);
    this.wakeAll(lost);
  }

  /** A write acquisition that failed (timeout, abort, error) gives its claim back. */
  abandon(a: Acquisition): void {
    if (!a.claimed || this.#shm.closed) return;
    a.claimed = false;
    this.claim = null;
    this.releaseWriter(false);
  }

  /** Ends a read holding of slot `slot`. */
  releaseRead(slot: number): void {
    const mine = myToken();
    const word = Atomics.compareExchange(this.#big, I_FIRST_SLOT + slot, mine, 0n);
    if (word !== mine) throw corrupt(this.name, `reader slot ${slot} holds 0x${word.toString(16)}, not this process's`, KIND);
    this.wakeAll();
  }

  /** Ends a write holding (`unlock`), or marks its data consistent. */
  endWrite(unlock: boolean): void {
    const word = Atomics.load(this.#big, I_WRITER);
    if (word !== myToken()) throw corrupt(this.name, `the writer word 0x${word.toString(16)} is not this process's`, KIND);
    const died = Atomics.load(this.#w, I_STATE) === OWNER_DIED;
    if (!unlock) {
      if (died) Atomics.store(this.#w, I_STATE, CONSISTENT);
      return;
    }
    if (died) Atomics.store(this.#w, I_STATE, NOT_RECOVERABLE);
    this.releaseWriter(died);
  }

  /** Counts a caller of this object in (+1) or out (-1) of the sleepers. */
  waiting(a: Acquisition, reader: boolean, delta: 1 | -1): void {
    a.waited = true;
    this.#sleepers += delta;
    Atomics.add(this.#w, I_WAITERS, delta);
    if (!reader) return;
    this.#readerSleepers += delta;
    if (delta > 0) Atomics.add(this.#w, I_READERS_WAITING, 1);
    else decrementToZero(this.#w, I_READERS_WAITING);
  }

  /** Before the segment is unmapped: counts this object's sleepers out, and gives a pending claim back. */
  closing(): void {
    Atomics.sub(this.#w, I_WAITERS, this.#sleepers);
    for (; this.#readerSleepers > 0; this.#readerSleepers--) decrementToZero(this.#w, I_READERS_WAITING);
    if (this.claim !== null) this.abandon(this.claim);
  }

  /** The writer word's pid, the held slots: diagnostics. */
  writerPid(): number {
    this.check();
    return ownerPidOf(this.name, Atomics.load(this.#big, I_WRITER), KIND);
  }

  readers(): number {
    this.check();
    let n = 0;
    for (let i = 0; i < this.slots; i++) if (Atomics.load(this.#big, I_FIRST_SLOT + i) !== 0n) n++;
    return n;
  }
}

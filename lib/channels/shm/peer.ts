/**
 * One side's attachment to a channel's segment: its pid and closed flag in
 * the header, the peer's state (closed, exited), its own futex wake word,
 * and the fate of the name once both sides are attached.
 *
 * Lifecycle of the name: one side creates the segment, the other opens it
 * by name and attaches. As soon as both sides are attached the opener
 * unlinks the name: the mapping lives on in both processes, and a later
 * crash of either leaves nothing behind in /dev/shm. A creator that closes
 * before any peer attached leaves the name in place (a receiver may still
 * come and drain what was sent) and removes it when its process exits, if
 * the name still refers to its own segment.
 * @internal
 * @module
 */
import { isSystemError, systemError } from '../../errors.js';
import { futexWait, futexWaitSync, futexWake } from '../../futex.js';
import { removeAtExit } from '../../internal/cleanup.js';
import { die, FAULTS, faultHere } from '../../internal/fault.js';
import { LIVENESS_SLICE_MS, LivenessCache } from '../../internal/liveness.js';
import { SharedMemory } from '../../shm.js';
import {
  DATA_SEQ_OFFSET,
  headerWords,
  I_CONSUMER_CLOSED,
  I_CONSUMER_PID,
  I_DATA_SEQ,
  I_PRODUCER_CLOSED,
  I_PRODUCER_PID,
  I_SPACE_SEQ,
  I_STATE,
  SPACE_SEQ_OFFSET,
  STATE_POISONED,
} from './header.js';
import type { Waker } from './ring.js';
import { unlinkIfOurs, type Opened } from './segment.js';

export { LIVENESS_SLICE_MS };

export type Role = 'producer' | 'consumer';

/** What both sides share: the segment, the name's fate, the peer's liveness. */
export class ShmPeer {
  readonly name: string;
  readonly shm: SharedMemory;
  readonly h: Int32Array;
  readonly waker: Waker;
  readonly #myPid: number;
  readonly #peerPid: number;
  readonly #myClosed: number;
  readonly #peerClosed: number;
  /** The word this side sleeps on, and the one it bumps to wake the peer on close. */
  readonly #sleepOffset: number;
  readonly #peerSeq: number;
  readonly #peerSeqOffset: number;
  readonly #removeName: (() => void) | undefined;
  readonly #created: boolean;
  readonly #liveness = new LivenessCache();
  #closed = false;

  constructor(name: string, opened: Opened, role: Role) {
    this.name = name;
    this.shm = opened.shm;
    this.h = headerWords(opened.shm.buffer);
    const producer = role === 'producer';
    this.#myPid = producer ? I_PRODUCER_PID : I_CONSUMER_PID;
    this.#peerPid = producer ? I_CONSUMER_PID : I_PRODUCER_PID;
    this.#myClosed = producer ? I_PRODUCER_CLOSED : I_CONSUMER_CLOSED;
    this.#peerClosed = producer ? I_CONSUMER_CLOSED : I_PRODUCER_CLOSED;
    this.#sleepOffset = producer ? SPACE_SEQ_OFFSET : DATA_SEQ_OFFSET;
    [this.#peerSeq, this.#peerSeqOffset] = producer ? [I_DATA_SEQ, DATA_SEQ_OFFSET] : [I_SPACE_SEQ, SPACE_SEQ_OFFSET];
    const previous = Atomics.compareExchange(this.h, this.#myPid, 0, process.pid);
    if (previous !== 0) {
      throw systemError('EBUSY', 'attach', name, `the channel already has a ${producer ? 'sender' : 'receiver'} (pid ${previous})`);
    }
    const shm = opened.shm;
    this.waker = { wake: (offset) => void futexWake(shm, offset, 1) };
    this.#created = opened.created;
    if (!opened.created) {
      this.#unlinkQuietly(); // both sides are attached: the name has served its purpose
    } else {
      this.#removeName = this.#removeAtExit(opened.nonce);
    }
    if (FAULTS && faultHere('attach')) die();
  }

  #removeAtExit(nonce: number): () => void {
    const name = this.name;
    const remove = removeAtExit(`shm-channel:${name}:${nonce}`, () => unlinkIfOurs(name, nonce), { kind: 'shm', name });
    return () => {
      try {
        remove();
      } catch {
        // No descriptor left to check that the name is still ours (EMFILE): it is left to exit.
        this.#removeAtExit(nonce);
      }
    };
  }

  #unlinkQuietly(): void {
    try {
      SharedMemory.unlink(this.name);
    } catch (err) {
      if (!isSystemError(err, 'ENOENT')) throw err;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  get peerAttached(): boolean {
    return Atomics.load(this.h, this.#peerPid) !== 0;
  }

  /** The peer's closed flag: one atomic load, cheap enough for every message. */
  peerClosed(): boolean {
    return Atomics.load(this.h, this.#peerClosed) !== 0;
  }

  /**
   * Null while the peer can still act; otherwise why it cannot. Asks the OS
   * at most every 10 ms (see LivenessCache): used when a side would wait.
   */
  peerState(): 'closed' | 'exited' | null {
    if (Atomics.load(this.h, this.#peerClosed) !== 0) return 'closed';
    const pid = Atomics.load(this.h, this.#peerPid);
    if (pid !== 0 && !this.#liveness.running(pid)) {
      // Re-check the flag: a peer that closed and then exited is a clean close.
      return Atomics.load(this.h, this.#peerClosed) !== 0 ? 'closed' : 'exited';
    }
    return null;
  }

  poisoned(): boolean {
    return Atomics.load(this.h, I_STATE) === STATE_POISONED;
  }

  /** Sleeps on this side's word while it still holds `seq`: one liveness slice at most, or until `signal` aborts. */
  async sleep(seq: number, signal: AbortSignal): Promise<void> {
    try {
      await futexWait(this.shm, this.#sleepOffset, seq, { timeoutMs: LIVENESS_SLICE_MS, signal });
    } catch (err) {
      if (!signal.aborted && !this.#closed) throw err;
    }
  }

  /** The blocking form of {@link sleep}: a slice at most, never past `deadline`; false when the deadline had passed. */
  sleepSync(seq: number, deadline: number): boolean {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    futexWaitSync(this.shm, this.#sleepOffset, seq, Math.min(left, LIVENESS_SLICE_MS));
    return true;
  }

  /**
   * Marks this side closed, wakes the peer, unmaps. A creator whose peer
   * attached has nothing left to remove (the peer unlinked the name); one
   * whose peer never came keeps the name until exit, so a late receiver can
   * still drain what was sent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.h, this.#myClosed, 1);
    Atomics.add(this.h, this.#peerSeq, 1);
    futexWake(this.shm, this.#peerSeqOffset, Infinity);
    if (this.#created && this.peerAttached) this.#removeName?.();
    this.shm.close();
  }
}

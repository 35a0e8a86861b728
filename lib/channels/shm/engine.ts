/**
 * The shared-memory engines of ../sender.ts and ../receiver.ts: ring steps,
 * the peer's state, and waits that spin briefly, then sleep on the ring's
 * futex words one liveness slice at a time.
 * @internal
 * @module
 */
import { corruptError, peerGoneError } from '../../errors.js';
import { spin } from '../../internal/waiting.js';
import { EMPTY, END, type ReceiveEngine, type SendEngine } from '../engine.js';
import type { ShmPeer } from './peer.js';
import type { RingConsumer, RingProducer } from './ring.js';

/** Busy-wait before sleeping: a peer that answers within this never pays a futex round trip. */
const SPIN_NS = 50_000n;

function poisonedError(): Error {
  return corruptError('The shared ring is corrupt: poisoned by the other side');
}

/** The producing side. */
export class ShmSendEngine implements SendEngine {
  readonly maxMessage: number;
  readonly syscall = 'futex_wait';
  readonly path: string;
  readonly #peer: ShmPeer;
  readonly #ring: RingProducer;

  constructor(peer: ShmPeer, ring: RingProducer) {
    this.#peer = peer;
    this.#ring = ring;
    this.maxMessage = ring.maxMessage;
    this.path = peer.name;
  }

  get capacity(): number {
    return this.#ring.capacity;
  }

  get queuedBytes(): number {
    return this.#peer.closed ? 0 : this.#ring.queued;
  }

  /** Throws when the receiver can no longer take anything. */
  #checkPeer(): void {
    const state = this.#peer.peerState();
    if (state !== null) throw peerGoneError(state === 'closed' ? 'closed its receiving end' : 'exited');
  }

  tryWrite(bytes: Uint8Array): boolean {
    if (this.#peer.poisoned()) throw poisonedError();
    if (this.#peer.peerClosed()) this.#checkPeer();
    if (this.#ring.tryWrite(bytes)) return true;
    this.#ring.publish(); // a wrap marker may be pending; the consumer must see it
    this.#checkPeer(); // full: is anybody still reading?
    return false;
  }

  tryWriteMany(list: readonly Uint8Array[], from: number): number {
    if (this.#peer.poisoned()) throw poisonedError();
    if (this.#peer.peerClosed()) this.#checkPeer();
    const ring = this.#ring;
    const n = ring.tryWriteMany(list, from);
    if (from + n < list.length) {
      ring.publish(); // as in tryWrite: a wrap marker may be pending
      this.#checkPeer();
    }
    return n;
  }

  publish(): void {
    this.#ring.publish();
  }

  /** A spin just failed: the next async wait sleeps at once instead of spinning again. */
  #spun = false;

  spinWritable(len: number): boolean {
    if (spin(() => this.#ring.prepareSleep(len) === null || (this.#ring.endSleep(), false), SPIN_NS)) return true;
    this.#spun = true;
    return false;
  }

  /** The sequence to sleep on, or null when room appeared during the spin (skipped right after a failed one). */
  #prepare(len: number): number | null {
    if (this.#spun) this.#spun = false;
    else if (spin(() => this.#ring.prepareSleep(len) === null || (this.#ring.endSleep(), false), SPIN_NS)) return null;
    return this.#ring.prepareSleep(len);
  }

  async waitWritable(len: number, signal: AbortSignal): Promise<void> {
    this.#checkPeer();
    const seq = this.#prepare(len);
    if (seq === null) return;
    try {
      await this.#peer.sleep(seq, signal);
    } finally {
      if (!this.#peer.closed) this.#ring.endSleep();
    }
  }

  waitWritableSync(len: number, deadline: number): boolean {
    this.#checkPeer();
    const seq = this.#prepare(len);
    if (seq === null) return true;
    try {
      return this.#peer.sleepSync(seq, deadline);
    } finally {
      this.#ring.endSleep();
    }
  }

  flushSync(): boolean {
    return true; // the ring is the only buffer
  }

  /** Marks the end of the stream: the receiver drains what was sent and then sees the end. */
  close(): Promise<void> {
    this.#peer.close();
    return Promise.resolve();
  }
}

/** The consuming side. */
export class ShmReceiveEngine implements ReceiveEngine {
  readonly #peer: ShmPeer;
  readonly #ring: RingConsumer;
  readonly bytes: Uint8Array;
  readonly syscall = 'futex_wait';
  readonly path: string;
  /** The producer exited without closing: what it published is still delivered, then the end. */
  #producerGone = false;

  constructor(peer: ShmPeer, ring: RingConsumer) {
    this.#peer = peer;
    this.#ring = ring;
    this.bytes = ring.data;
    this.path = peer.name;
  }

  get offset(): number {
    return this.#ring.offset;
  }

  next(): number {
    const len = this.#ring.peekLength();
    if (len >= 0) return len;
    // Hand back the space of skipped wrap markers, unless zero-copy views are
    // out: publishing would give their frames back to the producer too.
    if (!this.#kept) this.#ring.publish();
    // Poisoned by the sender: a cut-off stream must not look complete.
    if (this.#peer.poisoned()) throw poisonedError();
    // The producer publishes before it sets its closed flag: empty after
    // seeing the flag means everything was received.
    if ((this.#producerGone || this.#peer.peerClosed()) && this.#ring.empty) return END;
    return EMPTY;
  }

  /** Frames whose views were handed out (release with `keep`) and must not be published yet. */
  #kept = false;

  release(keep: boolean): void {
    this.#ring.release(); // the ring keeps the bytes until publish(): views stay valid
    if (keep) this.#kept = true;
  }

  publish(): void {
    this.#kept = false;
    this.#ring.publish();
  }

  /** Before sleeping on an empty ring: true when there is no point (data, or a producer that is gone). */
  #ready(): boolean {
    if (this.#peer.poisoned()) return true;
    if (!this.#ring.empty) return true;
    if (this.#peer.peerState() !== null) {
      this.#producerGone = true;
      return true;
    }
    return false;
  }

  /** A spin just failed: the next async wait sleeps at once instead of spinning again. */
  #spun = false;

  spinReadable(): boolean {
    if (this.#ready() || spin(() => !this.#ring.empty, SPIN_NS)) return true;
    this.#spun = true;
    return false;
  }

  /** The sequence to sleep on, or null when data (or the end) appeared during the spin (skipped right after a failed one). */
  #prepare(spinFirst = true): number | null {
    if (this.#ready()) return null;
    if (this.#spun || !spinFirst) this.#spun = false;
    else if (spin(() => !this.#ring.empty, SPIN_NS)) return null;
    return this.#ring.prepareSleep();
  }

  async waitReadable(signal: AbortSignal, spinFirst = true): Promise<void> {
    const seq = this.#prepare(spinFirst);
    if (seq === null) return;
    try {
      await this.#peer.sleep(seq, signal);
    } finally {
      if (!this.#peer.closed) this.#ring.endSleep();
    }
  }

  waitReadableSync(deadline: number): boolean {
    const seq = this.#prepare();
    if (seq === null) return true;
    try {
      return this.#peer.sleepSync(seq, deadline);
    } finally {
      this.#ring.endSleep();
    }
  }

  /** Stops receiving: a sender still sending gets `ERR_CHANNEL_PEER_GONE`. */
  close(): void {
    this.#peer.close();
  }
}

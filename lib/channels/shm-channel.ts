/**
 * A channel through a ring buffer in POSIX shared memory (see ./ring.ts for
 * the layout, frame format, memory ordering and wake protocol).
 *
 * Lifecycle of the name: one side creates the segment (`create: true`), the
 * other opens it by name and attaches. As soon as both sides are attached the
 * opener unlinks the name: the mapping lives on in both processes, and a
 * later crash of either leaves nothing behind in /dev/shm. A creator that
 * closes before any peer attached leaves the name in place (a receiver may
 * still come and drain what was sent) and removes it when its process exits,
 * if the name still refers to its own segment. What a SIGKILL before
 * attachment leaves is removed by {@link removeStaleShmChannel}, or replaced
 * by the next exclusive creation of that name.
 *
 * Peer death: each side records its pid in the header and sets a closed flag
 * on close. A waiting side wakes at least every {@link LIVENESS_SLICE_MS} to
 * check the flag and whether the peer's pid still exists, so a `kill -9`ed
 * peer is noticed within that bound.
 * @module
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { closedError, isSystemError, systemError, abortError } from '../errors.js';
import { validateAbortSignal, validateBoolean, validateInteger, validateMode, validateOptions, validateTimeout } from '../internal/validators.js';
import { futexWait, futexWaitSync, futexWake } from '../futex.js';
import { sleepSync } from '../internal/sleep.js';
import { removeAtExit } from '../internal/cleanup.js';
import { die, FAULTS, faultHere } from '../internal/fault.js';
import { SharedMemory } from '../shm.js';
import { validateCodec, type Codec } from './codec.js';
import {
  DATA_SEQ_OFFSET,
  headerWords,
  I_CONSUMER_CLOSED,
  I_CONSUMER_PID,
  I_CREATOR_PID,
  I_DATA_SEQ,
  I_NONCE,
  I_PRODUCER_CLOSED,
  I_PRODUCER_PID,
  I_SPACE_SEQ,
  I_STATE,
  initRing,
  maxPayload,
  readGeometry,
  RingConsumer,
  RingProducer,
  segmentSize,
  SPACE_SEQ_OFFSET,
  STATE_INIT,
  STATE_POISONED,
  type Waker,
} from './ring.js';
import { ChannelError, iterate, type ChannelOptions, type Receiver, type Sender, type SyncOptions } from './types.js';

/** Messages `receiveMany()` returns at most by default: bounds the batch's memory. */
const RECEIVE_MANY_DEFAULT = 1024;

/** Longest a waiting side goes without checking that its peer is alive. */
export const LIVENESS_SLICE_MS = 100;
/** How long a peer seen running is taken to be running without asking the OS again. */
const PEER_CHECK_MS = 10;
/** Default ring capacity: 1 MiB. */
export const DEFAULT_RING_CAPACITY = 1 << 20;
/** How long an opener waits for a creator to finish writing the header. */
const INIT_BOUND_MS = 2000;
/** Busy-wait before sleeping: a peer that answers within this never pays a futex round trip. */
const SPIN_SYNC_NS = 50_000n;
const SPIN_ASYNC_NS = 50_000n;

/** Options of {@link openShmSender} and {@link openShmReceiver}. */
export interface ShmChannelOptions<T> extends ChannelOptions<T> {
  /**
   * Create the segment (exclusively; a stale one left by a killed process is
   * replaced, a live one is `EEXIST`). Default `false`: open an existing one,
   * waiting for it to appear up to `timeoutMs`.
   */
  create?: boolean;
  /** Ring data bytes when creating: a power of two from 64 bytes to 1 GiB. Default 1 MiB. */
  capacity?: number;
  /** Permissions of a created segment. Default `0o600`. */
  mode?: number;
  /** How long an opener waits for the segment to be created. Default: no limit. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Whether the process `pid` exists (`kill(pid, 0)`): a zombie still does. */
function exists(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isSystemError(err, 'EPERM'); // exists, owned by another user
  }
}

/**
 * Whether `pid`, which exists, has exited and waits to be reaped. A dead
 * peer that is our own child stays a zombie while this thread is blocked in
 * a `...Sync` call (the event loop reaps it), and kill(pid, 0) cannot tell.
 * Linux only (/proc); elsewhere, or when /proc hides the process, false.
 */
function isZombie(pid: number): boolean {
  if (process.platform !== 'linux') return false;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return false; // reaped meanwhile (the next look says so), or hidden (hidepid)
  }
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state === 'Z' || state === 'X';
}

function isAlive(pid: number): boolean {
  return exists(pid) && !isZombie(pid);
}

function peerGone(detail: string): ChannelError {
  return new ChannelError('ERR_CHANNEL_PEER_GONE', `The peer ${detail}`);
}

function corruptHeader(detail: string): ChannelError {
  return new ChannelError('ERR_CHANNEL_CORRUPT', `The shared ring is corrupt: ${detail}`);
}

/**
 * What a segment found at a channel's name is: used by a live process,
 * being created right now, or left behind by the dead.
 */
type SegmentStatus = 'live' | 'creating' | 'stale';

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

/** One look at `name`. A segment never sized (size 0 for 2 s: SharedMemory.open waited) is stale. */
function lookAt(name: string): SegmentStatus | 'absent' {
  let shm: SharedMemory;
  try {
    shm = SharedMemory.open(name, { create: 'open' });
  } catch (err) {
    if (isSystemError(err, 'ENOENT')) return 'absent';
    if (isSystemError(err, 'EINVAL') && err.syscall === 'mmap') return 'stale';
    throw err;
  }
  try {
    return segmentStatus(shm);
  } finally {
    shm.close();
  }
}

/**
 * One step of the stale-segment clean-up: nothing to do (`'absent'`,
 * `'live'`), `'removed'`, or `'wait'` and look again. A segment still
 * 'creating' `INIT_BOUND_MS` after `since` is stale: its creator died before
 * writing anything.
 */
function removeStaleStep(name: string, since: number): 'absent' | 'live' | 'removed' | 'wait' {
  const status = lookAt(name);
  if (status === 'absent' || status === 'live') return status;
  if (status === 'creating' && performance.now() - since <= INIT_BOUND_MS) return 'wait';
  try {
    SharedMemory.unlink(name);
  } catch (err) {
    if (isSystemError(err, 'ENOENT')) return 'absent'; // someone else removed it first
    throw err;
  }
  return 'removed';
}

/**
 * Removes a channel's segment if nobody alive uses it (what a `kill -9`
 * leaves). Returns true when it removed one. A live channel is left alone.
 * A segment whose creator is still writing its header is waited for; one
 * left without any header (its creator died right after creating it) is
 * removed once it stayed so for 2 s, so this call may block that long.
 */
export function removeStaleShmChannel(name: string): boolean {
  const since = performance.now();
  for (let pause = 1; ; pause = Math.min(pause * 2, 20)) {
    const step = removeStaleStep(name, since);
    if (step !== 'wait') return step === 'removed';
    sleepSync(pause);
  }
}

/** {@link removeStaleShmChannel} for the event loop: waits for a creator without blocking. */
async function removeStaleShmChannelAsync(name: string): Promise<boolean> {
  const since = performance.now();
  for (let pause = 1; ; pause = Math.min(pause * 2, 20)) {
    const step = removeStaleStep(name, since);
    if (step !== 'wait') return step === 'removed';
    await new Promise((r) => setTimeout(r, pause));
  }
}

interface Opened {
  shm: SharedMemory;
  created: boolean;
  /** Identifies the creator's segment, so its exit hook never removes a successor's. */
  nonce?: number;
}

/** Unlinks `name` only while it still names the segment this process created with `nonce`. */
function unlinkIfOurs(name: string, nonce: number): void {
  let shm: SharedMemory;
  try {
    shm = SharedMemory.open(name, { create: 'open' });
  } catch (err) {
    if (isSystemError(err, 'ENOENT')) return;
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

async function createSegment(name: string, capacity: number, mode: number, maxMessage: number): Promise<Opened> {
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

async function openSegment(name: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<Opened> {
  const deadline = performance.now() + timeoutMs;
  let initSeen: number | undefined;
  let pause = 1;
  for (;;) {
    if (signal?.aborted) throw abortError(signal);
    let shm: SharedMemory | undefined;
    try {
      shm = SharedMemory.open(name, { create: 'open' });
    } catch (err) {
      if (isSystemError(err, 'EINVAL') && err.syscall === 'mmap') {
        // SharedMemory.open waited 2 s for a segment of size 0: its creator died before sizing it.
        throw corruptHeader(`'${name}' was never sized (its creator died?); remove it with removeStaleShmChannel()`);
      }
      if (!isSystemError(err, 'ENOENT')) throw err;
    }
    if (shm) {
      // The creator sets the size and then the header; state becomes ready last.
      const ready = shm.size >= segmentSize(64) && Atomics.load(headerWords(shm.buffer), I_STATE) !== STATE_INIT;
      if (ready) return { shm, created: false };
      shm.close();
      initSeen ??= performance.now();
      if (performance.now() - initSeen > INIT_BOUND_MS) {
        throw corruptHeader(`'${name}' stayed half-initialised for ${INIT_BOUND_MS} ms (its creator died?); remove it with removeStaleShmChannel()`);
      }
    }
    const left = deadline - performance.now();
    if (left <= 0) throw systemError('ETIMEDOUT', 'shm_open', name, 'the channel was not created in time');
    await new Promise((r) => setTimeout(r, Math.min(pause, left)));
    pause = Math.min(pause * 2, 20);
  }
}

/** What both ends share: the segment, the name's fate, the peer's liveness. */
class ShmEnd {
  readonly name: string;
  readonly shm: SharedMemory;
  readonly h: Int32Array;
  readonly waker: Waker;
  readonly #myPid: number;
  readonly #peerPid: number;
  readonly #myClosed: number;
  readonly #peerClosed: number;
  readonly #removeName: (() => void) | undefined;
  readonly #created: boolean;
  #closed = false;

  constructor(name: string, opened: Opened, role: 'producer' | 'consumer') {
    this.name = name;
    this.shm = opened.shm;
    this.h = headerWords(opened.shm.buffer);
    [this.#myPid, this.#peerPid, this.#myClosed, this.#peerClosed] =
      role === 'producer'
        ? [I_PRODUCER_PID, I_CONSUMER_PID, I_PRODUCER_CLOSED, I_CONSUMER_CLOSED]
        : [I_CONSUMER_PID, I_PRODUCER_PID, I_CONSUMER_CLOSED, I_PRODUCER_CLOSED];
    const previous = Atomics.compareExchange(this.h, this.#myPid, 0, process.pid);
    if (previous !== 0) {
      throw systemError('EBUSY', 'attach', name, `the channel already has a ${role === 'producer' ? 'sender' : 'receiver'} (pid ${previous})`);
    }
    const shm = opened.shm;
    this.waker = {
      waitSync: (offset, expected, timeoutMs) => void futexWaitSync(shm, offset, expected, timeoutMs),
      wait: async (offset, expected, timeoutMs) => void (await futexWait(shm, offset, expected, { timeoutMs })),
      wake: (offset) => void futexWake(shm, offset, 1),
    };
    this.#created = opened.created;
    if (!opened.created) {
      // Both sides are attached: the name has served its purpose.
      this.#unlinkQuietly();
    } else {
      const nonce = opened.nonce ?? 0;
      this.#removeName = removeAtExit(`shm-channel:${name}:${nonce}`, () => unlinkIfOurs(name, nonce), { kind: 'shm', name });
    }
    if (FAULTS && faultHere('attach')) die();
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

  /** Whether the peer attached yet. */
  get peerAttached(): boolean {
    return Atomics.load(this.h, this.#peerPid) !== 0;
  }

  /**
   * The blocking sleep of a `...Sync` call, after `ring.prepareSleep` gave
   * `seq`: one liveness slice at most, then `ring.endSleep()`. Throws
   * ETIMEDOUT (`detail` says what) once `deadline` has passed.
   */
  sleepSync(ring: { endSleep(): void }, offset: number, seq: number, deadline: number, detail: string): void {
    const left = deadline - performance.now();
    if (left <= 0) {
      ring.endSleep();
      throw systemError('ETIMEDOUT', 'futex_wait', this.name, detail);
    }
    futexWaitSync(this.shm, offset, seq, Math.min(left, LIVENESS_SLICE_MS));
    ring.endSleep();
  }

  /** The peer's closed flag: one atomic load, cheap enough for every message. */
  peerClosed(): boolean {
    return Atomics.load(this.h, this.#peerClosed) !== 0;
  }

  /**
   * Null while the peer can still act; otherwise why it cannot. Costs a
   * `kill(pid, 0)` syscall: used only when a side would wait, never per message.
   */
  peerState(): 'closed' | 'exited' | null {
    if (Atomics.load(this.h, this.#peerClosed) !== 0) return 'closed';
    const pid = Atomics.load(this.h, this.#peerPid);
    if (pid !== 0 && !this.#peerRunning(pid)) {
      // Re-check the flag: a peer that closed and then exited is a clean close.
      return Atomics.load(this.h, this.#peerClosed) !== 0 ? 'closed' : 'exited';
    }
    return null;
  }

  /**
   * Whether the peer's process still runs. The answer "running" is reused
   * for {@link PEER_CHECK_MS}: kill(pid, 0) costs a system call (over 1 us
   * through Node) and the zombie check a read of /proc, too much for every
   * message of a fast path; a dead peer is still noticed within that bound.
   */
  #peerRunning(pid: number): boolean {
    const now = performance.now();
    if (pid === this.#runningPid && now - this.#runningSince < PEER_CHECK_MS) return true;
    const running = isAlive(pid);
    this.#runningPid = running ? pid : 0;
    this.#runningSince = now;
    return running;
  }

  #runningPid = 0;
  #runningSince = 0;

  poisoned(): boolean {
    return Atomics.load(this.h, I_STATE) === STATE_POISONED;
  }

  /**
   * Marks this side closed, wakes the peer, unmaps. A creator whose peer
   * attached has nothing left to remove (the peer unlinked the name); one
   * whose peer never came keeps the name until exit, so a late receiver can
   * still drain what was sent.
   */
  close(wakeIndex: number, wakeOffset: number): void {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.h, this.#myClosed, 1);
    Atomics.add(this.h, wakeIndex, 1);
    futexWake(this.shm, wakeOffset, Infinity);
    if (this.#created && this.peerAttached) this.#removeName?.();
    this.shm.close();
  }
}

/**
 * This end's view of the ring. Indices found corrupt once attached close the
 * end again (closed flag, wake), so the peer is not left waiting for an end
 * that will never act.
 */
function buildRing<R>(end: ShmEnd, make: () => R, wakeIndex: number, wakeOffset: number): R {
  try {
    return make();
  } catch (err) {
    end.close(wakeIndex, wakeOffset);
    throw err;
  }
}

function resolveOpenOptions<T>(options: ShmChannelOptions<T> | undefined): {
  codec: Codec<T>;
  create: boolean;
  capacity: number;
  mode: number;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  maxMessageSize: number | undefined;
} {
  const opts = validateOptions(options);
  const capacity = opts.capacity === undefined ? DEFAULT_RING_CAPACITY : validateInteger(opts.capacity, 'options.capacity', 64, 2 ** 30);
  if ((capacity & (capacity - 1)) !== 0) {
    throw new RangeError(`The value of "options.capacity" must be a power of two. Received ${capacity}`);
  }
  return {
    codec: validateCodec<T>(opts.codec),
    create: opts.create === undefined ? false : validateBoolean(opts.create, 'options.create'),
    capacity,
    mode: opts.mode === undefined ? 0o600 : validateMode(opts.mode, 'options.mode'),
    timeoutMs: validateTimeout(opts.timeoutMs),
    signal: validateAbortSignal(opts.signal),
    maxMessageSize: opts.maxMessageSize === undefined ? undefined : validateInteger(opts.maxMessageSize, 'options.maxMessageSize', 0, maxPayload(capacity)),
  };
}

async function openEnd<T>(name: string, options: ShmChannelOptions<T> | undefined) {
  const o = resolveOpenOptions(options);
  const opened = o.create
    ? await createSegment(name, o.capacity, o.mode, o.maxMessageSize ?? maxPayload(o.capacity))
    : await openSegment(name, o.timeoutMs, o.signal);
  return { o, opened };
}

function nowNs(): bigint {
  return process.hrtime.bigint();
}

/**
 * Opens the sending end of a shared-memory channel.
 * Throws `EEXIST` (creating a name a live channel uses), `ENOENT`/`ETIMEDOUT`
 * (opening one never created), `EBUSY` (it already has a sender),
 * `ERR_CHANNEL_CORRUPT` (not a ring, or never finished by its creator), and
 * the errors of {@link SharedMemory.open} (`ENOSPC`, `EACCES`, names).
 */
export function openShmSender<T = Uint8Array>(name: string, options?: ShmChannelOptions<T>): Promise<ShmSender<T>> {
  return openSide(name, options, (opened, o) => new ShmSender<T>(name, opened, o.codec, o.maxMessageSize));
}

/** Opens the receiving end of a shared-memory channel. Errors as {@link openShmSender}. */
export function openShmReceiver<T = Uint8Array>(name: string, options?: ShmChannelOptions<T>): Promise<ShmReceiver<T>> {
  return openSide(name, options, (opened, o) => new ShmReceiver<T>(name, opened, o.codec, o.maxMessageSize));
}

/** Opens or creates the segment, then attaches one side; nothing is left behind when that fails. */
async function openSide<T, End>(
  name: string,
  options: ShmChannelOptions<T> | undefined,
  attach: (opened: Opened, o: Awaited<ReturnType<typeof openEnd<T>>>['o']) => End,
): Promise<End> {
  const { o, opened } = await openEnd(name, options);
  try {
    return attach(opened, o);
  } catch (err) {
    if (opened.created) SharedMemory.unlink(name);
    opened.shm.close();
    throw err;
  }
}

/** The sending end of a shared-memory channel. */
export class ShmSender<T> implements Sender<T> {
  readonly #end: ShmEnd;
  readonly #ring: RingProducer;
  readonly #codec: Codec<T>;
  readonly #max: number;
  #failure: Error | undefined;
  #tail: Promise<unknown> = Promise.resolve();

  /** @internal Use {@link openShmSender}. */
  constructor(name: string, opened: Opened, codec: Codec<T>, maxMessageSize: number | undefined) {
    const geometry = readGeometry(opened.shm.buffer);
    this.#end = new ShmEnd(name, opened, 'producer');
    this.#ring = buildRing(this.#end, () => new RingProducer(opened.shm.buffer, this.#end.waker), I_DATA_SEQ, DATA_SEQ_OFFSET);
    this.#codec = codec;
    this.#max = Math.min(maxMessageSize ?? geometry.maxMessage, geometry.maxMessage);
  }

  /** The ring's data capacity in bytes. */
  get capacity(): number {
    return this.#ring.capacity;
  }

  /** The largest message this channel carries (a larger one is a RangeError). */
  get maxMessageSize(): number {
    return this.#max;
  }

  get closed(): boolean {
    return this.#end.closed;
  }

  /** Bytes in the ring that the receiver has not taken yet (the ring is the only buffer). */
  get queuedBytes(): number {
    return this.#end.closed ? 0 : this.#ring.queued;
  }

  #check(): void {
    if (this.#end.closed) throw closedError('Sender');
    if (this.#failure) throw this.#failure;
    if (this.#end.poisoned()) throw (this.#failure = corruptHeader('poisoned by the other side'));
  }

  #encode(message: T): Uint8Array {
    const bytes = this.#codec.encode(message);
    if (bytes.byteLength > this.#max) {
      throw new RangeError(`The message is ${bytes.byteLength} bytes, more than maxMessageSize (${this.#max}) of this ring`);
    }
    return bytes;
  }

  #write(bytes: Uint8Array): boolean {
    try {
      return this.#ring.tryWrite(bytes);
    } catch (err) {
      this.#failure = err as Error;
      throw err;
    }
  }

  /** Fails when the receiver can no longer take anything. */
  #checkPeer(): void {
    const state = this.#end.peerState();
    if (state !== null) throw (this.#failure = peerGone(state === 'closed' ? 'closed its receiving end' : 'exited'));
  }

  trySend(message: T): boolean {
    this.#check();
    const bytes = this.#encode(message);
    if (this.#end.peerClosed()) this.#checkPeer();
    const ok = this.#write(bytes);
    this.#ring.publish();
    if (!ok) this.#checkPeer(); // full: is anybody still reading?
    return ok;
  }

  send(message: T): Promise<void> {
    let bytes: Uint8Array;
    try {
      this.#check();
      bytes = this.#encode(message);
      // Fast path: room now and nobody queued ahead. A receiver that died
      // without closing is noticed when the ring fills and we would wait.
      if (this.#tail === this.#settled && !this.#end.peerClosed() && this.#write(bytes)) {
        this.#ring.publish();
        return Promise.resolve();
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#enqueue(() => this.#sendSlow(bytes));
  }

  readonly #settled: Promise<unknown> = this.#tail;

  #enqueue(task: () => Promise<void>): Promise<void> {
    const p = this.#tail.then(task);
    const settled = p.catch(() => undefined);
    this.#tail = settled;
    void settled.then(() => {
      if (this.#tail === settled) this.#tail = this.#settled;
    });
    return p;
  }

  async #sendSlow(bytes: Uint8Array): Promise<void> {
    for (;;) {
      this.#check();
      if (this.#end.peerClosed()) this.#checkPeer();
      if (this.#write(bytes)) {
        this.#ring.publish();
        return;
      }
      this.#ring.publish(); // a wrap marker may be pending; the consumer must see it
      this.#checkPeer(); // about to wait: is anybody still reading?
      await this.#waitForSpace(bytes.byteLength);
    }
  }

  async #waitForSpace(len: number): Promise<void> {
    const spinUntil = nowNs() + SPIN_ASYNC_NS;
    while (nowNs() < spinUntil) {
      if (this.#ring.prepareSleep(len) === null) return;
      this.#ring.endSleep();
    }
    const seq = this.#ring.prepareSleep(len);
    if (seq === null) return;
    try {
      await futexWait(this.#end.shm, SPACE_SEQ_OFFSET, seq, { timeoutMs: LIVENESS_SLICE_MS });
    } finally {
      if (!this.#end.closed) this.#ring.endSleep();
    }
  }

  sendMany(messages: Iterable<T>): Promise<void> {
    let encoded: Uint8Array[];
    try {
      this.#check();
      const list = Array.isArray(messages) ? (messages as T[]) : [...messages];
      encoded = list.map((m) => this.#encode(m));
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#enqueue(async () => {
      let i = 0;
      while (i < encoded.length) {
        this.#check();
        if (this.#end.peerClosed()) this.#checkPeer();
        while (i < encoded.length && this.#write(encoded[i]!)) i++;
        this.#ring.publish(); // one index store and at most one wake for the batch
        if (i < encoded.length) {
          this.#checkPeer();
          await this.#waitForSpace(encoded[i]!.byteLength);
        }
      }
    });
  }

  sendSync(message: T, options?: SyncOptions): void {
    this.#check();
    const timeoutMs = validateTimeout(validateOptions(options).timeoutMs);
    const bytes = this.#encode(message);
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.#end.peerClosed()) this.#checkPeer();
      if (this.#write(bytes)) {
        this.#ring.publish();
        return;
      }
      this.#ring.publish();
      this.#checkPeer();
      const spinUntil = nowNs() + SPIN_SYNC_NS;
      let seq: number | null = null;
      while ((seq = this.#ring.prepareSleep(bytes.byteLength)) !== null && nowNs() < spinUntil) this.#ring.endSleep();
      if (seq === null) continue;
      this.#end.sleepSync(this.#ring, SPACE_SEQ_OFFSET, seq, deadline, 'the ring stayed full; nothing was sent');
    }
  }

  /**
   * Marks the end of the stream: the receiver drains what was sent and then
   * sees `undefined`. Waits for queued async sends first. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#end.closed) return;
    await this.#tail;
    this.#end.close(I_DATA_SEQ, DATA_SEQ_OFFSET);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The receiving end of a shared-memory channel. */
export class ShmReceiver<T> implements Receiver<T> {
  readonly #end: ShmEnd;
  readonly #ring: RingConsumer;
  readonly #codec: Codec<T>;
  /**
   * With a zero-copy codec, views stay valid until the next receive call:
   * their frames are released locally at once but the read index is
   * published (and the space handed back to the producer) only then.
   */
  readonly #zeroCopy: boolean;
  #held = false;
  #ended = false;
  #failure: Error | undefined;
  #tail: Promise<unknown> = Promise.resolve();

  /** @internal Use {@link openShmReceiver}. */
  constructor(name: string, opened: Opened, codec: Codec<T>, _maxMessageSize: number | undefined) {
    this.#end = new ShmEnd(name, opened, 'consumer');
    this.#ring = buildRing(this.#end, () => new RingConsumer(opened.shm.buffer, this.#end.waker), I_SPACE_SEQ, SPACE_SEQ_OFFSET);
    this.#codec = codec;
    this.#zeroCopy = codec.name === 'bytesView';
  }

  get ended(): boolean {
    return this.#ended;
  }

  get closed(): boolean {
    return this.#end.closed;
  }

  #check(): void {
    if (this.#end.closed) throw closedError('Receiver');
    if (this.#failure) throw this.#failure;
  }

  /** After a call that copied its messages out: hand their space back now. */
  #publishCopies(): void {
    if (!this.#zeroCopy) this.#releaseHeld();
  }

  /** Hands the frames of messages given out by the previous call back to the producer. */
  #releaseHeld(): void {
    if (this.#held) {
      this.#held = false;
      this.#ring.publish();
    }
  }

  /** One message if there is one: `{ value }`; `null` when empty now. Call #releaseHeld first. */
  #take(): { value: T | undefined } | null {
    let view: Uint8Array | null;
    try {
      view = this.#ring.peek();
    } catch (err) {
      this.#failure = err as Error;
      throw err;
    }
    if (view === null) {
      if (!this.#held) this.#ring.publish(); // space of skipped wrap markers
      // The producer publishes before it sets its closed flag: empty after
      // seeing the flag means everything was received. (A producer that died
      // without closing is noticed by the sleeping path.)
      if (this.#end.peerClosed() && this.#ring.empty) {
        this.#ended = true;
        return { value: undefined };
      }
      return null;
    }
    let value: T;
    try {
      value = this.#codec.decode(view);
    } finally {
      // Freed locally; the read index is published once per call (copies)
      // or at the start of the next call (zero-copy views).
      this.#ring.release();
      this.#held = true;
    }
    return { value };
  }

  tryReceive(): T | undefined {
    this.#check();
    if (this.#ended) return undefined;
    this.#releaseHeld();
    const got = this.#take();
    this.#publishCopies();
    return got?.value;
  }

  receive(): Promise<T | undefined> {
    try {
      this.#check();
      if (this.#ended) return Promise.resolve(undefined);
      if (this.#tail === this.#settled) {
        this.#releaseHeld();
        const got = this.#take();
        this.#publishCopies();
        if (got !== null) return Promise.resolve(got.value);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const p = this.#tail.then(() => this.#receiveSlow());
    const settled = p.catch(() => undefined);
    this.#tail = settled;
    void settled.then(() => {
      if (this.#tail === settled) this.#tail = this.#settled;
    });
    return p;
  }

  readonly #settled: Promise<unknown> = this.#tail;

  async #receiveSlow(): Promise<T | undefined> {
    this.#releaseHeld();
    for (;;) {
      this.#check();
      if (this.#ended) return undefined;
      const got = this.#take();
      this.#publishCopies();
      if (got !== null) return got.value;
      if (this.#producerGone()) continue; // re-take: drains, then ends
      const spinUntil = nowNs() + SPIN_ASYNC_NS;
      while (this.#ring.empty && nowNs() < spinUntil) {
        // a short spin: a producer in the middle of a burst answers within it
      }
      if (!this.#ring.empty) continue;
      const seq = this.#ring.prepareSleep();
      if (seq === null) continue;
      try {
        await futexWait(this.#end.shm, DATA_SEQ_OFFSET, seq, { timeoutMs: LIVENESS_SLICE_MS });
      } finally {
        if (!this.#end.closed) this.#ring.endSleep();
      }
    }
  }

  async receiveMany(max = RECEIVE_MANY_DEFAULT): Promise<T[]> {
    validateInteger(max, 'max', 1);
    const first = await this.receive();
    if (first === undefined && this.#ended) return [];
    const out: T[] = [first as T];
    // Drain what is there (zero-copy views all stay valid until the next call).
    while (out.length < max) {
      const got = this.#take();
      if (got === null || (got.value === undefined && this.#ended)) break;
      out.push(got.value as T);
    }
    this.#publishCopies();
    return out;
  }

  receiveSync(options?: SyncOptions): T | undefined {
    const timeoutMs = validateTimeout(validateOptions(options).timeoutMs);
    const deadline = performance.now() + timeoutMs;
    this.#releaseHeld();
    for (;;) {
      this.#check();
      if (this.#ended) return undefined;
      const got = this.#take();
      this.#publishCopies();
      if (got !== null) return got.value;
      if (this.#producerGone()) continue;
      const spinUntil = nowNs() + SPIN_SYNC_NS;
      while (this.#ring.empty && nowNs() < spinUntil) {
        // spin briefly before paying for a futex sleep and wake
      }
      if (!this.#ring.empty) continue;
      const seq = this.#ring.prepareSleep();
      if (seq === null) continue;
      this.#end.sleepSync(this.#ring, DATA_SEQ_OFFSET, seq, deadline, 'no message arrived in time');
    }
  }

  /**
   * Before sleeping on an empty ring: a producer that died without closing
   * counts as closed (everything it published is still delivered first).
   */
  #producerGone(): boolean {
    if (this.#end.peerState() === null) return false;
    if (!this.#ring.empty) return true;
    this.#ended = true;
    return true;
  }

  /** Stops receiving: a sender still sending gets `ERR_CHANNEL_PEER_GONE`. Idempotent. */
  close(): void {
    this.#end.close(I_SPACE_SEQ, SPACE_SEQ_OFFSET);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return iterate(this);
  }
}

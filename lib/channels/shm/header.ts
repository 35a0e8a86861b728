/**
 * The layout of a shared-memory channel's segment: a header of fixed words
 * (identity, geometry, state, the two sides' pids and closed flags, the
 * ring's indices and wake words, each hot word on a cache line of its own),
 * then the ring's data. See ./ring.ts for the protocol over these words.
 *
 *   0  magic 'PIPC'      4  version        8  capacity     12 data offset
 *  16  max message      20  state (0 initialising, 1 ready, 2 poisoned)
 *  24  creator pid      28  creation nonce 32  producer pid  36  consumer pid
 *  40  producer closed  44  consumer closed
 *  64  write index (written by the producer per message)
 * 128  read index (written by the consumer per message)
 * 192  producer need   196  space seq (futex: the producer sleeps on it)
 * 256  consumer sleeping 260 data seq (futex: the consumer sleeps on it)
 * 320  data: `capacity` bytes (a power of two)
 * @internal
 * @module
 */
import { ChannelError } from '../../errors.js';

export const MAGIC = 0x43504950; // 'PIPC' little-endian
export const VERSION = 1;
export const DATA_OFFSET = 320;
export const FRAME_HEADER = 8;
export const WRAP = 0xffffffff;

export const STATE_INIT = 0;
export const STATE_READY = 1;
export const STATE_POISONED = 2;

// Int32 indices of the header words.
export const I_MAGIC = 0;
export const I_VERSION = 1;
export const I_CAPACITY = 2;
export const I_DATA_OFFSET = 3;
export const I_MAX_MESSAGE = 4;
export const I_STATE = 5;
export const I_CREATOR_PID = 6;
export const I_NONCE = 7;
export const I_PRODUCER_PID = 8;
export const I_CONSUMER_PID = 9;
export const I_PRODUCER_CLOSED = 10;
export const I_CONSUMER_CLOSED = 11;
export const I_WRITE = 16;
export const I_READ = 32;
export const I_PRODUCER_NEED = 48;
export const I_SPACE_SEQ = 49;
export const I_CONSUMER_SLEEPING = 64;
export const I_DATA_SEQ = 65;

/** Byte offsets of the futex words, for the native wait and wake. */
export const SPACE_SEQ_OFFSET = I_SPACE_SEQ * 4;
export const DATA_SEQ_OFFSET = I_DATA_SEQ * 4;

/** Segment bytes needed for a ring with `capacity` data bytes. */
export function segmentSize(capacity: number): number {
  return DATA_OFFSET + capacity;
}

/** The largest payload a ring of `capacity` bytes carries: one frame fills it. */
export function maxPayload(capacity: number): number {
  return capacity - FRAME_HEADER;
}

export function align8(n: number): number {
  return (n + 7) & ~7;
}

export function corrupt(what: string): ChannelError {
  return new ChannelError('ERR_CHANNEL_CORRUPT', `The shared ring is corrupt: ${what}`);
}

/** Writes a fresh header; `state` becomes ready last, so an opener never sees half a header as ready. */
export function initRing(memory: ArrayBufferLike, capacity: number, maxMessage: number, nonce = 0): void {
  const h = new Int32Array(memory, 0, DATA_OFFSET / 4);
  h.fill(0);
  h[I_MAGIC] = MAGIC;
  h[I_VERSION] = VERSION;
  h[I_CAPACITY] = capacity;
  h[I_DATA_OFFSET] = DATA_OFFSET;
  h[I_MAX_MESSAGE] = maxMessage;
  h[I_CREATOR_PID] = process.pid;
  h[I_NONCE] = nonce;
  Atomics.store(h, I_STATE, STATE_READY);
}

/** The checked geometry of an existing ring, or an error saying what is wrong. */
export function readGeometry(memory: ArrayBufferLike): { capacity: number; maxMessage: number } {
  if (memory.byteLength < DATA_OFFSET + 8) throw corrupt(`segment of ${memory.byteLength} bytes is too small`);
  const h = new Int32Array(memory, 0, DATA_OFFSET / 4);
  const magic = h[I_MAGIC]! >>> 0;
  const version = h[I_VERSION]!;
  const capacity = h[I_CAPACITY]! >>> 0;
  const dataOffset = h[I_DATA_OFFSET]! >>> 0;
  const maxMessage = h[I_MAX_MESSAGE]! >>> 0;
  if (magic !== MAGIC) throw corrupt(`bad magic 0x${magic.toString(16)}`);
  if (version !== VERSION) throw corrupt(`unsupported version ${version}`);
  if (dataOffset !== DATA_OFFSET) throw corrupt(`bad data offset ${dataOffset}`);
  if (capacity < 64 || (capacity & (capacity - 1)) !== 0 || capacity > memory.byteLength - DATA_OFFSET) {
    throw corrupt(`bad capacity ${capacity} for a ${memory.byteLength}-byte segment`);
  }
  if (maxMessage > maxPayload(capacity)) throw corrupt(`bad max message ${maxMessage}`);
  return { capacity, maxMessage };
}

/** Header words for liveness and close flags, shared by both sides. */
export function headerWords(memory: ArrayBufferLike): Int32Array {
  return new Int32Array(memory, 0, DATA_OFFSET / 4);
}

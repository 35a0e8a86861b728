/**
 * Channels through a ring buffer in POSIX shared memory, between processes
 * that agree on a name (see ./shm/ring.ts for the protocol, ./shm/header.ts
 * for the layout, ./shm/segment.ts and ./shm/peer.ts for the name's life
 * and peer death).
 *
 * Peer death: each side records its pid in the header and sets a closed flag
 * on close. A waiting side wakes at least every {@link LIVENESS_SLICE_MS} to
 * check the flag and whether the peer's pid still exists, so a `kill -9`ed
 * peer is noticed within that bound.
 * @module
 */
import { SharedMemory } from '../shm.js';
import {
  validateAbortSignal,
  validateBoolean,
  validateInteger,
  validateMode,
  validateOptions,
  validateString,
  validateTimeout,
} from '../internal/validators.js';
import { validateCodec, type Codec } from './codec.js';
import { makeDuplex } from './fd.js';
import { ChannelReceiver } from './receiver.js';
import { ChannelSender } from './sender.js';
import { ShmReceiveEngine, ShmSendEngine } from './shm/engine.js';
import { maxPayload, readGeometry } from './shm/header.js';
import { ShmPeer, type Role } from './shm/peer.js';
import { RingConsumer, RingProducer } from './shm/ring.js';
import { createSegment, openSegment, type Opened } from './shm/segment.js';
import type { ChannelOptions, Duplex } from './types.js';

export { LIVENESS_SLICE_MS } from './shm/peer.js';
export { removeStaleShmChannel } from './shm/segment.js';

/** Default ring capacity: 1 MiB. */
export const DEFAULT_RING_CAPACITY = 1 << 20;

/** Options of {@link openShmSender}, {@link openShmReceiver} and {@link openShmDuplex}. */
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

/** Shared-memory channel options, checked. @internal */
export interface ShmSettings<T> {
  codec: Codec<T>;
  create: boolean;
  capacity: number;
  mode: number;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  maxMessageSize: number | undefined;
}

/** Checks shared-memory channel options (before anything is opened; `ShmServer` checks its rings' with it). @internal */
export function resolveShmOptions<T>(options: ShmChannelOptions<T> | undefined): ShmSettings<T> {
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
    timeoutMs: validateTimeout(opts.timeoutMs, 'options.timeoutMs'),
    signal: validateAbortSignal(opts.signal, 'options.signal'),
    maxMessageSize:
      opts.maxMessageSize === undefined
        ? undefined
        : validateInteger(opts.maxMessageSize, 'options.maxMessageSize', 0, maxPayload(capacity)),
  };
}

/** Opens or creates the segment, then attaches one side; nothing is left behind when that fails. */
async function openSide<End>(
  name: string,
  s: ShmSettings<unknown>,
  role: Role,
  make: (peer: ShmPeer, opened: Opened) => End,
): Promise<End> {
  const opened = s.create
    ? await createSegment(name, s.capacity, s.mode, s.maxMessageSize ?? maxPayload(s.capacity))
    : await openSegment(name, s.timeoutMs, s.signal);
  let peer: ShmPeer | undefined;
  try {
    readGeometry(opened.shm.buffer); // not a ring: ERR_CHANNEL_CORRUPT before attaching
    peer = new ShmPeer(name, opened, role);
    return make(peer, opened);
  } catch (err) {
    if (peer) {
      peer.close(); // attached: close the side again, so the peer is not left waiting for it
    } else {
      if (opened.created) SharedMemory.unlink(name);
      opened.shm.close();
    }
    throw err;
  }
}

function attachSender<T>(name: string, s: ShmSettings<T>): Promise<ChannelSender<T>> {
  return openSide(name, s as ShmSettings<unknown>, 'producer', (peer, o) => {
    const engine = new ShmSendEngine(peer, new RingProducer(o.shm.buffer, peer.waker));
    return new ChannelSender<T>(engine, s.codec, s.maxMessageSize, 'Sender');
  });
}

function attachReceiver<T>(name: string, s: ShmSettings<T>): Promise<ChannelReceiver<T>> {
  return openSide(name, s as ShmSettings<unknown>, 'consumer', (peer, o) => {
    const ring = new RingConsumer(o.shm.buffer, peer.waker);
    return new ChannelReceiver<T>(
      new ShmReceiveEngine(peer, ring),
      s.codec,
      Math.min(s.maxMessageSize ?? ring.maxMessage, ring.maxMessage),
      'Receiver',
    );
  });
}

/**
 * Opens the sending end of a shared-memory channel.
 * Throws `EEXIST` (creating a name a live channel uses), `ENOENT`/`ETIMEDOUT`
 * (opening one never created), `EBUSY` (it already has a sender),
 * `ERR_CHANNEL_CORRUPT` (not a ring, or never finished by its creator), and
 * the errors of {@link SharedMemory.open} (`ENOSPC`, `EACCES`, names).
 * Never blocks the event loop while it waits.
 */
export function openShmSender<T = Uint8Array>(name: string, options?: ShmChannelOptions<T>): Promise<ChannelSender<T>> {
  try {
    return attachSender(name, resolveShmOptions(options));
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Opens the receiving end of a shared-memory channel. Errors as {@link openShmSender}. */
export function openShmReceiver<T = Uint8Array>(name: string, options?: ShmChannelOptions<T>): Promise<ChannelReceiver<T>> {
  try {
    return attachReceiver(name, resolveShmOptions(options));
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * Both directions between two processes over two rings, `name + '.0'` (the
 * creator sends on it) and `name + '.1'` (the creator receives on it). One
 * side passes `create: true`, the other opens (waiting up to `timeoutMs`).
 * The names follow the rules of one channel's (each is unlinked once both
 * sides attached). `name` must leave room for the two-byte suffix.
 */
export async function openShmDuplex<Out = Uint8Array, In = Out>(name: string, options?: ShmChannelOptions<Out>): Promise<Duplex<Out, In>> {
  validateString(name, 'name');
  const s = resolveShmOptions(options);
  const [mine, theirs] = s.create ? [`${name}.0`, `${name}.1`] : [`${name}.1`, `${name}.0`];
  // The creator makes its receiving ring first, the opener its sending end
  // last: each side waits only for a ring the other creates.
  const receiver = await attachReceiver<In>(theirs, s as unknown as ShmSettings<In>);
  try {
    return makeDuplex(await attachSender<Out>(mine, s), receiver);
  } catch (err) {
    receiver.close();
    throw err;
  }
}

/**
 * Stream channel options, checked once into typed settings, and the two
 * constructors every stream transport uses.
 * @internal
 * @module
 */
import { fstatSync } from 'node:fs';

import { native } from '../../internal/native.js';
import { validateInteger, validateOptions } from '../../internal/validators.js';
import { validateCodec, type Codec } from '../codec.js';
import { ChannelReceiver } from '../receiver.js';
import { ChannelSender } from '../sender.js';
import type { ChannelOptions, FdMessage } from '../types.js';
import { StreamReceiveEngine, StreamSendEngine, type StreamRelease } from './engine.js';
import type { FdEndpoint } from './fd-endpoint.js';
import { fdMessageCodec } from './fd-passing.js';
import { MAX_FRAME_PAYLOAD } from './framing.js';

/** Default largest message on a stream channel. */
export const DEFAULT_STREAM_MAX_MESSAGE = 64 * 1024 * 1024;
/** Default queued bytes above which `send` waits (backpressure). */
const HIGH_WATER = 1024 * 1024;
/** Default {@link StreamChannelOptions.pipeCapacity}. */
const PIPE_CAPACITY = 1024 * 1024;

/** Options of the stream channel ends. */
export interface StreamChannelOptions<T> extends ChannelOptions<T> {
  /** Queued bytes above which `send()` waits and `trySend()` refuses. Default 1 MiB. */
  highWaterMark?: number;
  /**
   * Sender over a pipe or FIFO (Linux): grow the kernel's pipe buffer to at
   * least this many bytes, so a burst is one write and one wake-up of the
   * reader instead of one per 64 KiB. Best effort: above
   * `/proc/sys/fs/pipe-max-size` an unprivileged process keeps what it has.
   * Default 1 MiB; 0 leaves the buffer as it is.
   */
  pipeCapacity?: number;
}

/** Stream options, checked. */
export interface StreamSettings<T> {
  codec: Codec<T>;
  maxMessageSize: number;
  highWaterMark: number;
  pipeCapacity: number;
}

/**
 * Checks stream channel options once. Transports call it before they
 * acquire a descriptor, so bad options throw with nothing to clean up.
 */
export function resolveStreamOptions<T>(options: unknown, name = 'options'): StreamSettings<T> {
  const opts = validateOptions(options, name);
  return {
    codec: validateCodec<T>(opts.codec),
    maxMessageSize:
      opts.maxMessageSize === undefined
        ? DEFAULT_STREAM_MAX_MESSAGE
        : validateInteger(opts.maxMessageSize, `${name}.maxMessageSize`, 0, MAX_FRAME_PAYLOAD),
    highWaterMark: opts.highWaterMark === undefined ? HIGH_WATER : validateInteger(opts.highWaterMark, `${name}.highWaterMark`, 1),
    pipeCapacity:
      opts.pipeCapacity === undefined ? PIPE_CAPACITY : validateInteger(opts.pipeCapacity, `${name}.pipeCapacity`, 0, 2 ** 31 - 1),
  };
}

/** Grows the buffer of the pipe or FIFO behind `fd` to `bytes` where the OS allows; anything else is left alone. */
function enlargePipe(fd: number, bytes: number): void {
  if (bytes === 0 || process.platform !== 'linux') return;
  try {
    if (!fstatSync(fd).isFIFO() || native.getPipeCapacity(fd) >= bytes) return;
    native.setPipeCapacity(fd, bytes);
  } catch {
    // EPERM above pipe-max-size, EBUSY: the default buffer still works
  }
}

/** A sender over `ep`. */
export function streamSender<T>(ep: FdEndpoint, s: StreamSettings<T>, release: StreamRelease): ChannelSender<T> {
  enlargePipe(ep.fd, s.pipeCapacity);
  return new ChannelSender<T>(new StreamSendEngine(ep, s.maxMessageSize, s.highWaterMark, release), s.codec, s.maxMessageSize, 'Sender');
}

/** A receiver over `ep`; `awaitWriter` for a FIFO that may have had no writer yet. */
export function streamReceiver<T>(ep: FdEndpoint, s: StreamSettings<T>, release: StreamRelease, awaitWriter = false): ChannelReceiver<T> {
  return new ChannelReceiver<T>(new StreamReceiveEngine(ep, s.maxMessageSize, release, awaitWriter), s.codec, s.maxMessageSize, 'Receiver');
}

/** A sender of `{ value, fds }` messages over a connected UNIX socket's `ep` (./fd-passing.ts). */
export function fdPassingSender<T>(ep: FdEndpoint, s: StreamSettings<T>, release: StreamRelease): ChannelSender<FdMessage<T>> {
  const engine = new StreamSendEngine(ep, s.maxMessageSize, s.highWaterMark, { ...release, passFds: true });
  return new ChannelSender<FdMessage<T>>(engine, fdMessageCodec(s.codec, undefined), s.maxMessageSize, 'Sender');
}

/** A receiver of `{ value, fds }` messages over a connected UNIX socket's `ep`. */
export function fdPassingReceiver<T>(ep: FdEndpoint, s: StreamSettings<T>, release: StreamRelease): ChannelReceiver<FdMessage<T>> {
  const engine = new StreamReceiveEngine(ep, s.maxMessageSize, { ...release, passFds: true });
  return new ChannelReceiver<FdMessage<T>>(engine, fdMessageCodec(s.codec, engine.fds), s.maxMessageSize, 'Receiver');
}

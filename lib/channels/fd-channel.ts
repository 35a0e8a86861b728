/**
 * Channels over descriptors this process already holds: a pipe's ends, one
 * end of a socket pair, or descriptors a parent placed in a child's fd map.
 * @module
 */
import { validateFd } from '../internal/validators.js';
import { native } from '../internal/native.js';
import { FdEndpoint } from './fd-endpoint.js';
import { StreamReceiver, StreamSender, validateStreamOptions, type StreamChannelOptions } from './stream-channel.js';
import type { ChannelOptions } from './types.js';

/** Both directions of a connected socket: a sender and a receiver on one descriptor. */
export interface Duplex<Out, In = Out> {
  readonly sender: StreamSender<Out>;
  readonly receiver: StreamReceiver<In>;
  /** Closes both ends (the sender first drains what is queued). */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A sender writing to `fd` (a pipe's write end, a FIFO, a socket). Takes
 * ownership: the descriptor is made non-blocking and closed by `close()`.
 *
 * @example
 * // in a child started with forkNode(module, { fds: { 3: writeEnd } })
 * const tx = senderFromFd(3, { codec: codecs.json });
 */
export function senderFromFd<T = Uint8Array>(fd: number, options?: StreamChannelOptions<T>): StreamSender<T> {
  validateStreamOptions(options);
  return new StreamSender<T>(new FdEndpoint(validateFd(fd), 1), options, false);
}

/** A receiver reading from `fd`. Takes ownership of the descriptor, like {@link senderFromFd}. */
export function receiverFromFd<T = Uint8Array>(fd: number, options?: ChannelOptions<T>): StreamReceiver<T> {
  validateStreamOptions(options);
  return new StreamReceiver<T>(new FdEndpoint(validateFd(fd), 1), options);
}

/**
 * Both directions over a connected stream socket `fd` (one end of
 * {@link socketPair}, an accepted UNIX connection). Closing the sender shuts
 * down the write side, so the peer sees end-of-stream while this side can
 * still receive; the descriptor closes when both ends are closed.
 */
export function duplexFromFd<Out = Uint8Array, In = Out>(
  fd: number,
  options?: StreamChannelOptions<Out> & { receive?: ChannelOptions<In> },
): Duplex<Out, In> {
  validateFd(fd);
  validateStreamOptions(options);
  if (options?.receive !== undefined) validateStreamOptions(options.receive);
  const ep = new FdEndpoint(fd, 2);
  const sender = new StreamSender<Out>(ep, options, true);
  const receiver = new StreamReceiver<In>(ep, (options?.receive ?? options) as ChannelOptions<In> | undefined, { shutdownOnClose: true });
  return makeDuplex(sender, receiver);
}

/** @internal */
export function makeDuplex<Out, In>(sender: StreamSender<Out>, receiver: StreamReceiver<In>): Duplex<Out, In> {
  const close = async (): Promise<void> => {
    try {
      await sender.close();
    } finally {
      receiver.close();
    }
  };
  return { sender, receiver, close, [Symbol.asyncDispose]: close };
}

/**
 * A connected pair of UNIX stream sockets, both ends blocking and
 * close-on-exec: one for this process, one to hand to a child through
 * `spawn`/`forkNode`'s fd map (a duplex alternative to two pipes).
 */
export function socketPair(): readonly [number, number] {
  const [a, b] = native.socketPair();
  return [a, b] as const;
}

/**
 * A pipe with both channel ends in this process: mostly for tests and for
 * handing one end to a child (`sender.fd`-less: use `pipe()` and
 * {@link senderFromFd}/{@link receiverFromFd} for that).
 */
export function pipeChannel<T = Uint8Array>(options?: StreamChannelOptions<T>): { sender: StreamSender<T>; receiver: StreamReceiver<T> } {
  validateStreamOptions(options); // before the pipe exists: nothing to close on a throw
  const [r, w] = native.pipe(true, true, true);
  return { receiver: receiverFromFd<T>(r, options), sender: senderFromFd<T>(w, options) };
}

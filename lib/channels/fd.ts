/**
 * Channels over descriptors this process already holds: a pipe's ends, one
 * end of a socket pair, or descriptors a parent placed in a child's fd map.
 * @module
 */
import { closeSync, pipe } from '../fd.js';
import { validateFd, validateOptions } from '../internal/validators.js';
import type { ChannelReceiver } from './receiver.js';
import type { ChannelSender } from './sender.js';
import {
  fdPassingReceiver,
  fdPassingSender,
  resolveStreamOptions,
  streamReceiver,
  streamSender,
  type StreamChannelOptions,
  type StreamSettings,
} from './stream/ends.js';
import { adopt, FdEndpoint } from './stream/fd-endpoint.js';
import type { ChannelOptions, Duplex, FdMessage } from './types.js';

/**
 * A sender writing to `fd` (a pipe's write end, a FIFO, a socket). Takes
 * ownership: the descriptor is made non-blocking and closed by `close()`.
 *
 * @example
 * // in a child started with forkNode(module, { fds: { 3: writeEnd } })
 * const tx = senderFromFd(3, { codec: codecs.json });
 */
export function senderFromFd<T = Uint8Array>(fd: number, options?: StreamChannelOptions<T>): ChannelSender<T> {
  const s = resolveStreamOptions<T>(options);
  return streamSender(new FdEndpoint(validateFd(fd), 1), s, { shutdown: false });
}

/** A receiver reading from `fd`. Takes ownership of the descriptor, like {@link senderFromFd}. */
export function receiverFromFd<T = Uint8Array>(fd: number, options?: ChannelOptions<T>): ChannelReceiver<T> {
  const s = resolveStreamOptions<T>(options);
  return streamReceiver(new FdEndpoint(validateFd(fd), 1), s, { shutdown: false });
}

/** Options of {@link duplexFromFd}: the sender's, and `receive` for the receiver's when they differ. */
export type DuplexFdOptions<Out, In> = StreamChannelOptions<Out> & { receive?: ChannelOptions<In> };

/** Checks duplex options once: the sending side's settings and the receiving side's. @internal */
export function resolveDuplexOptions<Out, In>(options: DuplexFdOptions<Out, In> | undefined): [StreamSettings<Out>, StreamSettings<In>] {
  const opts = validateOptions(options);
  const out = resolveStreamOptions<Out>(opts);
  const inn =
    opts.receive === undefined ? (out as unknown as StreamSettings<In>) : resolveStreamOptions<In>(opts.receive, 'options.receive');
  return [out, inn];
}

/**
 * Both directions over a connected stream socket `fd` (one end of
 * {@link socketPair}, an accepted UNIX connection). Closing the sender shuts
 * down the write side, so the peer sees end-of-stream while this side can
 * still receive; the descriptor closes when both ends are closed.
 */
export function duplexFromFd<Out = Uint8Array, In = Out>(fd: number, options?: DuplexFdOptions<Out, In>): Duplex<Out, In> {
  validateFd(fd);
  return duplexOnFd(fd, resolveDuplexOptions(options));
}

/** {@link duplexFromFd} with settings already checked. @internal */
export function duplexOnFd<Out, In>(fd: number, [out, inn]: [StreamSettings<Out>, StreamSettings<In>]): Duplex<Out, In> {
  const ep = new FdEndpoint(fd, 2);
  return makeDuplex(streamSender(ep, out, { shutdown: true }), streamReceiver(ep, inn, { shutdown: true }));
}

/** A duplex of `{ value, fds }` messages over a connected UNIX socket (descriptor passing). @internal */
export function fdPassingDuplexOnFd<Out, In>(
  fd: number,
  [out, inn]: [StreamSettings<Out>, StreamSettings<In>],
): Duplex<FdMessage<Out>, FdMessage<In>> {
  const ep = new FdEndpoint(fd, 2);
  return makeDuplex(fdPassingSender(ep, out, { shutdown: true }), fdPassingReceiver(ep, inn, { shutdown: true }));
}

/** A duplex of two ends that close together. @internal */
export function makeDuplex<Out, In>(sender: ChannelSender<Out>, receiver: ChannelReceiver<In>): Duplex<Out, In> {
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
 * A pipe with both channel ends in this process: mostly for tests (to hand
 * one end to a child, use `pipe()` and {@link senderFromFd}/{@link receiverFromFd}).
 */
export function pipeChannel<T = Uint8Array>(options?: StreamChannelOptions<T>): { sender: ChannelSender<T>; receiver: ChannelReceiver<T> } {
  const s = resolveStreamOptions<T>(options); // before the pipe exists: nothing to close on a throw
  const [r, w] = pipe({ nonBlocking: true });
  const receiver = adopt(r, () => streamReceiver(new FdEndpoint(r, 1), s, { shutdown: false }));
  const sender = adopt(w, () => streamSender(new FdEndpoint(w, 1), s, { shutdown: false }));
  return { receiver, sender };
}

/** A server's verifier's answer about a peer; a throw is a refusal. @internal */
export function accepts<P>(verify: ((peer: P) => boolean) | undefined, peer: P): boolean {
  if (verify === undefined) return true;
  try {
    return verify(peer) === true;
  } catch {
    return false;
  }
}

/** Closes an accepted descriptor nobody owns yet: a refused or vanished client. @internal */
export function discard(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // nothing to report for a connection that is being refused
  }
}

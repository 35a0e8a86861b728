/**
 * One Node stream (a `tls.TLSSocket`) shared by the two engines of
 * ./node-stream.ts: its error, end and close seen once, a reference count,
 * the event-loop reference while someone waits, and the lingering close.
 * Also how a Node stream's errors map onto the channel's: a reset is the
 * end of the stream, a lost peer is `ERR_CHANNEL_PEER_GONE`.
 * @internal
 * @module
 */
import type { Duplex as NodeDuplex } from 'node:stream';

import { ChannelError, peerGoneError } from '../../errors.js';
import { END_MARK, HEADER } from './framing.js';

/** The longest a closed connection waits for the peer's end before it is destroyed (see NodeStreamEndpoint.release). */
export const LINGER_MS = 2000;

/** The peer closed or reset the connection: a receiver takes it as end-of-file. */
const CLOSED_CODES = new Set(['EPIPE', 'ECONNRESET', 'ENOTCONN', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED']);
/** The network lost the peer (keep-alive, user timeout, unreachable). */
const LOST_CODES = new Set(['ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN']);

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : '';
}

/** True when a Node stream's error says the peer closed or reset: the end of the stream, for a receiver. */
export function isClosedError(err: unknown): boolean {
  return CLOSED_CODES.has(codeOf(err));
}

/** A Node stream's error as the channel reports it: `ERR_CHANNEL_PEER_GONE`, the error as `cause`. */
export function peerGone(err: Error): Error {
  if (err instanceof ChannelError) return err;
  if (isClosedError(err)) return peerGoneError('closed the channel or exited', err);
  if (LOST_CODES.has(codeOf(err))) return peerGoneError(`stopped answering (${err.message})`, err);
  return peerGoneError(`broke the connection (${err.message})`, err);
}

/** True when a chunk read after our close is just the peer's end mark. */
function isEndMark(chunk: Buffer): boolean {
  return chunk.byteLength === HEADER && chunk.readUInt32LE(0) === END_MARK;
}

/**
 * One Node stream shared by the sending and the receiving engine of a
 * duplex: its error, end and close, seen once, and a count of the ends
 * still using it. The stream is destroyed when the last end lets go.
 */
export class NodeStreamEndpoint {
  readonly socket: NodeDuplex & { ref?(): unknown; unref?(): unknown };
  /** The transport's name in errors (`'TLS'`). */
  readonly name: string;
  /** The stream's first error. */
  error: Error | undefined;
  /** The peer ended its sending side ('end'). */
  ended = false;
  /** The stream is gone ('close'). */
  closed = false;
  /** Our sender closed cleanly: its end mark is written (./node-stream.ts). */
  sentEnd = false;
  #users: number;
  /** Waits in progress: the socket keeps the event loop alive only while there are some. */
  #holds = 0;
  readonly #watchers = new Set<() => void>();

  constructor(socket: NodeDuplex, users: number, name: string) {
    this.socket = socket;
    this.name = name;
    this.#users = users;
    // As a descriptor's poll handle: an idle channel keeps no event loop alive.
    this.socket.unref?.();
    socket.on('error', (err: Error) => {
      this.error ??= err;
      this.#notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.#notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#notify();
    });
  }

  /** Calls `fn` after every error, end or close; returns the remover. */
  watch(fn: () => void): () => void {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }

  #notify(): void {
    for (const fn of [...this.#watchers]) fn();
  }

  /**
   * Keeps the event loop alive (the socket referenced) until the returned
   * function is called: for a wait, a flush or a close in progress.
   */
  hold(): () => void {
    if (this.#holds++ === 0) this.socket.ref?.();
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      if (--this.#holds === 0) this.socket.unref?.();
    };
  }

  /**
   * One end lets go; the stream ends when none is left. When our sender
   * closed cleanly (its end mark written), the TLS stream is ended now
   * (close_notify, then FIN), and the close lingers: a socket closed with
   * unread bytes is reset, and a reset throws away what the kernel has not
   * sent yet (TLS 1.3 peers also send records late: session tickets, their
   * own end mark and close_notify). So the socket reads on until the peer's
   * end, or {@link LINGER_MS}, or the first message that still arrives (then
   * it is reset at once: the peer's sender must learn that nobody reads); it
   * keeps no event loop alive meanwhile. Anything else is destroyed at once.
   */
  release(): void {
    if (--this.#users > 0) return;
    const { socket } = this;
    if (socket.destroyed) return;
    if (this.ended || !this.sentEnd || this.error !== undefined) {
      socket.destroy(); // the peer sends nothing more, or our side did not end cleanly
      return;
    }
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
    };
    this.watch(() => {
      if (this.ended || this.closed || this.error !== undefined) done();
    });
    // Messages still coming: the peer sends to a channel nobody reads. Reset
    // now, so its sender learns (ERR_CHANNEL_PEER_GONE) instead of losing
    // them. The peer's own end mark is no message: it lingers on.
    socket.on('data', (chunk: Buffer) => {
      if (!isEndMark(chunk)) done();
    });
    socket.resume();
    socket.end();
  }
}

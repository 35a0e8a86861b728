/**
 * Channels over UNIX-domain stream sockets: a server at a path accepts many
 * clients; each connection is a {@link Duplex} (a sender and a receiver).
 * @module
 */
import { resolve } from 'node:path';

import { formatAddress } from './address.js';
import { acceptEach } from './call.js';
import { abortError, closedError, isSystemError, systemError } from '../errors.js';
import {
  acceptUnixSocket,
  connectUnixSocket,
  finishConnectUnixSocket,
  listenUnixSocket,
  peerCredentials,
  removeUnixSocketFile,
  validateSocketPath,
  type PeerCredentials,
} from '../socket.js';
import {
  validateAbortSignal,
  validateBoolean,
  validateFunction,
  validateInteger,
  validateOptions,
  validateTimeout,
} from '../internal/validators.js';
import { removeAtExit } from '../internal/cleanup.js';
import { bounded, deadlineAfter, delay } from '../internal/waiting.js';
import { accepts, discard, duplexOnFd, fdPassingDuplexOnFd, resolveDuplexOptions } from './fd.js';
import type { StreamChannelOptions, StreamSettings } from './stream/ends.js';
import { adopt, FdEndpoint } from './stream/fd-endpoint.js';
import type { Duplex, FdMessage, Listener } from './types.js';

/** A UNIX socket connection as a channel: both directions, and who is at the other end. */
export interface UnixDuplex<Out, In = Out> extends Duplex<Out, In> {
  /**
   * The process at the other end, as the kernel recorded it when the
   * connection was made ({@link peerCredentials}): it cannot be forged. On a
   * server, the client; on a client, the server (Linux: as it was at `listen()`).
   */
  readonly peer: PeerCredentials;
}

/** Options of {@link UnixServer.listen}. */
export interface UnixServerOptions<T> extends StreamChannelOptions<T> {
  /** Permissions of the socket file, set before `listen()`. Default `0o600`. */
  mode?: number;
  /** Pending connections the kernel queues. Default 128. */
  backlog?: number;
  /** Accept clients of these effective user ids only; any other is closed at once and never yielded. Default: any. */
  allowUids?: readonly number[];
  /**
   * Called with each client's credentials (after `allowUids`): `false` (or a
   * throw) refuses it, and the connection is closed at once, never yielded.
   */
  verifyPeer?: (peer: PeerCredentials) => boolean;
  /**
   * Pass descriptors with messages (`SCM_RIGHTS`): every connection carries
   * {@link FdMessage} `{ value, fds }` messages (`value` through `codec`).
   * Both sides must agree. See docs/descriptor-passing.md. Default `false`.
   */
  passFds?: boolean;
}

/**
 * A listening UNIX-domain socket. `listen()` replaces a stale socket file (one
 * nobody listens on, as a killed server leaves) but never a live one
 * (`EADDRINUSE`). The server removes its path on `close()` and at process exit.
 */
export class UnixServer<T = Uint8Array> implements Listener<T> {
  readonly path: string;
  /** Where clients reach it: `unix:` and the socket's absolute path (a relative `path` resolved at `listen()`). */
  readonly url: string;
  readonly #ep: FdEndpoint;
  readonly #settings: [StreamSettings<T>, StreamSettings<T>];
  readonly #admit: (peer: PeerCredentials) => boolean;
  readonly #remove: () => void;
  readonly #passFds: boolean;
  #closed = false;

  private constructor(
    path: string,
    fd: number,
    settings: [StreamSettings<T>, StreamSettings<T>],
    admit: (peer: PeerCredentials) => boolean,
    passFds: boolean,
  ) {
    this.path = path;
    this.url = formatAddress({ scheme: 'unix', path: resolve(path) });
    this.#passFds = passFds;
    this.#ep = new FdEndpoint(fd, 1);
    this.#settings = settings;
    this.#admit = admit;
    this.#remove = removeAtExit(`unix:${path}`, () => removeUnixSocketFile(path), { kind: 'file', name: path });
  }

  /**
   * Binds and listens at `path`. Throws `EADDRINUSE` when a live server has
   * it, `EACCES`, `ENOENT` (no directory). With `passFds: true` the
   * connections carry {@link FdMessage} `{ value, fds }` messages.
   */
  static listen<T = Uint8Array>(path: string, options: UnixServerOptions<T> & { passFds: true }): UnixServer<FdMessage<T>>;
  static listen<T = Uint8Array>(path: string, options?: UnixServerOptions<T>): UnixServer<T>;
  static listen<T = Uint8Array>(path: string, options?: UnixServerOptions<T>): UnixServer<T> {
    const p = validateSocketPath(path);
    const opts = validateOptions(options);
    // Checked now, not at each accept(): every connection would fail (and its descriptor with it).
    const settings = resolveDuplexOptions<T, T>(opts);
    const admit = resolveAdmission(opts);
    const passFds = resolvePassFds(opts);
    const fd = listenUnixSocket(p, { mode: opts.mode as number | undefined, backlog: opts.backlog as number | undefined });
    return adopt(fd, () => new UnixServer<T>(p, fd, settings, admit, passFds));
  }

  /**
   * Waits for the next client (one `allowUids` and `verifyPeer` accept);
   * its connection is a duplex channel, with the client's credentials as
   * `peer`. Rejects after `close()`.
   */
  async accept(options?: { signal?: AbortSignal }): Promise<UnixDuplex<T>> {
    const signal = validateAbortSignal(validateOptions(options).signal, 'options.signal');
    for (;;) {
      if (this.#closed) throw closedError('UnixServer');
      if (signal?.aborted) throw abortError(signal);
      const fd = acceptUnixSocket(this.#ep.fd);
      if (fd !== null) {
        const conn = this.#connection(fd);
        if (conn !== undefined) return conn;
        continue;
      }
      try {
        await this.#ep.readable(signal); // resolves on abort too: the loop reports it
      } catch {
        throw closedError('UnixServer');
      }
    }
  }

  /** The channel of an accepted descriptor, or undefined when its client is refused (closed at once) or gone. */
  #connection(fd: number): UnixDuplex<T> | undefined {
    let peer: PeerCredentials;
    try {
      peer = peerCredentials(fd);
    } catch {
      discard(fd); // the client vanished meanwhile
      return undefined;
    }
    if (!this.#admit(peer)) {
      discard(fd);
      return undefined;
    }
    return adopt(fd, () => Object.assign(onFd<T>(fd, this.#settings, this.#passFds), { peer }));
  }

  [Symbol.asyncIterator](): AsyncIterator<UnixDuplex<T>> {
    return acceptEach(
      () => this.accept(),
      () => this.#closed,
    );
  }

  /** Stops listening and removes the socket file. Open connections are not affected. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ep.release();
    this.#remove();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Options of {@link connectUnix}. */
export interface ConnectUnixOptions<T> extends StreamChannelOptions<T> {
  /** Give up after this long (`ETIMEDOUT`) when the server's backlog is full. Default: no limit. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Pass descriptors with messages, as {@link UnixServerOptions.passFds} (the server must agree). Default `false`. */
  passFds?: boolean;
}

/** First and longest pause between connection attempts while a server's backlog is full. */
const RETRY_FIRST_MS = 1;
const RETRY_MAX_MS = 50;

/**
 * Connects to a {@link UnixServer}. Throws `ENOENT` (no such path),
 * `ECONNREFUSED` (nobody listens), `EACCES`. While the server's backlog is
 * full (Linux answers `EAGAIN`: the kernel queues nothing), the connection is
 * retried with backoff until `timeoutMs` passes (`ETIMEDOUT`, syscall
 * `connect`) or `signal` aborts.
 */
export async function connectUnix<T = Uint8Array>(
  path: string,
  options: ConnectUnixOptions<T> & { passFds: true },
): Promise<UnixDuplex<FdMessage<T>>>;
export async function connectUnix<T = Uint8Array>(path: string, options?: ConnectUnixOptions<T>): Promise<UnixDuplex<T>>;
export async function connectUnix<T = Uint8Array>(path: string, options?: ConnectUnixOptions<T>): Promise<UnixDuplex<T>> {
  const p = validateSocketPath(path);
  const opts = validateOptions(options);
  const timeoutMs = validateTimeout(opts.timeoutMs);
  const signal = validateAbortSignal(opts.signal);
  const settings = resolveDuplexOptions<T, T>(opts); // before a socket exists
  const passFds = resolvePassFds(opts);
  const deadline = deadlineAfter(timeoutMs);
  let pause = RETRY_FIRST_MS;
  for (;;) {
    if (signal?.aborted) throw abortError(signal);
    let fd: number;
    let inProgress: boolean;
    try {
      ({ fd, inProgress } = connectUnixSocket(p));
    } catch (err) {
      if (!isSystemError(err, 'EAGAIN')) throw err;
      const left = deadline - performance.now();
      if (left <= 0) throw systemError('ETIMEDOUT', 'connect', p, "the server's backlog stayed full");
      await delay(Math.min(pause, left), signal);
      pause = Math.min(pause * 2, RETRY_MAX_MS);
      continue;
    }
    if (!inProgress) return adopt(fd, () => unixDuplex<T>(fd, settings, passFds));
    return finishConnecting<T>(fd, p, deadline, signal, settings, passFds);
  }
}

/** A connection the kernel completes later (EINPROGRESS, as macOS may answer): wait until writable. */
async function finishConnecting<T>(
  fd: number,
  path: string,
  deadline: number,
  signal: AbortSignal | undefined,
  settings: [StreamSettings<T>, StreamSettings<T>],
  passFds: boolean,
): Promise<UnixDuplex<T>> {
  const ep = new FdEndpoint(fd, 1);
  try {
    await bounded(
      (inner) => ep.writable(inner),
      signal,
      deadline,
      () => systemError('ETIMEDOUT', 'connect', path),
    );
    finishConnectUnixSocket(fd);
  } catch (err) {
    ep.release();
    throw err;
  }
  const connected = ep.detach();
  return adopt(connected, () => unixDuplex<T>(connected, settings, passFds));
}

/** A connected client's channel, with the server's credentials. */
function unixDuplex<T>(fd: number, settings: [StreamSettings<T>, StreamSettings<T>], passFds: boolean): UnixDuplex<T> {
  const peer = peerCredentials(fd);
  return Object.assign(onFd<T>(fd, settings, passFds), { peer });
}

/** The duplex over a connection: plain, or of `{ value, fds }` messages (then `T` is that message type). */
function onFd<T>(fd: number, settings: [StreamSettings<T>, StreamSettings<T>], passFds: boolean): Duplex<T> {
  return passFds ? (fdPassingDuplexOnFd(fd, settings) as unknown as Duplex<T>) : duplexOnFd<T, T>(fd, settings);
}

function resolvePassFds(opts: Record<string, unknown>): boolean {
  return opts.passFds === undefined ? false : validateBoolean(opts.passFds, 'options.passFds');
}

/** `allowUids` and `verifyPeer`, checked, as one test. */
function resolveAdmission(opts: Record<string, unknown>): (peer: PeerCredentials) => boolean {
  let uids: Set<number> | undefined;
  if (opts.allowUids !== undefined) {
    const list = opts.allowUids;
    if (!Array.isArray(list)) throw new TypeError('The "options.allowUids" option must be an array of user ids');
    uids = new Set(list.map((u, i) => validateInteger(u, `options.allowUids[${i}]`, 0, 2 ** 32 - 1)));
  }
  const verify = validateFunction<(peer: PeerCredentials) => boolean>(opts.verifyPeer, 'options.verifyPeer');
  return (peer) => (uids === undefined || uids.has(peer.uid)) && accepts(verify, peer);
}

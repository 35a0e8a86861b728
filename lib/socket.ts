/**
 * UNIX-domain stream sockets as plain descriptors: listen at a path, accept,
 * connect, a connected pair, half-close, and who is at the other end.
 *
 * Descriptors are plain numbers, as in {@link pipe}: move bytes with
 * {@link readSync}/{@link writeSync}, hand them to Node with
 * {@link streamFromFd}, or to a channel with {@link duplexFromFd}; close them
 * with {@link closeSync}. Every descriptor made here is close-on-exec (a child
 * gets one only through an fd map). Those of {@link listenUnixSocket},
 * {@link acceptUnixSocket} and {@link connectUnixSocket} are non-blocking;
 * {@link socketPair}'s are blocking.
 * @module
 */
import { lstatSync, unlinkSync } from 'node:fs';

import { isSystemError, systemError } from './errors.js';
import {
  validateBoolean,
  validateBytes,
  validateFd,
  validateInteger,
  validateMode,
  validateOptions,
  validateString,
} from './internal/validators.js';
import { native } from './internal/native.js';

/** The longest socket path (`sun_path` less its terminating NUL): 107 bytes on Linux, 103 on macOS. */
export const MAX_SOCKET_PATH = process.platform === 'darwin' ? 103 : 107;

/**
 * A socket path: a string of 1 to {@link MAX_SOCKET_PATH} bytes (UTF-8)
 * without NUL, else a `TypeError` or `RangeError` naming the argument.
 * @internal
 */
export function validateSocketPath(path: unknown, name = 'path'): string {
  const p = validateString(path, name);
  const bytes = Buffer.byteLength(p);
  if (bytes === 0 || bytes > MAX_SOCKET_PATH) {
    throw new RangeError(
      `The "${name}" argument must be 1 to ${MAX_SOCKET_PATH} bytes long (a UNIX socket address limit). Received ${bytes} bytes`,
    );
  }
  return p;
}

/** Options of {@link listenUnixSocket}. */
export interface ListenUnixSocketOptions {
  /** Permissions of the socket file, exactly (whatever the umask), set before `listen()`. Default `0o600`. */
  mode?: number;
  /** Pending connections the kernel queues (`listen(2)`'s backlog), 1 to 65535. Default 128. */
  backlog?: number;
}

/**
 * Binds a UNIX stream socket at `path` and listens: returns the listening
 * descriptor (non-blocking, close-on-exec). The mode is set before
 * `listen()`, so no other user can connect in between.
 *
 * A stale socket file at `path` (one nobody listens on, as a killed server
 * leaves: {@link isStaleUnixSocket}) is replaced. A live one is not, and
 * neither is anything that is not a socket: both throw `EADDRINUSE`. Other
 * errors: `ENOENT` (no such directory), `EACCES`.
 *
 * The socket file outlives the descriptor: remove it with
 * {@link removeUnixSocketFile} once done.
 *
 * @example
 * const server = listenUnixSocket('/tmp/app.sock');
 * // when the descriptor polls readable:
 * const conn = acceptUnixSocket(server); // a number, or null
 */
export function listenUnixSocket(path: string, options?: ListenUnixSocketOptions): number {
  const p = validateSocketPath(path);
  const opts = validateOptions(options);
  const mode = opts.mode === undefined ? 0o600 : validateMode(opts.mode, 'options.mode');
  const backlog = opts.backlog === undefined ? 128 : validateInteger(opts.backlog, 'options.backlog', 1, 65535);
  try {
    return native.unixListen(p, backlog, mode);
  } catch (err) {
    if (!isSystemError(err, 'EADDRINUSE') || !isStaleUnixSocket(p)) throw err;
    removeUnixSocketFile(p);
    return native.unixListen(p, backlog, mode);
  }
}

/**
 * Accepts the next pending connection on a listening descriptor: returns the
 * connection's descriptor (non-blocking, close-on-exec), or `null` when none
 * is pending (wait for the listening descriptor to poll readable). A
 * connection its client already abandoned also gives `null`. Throws `EBADF`,
 * `EINVAL` (not listening), `ENOTSOCK`, `EMFILE`.
 */
export function acceptUnixSocket(fd: number): number | null {
  const conn = native.unixAccept(validateFd(fd));
  return conn === -1 ? null : conn;
}

/** What {@link connectUnixSocket} returns. */
export interface UnixSocketConnect {
  /** The new socket: non-blocking, close-on-exec, yours to close. */
  readonly fd: number;
  /**
   * True when the kernel completes the connection later (macOS may answer
   * so): wait until `fd` polls writable, then call {@link finishConnectUnixSocket}.
   */
  readonly inProgress: boolean;
}

/**
 * Connects a new non-blocking socket to the server listening at `path`.
 * Throws `ENOENT` (no such path), `ECONNREFUSED` (nobody listens: a stale
 * socket, or a file that is not a socket), `EACCES`, and `EAGAIN` when the
 * server's backlog is full (Linux: nothing was queued, try again later). On
 * a throw no descriptor is left open.
 *
 * @example
 * const { fd, inProgress } = connectUnixSocket('/tmp/app.sock');
 * if (inProgress) { pollSync(fd, 'w'); finishConnectUnixSocket(fd); }
 */
export function connectUnixSocket(path: string): UnixSocketConnect {
  const [fd, inProgress] = native.unixConnect(validateSocketPath(path));
  return { fd, inProgress };
}

/**
 * Completes a connection {@link connectUnixSocket} reported `inProgress`,
 * once its descriptor polls writable: returns when it is connected, throws
 * its failure otherwise (syscall `connect`, e.g. `ECONNREFUSED`). The
 * descriptor stays open either way: close it after a failure.
 */
export function finishConnectUnixSocket(fd: number): void {
  native.finishConnect(validateFd(fd));
}

/**
 * A connected pair of UNIX stream sockets, both ends blocking and
 * close-on-exec: one for this process, one to hand to a child through
 * {@link spawn}/{@link forkNode}'s fd map (a duplex alternative to two
 * pipes). Throws `EMFILE`/`ENFILE` when out of descriptors.
 */
export function socketPair(): readonly [number, number] {
  const [a, b] = native.socketPair();
  return [a, b] as const;
}

/** Which directions {@link shutdownSocket} shuts. */
export interface ShutdownSocketOptions {
  /** Stop receiving (`SHUT_RD`): on a UNIX socket the peer's writes then fail with `EPIPE`. Default `false`. */
  read?: boolean;
  /** Stop sending (`SHUT_WR`): the peer reads end-of-file, while this end can still read. Default `true`. */
  write?: boolean;
}

/**
 * `shutdown(2)` one or both directions of a connected socket, without closing
 * the descriptor. By default the write side: the peer reads end-of-file.
 *
 * Quiet when the socket is already disconnected (`ENOTCONN`, as macOS answers
 * once the peer is gone): there is nobody left to tell. `EBADF` and
 * `ENOTSOCK` still throw, and so does asking for neither side (`RangeError`).
 */
export function shutdownSocket(fd: number, options?: ShutdownSocketOptions): void {
  validateFd(fd);
  const opts = validateOptions(options);
  const read = opts.read === undefined ? false : validateBoolean(opts.read, 'options.read');
  const write = opts.write === undefined ? true : validateBoolean(opts.write, 'options.write');
  if (!read && !write) throw new RangeError('The "options" argument must shut down at least one side (read or write)');
  try {
    native.shutdown(fd, read, write);
  } catch (err) {
    if (!isSystemError(err, 'ENOTCONN')) throw err;
  }
}

/** Who is at the other end of a UNIX socket: see {@link peerCredentials}. */
export interface PeerCredentials {
  /** The peer's process id; -1 where the system does not say (macOS, once the peer has closed). */
  readonly pid: number;
  /** Its effective user id. */
  readonly uid: number;
  /** Its effective group id. */
  readonly gid: number;
}

/**
 * The process, user and group at the other end of a connected UNIX socket:
 * an accepted connection, a connected client, either end of a
 * {@link socketPair}. The kernel records them when the connection is made,
 * so they cannot be forged by the peer; check them before trusting a client.
 *
 * - Linux (`SO_PEERCRED`): the process that called `connect()` (or made the
 *   pair), even after it exited; pid 0 when it lives in a pid namespace this
 *   process cannot see.
 * - macOS (`getpeereid()`, `LOCAL_PEERPID`): uid and gid as recorded at
 *   connect; the pid of the process that last used the peer's socket, or -1
 *   once the peer has closed.
 *
 * Throws a system error with syscall `getsockopt`: `ENOTCONN` (a listening
 * socket, or one never connected), `ENOTSOCK` (not a socket), `EBADF`.
 */
export function peerCredentials(fd: number): PeerCredentials {
  const { pid, uid, gid } = native.peerCredentials(validateFd(fd));
  return { pid, uid, gid };
}

/**
 * True when a socket file exists at `path` but nobody accepts connections on
 * it (connecting is refused), as a killed server leaves. Anything that is not
 * a socket is never stale (a regular file is refused too, but it is
 * someone's file), and neither is a socket this process cannot tell about
 * (`EACCES`, a full backlog). A live server sees a connection open and close.
 */
export function isStaleUnixSocket(path: string): boolean {
  const p = validateSocketPath(path);
  try {
    if (!lstatSync(p).isSocket()) return false;
  } catch {
    return false; // gone meanwhile
  }
  try {
    const [fd] = native.unixConnect(p);
    native.close(fd);
    return false;
  } catch (err) {
    return isSystemError(err, 'ECONNREFUSED');
  }
}

/**
 * Removes the socket file at `path`; nothing when there is none (`ENOENT` is
 * ignored). Anything that is not a socket is left alone: `ENOTSOCK` (syscall
 * `unlink`). Open descriptors are not affected, but no new client can
 * connect through the path.
 */
export function removeUnixSocketFile(path: string): void {
  const p = validateSocketPath(path);
  try {
    if (!lstatSync(p).isSocket()) throw systemError('ENOTSOCK', 'unlink', p, 'not a socket');
    unlinkSync(p);
  } catch (err) {
    if (!isSystemError(err, 'ENOENT')) throw err;
  }
}

/** The most descriptors one message carries (Linux's `SCM_MAX_FD`). */
export const MAX_PASSED_FDS = 253;

/**
 * The descriptors to pass with a message: an array of at most
 * {@link MAX_PASSED_FDS} open descriptors, else a `TypeError`/`RangeError`
 * naming the argument, or `EBADF` (syscall `sendmsg`) for one that is not
 * open. @internal
 */
export function validatePassedFds(fds: unknown, name = 'fds'): readonly number[] {
  if (!Array.isArray(fds)) throw new TypeError(`The "${name}" argument must be an array of descriptors. Received ${typeof fds}`);
  if (fds.length > MAX_PASSED_FDS) {
    throw new RangeError(`The "${name}" argument must hold at most ${MAX_PASSED_FDS} descriptors. Received ${fds.length}`);
  }
  for (let i = 0; i < fds.length; i++) {
    const fd = validateFd(fds[i], `${name}[${i}]`);
    try {
      native.getFlags(fd);
    } catch {
      throw systemError('EBADF', 'sendmsg', undefined, `${name}[${i}] (${fd}) is not an open descriptor`);
    }
  }
  return fds as readonly number[];
}

/**
 * Sends `bytes` with `fds` attached (`SCM_RIGHTS`) on a connected UNIX
 * stream socket: returns the bytes written (the descriptors travel with the
 * first of them), or `null` when a non-blocking socket has no room (nothing
 * was sent). The kernel gives the receiver its own duplicates: `fds` stay
 * yours, and you may close them as soon as this returns.
 *
 * `bytes` must hold at least 1 byte (a stream carries descriptors with
 * data); `fds` 1 to {@link MAX_PASSED_FDS} open descriptors. Throws
 * `TypeError`/`RangeError` for bad arguments, and a system error with
 * syscall `sendmsg`: `EBADF`, `ENOTSOCK`, `EPIPE` (the peer closed),
 * `ETOOMANYREFS` (too many descriptors in flight for this user), `EINVAL`
 * (not a UNIX socket).
 *
 * @example
 * const [r, w] = pipe();
 * sendWithFds(sock, Buffer.from('take this'), [w]);
 * closeSync(w); // the peer has its own
 */
export function sendWithFds(fd: number, bytes: Uint8Array, fds: readonly number[]): number | null {
  validateFd(fd);
  const b = validateBytes(bytes, 'bytes');
  if (b.byteLength === 0) throw new RangeError('The "bytes" argument must hold at least 1 byte to carry descriptors');
  validatePassedFds(fds);
  if (fds.length === 0) throw new RangeError('The "fds" argument must hold at least 1 descriptor (use writeSync for bytes alone)');
  return native.sendFds(fd, b, fds);
}

/** What {@link receiveWithFds} returns. */
export interface ReceivedWithFds {
  /** Bytes read into the buffer; 0 at end of stream. */
  readonly bytes: number;
  /** Descriptors that came with them: close-on-exec, yours to close. Often empty. */
  readonly fds: number[];
}

/** Options of {@link receiveWithFds}. */
export interface ReceiveWithFdsOptions {
  /** Refuse a message that carries more descriptors than this (0 to {@link MAX_PASSED_FDS}). Default {@link MAX_PASSED_FDS}. */
  maxFds?: number;
}

/**
 * Reads from a connected UNIX stream socket into `buffer`, with any
 * descriptors that arrive (`recvmsg`, `SCM_RIGHTS`): `null` when a
 * non-blocking socket has nothing to read. Every received descriptor is
 * close-on-exec (Linux: atomically with `MSG_CMSG_CLOEXEC`; macOS: set
 * right after, with the same race as pipes). It keeps the file status flags
 * the sender's had (`O_NONBLOCK` is shared by every duplicate).
 *
 * A read returns the descriptors of one sending call at most, and on Linux
 * they came with the last bytes of it (the kernel stops a read after the
 * bytes that carried descriptors, but may put earlier bytes before them).
 *
 * More descriptors than `maxFds`, or a control message the kernel truncated
 * (`MSG_CTRUNC`: it could not install them all, as when this process is out
 * of descriptors), throw `EMSGSIZE` (syscall `recvmsg`): the descriptors
 * that did arrive are closed and the bytes of that read are lost, never
 * handed over without them. Other errors: `EBADF`, `ENOTSOCK`,
 * `ECONNRESET`.
 */
export function receiveWithFds(fd: number, buffer: Uint8Array, options?: ReceiveWithFdsOptions): ReceivedWithFds | null {
  validateFd(fd);
  const b = validateBytes(buffer, 'buffer');
  const opts = validateOptions(options);
  const maxFds = opts.maxFds === undefined ? MAX_PASSED_FDS : validateInteger(opts.maxFds, 'options.maxFds', 0, MAX_PASSED_FDS);
  let got: number[] | null;
  try {
    got = native.recvFds(fd, b, maxFds);
  } catch (err) {
    if (!isSystemError(err, 'EMSGSIZE')) throw err;
    throw systemError('EMSGSIZE', 'recvmsg', undefined, truncatedDetail(maxFds));
  }
  if (got === null) return null;
  return { bytes: got[0]!, fds: got.slice(1) };
}

/** The text of a truncated control message. @internal */
export function truncatedDetail(maxFds: number): string {
  return `descriptors were truncated (MSG_CTRUNC: more than ${maxFds}, or this process could not take them all); those that arrived were closed and the bytes read with them dropped`;
}

/**
 * A close-on-exec duplicate of `fd` (`fcntl(F_DUPFD_CLOEXEC)`): yours to
 * close. Throws `EBADF`, `EMFILE` (syscall `fcntl`).
 */
export function dupFd(fd: number): number {
  return native.dupCloexec(validateFd(fd));
}

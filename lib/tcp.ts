/**
 * TCP sockets as plain descriptors: listen on an IPv4 or IPv6 address,
 * accept, connect without blocking, the addresses of both ends, and the
 * options that bound how long a dead peer goes unnoticed (keep-alive and the
 * user timeout).
 *
 * The calls take numeric addresses only, so none of them waits on a
 * resolver: resolve a name first with {@link lookupTcpHost} (node:dns, off
 * the event loop's thread). Every descriptor made here is non-blocking and
 * close-on-exec; hand a connection to a channel with {@link duplexFromFd}, or
 * use the channel transport directly (`TcpServer`, `connectTcp`).
 * @module
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

import { native } from './internal/native.js';
import { validateBoolean, validateFd, validateInteger, validateOptions, validateString } from './internal/validators.js';

/** One end of a TCP connection, or a listening address: numeric, as the kernel reports it. */
export interface TcpAddress {
  /** `'127.0.0.1'`, `'::1'`, `'::ffff:127.0.0.1'` (an IPv4 client of a dual-stack listener). */
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/** Options set on every TCP socket posix-ipc makes (before `connect()`, and on each accepted one). */
export interface TcpSocketOptions {
  /** `TCP_NODELAY`: small frames go out at once instead of waiting for an acknowledgement (Nagle). Default `true`. */
  noDelay?: boolean;
  /**
   * How long a peer may stay silent before the connection fails
   * (`ETIMEDOUT`, reported by a channel as `ERR_CHANNEL_PEER_GONE`): keep-alive
   * probes on an idle connection, and the user timeout on unacknowledged data
   * (see {@link tcpKeepAlive} for the exact settings and the bound). 1000 to
   * 86 400 000 ms, or 0 to turn both off (a peer that vanishes without a
   * reset is then never noticed while idle). Default
   * {@link DEFAULT_TCP_KEEPALIVE_MS} (30 s).
   */
  keepAliveMs?: number;
  /**
   * Also bound unacknowledged data by `keepAliveMs` (Linux
   * `TCP_USER_TIMEOUT`, macOS `TCP_RXT_CONNDROPTIME`), so a peer that
   * vanishes while this side sends is noticed as fast as an idle one.
   * Default `true`. Linux 5.11 and later apply it to a closed receive
   * window too: a live peer that stops reading for `keepAliveMs` while this
   * side has data to send is declared gone as well. `false` keeps only the
   * keep-alive probes (idle connections); a peer lost with data in flight
   * is then noticed after the kernel's retransmissions give up (about 15
   * minutes with Linux's default `tcp_retries2`).
   */
  userTimeout?: boolean;
}

/** Default {@link TcpSocketOptions.keepAliveMs}: a silent peer is declared gone after about 30 s, at most 40 s ({@link tcpKeepAlive}). */
export const DEFAULT_TCP_KEEPALIVE_MS = 30_000;

/** What {@link tcpKeepAlive} derives from `keepAliveMs`. All zero when it is 0. */
export interface TcpKeepAlive {
  /** Silence before the first probe (`TCP_KEEPIDLE`; macOS `TCP_KEEPALIVE`), whole seconds. */
  readonly idleMs: number;
  /** Between two probes (`TCP_KEEPINTVL`), the same as `idleMs`. */
  readonly intervalMs: number;
  /** Unanswered probes that end the connection (`TCP_KEEPCNT`). */
  readonly count: number;
  /**
   * Linux `TCP_USER_TIMEOUT` (macOS: `TCP_RXT_CONNDROPTIME`, in seconds):
   * data unacknowledged for this long ends the connection, and so do probes
   * unanswered for this long. Equal to `keepAliveMs`.
   */
  readonly userTimeoutMs: number;
  /**
   * The documented dead-peer bound: a peer that stops answering is declared
   * gone at most this long after it last answered, idle or with data in
   * flight (the latter with `userTimeout`). Typically at about
   * `keepAliveMs` (the kernel acts on its next timer tick after it); the
   * bound is `keepAliveMs` rounded up to whole probe intervals (at least
   * two), plus one interval for that tick.
   */
  readonly boundMs: number;
}

/**
 * The keep-alive settings for `keepAliveMs`: probes every
 * `I = max(1 s, ⌊keepAliveMs / 3⌋ s)` after `I` of silence,
 * `TCP_KEEPCNT = ⌈keepAliveMs / I⌉ - 1` (at least 1), and the user timeout
 * `keepAliveMs`. An idle connection fails `max(2 I, ⌈keepAliveMs / I⌉ I)`
 * after the peer last answered, one with data in flight about
 * `keepAliveMs` after the oldest unacknowledged send; `boundMs` adds one
 * interval of timer slack to the larger: 40 s for the default 30 s, 4 s for
 * 3000 ms, 15 s for 10 000 ms.
 */
export function tcpKeepAlive(keepAliveMs: number = DEFAULT_TCP_KEEPALIVE_MS): TcpKeepAlive {
  const ms = validateKeepAlive(keepAliveMs, 'keepAliveMs');
  if (ms === 0) return { idleMs: 0, intervalMs: 0, count: 0, userTimeoutMs: 0, boundMs: 0 };
  const intervalS = Math.max(1, Math.floor(ms / 3000));
  const periods = Math.ceil(ms / (intervalS * 1000));
  const count = Math.max(1, periods - 1);
  return { idleMs: intervalS * 1000, intervalMs: intervalS * 1000, count, userTimeoutMs: ms, boundMs: intervalS * 1000 * (count + 2) };
}

function validateKeepAlive(value: unknown, name: string): number {
  const ms = validateInteger(value, name, 0, 86_400_000);
  if (ms !== 0 && ms < 1000) throw new RangeError(`The value of "${name}" is out of range. It must be 0 or >= 1000. Received ${ms}`);
  return ms;
}

/** The native arguments of the socket options: [noDelay, idleS, intervalS, count, userTimeoutMs]. */
type NativeOptions = [boolean, number, number, number, number];

function socketOptions(opts: Record<string, unknown>, prefix: string): NativeOptions {
  const noDelay = opts.noDelay === undefined ? true : validateBoolean(opts.noDelay, `${prefix}.noDelay`);
  const ms = opts.keepAliveMs === undefined ? DEFAULT_TCP_KEEPALIVE_MS : validateKeepAlive(opts.keepAliveMs, `${prefix}.keepAliveMs`);
  const userTimeout = opts.userTimeout === undefined ? true : validateBoolean(opts.userTimeout, `${prefix}.userTimeout`);
  const k = tcpKeepAlive(ms);
  return [noDelay, k.idleMs / 1000, k.intervalMs / 1000, k.count, userTimeout ? k.userTimeoutMs : 0];
}

/** A numeric address and its family, else a `TypeError` naming the argument. */
function numericHost(value: unknown, name: string): [string, 4 | 6] {
  const host = validateString(value, name);
  const family = isIP(host);
  if (family === 0) {
    throw new TypeError(
      `The "${name}" argument must be a numeric IPv4 or IPv6 address (resolve names with lookupTcpHost). Received '${host}'`,
    );
  }
  return [host, family as 4 | 6];
}

function validatePort(value: unknown, name: string): number {
  return validateInteger(value, name, 0, 65535);
}

/**
 * The numeric addresses of `host`, in the resolver's order (node:dns
 * `lookup`, which runs on libuv's thread pool and never blocks the event
 * loop): a numeric address is returned as it is, without a lookup.
 * `'localhost'` may give `::1` before `127.0.0.1`. Throws the resolver's
 * error (`ENOTFOUND`, syscall `getaddrinfo`).
 */
export async function lookupTcpHost(host: string, options?: { family?: 0 | 4 | 6 }): Promise<{ address: string; family: 4 | 6 }[]> {
  const name = validateString(host, 'host');
  const opts = validateOptions(options);
  const family = opts.family === undefined ? 0 : validateInteger(opts.family, 'options.family', 0, 6);
  if (family !== 0 && family !== 4 && family !== 6)
    throw new RangeError(`The value of "options.family" must be 0, 4 or 6. Received ${family}`);
  const numeric = isIP(name);
  if (numeric !== 0) {
    if (family !== 0 && family !== numeric) throw new RangeError(`'${name}' is not an IPv${family} address`);
    return [{ address: name, family: numeric as 4 | 6 }];
  }
  const found = await lookup(name, { all: true, family, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family as 4 | 6 }));
}

/** Options of {@link listenTcpSocket}. */
export interface ListenTcpSocketOptions {
  /** A numeric address. Default `'127.0.0.1'` (this host only); `'0.0.0.0'` or `'::'` for every interface. */
  host?: string;
  /** 0 (the default) lets the kernel pick a free port: read it with {@link tcpSocketAddress}. */
  port?: number;
  /** Pending connections the kernel queues, 1 to 65535. Default 511. */
  backlog?: number;
  /** IPv6 only: refuse IPv4 clients on `'::'` (`IPV6_V6ONLY`). Default `false` (dual stack). */
  ipv6Only?: boolean;
}

/**
 * Binds a TCP socket to `host:port` and listens (`SO_REUSEADDR` on): returns
 * the listening descriptor. Throws a system error with `address` and `port`:
 * `EADDRINUSE`, `EADDRNOTAVAIL` (not an address of this host), `EACCES` (a
 * port below 1024).
 *
 * @example
 * const fd = listenTcpSocket({ host: '127.0.0.1', port: 0 });
 * const { port } = tcpSocketAddress(fd);
 */
export function listenTcpSocket(options?: ListenTcpSocketOptions): number {
  const opts = validateOptions(options);
  const [host, family] = numericHost(opts.host ?? '127.0.0.1', 'options.host');
  const port = opts.port === undefined ? 0 : validatePort(opts.port, 'options.port');
  const backlog = opts.backlog === undefined ? 511 : validateInteger(opts.backlog, 'options.backlog', 1, 65535);
  const v6Only = opts.ipv6Only === undefined ? false : validateBoolean(opts.ipv6Only, 'options.ipv6Only');
  return native.tcpListen(family, host, port, backlog, v6Only);
}

/**
 * Accepts the next pending connection on a listening TCP descriptor, with
 * `options` set on it: its descriptor, or `null` when none is pending (wait
 * for the listening descriptor to poll readable).
 */
export function acceptTcpSocket(fd: number, options?: TcpSocketOptions): number | null {
  validateFd(fd);
  const conn = native.tcpAccept(fd, ...socketOptions(validateOptions(options), 'options'));
  return conn === -1 ? null : conn;
}

/** Options of {@link connectTcpSocket}. */
export interface ConnectTcpSocketOptions extends TcpSocketOptions {
  /** A numeric address. */
  host: string;
  port: number;
}

/** What {@link connectTcpSocket} returns. */
export interface TcpSocketConnect {
  /** The new socket: non-blocking, close-on-exec, yours to close. */
  readonly fd: number;
  /** Where it connects to. */
  readonly remote: TcpAddress;
  /** True (nearly always) when the handshake completes later: wait until `fd` polls writable, then {@link finishConnectTcpSocket}. */
  readonly inProgress: boolean;
}

/**
 * Starts connecting a new non-blocking socket to `host:port`, with the
 * socket options set first (so the user timeout bounds the handshake too).
 * Throws at once only for what needs no answer from the network
 * (`ENETUNREACH`, `EADDRNOTAVAIL`); a refusal comes from
 * {@link finishConnectTcpSocket}. Nothing stays open after a throw.
 */
export function connectTcpSocket(options: ConnectTcpSocketOptions): TcpSocketConnect {
  const opts = validateOptions(options);
  const [host, family] = numericHost(opts.host, 'options.host');
  const port = validatePort(opts.port, 'options.port');
  if (port === 0) throw new RangeError('The value of "options.port" is out of range. It must be >= 1. Received 0');
  const [fd, inProgress] = native.tcpConnect(family, host, port, ...socketOptions(opts, 'options'));
  return { fd, inProgress, remote: { address: host, port, family } };
}

/**
 * Completes a connection {@link connectTcpSocket} reported `inProgress`,
 * once its descriptor polls writable: returns when it is connected, throws
 * its failure otherwise (syscall `connect`, with `address` and `port`:
 * `ECONNREFUSED`, `ETIMEDOUT`, `EHOSTUNREACH`). The descriptor stays open
 * either way: close it after a failure.
 */
export function finishConnectTcpSocket(connecting: TcpSocketConnect): void {
  const { fd, remote } = validateOptions(connecting, 'connecting') as unknown as TcpSocketConnect;
  native.tcpFinishConnect(
    validateFd(fd, 'connecting.fd'),
    validateString(remote?.address, 'connecting.remote.address'),
    validatePort(remote.port, 'connecting.remote.port'),
  );
}

/** Sets {@link TcpSocketOptions} on a connected TCP socket (defaults for what is left out). */
export function setTcpSocketOptions(fd: number, options?: TcpSocketOptions): void {
  native.tcpConfigure(validateFd(fd), ...socketOptions(validateOptions(options), 'options'));
}

/** The local address of a TCP socket: where a listener is bound (the port the kernel chose for port 0). */
export function tcpSocketAddress(fd: number): TcpAddress {
  const { address, port, family } = native.tcpLocalAddress(validateFd(fd));
  return { address, port, family };
}

/** The address of the other end of a connected TCP socket. `ENOTCONN` (syscall `getpeername`) when it is not connected. */
export function tcpPeerAddress(fd: number): TcpAddress {
  const { address, port, family } = native.tcpPeerAddress(validateFd(fd));
  return { address, port, family };
}

/**
 * Channels over TCP: a server on `host:port` accepts many clients; each
 * connection is a {@link TcpDuplex} (a sender and a receiver). The bytes
 * move through the stream engines of the UNIX socket channel, on a native
 * non-blocking descriptor watched by libuv: the same frames, backpressure,
 * end-of-stream and peer-gone rules. A reset connection is peer-gone, and a
 * peer that stops answering is declared gone within the keep-alive bound
 * (`keepAliveMs`, see `tcpKeepAlive`).
 * @module
 */
import { formatAddress } from './address.js';
import { acceptEach } from './call.js';
import { abortError, closedError, isSystemError, systemError, type SystemError } from '../errors.js';
import {
  validateAbortSignal,
  validateBoolean,
  validateFunction,
  validateInteger,
  validateObject,
  validateOptions,
  validateString,
  validateTimeout,
} from '../internal/validators.js';
import { bounded, deadlineAfter } from '../internal/waiting.js';
import {
  acceptTcpSocket,
  connectTcpSocket,
  DEFAULT_TCP_KEEPALIVE_MS,
  finishConnectTcpSocket,
  listenTcpSocket,
  lookupTcpHost,
  tcpKeepAlive,
  tcpPeerAddress,
  tcpSocketAddress,
  type TcpAddress,
  type TcpSocketOptions,
} from '../tcp.js';
import { accepts, discard, duplexOnFd, resolveDuplexOptions } from './fd.js';
import type { StreamChannelOptions, StreamSettings } from './stream/ends.js';
import { adopt, FdEndpoint } from './stream/fd-endpoint.js';
import type { Duplex, Listener } from './types.js';

/** A TCP connection as a channel: both directions, and who is at each end. */
export interface TcpDuplex<Out, In = Out> extends Duplex<Out, In> {
  /** The other end's address (on a server: the client's). */
  readonly peer: TcpAddress;
  /** This end's address. */
  readonly local: TcpAddress;
}

/** Where and how a server listens (shared with `TlsServer`). */
export interface TcpListenOptions extends TcpSocketOptions {
  /** A name (resolved with `lookupTcpHost`; the first address is used) or a numeric address. Default `'127.0.0.1'`. */
  host?: string;
  /** Default 0: the kernel picks a free port, reported by the server's `port`. */
  port?: number;
  /** Pending connections the kernel queues. Default 511. */
  backlog?: number;
  /** On `'::'`: refuse IPv4 clients. Default `false` (dual stack). */
  ipv6Only?: boolean;
}

/** Options of {@link TcpServer.listen}. */
export interface TcpServerOptions<T> extends StreamChannelOptions<T>, TcpListenOptions {
  /**
   * Called with each client's address before its connection is yielded:
   * `false` (or a throw) refuses it, and the connection is closed at once.
   */
  verifyPeer?: (peer: TcpAddress) => boolean;
}

/** Socket options, checked. @internal */
export function resolveSocketOptions(opts: Record<string, unknown>): Required<TcpSocketOptions> {
  const noDelay = opts.noDelay === undefined ? true : validateBoolean(opts.noDelay, 'options.noDelay');
  const keepAliveMs = opts.keepAliveMs === undefined ? DEFAULT_TCP_KEEPALIVE_MS : validateInteger(opts.keepAliveMs, 'options.keepAliveMs');
  tcpKeepAlive(keepAliveMs); // the range check
  const userTimeout = opts.userTimeout === undefined ? true : validateBoolean(opts.userTimeout, 'options.userTimeout');
  return { noDelay, keepAliveMs, userTimeout };
}

/**
 * A listening TCP socket and its accept loop, shared by {@link TcpServer}
 * and `TlsServer`: they differ in what they make of a connection.
 * @internal
 */
export class TcpListener {
  /** Where it listens: the port the kernel chose for port 0. */
  readonly local: TcpAddress;
  readonly #ep: FdEndpoint;
  readonly #socket: Required<TcpSocketOptions>;
  #closed = false;

  private constructor(fd: number, socket: Required<TcpSocketOptions>) {
    this.local = tcpSocketAddress(fd);
    this.#ep = new FdEndpoint(fd, 1);
    this.#socket = socket;
  }

  /** Checks the listen options (before anything is opened), resolves the host and listens. */
  static async open(options: TcpListenOptions): Promise<TcpListener> {
    const opts = validateOptions(options);
    const host = opts.host === undefined ? '127.0.0.1' : validateString(opts.host, 'options.host');
    const port = opts.port === undefined ? 0 : validateInteger(opts.port, 'options.port', 0, 65535);
    const backlog = opts.backlog === undefined ? undefined : validateInteger(opts.backlog, 'options.backlog', 1, 65535);
    const ipv6Only = opts.ipv6Only === undefined ? undefined : validateBoolean(opts.ipv6Only, 'options.ipv6Only');
    const socket = resolveSocketOptions(opts);
    const [first] = await lookupTcpHost(host);
    const fd = listenTcpSocket({ host: first!.address, port, backlog, ipv6Only });
    return adopt(fd, () => new TcpListener(fd, socket));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The next connection's descriptor (socket options set, not owned by
   * anything yet), or `undefined` once `signal` aborted. Throws the closed
   * error of `what` after {@link close}.
   */
  async acceptFd(what: string, signal?: AbortSignal): Promise<number | undefined> {
    for (;;) {
      if (this.#closed) throw closedError(what);
      if (signal?.aborted) return undefined;
      const fd = acceptTcpSocket(this.#ep.fd, this.#socket);
      if (fd !== null) return fd;
      try {
        await this.#ep.readable(signal); // resolves on abort too: the loop reports it
      } catch {
        throw closedError(what);
      }
    }
  }

  /** Stops listening. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ep.release();
  }
}

/**
 * A TCP server whose connections are channels. `listen()` resolves once the
 * socket listens: `address` and `port` say where (the port the kernel chose
 * when `port` is 0). Open connections outlive `close()`.
 *
 * @example
 * const server = await TcpServer.listen({ port: 0, codec: codecs.json });
 * console.log(server.port);
 * for await (const conn of server) void serve(conn); // conn.peer: the client's address
 */
export class TcpServer<T = Uint8Array> implements Listener<T> {
  /** The numeric address it listens on. */
  readonly address: string;
  /** The port it listens on. */
  readonly port: number;
  readonly family: 4 | 6;
  /** Where clients reach it: `tcp://address:port`, IPv6 in brackets, the port the kernel chose for port 0. */
  readonly url: string;
  readonly #listener: TcpListener;
  readonly #settings: [StreamSettings<T>, StreamSettings<T>];
  readonly #verify: ((peer: TcpAddress) => boolean) | undefined;

  private constructor(
    listener: TcpListener,
    settings: [StreamSettings<T>, StreamSettings<T>],
    verify: ((peer: TcpAddress) => boolean) | undefined,
  ) {
    this.#listener = listener;
    ({ address: this.address, port: this.port, family: this.family } = listener.local);
    this.url = formatAddress({ scheme: 'tcp', host: this.address, port: this.port });
    this.#settings = settings;
    this.#verify = verify;
  }

  /**
   * Listens on `host:port`. Throws a system error with `address` and
   * `port`: `EADDRINUSE`, `EADDRNOTAVAIL`, `EACCES`; a resolver error
   * (`ENOTFOUND`) for a name that does not resolve.
   */
  static async listen<T = Uint8Array>(options?: TcpServerOptions<T>): Promise<TcpServer<T>> {
    const opts = validateOptions(options);
    const settings = resolveDuplexOptions<T, T>(opts); // checked before the socket exists
    const verify = validateFunction<(peer: TcpAddress) => boolean>(opts.verifyPeer, 'options.verifyPeer');
    return new TcpServer<T>(await TcpListener.open(opts), settings, verify);
  }

  /** Waits for the next client (one `verifyPeer` accepts); its connection is a duplex channel. Rejects after `close()`. */
  async accept(options?: { signal?: AbortSignal }): Promise<TcpDuplex<T>> {
    const signal = validateAbortSignal(validateOptions(options).signal, 'options.signal');
    for (;;) {
      if (this.#listener.closed) throw closedError('TcpServer');
      if (signal?.aborted) throw abortError(signal);
      const fd = await this.#listener.acceptFd('TcpServer', signal);
      if (fd === undefined) continue;
      let peer: TcpAddress;
      try {
        peer = tcpPeerAddress(fd);
      } catch {
        discard(fd); // reset by its client meanwhile
        continue;
      }
      if (!accepts(this.#verify, peer)) {
        discard(fd);
        continue;
      }
      return tcpDuplex<T>(fd, this.#settings, peer);
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<TcpDuplex<T>> {
    return acceptEach(
      () => this.accept(),
      () => this.#listener.closed,
    );
  }

  /** Stops listening. Open connections are not affected. Idempotent. */
  close(): void {
    this.#listener.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function tcpDuplex<T>(fd: number, settings: [StreamSettings<T>, StreamSettings<T>], peer?: TcpAddress): TcpDuplex<T> {
  return adopt(fd, () => {
    const ends = { peer: peer ?? tcpPeerAddress(fd), local: tcpSocketAddress(fd) };
    return Object.assign(duplexOnFd<T, T>(fd, settings), ends);
  });
}

/** Where and how a client connects (shared with `connectTls`). */
export interface TcpConnectOptions extends TcpSocketOptions {
  /** A name (every address it resolves to is tried in turn) or a numeric address. Default `'127.0.0.1'`. */
  host?: string;
  port: number;
  /** Give up after this long (`ETIMEDOUT`, syscall `connect`): the lookup and the handshake. Default: no limit (the kernel's: `keepAliveMs`). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Options of {@link connectTcp}. */
export interface ConnectTcpOptions<T> extends StreamChannelOptions<T>, TcpConnectOptions {}

/** Connect options, checked. @internal */
export interface ConnectSettings {
  host: string;
  port: number;
  socket: Required<TcpSocketOptions>;
  deadline: number;
  signal: AbortSignal | undefined;
}

/** Checks connect options before anything is opened. @internal */
export function resolveConnectOptions(options: unknown): ConnectSettings {
  const opts = validateObject(options, 'options');
  return {
    host: opts.host === undefined ? '127.0.0.1' : validateString(opts.host, 'options.host'),
    port: validateInteger(opts.port, 'options.port', 1, 65535),
    socket: resolveSocketOptions(opts),
    deadline: deadlineAfter(validateTimeout(opts.timeoutMs, 'options.timeoutMs')),
    signal: validateAbortSignal(opts.signal, 'options.signal'),
  };
}

/** Failures after which the next address of a name is tried. */
const NEXT_ADDRESS = new Set(['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);

/** `ETIMEDOUT` (syscall `connect`) for a connection not made within `timeoutMs`. @internal */
export function timedOut(address: string, port: number, what: string): SystemError {
  return Object.assign(systemError('ETIMEDOUT', 'connect', undefined, `${what} within timeoutMs (${address}:${port})`), { address, port });
}

/**
 * Connects to the first address of `host` that accepts: the connected
 * descriptor, not owned by anything yet (a TCP channel or a Node socket
 * takes it). @internal
 */
export async function connectTcpFd(c: ConnectSettings): Promise<number> {
  if (c.signal?.aborted) throw abortError(c.signal);
  const addresses = await bounded(
    () => lookupTcpHost(c.host),
    c.signal,
    c.deadline,
    () => timedOut(c.host, c.port, 'no address'),
  );
  let first: unknown;
  for (const { address } of addresses) {
    try {
      return await connectOne(address, c);
    } catch (err) {
      if (!isSystemError(err) || !NEXT_ADDRESS.has(err.code)) throw err;
      first ??= err;
    }
  }
  throw first;
}

async function connectOne(address: string, c: ConnectSettings): Promise<number> {
  if (c.signal?.aborted) throw abortError(c.signal);
  const pending = connectTcpSocket({ host: address, port: c.port, ...c.socket });
  if (!pending.inProgress) return pending.fd;
  const ep = new FdEndpoint(pending.fd, 1);
  try {
    await bounded(
      (inner) => ep.writable(inner),
      c.signal,
      c.deadline,
      () => timedOut(address, c.port, 'no connection'),
    );
    finishConnectTcpSocket(pending);
  } catch (err) {
    ep.release();
    throw err;
  }
  return ep.detach();
}

/**
 * Connects to a {@link TcpServer} (or any server speaking the frame format)
 * at `host:port`. Throws a system error with `address` and `port`:
 * `ECONNREFUSED` (nobody listens), `ETIMEDOUT` (no answer within `timeoutMs`,
 * or within `keepAliveMs` by the kernel), `EHOSTUNREACH`; `ENOTFOUND` for a
 * name that does not resolve; an `AbortError` when `signal` aborts.
 *
 * @example
 * const conn = await connectTcp({ host: 'localhost', port: 7000, codec: codecs.json, timeoutMs: 5000 });
 * await conn.sender.send({ hello: 'world' });
 */
export async function connectTcp<T = Uint8Array>(options: ConnectTcpOptions<T>): Promise<TcpDuplex<T>> {
  const c = resolveConnectOptions(options);
  const settings = resolveDuplexOptions<T, T>(options); // before a socket exists
  return tcpDuplex<T>(await connectTcpFd(c), settings);
}

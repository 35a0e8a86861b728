/**
 * Channels over TLS: node:tls on TCP connections made by the native TCP
 * primitive (so the keep-alive bound, `TCP_NODELAY` and the address
 * reporting are those of the TCP channel), carrying the same frames through
 * the Node-stream engines (./stream/node-stream.ts). Server certificates,
 * mutual TLS, and pre-shared keys; each connection exposes its peer's
 * verified identity (`duplex.peer`). The bytes move on the event loop, so
 * the `...Sync` calls throw `ERR_CHANNEL_SYNC_UNSUPPORTED`.
 * @module
 */
import { formatAddress } from './address.js';
import { acceptEach } from './call.js';
import { isIP, Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, createServer, type Server, type TLSSocket } from 'node:tls';

import { abortError, closedError } from '../errors.js';
import { validateAbortSignal, validateFunction, validateObject, validateOptions } from '../internal/validators.js';
import { bounded, onAbort } from '../internal/waiting.js';
import { tcpPeerAddress, tcpSocketAddress, type TcpAddress } from '../tcp.js';
import { accepts, discard, makeDuplex, resolveDuplexOptions } from './fd.js';
import type { StreamSettings } from './stream/ends.js';
import { nodeStreamEnds } from './stream/node-stream.js';
import type { Listener } from './types.js';
import { connectTcpFd, resolveConnectOptions, TcpListener, timedOut } from './tcp.js';
import {
  resolveClientTls,
  resolveServerTls,
  sentCertificate,
  tlsPeer,
  type ConnectTlsOptions,
  type ServerTls,
  type TlsDuplex,
  type TlsPeer,
  type TlsServerOptions,
} from './tls-options.js';

/** Handshakes at most in progress at once; more clients wait in the kernel's backlog. */
const MAX_HANDSHAKES = 64;

interface Waiter<T> {
  resolve(d: TlsDuplex<T>): void;
  reject(err: Error): void;
  dispose(): void;
}

function addressOf(address: string | undefined, port: number | undefined): TcpAddress | undefined {
  if (address === undefined || port === undefined) return undefined;
  return { address, port, family: isIP(address) === 6 ? 6 : 4 };
}

function keyOf(address: string | undefined, port: number | undefined): string {
  return `${address}|${port}`;
}

function refused(code: string, detail: string): Error & { code: string } {
  return Object.assign(new Error(`TLS client refused: ${detail} (${code})`), { code });
}

function tlsDuplex<T>(socket: TLSSocket, settings: [StreamSettings<T>, StreamSettings<T>], peer: TlsPeer, local: TcpAddress): TlsDuplex<T> {
  const { sender, receiver } = nodeStreamEnds<T, T>(socket, settings, 'TLS');
  return Object.assign(makeDuplex(sender, receiver), { peer, local });
}

/**
 * A TLS server whose connections are channels: server certificates, mutual
 * TLS (`requestCert`), or pre-shared keys (`pskCallback`). Handshakes run
 * side by side (up to 64), so a slow or silent client never holds up the
 * others; only clients that completed one, and passed `verifyPeer`, are
 * yielded. `address` and `port` say where it listens.
 *
 * @example
 * const server = await TlsServer.listen({ port: 0, key, cert, ca, requestCert: true });
 * for await (const conn of server) console.log(conn.peer.subject?.CN);
 */
export class TlsServer<T = Uint8Array> implements Listener<T> {
  /** The numeric address it listens on. */
  readonly address: string;
  /** The port it listens on (the kernel's choice for port 0). */
  readonly port: number;
  readonly family: 4 | 6;
  /** Where clients reach it: `tls://address:port`, IPv6 in brackets, the port the kernel chose for port 0. */
  readonly url: string;
  readonly #listener: TcpListener;
  readonly #server: Server;
  readonly #settings: [StreamSettings<T>, StreamSettings<T>];
  readonly #opts: ServerTls;
  readonly #verify: ((peer: TlsPeer) => boolean) | undefined;
  readonly #onError: TlsServerOptions<T>['onClientError'];
  readonly #psk = new WeakMap<TLSSocket, string>();
  readonly #ready: TlsDuplex<T>[] = [];
  readonly #waiters: Waiter<T>[] = [];
  /** Connections in their handshake, by remote address: destroyed by close(). */
  readonly #raw = new Map<string, Socket>();
  #handshakes = 0;
  #pumping = false;
  #stop: AbortController | undefined;

  private constructor(
    listener: TcpListener,
    settings: [StreamSettings<T>, StreamSettings<T>],
    opts: ServerTls,
    verify: ((peer: TlsPeer) => boolean) | undefined,
    onError: TlsServerOptions<T>['onClientError'],
  ) {
    this.#listener = listener;
    ({ address: this.address, port: this.port, family: this.family } = listener.local);
    this.url = formatAddress({ scheme: 'tls', host: this.address, port: this.port });
    this.#settings = settings;
    this.#opts = opts;
    this.#verify = verify;
    this.#onError = onError;
    this.#server = createServer({
      ...opts.tls,
      requestCert: opts.requestCert,
      rejectUnauthorized: false, // checked in #secured, so that every refusal is reported with its code
      handshakeTimeout: opts.handshakeTimeoutMs,
      ...(opts.pskCallback === undefined ? {} : { pskCallback: (socket: TLSSocket, identity: string) => this.#pskKey(socket, identity) }),
    });
    this.#server.on('secureConnection', (socket: TLSSocket) => this.#secured(socket));
    this.#server.on('tlsClientError', (err: Error, socket: TLSSocket) => this.#failed(err, socket));
  }

  /**
   * Listens on `host:port` (see `TcpServer.listen` for the address, the
   * errors and the socket options). Throws a `TypeError` without
   * `key`/`cert` or `pskCallback`, and node:tls's error for a bad key or certificate.
   */
  static async listen<T = Uint8Array>(options: TlsServerOptions<T>): Promise<TlsServer<T>> {
    const opts = validateObject(options, 'options');
    const settings = resolveDuplexOptions<T, T>(opts);
    const tls = resolveServerTls(opts);
    const verify = validateFunction<(peer: TlsPeer) => boolean>(opts.verifyPeer, 'options.verifyPeer');
    const onError = validateFunction<NonNullable<TlsServerOptions<T>['onClientError']>>(opts.onClientError, 'options.onClientError');
    createSecureContext(tls.tls); // a bad key or certificate throws now, before the socket exists
    return new TlsServer<T>(await TcpListener.open(opts), settings, tls, verify, onError);
  }

  /** Waits for the next client that completed a handshake and passed `verifyPeer`. Rejects after `close()`. */
  accept(options?: { signal?: AbortSignal }): Promise<TlsDuplex<T>> {
    let signal: AbortSignal | undefined;
    try {
      signal = validateAbortSignal(validateOptions(options).signal, 'options.signal');
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#listener.closed) return Promise.reject(closedError('TlsServer'));
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const ready = this.#ready.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise<TlsDuplex<T>>((resolve, reject) => {
      const w: Waiter<T> = { resolve, reject, dispose: () => listener[Symbol.dispose]() };
      const listener = onAbort(signal, () => {
        const i = this.#waiters.indexOf(w);
        if (i < 0) return;
        this.#waiters.splice(i, 1);
        w.dispose();
        reject(abortError(signal!));
        if (this.#waiters.length === 0) this.#stop?.abort();
      });
      this.#waiters.push(w);
      void this.#pump();
    });
  }

  /** Accepts connections while someone waits for one, starting their handshakes. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (!this.#listener.closed && this.#waiters.length > 0 && this.#handshakes < MAX_HANDSHAKES) {
        const stop = (this.#stop = new AbortController());
        let fd: number | undefined;
        try {
          fd = await this.#listener.acceptFd('TlsServer', stop.signal);
        } catch (err) {
          // Closed (close() rejected the waiters), or EMFILE and the like: the waiters hear of it.
          for (const w of this.#waiters.splice(0)) {
            w.dispose();
            w.reject(err as Error);
          }
          return;
        } finally {
          this.#stop = undefined;
        }
        if (fd !== undefined) this.#inject(fd);
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Hands an accepted descriptor to node:tls (a documented way in: the server's 'connection' event). */
  #inject(fd: number): void {
    let key: string;
    let raw: Socket;
    try {
      const remote = tcpPeerAddress(fd);
      key = keyOf(remote.address, remote.port);
      raw = new Socket({ fd, allowHalfOpen: true, readable: true, writable: true });
    } catch {
      discard(fd); // reset by its client meanwhile
      return;
    }
    raw.on('error', () => undefined); // the TLS socket reports it (tlsClientError)
    raw.once('close', () => {
      if (this.#raw.get(key) === raw) this.#raw.delete(key);
    });
    this.#raw.set(key, raw);
    this.#handshakes++;
    this.#server.emit('connection', raw);
  }

  #pskKey(socket: TLSSocket, identity: string): Buffer | null {
    let key: Uint8Array | null | undefined;
    try {
      key = this.#opts.pskCallback!(identity);
    } catch {
      key = null;
    }
    if (!(key instanceof Uint8Array) || key.byteLength === 0) return null;
    this.#psk.set(socket, identity);
    return Buffer.from(key);
  }

  #secured(socket: TLSSocket): void {
    this.#handshakes--;
    this.#raw.delete(keyOf(socket.remoteAddress, socket.remotePort)); // a channel now: close() leaves it open
    void this.#pump();
    const remote = addressOf(socket.remoteAddress, socket.remotePort);
    const local = addressOf(socket.localAddress, socket.localPort);
    if (this.#listener.closed || remote === undefined || local === undefined) {
      socket.destroy();
      return;
    }
    const identity = this.#psk.get(socket);
    const authorized = identity !== undefined || socket.authorized;
    if (this.#opts.requestCert && this.#opts.rejectUnauthorized && !authorized) {
      const err = sentCertificate(socket)
        ? refused(String(socket.authorizationError), 'its certificate did not verify')
        : refused('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', 'it sent no certificate');
      socket.destroy();
      this.#report(err, remote);
      return;
    }
    const peer = tlsPeer(socket, remote, identity, authorized);
    if (!accepts(this.#verify, peer)) {
      socket.destroy();
      return;
    }
    const d = tlsDuplex<T>(socket, this.#settings, peer, local);
    const w = this.#waiters.shift();
    if (w === undefined) {
      this.#ready.push(d);
      return;
    }
    w.dispose();
    w.resolve(d);
  }

  #failed(err: Error, socket: TLSSocket): void {
    this.#handshakes--;
    if (!this.#listener.closed) this.#report(err, addressOf(socket.remoteAddress, socket.remotePort));
    socket.destroy();
    void this.#pump();
  }

  #report(err: Error, remote: TcpAddress | undefined): void {
    try {
      this.#onError?.(err, remote);
    } catch {
      // a reporter that throws must not take the server down
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<TlsDuplex<T>> {
    return acceptEach(
      () => this.accept(),
      () => this.#listener.closed,
    );
  }

  /**
   * Stops listening: waiting `accept()`s reject with the closed error,
   * handshakes in progress and connections nobody accepted yet are closed.
   * Connections already yielded are not affected. Idempotent.
   */
  close(): void {
    if (this.#listener.closed) return;
    this.#listener.close();
    this.#stop?.abort();
    const err = closedError('TlsServer');
    for (const w of this.#waiters.splice(0)) {
      w.dispose();
      w.reject(err);
    }
    for (const raw of [...this.#raw.values()]) raw.destroy();
    this.#raw.clear();
    for (const d of this.#ready.splice(0)) void d.close().catch(() => undefined);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Connects to a {@link TlsServer} at `host:port` and completes the
 * handshake: the server's certificate must chain to `ca` (Node's bundled
 * roots by default) and name `servername`, unless `psk` is given. Rejects
 * with node:tls's error and code: `CERT_HAS_EXPIRED`,
 * `DEPTH_ZERO_SELF_SIGNED_CERT`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE` or
 * `SELF_SIGNED_CERT_IN_CHAIN` (another CA), `ERR_TLS_CERT_ALTNAME_INVALID`
 * (another host), `ERR_SSL_WRONG_VERSION_NUMBER` (not a TLS server),
 * `ERR_TLS_HANDSHAKE_TIMEOUT`; and with the TCP errors of `connectTcp`.
 *
 * With mutual TLS, a server refusing this client's certificate closes the
 * connection right after the handshake (TLS 1.3 completes the client's side
 * first): the channel then ends at once, its receive sees end-of-stream or
 * `ERR_CHANNEL_PEER_GONE`.
 *
 * @example
 * const conn = await connectTls({ host: 'localhost', port, ca, cert, key, codec: codecs.json });
 * console.log(conn.peer.subject?.CN, conn.peer.fingerprint256);
 */
export async function connectTls<T = Uint8Array>(options: ConnectTlsOptions<T>): Promise<TlsDuplex<T>> {
  const c = resolveConnectOptions(options);
  const settings = resolveDuplexOptions<T, T>(options);
  const { tls, handshakeTimeoutMs, psk } = resolveClientTls(options as unknown as Record<string, unknown>, c.host);
  const fd = await connectTcpFd(c);
  let remote: TcpAddress;
  let local: TcpAddress;
  let raw: Socket;
  try {
    remote = tcpPeerAddress(fd);
    local = tcpSocketAddress(fd);
    raw = new Socket({ fd, allowHalfOpen: true, readable: true, writable: true });
  } catch (err) {
    discard(fd);
    throw err;
  }
  const socket = tlsConnect({ ...tls, socket: raw });
  const deadline = Math.min(c.deadline, performance.now() + handshakeTimeoutMs);
  try {
    await bounded(
      (inner) => handshake(socket, inner),
      c.signal,
      deadline,
      () =>
        c.deadline <= deadline
          ? timedOut(remote.address, remote.port, 'no TLS handshake')
          : Object.assign(new Error('TLS handshake timeout'), { code: 'ERR_TLS_HANDSHAKE_TIMEOUT' }),
    );
  } catch (err) {
    socket.on('error', () => undefined); // a late error of the dead handshake must not go unhandled
    socket.destroy();
    raw.destroy();
    throw err;
  }
  const peer = tlsPeer(socket, remote, psk?.identity, socket.authorized);
  return tlsDuplex<T>(socket, settings, peer, local);
}

/** Resolves on 'secureConnect', rejects with the handshake's error; `signal` only stops listening. */
function handshake(socket: TLSSocket, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      socket.removeListener('secureConnect', onSecure);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      listener[Symbol.dispose]();
      if (err) reject(err);
      else resolve();
    };
    const onSecure = (): void => done();
    const onError = (err: Error): void => done(err);
    const onClose = (): void =>
      done(Object.assign(new Error('The server closed the connection during the TLS handshake'), { code: 'ECONNRESET' }));
    const listener = onAbort(signal, () => done(new Error('aborted')));
    socket.on('secureConnect', onSecure);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}

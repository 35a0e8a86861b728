/**
 * The options of `TlsServer` and `connectTls` (./tls.ts), checked and
 * turned into node:tls options; the TLS duplex and the peer identity it exposes.
 * @module
 */
import { isIP } from 'node:net';
import type { ConnectionOptions, PeerCertificate, SecureVersion, TLSSocket, TlsOptions } from 'node:tls';

import { validateBoolean, validateFunction, validateInteger, validateObject, validateString } from '../internal/validators.js';
import type { TcpAddress } from '../tcp.js';
import type { StreamChannelOptions } from './stream/ends.js';
import type { TcpConnectOptions, TcpListenOptions } from './tcp.js';
import type { Duplex } from './types.js';

/** PEM text or DER bytes, or several of them. */
export type TlsCredential = string | Buffer | Array<string | Buffer>;

/** Options both sides of a TLS channel take. */
export interface TlsCommonOptions {
  /** This side's private key (PEM). A server needs one unless it serves PSK only; a client for mutual TLS. */
  key?: TlsCredential;
  /** This side's certificate chain (PEM), leaf first. */
  cert?: TlsCredential;
  /** The certificate authorities to trust for the peer's certificate. Default: Node's bundled roots. */
  ca?: TlsCredential;
  /** OpenSSL cipher list. Default: Node's, or TLS 1.3 and PSK suites in PSK mode. */
  ciphers?: string;
  /** Default `'TLSv1.2'`. */
  minVersion?: SecureVersion;
  maxVersion?: SecureVersion;
  /** Give up on a handshake after this long: `ERR_TLS_HANDSHAKE_TIMEOUT`. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
}

/** A pre-shared key and the identity it is known by (PSK mode: no certificates). */
export interface TlsPsk {
  /** Sent in clear during the handshake: a name, not a secret. */
  identity: string;
  /** The secret, at least 16 random bytes. */
  key: Uint8Array;
}

/**
 * Who the other end of a TLS channel is. The fields of its certificate are
 * those of node:tls `getPeerCertificate()`; in PSK mode there is no
 * certificate and `pskIdentity` names the key.
 */
export interface TlsPeer {
  /**
   * The peer proved who it is: its certificate chains to `ca` (and, seen
   * from a client, names the host), or it knows the pre-shared key. A server
   * without `requestCert` does not ask clients: `false` there.
   */
  readonly authorized: boolean;
  /** Why not, as node:tls codes it (`'CERT_HAS_EXPIRED'`, ...), when `authorized` is false and a certificate was checked. */
  readonly authorizationError?: string;
  /** The certificate's subject, e.g. `{ CN: 'worker-1', O: 'example' }`. */
  readonly subject?: Readonly<Record<string, string | string[]>>;
  readonly issuer?: Readonly<Record<string, string | string[]>>;
  /** `'DNS:localhost, IP Address:127.0.0.1'`. */
  readonly subjectAltName?: string;
  /** SHA-256 fingerprint, `'AB:CD:...'`: pin a certificate by it. */
  readonly fingerprint256?: string;
  readonly serialNumber?: string;
  readonly validFrom?: string;
  readonly validTo?: string;
  /** PSK mode: the identity of the key used. */
  readonly pskIdentity?: string;
  /** `'TLSv1.3'`, `'TLSv1.2'`. */
  readonly protocol: string;
  /** The negotiated cipher suite's name. */
  readonly cipher: string;
  /** Its TCP address. */
  readonly address: TcpAddress;
}

/** A TLS connection as a channel: both directions, the peer's verified identity, and this end's address. */
export interface TlsDuplex<Out, In = Out> extends Duplex<Out, In> {
  /** Who the other end is, as the handshake proved it (and its TCP address). */
  readonly peer: TlsPeer;
  /** This end's TCP address. */
  readonly local: TcpAddress;
}

/** Options of {@link TlsServer.listen}. */
export interface TlsServerOptions<T> extends StreamChannelOptions<T>, TcpListenOptions, TlsCommonOptions {
  /** Mutual TLS: ask every client for a certificate, checked against `ca`. Default `false`. */
  requestCert?: boolean;
  /**
   * With `requestCert`: refuse a client whose certificate is missing or does
   * not verify (reported to `onClientError` with node:tls's code). Default
   * `true`; `false` accepts it and tells why in `peer.authorizationError`.
   */
  rejectUnauthorized?: boolean;
  /** PSK mode: the key of a client's `identity`, or null/undefined to refuse it. A throw refuses it too. */
  pskCallback?: (identity: string) => Uint8Array | null | undefined;
  /** Sent to PSK clients to help them pick an identity. */
  pskIdentityHint?: string;
  /** Called with each authenticated peer before its connection is yielded: `false` (or a throw) closes it at once. */
  verifyPeer?: (peer: TlsPeer) => boolean;
  /**
   * Told about every client that did not become a channel: a failed
   * handshake (`ERR_SSL_WRONG_VERSION_NUMBER` for a client not speaking TLS,
   * `ERR_TLS_HANDSHAKE_TIMEOUT`, ...) or a refused certificate
   * (`CERT_HAS_EXPIRED`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
   * `ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE`, ...). What it throws is ignored.
   */
  onClientError?: (err: Error & { code?: string }, remote: TcpAddress | undefined) => void;
  /** More node:tls server options (ALPN, session tickets, ...); the options above win. */
  tls?: TlsOptions;
}

/** Options of {@link connectTls}. */
export interface ConnectTlsOptions<T> extends StreamChannelOptions<T>, TcpConnectOptions, TlsCommonOptions {
  /** The name the server's certificate must carry (and SNI). Default: `host` when it is a name; an IP address is checked against the certificate's IP entries. */
  servername?: string;
  /** Refuse a server whose certificate does not verify (the connect rejects with node:tls's code). Default `true`. */
  rejectUnauthorized?: boolean;
  /** PSK mode: authenticate with this key instead of certificates. */
  psk?: TlsPsk;
  /** More node:tls connect options; the options above win. */
  tls?: ConnectionOptions;
}

/** Cipher suites in PSK mode: TLS 1.3's (an external PSK uses SHA-256) and TLS 1.2's PSK suites. */
const PSK_CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384:PSK-CHACHA20-POLY1305';
const VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
/** Default {@link TlsCommonOptions.handshakeTimeoutMs}. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

function credential(value: unknown, name: string): TlsCredential | undefined {
  if (value === undefined) return undefined;
  const ok = (v: unknown): boolean => typeof v === 'string' || Buffer.isBuffer(v);
  if (ok(value) || (Array.isArray(value) && value.every(ok))) return value as TlsCredential;
  throw new TypeError(`The "${name}" option must be a string, a Buffer, or an array of them`);
}

function version(value: unknown, name: string): SecureVersion | undefined {
  if (value === undefined) return undefined;
  if (!VERSIONS.includes(value as string)) throw new TypeError(`The "${name}" option must be one of ${VERSIONS.join(', ')}`);
  return value as SecureVersion;
}

/** The node:tls options both sides share (the fields given), checked. */
type CommonTls = Pick<TlsOptions, 'key' | 'cert' | 'ca' | 'ciphers' | 'minVersion' | 'maxVersion'>;

function common(opts: Record<string, unknown>, psk: boolean): { base: CommonTls; handshakeTimeoutMs: number } {
  const fields: Record<string, unknown> = {
    key: credential(opts.key, 'options.key'),
    cert: credential(opts.cert, 'options.cert'),
    ca: credential(opts.ca, 'options.ca'),
    ciphers: opts.ciphers === undefined ? (psk ? PSK_CIPHERS : undefined) : validateString(opts.ciphers, 'options.ciphers'),
    minVersion: version(opts.minVersion, 'options.minVersion'),
    maxVersion: version(opts.maxVersion, 'options.maxVersion'),
  };
  const base = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as CommonTls;
  const handshakeTimeoutMs =
    opts.handshakeTimeoutMs === undefined
      ? DEFAULT_HANDSHAKE_TIMEOUT_MS
      : validateInteger(opts.handshakeTimeoutMs, 'options.handshakeTimeoutMs', 1);
  return { base, handshakeTimeoutMs };
}

/** Server options, checked: node:tls's and ours. @internal */
export interface ServerTls {
  tls: TlsOptions;
  handshakeTimeoutMs: number;
  requestCert: boolean;
  rejectUnauthorized: boolean;
  pskCallback: ((identity: string) => Uint8Array | null | undefined) | undefined;
}

/** Checks a server's TLS options. @internal */
export function resolveServerTls(opts: Record<string, unknown>): ServerTls {
  const pskCallback = validateFunction<(identity: string) => Uint8Array | null | undefined>(opts.pskCallback, 'options.pskCallback');
  const { base, handshakeTimeoutMs } = common(opts, pskCallback !== undefined);
  if (base.key === undefined && pskCallback === undefined)
    throw new TypeError('A TLS server needs options.key and options.cert, or options.pskCallback (PSK mode)');
  const extra = opts.tls === undefined ? {} : (validateObject(opts.tls, 'options.tls') as TlsOptions);
  const hint = opts.pskIdentityHint === undefined ? undefined : validateString(opts.pskIdentityHint, 'options.pskIdentityHint');
  return {
    tls: { ...extra, ...base, ...(hint === undefined ? {} : { pskIdentityHint: hint }) },
    handshakeTimeoutMs,
    requestCert: opts.requestCert === undefined ? false : validateBoolean(opts.requestCert, 'options.requestCert'),
    rejectUnauthorized:
      opts.rejectUnauthorized === undefined ? true : validateBoolean(opts.rejectUnauthorized, 'options.rejectUnauthorized'),
    pskCallback,
  };
}

/** Client options, checked: node:tls's for `tls.connect` (without the socket) and the handshake bound. @internal */
export function resolveClientTls(
  opts: Record<string, unknown>,
  host: string,
): { tls: ConnectionOptions; handshakeTimeoutMs: number; psk: TlsPsk | undefined } {
  let psk: TlsPsk | undefined;
  if (opts.psk !== undefined) {
    const p = validateObject(opts.psk, 'options.psk');
    const key = p.key;
    if (!(key instanceof Uint8Array) || key.byteLength === 0)
      throw new TypeError('The "options.psk.key" option must be a non-empty Uint8Array');
    psk = { identity: validateString(p.identity, 'options.psk.identity'), key };
  }
  const { base, handshakeTimeoutMs } = common(opts, psk !== undefined);
  const extra = opts.tls === undefined ? {} : (validateObject(opts.tls, 'options.tls') as ConnectionOptions);
  const servername =
    opts.servername === undefined ? (isIP(host) ? undefined : host) : validateString(opts.servername, 'options.servername');
  const tls: ConnectionOptions = {
    ...extra,
    ...base,
    host: servername ?? host, // what the certificate must name
    rejectUnauthorized:
      opts.rejectUnauthorized === undefined ? true : validateBoolean(opts.rejectUnauthorized, 'options.rejectUnauthorized'),
  };
  if (servername !== undefined) tls.servername = servername;
  if (psk !== undefined) {
    const { identity, key } = psk;
    tls.pskCallback = () => ({ identity, psk: Buffer.from(key) });
    // No certificate in PSK mode (TLS 1.2 still runs the host check on an empty one): the key is the identity.
    tls.checkServerIdentity = () => undefined;
  }
  return { tls, handshakeTimeoutMs, psk };
}

function names(value: unknown): Readonly<Record<string, string | string[]>> | undefined {
  return value !== null && typeof value === 'object' ? { ...(value as Record<string, string | string[]>) } : undefined;
}

/** The identity of `socket`'s peer, after its handshake. @internal */
export function tlsPeer(socket: TLSSocket, address: TcpAddress, pskIdentity: string | undefined, authorized: boolean): TlsPeer {
  const cert = socket.getPeerCertificate() as Partial<PeerCertificate> | null;
  const has = cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0;
  const peer: Record<string, unknown> = {
    authorized,
    protocol: socket.getProtocol() ?? '',
    cipher: socket.getCipher()?.name ?? '',
    address,
  };
  if (!authorized && socket.authorizationError) peer.authorizationError = String(socket.authorizationError);
  if (pskIdentity !== undefined) peer.pskIdentity = pskIdentity;
  if (has) {
    peer.subject = names(cert.subject);
    peer.issuer = names(cert.issuer);
    if (cert.subjectaltname) peer.subjectAltName = cert.subjectaltname;
    peer.fingerprint256 = cert.fingerprint256;
    peer.serialNumber = cert.serialNumber;
    peer.validFrom = cert.valid_from;
    peer.validTo = cert.valid_to;
  }
  return Object.freeze(peer) as unknown as TlsPeer;
}

/** True when the peer of `socket` sent a certificate. @internal */
export function sentCertificate(socket: TLSSocket): boolean {
  const cert = socket.getPeerCertificate() as object | null;
  return cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0;
}

/**
 * `listen(address)` and `connect(address)` for every transport, through a
 * small scheme registry: the built-in schemes (`shm`, `unix`, `fifo`, `tcp`,
 * `tls`) are registered here, and layers above add theirs with
 * {@link defineScheme} (the name service's `name:`, a broker's `nats:`).
 * See docs/addressing.md.
 * @module
 */
import { validateFunction, validateObject, validateOptions, validateString } from '../internal/validators.js';
import {
  parseAddress,
  SCHEME_SYNTAX,
  type Address,
  type HostAddress,
  type OpaqueAddress,
  type PathAddress,
  type ShmAddress,
} from './address.js';
import { openFifoDuplex } from './fifo.js';
import { connectShm, ShmServer } from './shm-server.js';
import { connectTcp, TcpServer } from './tcp.js';
import { connectTls, TlsServer } from './tls.js';
import type { TlsServerOptions } from './tls-options.js';
import type { ChannelOptions, Duplex, Listener } from './types.js';
import { connectNats, NatsServer, parseNatsAddress } from './nats/server.js';
import { connectUnix, UnixServer } from './unix.js';

/**
 * The options of {@link listen} and {@link connect}: the channel options
 * every transport takes (`codec`, `maxMessageSize`) and whatever the
 * scheme's transport takes besides (`highWaterMark`, `allowUids`, TLS
 * credentials, `timeoutMs`, `signal`, ...; see docs/addressing.md). Never
 * where: that is the address's.
 */
export type AddressOptions<T> = ChannelOptions<T> & { readonly [option: string]: unknown };

/**
 * How one scheme listens and connects. Either may be missing: `listen` on a
 * scheme without one (`fifo:`) is a `RangeError` that says so. Each is given
 * the parsed address (`{ scheme, opaque }` for a scheme `parseAddress` does
 * not know) and the caller's options, unchecked.
 */
export interface SchemeHandler {
  listen?(address: Address, options: Record<string, unknown>): Promise<Listener<unknown>> | Listener<unknown>;
  connect?(address: Address, options: Record<string, unknown>): Promise<Duplex<unknown>>;
}

const schemes = new Map<string, SchemeHandler>();

/**
 * Registers `scheme` (lower case, RFC 3986 syntax, without the colon) for
 * {@link listen} and {@link connect}; returns the function that removes it
 * again. Throws a `RangeError` for a scheme that is already defined (a
 * built-in one included) or not a scheme, a `TypeError` for a handler that
 * is not one.
 *
 * @example
 * defineScheme('name', { connect: async (a, o) => connect(await lookup((a as OpaqueAddress).opaque), o) });
 */
export function defineScheme(scheme: string, handler: SchemeHandler): () => void {
  const s = validateString(scheme, 'scheme');
  if (!SCHEME_SYNTAX.test(s)) {
    throw new RangeError(`The "scheme" argument must be a lower-case URL scheme without its colon, such as 'name'. Received '${s}'`);
  }
  if (schemes.has(s)) throw new RangeError(`The "scheme" argument '${s}' is already defined`);
  const h = validateObject(handler, 'handler');
  const entry: SchemeHandler = {
    listen: validateFunction<NonNullable<SchemeHandler['listen']>>(h.listen, 'handler.listen'),
    connect: validateFunction<NonNullable<SchemeHandler['connect']>>(h.connect, 'handler.connect'),
  };
  schemes.set(s, entry);
  return () => {
    if (schemes.get(s) === entry) schemes.delete(s);
  };
}

function handlerOf(address: Address, text: string, what: 'listen' | 'connect'): NonNullable<SchemeHandler[typeof what]> {
  const h = schemes.get(address.scheme);
  if (h === undefined) {
    const known = [...schemes.keys()].join(', ');
    throw new RangeError(`The "address" argument has an unknown scheme '${address.scheme}:' (known: ${known}). Received '${text}'`);
  }
  const fn = h[what];
  if (fn === undefined) {
    const hint = address.scheme === 'fifo' ? ': a FIFO pair joins two processes; make it with openFifoDuplex(path, { create: true })' : '';
    throw new RangeError(`The "address" argument's scheme '${address.scheme}:' cannot ${what}${hint}. Received '${text}'`);
  }
  return fn as NonNullable<SchemeHandler[typeof what]>;
}

/**
 * A server at `address` that accepts duplex channels, one per client:
 * `unix:/path` (a {@link UnixServer}), `shm:/name` (a {@link ShmServer}),
 * `tcp://host:port` and `tls://host:port` (port 0: any free one; the
 * listener's `url` says which). Rejects with a `RangeError` for a bad
 * address, an unknown scheme or one that cannot listen (`fifo:`), a
 * `TypeError` when `options` repeat what the address says (`host`, `port`),
 * and with the transport's own errors (`EADDRINUSE`, ...).
 *
 * @example
 * const server = await listen<Msg>('tcp://127.0.0.1:0', { codec: codecs.json });
 * console.log(server.url); // 'tcp://127.0.0.1:40123'
 * for await (const conn of server) void serve(conn);
 */
export async function listen<T = Uint8Array>(address: string, options?: AddressOptions<T>): Promise<Listener<T>> {
  const parsed = parseAddress(address);
  const opts = validateOptions(options);
  return (await handlerOf(parsed, address, 'listen')(parsed, opts)) as Listener<T>;
}

/**
 * A duplex channel to the server at `address` (the schemes of
 * {@link listen}), or over the FIFO pair at `fifo:/path` (made by the other
 * side with `openFifoDuplex(path, { create: true })`). Rejects as
 * {@link listen} does for the address and options, and with the
 * transport's connection errors (`ENOENT`, `ECONNREFUSED`, `ETIMEDOUT`, ...).
 *
 * @example
 * const conn = await connect<Msg>('shm:/kv', { codec: codecs.json, timeoutMs: 5000 });
 */
export async function connect<T = Uint8Array>(address: string, options?: AddressOptions<T>): Promise<Duplex<T>> {
  const parsed = parseAddress(address);
  const opts = validateOptions(options);
  return (await handlerOf(parsed, address, 'connect')(parsed, opts)) as Duplex<T>;
}

/** The options without the keys the address sets: a TypeError when the caller gave one. */
function beside<A extends Address>(address: A, options: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  for (const key of keys) {
    if (options[key] !== undefined) {
      throw new TypeError(`The "options.${key}" option must not be given: the address '${address.scheme}:...' says where`);
    }
  }
  return options;
}

const HOST_KEYS = ['host', 'port'] as const;

function hostOptions(a: Address, opts: Record<string, unknown>, what: 'listen' | 'connect'): Record<string, unknown> {
  const { host, port } = a as HostAddress;
  if (what === 'connect' && port === 0) {
    throw new RangeError(`The "address" argument must have a port from 1 to 65535 to connect to. Received '${a.scheme}://${host}:0'`);
  }
  return { ...beside(a, opts, HOST_KEYS), host, port };
}

defineScheme('unix', {
  listen: (a, o) => UnixServer.listen((a as PathAddress).path, o),
  connect: (a, o) => connectUnix((a as PathAddress).path, o),
});
defineScheme('fifo', {
  connect: (a, o) => openFifoDuplex((a as PathAddress).path, o),
});
defineScheme('shm', {
  listen: (a, o) => ShmServer.listen((a as ShmAddress).name, o),
  connect: (a, o) => connectShm((a as ShmAddress).name, o),
});
defineScheme('tcp', {
  listen: (a, o) => TcpServer.listen(hostOptions(a, o, 'listen')),
  connect: (a, o) => connectTcp(hostOptions(a, o, 'connect') as { port: number }),
});
defineScheme('tls', {
  listen: (a, o) => TlsServer.listen(hostOptions(a, o, 'listen') as unknown as TlsServerOptions<unknown>),
  connect: (a, o) => connectTls(hostOptions(a, o, 'connect') as { port: number }),
});
defineScheme('nats', {
  listen: (a, o) => NatsServer.listen(parseNatsAddress((a as OpaqueAddress).opaque), o),
  connect: (a, o) => connectNats(parseNatsAddress((a as OpaqueAddress).opaque), o),
});

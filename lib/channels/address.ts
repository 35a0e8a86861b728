/**
 * One address syntax for every transport (docs/addressing.md, "Addresses"):
 *
 * | address | what |
 * | --- | --- |
 * | `shm:/name` | a shared-memory listener (`ShmServer`); `name` follows the POSIX shm name rules |
 * | `unix:/abs/path`, `unix:///abs/path`, `unix:relative/path` | a UNIX-domain socket (gRPC's forms) |
 * | `fifo:/path` (and the same three forms) | a FIFO pair made by `openFifoDuplex` |
 * | `tcp://host:port`, `tls://host:port` | TCP, TLS; IPv6 as `[::1]:port`; port 0 on listen: any free port |
 *
 * Paths are taken verbatim (no `.`/`..` folding: the kernel resolves them,
 * symbolic links included), with `%XX` escapes decoded so that any path can
 * be written; `?` and `#` must be escaped. No options ride in the address:
 * a query string or a fragment is refused (options go in the second argument
 * of `listen`/`connect`, where they are typed and checked). Any other scheme
 * parses as `{ scheme, opaque }` for the schemes registered with `defineScheme`.
 * @module
 */
import { isIP } from 'node:net';

import { ipcNameMaxBytes, validateIpcName } from '../internal/names.js';
import { validateObject, validateString } from '../internal/validators.js';
import { MAX_SOCKET_PATH } from '../socket.js';

/** A UNIX socket or a FIFO pair, by path (relative paths are resolved by the kernel against the working directory). */
export interface PathAddress {
  readonly scheme: 'unix' | 'fifo';
  readonly path: string;
}

/** A shared-memory listener, by its POSIX shm name (`'/name'`). */
export interface ShmAddress {
  readonly scheme: 'shm';
  readonly name: string;
}

/** A TCP or TLS endpoint. `host` is a name or a numeric address (IPv6 without brackets); `port` 0 only on listen. */
export interface HostAddress {
  readonly scheme: 'tcp' | 'tls';
  readonly host: string;
  readonly port: number;
}

/** An address of a scheme this file does not know (registered with `defineScheme`): everything after `scheme:`, verbatim. */
export interface OpaqueAddress {
  readonly scheme: string;
  readonly opaque: string;
}

/** A parsed address: see {@link parseAddress}. */
export type Address = PathAddress | ShmAddress | HostAddress | OpaqueAddress;

/** RFC 3986 scheme syntax, lower case (a scheme is case-insensitive: it is folded first). */
export const SCHEME_SYNTAX = /^[a-z][a-z0-9+.-]*$/;

function bad(argName: string, text: string, why: string): RangeError {
  return new RangeError(`The "${argName}" argument must be an address (${why}). Received '${text}'`);
}

/** `%XX` escapes decoded (UTF-8); a malformed escape is a RangeError. */
function unescape(s: string, argName: string, text: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    throw bad(argName, text, 'a malformed %-escape');
  }
}

function pathOf(scheme: 'unix' | 'fifo', rest: string, argName: string, text: string): PathAddress {
  let raw = rest;
  if (raw.startsWith('//')) {
    // gRPC's `unix:///abs`: an empty authority, then an absolute path. A host is not a path.
    raw = raw.slice(2);
    if (!raw.startsWith('/')) throw bad(argName, text, `${scheme}:// must be followed by an absolute path, as in ${scheme}:///tmp/x`);
  }
  if (raw.includes('?') || raw.includes('#')) {
    throw bad(argName, text, 'no query or fragment: options go in the second argument; escape ? and # in a path as %3F and %23');
  }
  const path = unescape(raw, argName, text);
  if (path.length === 0) throw bad(argName, text, `${scheme}: needs a path`);
  if (path.includes('\0')) throw bad(argName, text, 'a path without NUL bytes');
  if (scheme === 'unix' && Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw bad(argName, text, `a socket path of at most ${MAX_SOCKET_PATH} bytes, the UNIX socket address limit`);
  }
  return { scheme, path };
}

function shmOf(rest: string, argName: string, text: string): ShmAddress {
  if (rest.includes('?') || rest.includes('#')) throw bad(argName, text, 'no query or fragment: options go in the second argument');
  const name = unescape(rest, argName, text);
  try {
    return { scheme: 'shm', name: validateIpcName(name, argName, 'shm') };
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    throw bad(argName, text, `shm:/name, the name '/' then 1 to ${ipcNameMaxBytes('shm')} bytes with no other '/', not '.' or '..'`);
  }
}

function hostOf(scheme: 'tcp' | 'tls', text: string, argName: string): HostAddress {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad(argName, text, `${scheme}://host:port, with a port from 0 to 65535 and IPv6 in brackets: ${scheme}://[::1]:4000`);
  }
  if (!text.slice(scheme.length + 1).startsWith('//')) throw bad(argName, text, `${scheme}://host:port`);
  if (url.username !== '' || url.password !== '') throw bad(argName, text, 'no user information');
  if (url.search !== '' || url.hash !== '' || text.includes('?') || text.includes('#')) {
    throw bad(argName, text, 'no query or fragment: options go in the second argument');
  }
  if (url.pathname !== '' && url.pathname !== '/') throw bad(argName, text, `no path after ${scheme}://host:port`);
  let host = url.hostname;
  if (host.startsWith('[')) host = host.slice(1, -1);
  else if (isIP(host) === 0 && !/^[A-Za-z0-9._-]*$/.test(host)) {
    throw bad(argName, text, 'a host name of letters, digits, dots, hyphens and underscores, or a numeric address');
  }
  if (host.length === 0) throw bad(argName, text, `${scheme}: needs a host`);
  // The URL parser drops a port it reads as the scheme's default; tcp: and tls: have none, so '' means absent.
  if (url.port === '') throw bad(argName, text, `${scheme}: needs a port (0 on listen: any free port)`);
  return { scheme, host, port: Number(url.port) };
}

/**
 * Parses an address (see this module's table). Throws a `TypeError` when
 * `address` is not a string, and a `RangeError` naming `argName` with the
 * offending text when it is not an address: no `scheme:`, a bad shm name, a
 * socket path over {@link MAX_SOCKET_PATH}, a missing or out-of-range port,
 * a query string. A scheme it does not know parses as `{ scheme, opaque }`
 * (only `listen`/`connect` tell whether anyone registered it).
 *
 * @example
 * parseAddress('tcp://[::1]:4000'); // { scheme: 'tcp', host: '::1', port: 4000 }
 * parseAddress('unix:run/app.sock'); // { scheme: 'unix', path: 'run/app.sock' }
 */
export function parseAddress(address: string, argName = 'address'): Address {
  const text = validateString(address, argName);
  const colon = text.indexOf(':');
  if (colon <= 0) throw bad(argName, text, "'scheme:...', such as unix:/tmp/x.sock or tcp://127.0.0.1:4000");
  const scheme = text.slice(0, colon).toLowerCase();
  if (!SCHEME_SYNTAX.test(scheme)) throw bad(argName, text, `a scheme of letters, digits, +, - and . (found '${text.slice(0, colon)}')`);
  const rest = text.slice(colon + 1);
  switch (scheme) {
    case 'unix':
    case 'fifo':
      return pathOf(scheme, rest, argName, text);
    case 'shm':
      return shmOf(rest, argName, text);
    case 'tcp':
    case 'tls':
      return hostOf(scheme, `${scheme}:${rest}`, argName);
    default:
      return { scheme, opaque: rest };
  }
}

/** What a path needs escaped to parse back as itself: `%`, `?`, `#`, and control characters and spaces. */
function escapePath(path: string): string {
  // eslint-disable-next-line no-control-regex
  return path.replace(/[%?#\s\x00-\x1f\x7f]/g, (c) => encodeURIComponent(c));
}

/**
 * The text of an address: the inverse of {@link parseAddress}
 * (`parseAddress(formatAddress(a))` equals `a`). IPv6 hosts get their
 * brackets; a path's `%`, `?`, `#`, spaces and control characters are
 * `%`-escaped. Throws a `TypeError` for something that is not an address.
 */
export function formatAddress(address: Address): string {
  const a = validateObject(address, 'address') as unknown as Address;
  const scheme = validateString(a.scheme, 'address.scheme');
  switch (scheme) {
    case 'unix':
    case 'fifo': {
      const path = validateString((a as PathAddress).path, 'address.path');
      // A path that starts with '//' would read as an authority: use the empty-authority form.
      return `${scheme}:${path.startsWith('//') ? '//' : ''}${escapePath(path)}`;
    }
    case 'shm':
      return `shm:${escapePath(validateString((a as ShmAddress).name, 'address.name'))}`;
    case 'tcp':
    case 'tls': {
      const { host, port } = a as HostAddress;
      validateString(host, 'address.host');
      return `${scheme}://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
    }
    default:
      return `${scheme}:${validateString((a as OpaqueAddress).opaque, 'address.opaque')}`;
  }
}

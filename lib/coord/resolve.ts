/**
 * `name:` addresses: `name:kvstore` is looked up in this machine's registry,
 * `name://host:port/kvstore` asks the name server at `host:port`. The
 * address syntax's `connect('name:...')` resolves through here.
 * @module
 */
import { validateOptions, validateString, validateTimeout, validateAbortSignal } from '../internal/validators.js';
import { NameClient } from './name-server.js';
import { lookupName, validateServiceName, waitForName } from './names.js';

/** Options of {@link resolveName}. */
export interface ResolveNameOptions {
  /**
   * Local names: wait this long for the name to be registered (0, the
   * default: look once). Remote names: the bound on connecting and asking.
   */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A `name:` address taken apart. @internal */
export interface NameAddress {
  name: string;
  server?: { host: string; port: number };
}

/**
 * Parses `name:<service>` or `name://host:port/<service>` (IPv6 hosts in
 * brackets). Throws `RangeError` naming `argName` for anything else.
 */
export function parseNameAddress(address: unknown, argName = 'address'): NameAddress {
  const text = validateString(address, argName);
  const bad = (): RangeError =>
    new RangeError(`The "${argName}" argument must be 'name:<service>' or 'name://host:port/<service>'. Received '${text}'`);
  if (!text.startsWith('name:')) throw bad();
  if (!text.startsWith('name://')) return { name: validateServiceName(text.slice('name:'.length), argName) };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad();
  }
  if (!url.hostname || !url.port || url.search || url.hash || url.username) throw bad();
  return {
    name: validateServiceName(decodeURIComponent(url.pathname.slice(1)), argName),
    server: { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port) },
  };
}

/**
 * The transport address a `name:` address stands for: `name:kvstore` from
 * this machine's registry, `name://host:port/kvstore` from the name server
 * there. Throws a `NameError` (`ERR_NAME_NOT_FOUND`, `ERR_NAME_SERVER`), or
 * what connecting to the server throws.
 *
 * @example
 * const address = await resolveName('name:kvstore'); // 'unix:/run/user/1000/kv.sock'
 */
export async function resolveName(address: string, options?: ResolveNameOptions): Promise<string> {
  const parsed = parseNameAddress(address);
  const opts = validateOptions(options);
  const timeoutMs = validateTimeout(opts.timeoutMs);
  const signal = validateAbortSignal(opts.signal);
  if (!parsed.server) {
    if (opts.timeoutMs === undefined || timeoutMs === 0) return lookupName(parsed.name);
    return waitForName(parsed.name, { timeoutMs, signal });
  }
  const client = await NameClient.connect(parsed.server, { timeoutMs: opts.timeoutMs === undefined ? undefined : timeoutMs, signal });
  try {
    return await client.lookup(parsed.name);
  } finally {
    await client.close();
  }
}

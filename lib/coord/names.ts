/**
 * The name service on one machine (the course's matchmaker, or port
 * mapper): a service name maps to a transport address, for as long as the
 * process that registered it lives.
 *
 * No daemon: the registry is the directory `<runtime dir>/names` (0700,
 * per user). Each entry is a file `<name>.json` that its registrant keeps
 * open and `flock`ed; the kernel drops the lock when the registrant dies,
 * even by `kill -9`, so a lookup knows at once, without a pid that could
 * have been reused, whether the holder is alive. A dead holder's entry is
 * removed by whoever finds it. See docs/names.md.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

import { NameError } from '../errors.js';
import {
  createHeld,
  linkHeld,
  probeHeld,
  releaseHeld,
  releaseProbe,
  removeDead,
  unlinkHeld,
  type HeldProbe,
} from '../internal/held-file.js';
import { runtimeDir } from '../internal/runtime-dir.js';
import { validateOptions, validateString, validateTimeout, validateAbortSignal } from '../internal/validators.js';
import { backoff, deadlineAfter } from '../internal/waiting.js';

/** The longest service name, in characters. */
export const NAME_MAX_LENGTH = 128;
/** The longest address a name may map to, in UTF-8 bytes. */
export const NAME_ADDRESS_MAX_BYTES = 1024;

const NAME_RE = /^[a-z0-9][a-z0-9._-]*$/;
const ADDRESS_RE = /^[a-z][a-z0-9+.-]*:./s;
/** How many times a registration retries after removing a dead holder's entry before it gives up. */
const REGISTER_ATTEMPTS = 16;

/** A registered name as listed by {@link listNames}. */
export interface NameEntry {
  name: string;
  address: string;
  /** The registrant's pid (for a remote registrant: the name server's). */
  pid: number;
  /** For a name registered through a name server: the remote client's `host:port`. */
  remote?: string;
  /** When it was registered (ms since the epoch). */
  since: number;
}

/**
 * Checks a service name: 1 to {@link NAME_MAX_LENGTH} characters of
 * lowercase letters, digits, `.`, `_` and `-`, starting with a letter or a
 * digit. Lowercase only, so that the rule is the same on a case-insensitive
 * file system (macOS), where `Kv` and `kv` would be one entry. Returns it.
 */
export function validateServiceName(name: unknown, argName = 'name'): string {
  const value = validateString(name, argName);
  if (value.length === 0 || value.length > NAME_MAX_LENGTH || !NAME_RE.test(value)) {
    throw new RangeError(
      `The "${argName}" argument must be a service name: 1 to ${NAME_MAX_LENGTH} of a-z 0-9 . _ -, starting with a letter or digit. Received '${value}'`,
    );
  }
  return value;
}

/** Checks an address to register: `scheme:rest`, at most {@link NAME_ADDRESS_MAX_BYTES} bytes, no control characters, not itself a `name:`. */
export function validateServiceAddress(address: unknown, argName = 'address'): string {
  const value = validateString(address, argName);
  const control = [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  if (Buffer.byteLength(value, 'utf8') > NAME_ADDRESS_MAX_BYTES || !ADDRESS_RE.test(value) || control) {
    throw new RangeError(
      `The "${argName}" argument must be an address such as 'unix:/path' or 'tcp://host:port' (a scheme, ':', at most ${NAME_ADDRESS_MAX_BYTES} bytes, no control characters). Received '${value}'`,
    );
  }
  if (value.startsWith('name:'))
    throw new RangeError(`The "${argName}" argument must not be a name: address (names map to transports). Received '${value}'`);
  return value;
}

function entryPath(dir: string, name: string): string {
  return join(dir, `${name}.json`);
}

function parseEntry(text: string, name: string): NameEntry | undefined {
  let d: unknown;
  try {
    d = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof d !== 'object' || d === null) return undefined;
  const e = d as Record<string, unknown>;
  if (e.v !== 1 || e.name !== name || typeof e.address !== 'string' || !Number.isSafeInteger(e.pid)) return undefined;
  const entry: NameEntry = { name, address: e.address, pid: e.pid as number, since: typeof e.since === 'number' ? e.since : 0 };
  if (typeof e.remote === 'string') entry.remote = e.remote;
  return entry;
}

/** A live entry's contents, or `undefined` (a dead one is removed on the way). */
function liveEntry(probe: HeldProbe, name: string): NameEntry | undefined {
  if (probe.state === 'missing') return undefined;
  if (probe.state === 'dead') {
    removeDead(probe);
    return undefined;
  }
  return parseEntry(probe.text, name);
}

/**
 * A name this process registered. It stays registered until
 * {@link NameRegistration.unregister} (or `using`'s dispose), or until the
 * process ends in any way.
 */
export class NameRegistration implements Disposable {
  readonly name: string;
  readonly address: string;
  #fd: number;
  readonly #path: string;

  /** @internal */
  constructor(name: string, address: string, fd: number, path: string) {
    this.name = name;
    this.address = address;
    this.#fd = fd;
    this.#path = path;
  }

  /** True once unregistered. */
  get unregistered(): boolean {
    return this.#fd < 0;
  }

  /** Removes the name: lookups fail with `ERR_NAME_NOT_FOUND` from now on. Idempotent. */
  unregister(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    releaseHeld(fd, this.#path);
  }

  [Symbol.dispose](): void {
    this.unregister();
  }
}

/** Extra fields a name server records for a remote registrant. @internal */
export interface RegisterExtras {
  remote?: string;
}

/**
 * Registers `name` -> `address` on this machine, for as long as this
 * process lives or until `unregister()`. Exclusive: while another live
 * process (or this one) holds the name, throws a {@link NameError}
 * `ERR_NAME_TAKEN` naming the holder's pid. An entry whose holder died is
 * replaced. Never blocks on another process: a few file operations in the
 * runtime directory. Throws `TypeError`/`RangeError` for a bad name or
 * address, and a system error (`EACCES`) when the runtime directory is not
 * private to this user.
 *
 * @example
 * using reg = registerName('kvstore', `unix:${socketPath}`);
 * // elsewhere: lookupName('kvstore') === `unix:${socketPath}`
 */
export function registerName(name: string, address: string): NameRegistration {
  return registerNameFor(name, address, {});
}

/** {@link registerName} with the fields a name server adds for a remote registrant. @internal */
export function registerNameFor(name: string, address: string, extras: RegisterExtras): NameRegistration {
  validateServiceName(name);
  validateServiceAddress(address);
  const dir = runtimeDir('names');
  const path = entryPath(dir, name);
  const tmp = join(dir, `.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const entry: NameEntry & { v: 1 } = { v: 1, name, address, pid: process.pid, since: Date.now(), ...extras };
  const fd = createHeld(tmp, JSON.stringify(entry));
  try {
    for (let attempt = 0; attempt < REGISTER_ATTEMPTS; attempt++) {
      if (linkHeld(tmp, path)) {
        unlinkHeld(fd, tmp); // the temporary name goes; the lock stays with fd
        return new NameRegistration(name, address, fd, path);
      }
      const probe = probeHeld(path);
      if (probe.state === 'alive') {
        const holder = parseEntry(probe.text, name);
        throw new NameError(
          'ERR_NAME_TAKEN',
          name,
          `The name '${name}' is registered by pid ${holder?.pid ?? '?'}${holder ? ` (${holder.address})` : ''}`,
          { pid: holder?.pid },
        );
      }
      if (probe.state === 'dead') removeDead(probe);
    }
    throw new NameError('ERR_NAME_TAKEN', name, `The name '${name}' kept changing hands: gave up after ${REGISTER_ATTEMPTS} attempts`);
  } catch (err) {
    releaseHeld(fd, tmp);
    throw err;
  }
}

/**
 * The address registered for `name` on this machine. Throws a
 * {@link NameError} `ERR_NAME_NOT_FOUND` when nobody alive holds it (a
 * dead holder's entry is removed on the way).
 */
export function lookupName(name: string): string {
  validateServiceName(name);
  const entry = liveEntry(probeHeld(entryPath(runtimeDir('names'), name)), name);
  if (!entry) throw new NameError('ERR_NAME_NOT_FOUND', name, `No process has registered the name '${name}'`);
  return entry.address;
}

/** Options of {@link waitForName}. */
export interface WaitForNameOptions {
  /** Give up after this long (`ERR_NAME_NOT_FOUND`). Default: no limit. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * {@link lookupName}, waiting until someone registers `name`: for a client
 * started before its server. Looks again with a backoff of up to 20 ms on
 * the event loop, never blocking it.
 */
export async function waitForName(name: string, options?: WaitForNameOptions): Promise<string> {
  validateServiceName(name);
  const opts = validateOptions(options);
  const timeoutMs = validateTimeout(opts.timeoutMs);
  const signal = validateAbortSignal(opts.signal);
  const path = entryPath(runtimeDir('names'), name);
  const found = await backoff(() => liveEntry(probeHeld(path), name), {
    deadline: deadlineAfter(timeoutMs),
    signal,
    onTimeout: () => new NameError('ERR_NAME_NOT_FOUND', name, `No process registered the name '${name}' within ${timeoutMs} ms`),
  });
  return found.address;
}

/**
 * Every live name on this machine, sorted by name. Entries of dead holders
 * are removed on the way.
 */
export function listNames(): NameEntry[] {
  return scanNames(false).map(({ alive: _alive, ...entry }) => entry);
}

/** A name entry with its holder's liveness, as `posix-ipc ls` shows it. @internal */
export interface ScannedName extends NameEntry {
  alive: boolean;
}

/**
 * Every entry in the registry. `keepDead`: report dead holders' entries
 * (alive: false) and leave them in place, else remove them. @internal
 */
export function scanNames(keepDead: boolean): ScannedName[] {
  const dir = runtimeDir('names');
  const out: ScannedName[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.json')) continue;
    const name = file.slice(0, -'.json'.length);
    if (!NAME_RE.test(name)) continue;
    const probe = probeHeld(join(dir, file));
    if (probe.state === 'missing') continue;
    const entry = parseEntry(probe.text, name);
    if (probe.state === 'dead') {
      if (keepDead) {
        releaseProbe(probe);
        if (entry) out.push({ ...entry, alive: false });
      } else {
        removeDead(probe);
      }
      continue;
    }
    if (entry) out.push({ ...entry, alive: true });
  }
  return out;
}

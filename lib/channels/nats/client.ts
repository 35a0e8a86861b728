/**
 * The NATS client, loaded on first use: `@nats-io/transport-node` is an
 * optional dependency (a peer dependency the project's own tests install),
 * so users who never use NATS install nothing more. Connections are shared:
 * every channel to the same servers rides one NATS connection, counted, and
 * closed when the last channel lets go.
 * @internal
 * @module
 */
import type { NatsConnection } from '@nats-io/transport-node';

import { peerGoneError, systemError } from '../../errors.js';
import { validateInteger, validateOptions, validateString } from '../../internal/validators.js';

/** The package the NATS transport needs. */
export const NATS_PACKAGE = '@nats-io/transport-node';

type NatsModule = typeof import('@nats-io/transport-node');
let loaded: Promise<NatsModule> | undefined;

/** The client module, or an error naming the package to install. */
export function natsModule(): Promise<NatsModule> {
  loaded ??= import(NATS_PACKAGE).catch((err: unknown) => {
    loaded = undefined;
    throw Object.assign(
      new Error(`The nats: transport needs the optional package ${NATS_PACKAGE}: npm install ${NATS_PACKAGE}`, { cause: err }),
      { code: 'ERR_NATS_CLIENT_MISSING' },
    );
  }) as Promise<NatsModule>;
  return loaded;
}

/**
 * How to reach NATS servers that require it: a user and password, a token,
 * a user NKey or a `.creds` file's text (JWT), and TLS (PEM strings: `ca` to verify the servers, `cert`
 * and `key` for a client certificate; `tls: {}` is TLS with the system's
 * CAs).
 */
export interface NatsAuthOptions {
  user?: string;
  pass?: string;
  token?: string;
  /** The seed of a user NKey (`SU...`, as `nsc` or `nk -gen user` print it): the client signs the server's challenge with it; the server knows the public key (`U...`). */
  nkey?: string;
  /** The text of a `.creds` file (a user JWT and its NKey seed, as `nsc` writes it), for servers in operator mode: the client presents the JWT and signs the challenge with the seed. */
  creds?: string;
  tls?: { ca?: string; cert?: string; key?: string };
}

/** A user NKey seed: `SU`, then base32 (the seed's encoding). */
const NKEY_SEED = /^SU[A-Z2-7]{56}$/;
/** The two blocks of a `.creds` file, in order (nats.js parses them; this names the option when they are missing). */
const CREDS = /-{3,}BEGIN NATS USER JWT-{3,}[\s\S]*-{3,}BEGIN USER NKEY SEED-{3,}/;

/** Checks {@link NatsAuthOptions} (`name`: the option the messages name). @internal */
export function validateNatsAuth(value: unknown, name: string): NatsAuthOptions | undefined {
  if (value === undefined) return undefined;
  const o = validateOptions(value, name);
  const out: NatsAuthOptions = {};
  for (const k of ['user', 'pass', 'token', 'nkey', 'creds'] as const)
    if (o[k] !== undefined) out[k] = validateString(o[k], `${name}.${k}`);
  if ((out.user === undefined) !== (out.pass === undefined))
    throw new TypeError(`The "${name}" argument needs both user and pass, or neither`);
  if ([out.user, out.token, out.nkey, out.creds].filter((x) => x !== undefined).length > 1)
    throw new TypeError(`The "${name}" argument takes one of a user, a token, an nkey or creds`);
  if (out.creds !== undefined && !CREDS.test(out.creds))
    throw new RangeError(`The "${name}.creds" option must be the text of a .creds file (a NATS USER JWT block and a USER NKEY SEED block)`);
  if (out.nkey !== undefined && !NKEY_SEED.test(out.nkey))
    throw new RangeError(`The "${name}.nkey" option must be the seed of a user NKey (SU followed by 56 base32 characters)`);
  if (o.tls !== undefined) {
    const t = validateOptions(o.tls, `${name}.tls`);
    out.tls = {};
    for (const k of ['ca', 'cert', 'key'] as const) if (t[k] !== undefined) out.tls[k] = validateString(t[k], `${name}.tls.${k}`);
    if ((out.tls.cert === undefined) !== (out.tls.key === undefined))
      throw new TypeError(`The "${name}.tls" argument needs both cert and key, or neither`);
  }
  return out;
}

/** The sharing key: the same servers reached the same way share one connection; other credentials get their own. */
function connectionKey(servers: string, auth: NatsAuthOptions | undefined): string {
  if (auth === undefined) return servers;
  const { user, pass, token, nkey, creds, tls } = auth;
  return `${servers}\0${JSON.stringify([user, pass, token, nkey, creds, tls?.ca, tls?.cert, tls?.key, tls !== undefined])}`;
}

/** One NATS connection, shared by every channel to the same servers. @internal */
export interface SharedConnection {
  readonly servers: string;
  /** The servers and how they are reached: the key of the shared map (it may hold credentials: never print it). */
  readonly key: string;
  readonly nc: Promise<NatsConnection>;
  users: number;
  /** The links riding it: failed together when it closes (one handler, not one per link). */
  readonly links: Set<{ fail(err: Error): void }>;
}

const shared = new Map<string, SharedConnection>();

/** A counted use of the connection to `servers`: give it back with {@link releaseConnection} (that object, not the servers: a connection that closed by itself is replaced). */
export async function useConnection(
  servers: string,
  options: { timeoutMs: number; auth?: NatsAuthOptions },
): Promise<{ shared: SharedConnection; nc: NatsConnection }> {
  const key = connectionKey(servers, options.auth);
  let s = shared.get(key);
  if (s === undefined) {
    const { user, pass, token, nkey, creds, tls } = options.auth ?? {};
    const nc = natsModule().then(({ connect, nkeyAuthenticator, credsAuthenticator, nkeys }) => {
      if (nkey !== undefined) {
        try {
          nkeys.fromSeed(new TextEncoder().encode(nkey)); // its checksum: a typo is named here, not at the handshake
        } catch {
          throw new RangeError('The "options.auth.nkey" option is not a valid NKey seed (its checksum does not match)');
        }
      }
      return connect({
        servers: servers.split(','),
        timeout: options.timeoutMs,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        name: 'posix-ipc',
        ...(user === undefined ? {} : { user, pass }),
        ...(token === undefined ? {} : { token }),
        ...(nkey === undefined ? {} : { authenticator: nkeyAuthenticator(new TextEncoder().encode(nkey)) }),
        // nats.js reads the blocks line by line with \n only: a file written on Windows has \r\n.
        ...(creds === undefined ? {} : { authenticator: credsAuthenticator(new TextEncoder().encode(creds.replace(/\r\n?/g, '\n'))) }),
        ...(tls === undefined ? {} : { tls }),
      }).catch((err: unknown) => {
        // Refused credentials, as Node names a refused permission; the rest as the client says.
        if ((err as Error).name === 'AuthorizationError')
          throw Object.assign(systemError('EACCES', 'connect', servers, 'the NATS servers refused the credentials (options.auth)'), {
            cause: err,
          });
        throw err;
      });
    });
    const entry: SharedConnection = { servers, key, nc, users: 0, links: new Set() };
    s = entry;
    shared.set(key, entry); // by servers and credentials: a caller without them never rides this one
    nc.then(
      (c) =>
        void c.closed().then(() => {
          if (shared.get(key) === entry) shared.delete(key);
          for (const l of entry.links) l.fail(peerGoneError('is out of reach: the NATS connection closed'));
        }),
      () => {
        if (shared.get(key) === entry) shared.delete(key);
      },
    );
  }
  s.users++;
  try {
    return { shared: s, nc: await s.nc };
  } catch (err) {
    s.users--;
    throw err;
  }
}

/** Gives back one use; the last one drains and closes the connection. */
export async function releaseConnection(s: SharedConnection): Promise<void> {
  if (--s.users > 0) return;
  if (shared.get(s.key) === s) shared.delete(s.key);
  const nc = await s.nc.catch(() => undefined);
  await nc?.drain().catch(() => undefined);
}

/** Checks a `host:port[,host:port...]` server list; `name` is the argument the message names. @internal */
export function validateNatsServers(value: unknown, name: string): string {
  const servers = validateString(value, name);
  if (servers.length === 0 || servers.length > 4096)
    throw new RangeError(`The "${name}" argument must list 1 to 4096 characters of host:port`);
  for (const s of servers.split(','))
    if (!/^[A-Za-z0-9.[\]:-]+:\d{1,5}$/.test(s)) throw new RangeError(`The "${name}" argument has a bad server '${s}' (host:port)`);
  return servers;
}

/** A counted use of a NATS connection: see {@link openNatsConnection}. */
export interface NatsConnectionHandle {
  /** The `@nats-io/transport-node` connection (shared: do not close it, {@link NatsConnectionHandle.release} it). */
  readonly connection: NatsConnection;
  /** Calls `fn` once if the connection closes for good (servers out of reach past its reconnects, or closed) before the release. */
  onClosed(fn: (err: Error) => void): void;
  /** Gives this use back (idempotent): the last use of the connection drains and closes it. */
  release(): Promise<void>;
}

/**
 * The NATS connection to `servers` (`host:port[,host:port...]`), shared with
 * every `nats:` channel and every other use to the same servers: what code
 * built on the channels (the JetStream groups) talks to NATS through;
 * `options.auth` for servers that require credentials or TLS.
 * Rejects with `ERR_NATS_CLIENT_MISSING` when `@nats-io/transport-node` is not
 * installed.
 */
export async function openNatsConnection(
  servers: string,
  options: { timeoutMs?: number; auth?: NatsAuthOptions } = {},
): Promise<NatsConnectionHandle> {
  validateNatsServers(servers, 'servers');
  const o = validateOptions(options);
  const timeoutMs = validateInteger(o.timeoutMs ?? 5000, 'options.timeoutMs', 1, 3_600_000);
  const auth = validateNatsAuth(o.auth, 'options.auth');
  const { shared: s, nc } = await useConnection(servers, { timeoutMs, auth });
  let released = false;
  const watchers = new Set<{ fail(err: Error): void }>();
  return {
    connection: nc,
    onClosed(fn) {
      if (released) return;
      const w = { fail: (err: Error) => (s.links.delete(w), fn(err)) };
      watchers.add(w);
      s.links.add(w);
    },
    async release() {
      if (released) return;
      released = true;
      for (const w of watchers) s.links.delete(w);
      await releaseConnection(s);
    },
  };
}

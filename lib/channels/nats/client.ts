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

interface Shared {
  readonly nc: Promise<NatsConnection>;
  users: number;
}

const shared = new Map<string, Shared>();

/** A counted use of the connection to `servers`: give it back with {@link releaseConnection}. */
export async function useConnection(servers: string, options: { timeoutMs: number }): Promise<NatsConnection> {
  let s = shared.get(servers);
  if (s === undefined) {
    const nc = natsModule().then(({ connect }) =>
      connect({
        servers: servers.split(','),
        timeout: options.timeoutMs,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        name: 'posix-ipc',
      }),
    );
    s = { nc, users: 0 };
    shared.set(servers, s);
    nc.catch(() => {
      if (shared.get(servers) === s) shared.delete(servers);
    });
    void nc.then((c) => c.closed().then(() => shared.get(servers) === s && shared.delete(servers)));
  }
  s.users++;
  try {
    return await s.nc;
  } catch (err) {
    s.users--;
    throw err;
  }
}

/** Gives back one use; the last one drains and closes the connection. */
export async function releaseConnection(servers: string): Promise<void> {
  const s = shared.get(servers);
  if (s === undefined || --s.users > 0) return;
  shared.delete(servers);
  const nc = await s.nc.catch(() => undefined);
  await nc?.drain().catch(() => undefined);
}

/**
 * The NATS rows of the RPC benchmark: posix-ipc's echo service over a
 * `nats://` channel, beside a bare nats.js request/reply (the client's own
 * floor, what the project's layer over NATS adds to). Both go through one
 * nats-server on loopback that the benchmark starts (Debian's package),
 * and are left out, with a note, where it is not installed.
 * @module
 */
import { natsServerAvailable, startNatsServer as startServer } from '../lib/nats-server.js';
import type { EchoClient } from './peers.js';

/** The systems that need a NATS server. */
export const NATS_SYSTEM_NAMES = ['pipc-nats', 'nats-reqrep'];

/** Where the benchmark's nats-server listens (`host:port`), for the server children: set by {@link startNatsServer}. */
export function natsServers(): string {
  const s = process.env.PIPC_BENCH_NATS;
  if (s === undefined) throw new Error('no NATS server for the benchmark (PIPC_BENCH_NATS)');
  return s;
}

/** Starts one nats-server on a free loopback port and sets PIPC_BENCH_NATS; the reason instead where it is not installed. */
export async function startNatsServer(): Promise<{ stop(): Promise<void> } | string> {
  const why = natsServerAvailable();
  if (why !== true) return why;
  const server = await startServer();
  process.env.PIPC_BENCH_NATS = server.servers;
  return server;
}

/** The bare request/reply server: echoes every request on `subject`. */
export async function runNatsReqRepServer(subject: string): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const nc = await connect({ servers: natsServers() });
  nc.subscribe(subject, { callback: (_err, m) => void m.respond(m.data) });
  await nc.flush();
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => void nc.drain().then(() => process.exit(0)));
}

/** The bare request/reply client. */
export async function natsReqRepClient(subject: string): Promise<EchoClient> {
  const { connect } = await import('@nats-io/transport-node');
  const nc = await connect({ servers: natsServers() });
  return {
    call: async (b) => (await nc.request(subject, b, { timeout: 10_000 })).data,
    close: () => nc.drain(),
  };
}

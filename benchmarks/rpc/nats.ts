/**
 * The NATS rows of the RPC benchmark: posix-ipc's echo service over a
 * `nats://` channel, beside a bare nats.js request/reply (the client's own
 * floor, what the project's layer over NATS adds to). Both go through one
 * nats-server on loopback that the benchmark starts (Debian's package),
 * and are left out, with a note, where it is not installed.
 * @module
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

import type { EchoClient } from './peers.js';

const SERVER_BIN = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((p) => spawnSync(p, ['--version']).status === 0);

/** The systems that need a NATS server. */
export const NATS_SYSTEM_NAMES = ['pipc-nats', 'nats-reqrep'];

/** Where the benchmark's nats-server listens (`host:port`), for the server children: set by {@link startNatsServer}. */
export function natsServers(): string {
  const s = process.env.PIPC_BENCH_NATS;
  if (s === undefined) throw new Error('no NATS server for the benchmark (PIPC_BENCH_NATS)');
  return s;
}

/** Starts one nats-server on a free loopback port and sets PIPC_BENCH_NATS; undefined (with the reason) where it is not installed. */
export async function startNatsServer(): Promise<{ stop(): Promise<void> } | string> {
  if (SERVER_BIN === undefined) return 'nats-server is not installed (apt-get install nats-server): NATS rows left out';
  const port = await new Promise<number>((resolve, reject) => {
    const s = createServer().once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const child: ChildProcess = spawn(SERVER_BIN, ['-a', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LD_PRELOAD: '' },
  });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`nats-server not ready within 10 s: ${log}`)), 10_000);
    child.stderr!.on('data', (c: Buffer) => {
      log += c.toString();
      if (log.includes('Server is ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`nats-server exited (${code}): ${log}`)));
  });
  process.env.PIPC_BENCH_NATS = `127.0.0.1:${port}`;
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
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

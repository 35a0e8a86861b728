/**
 * posix-ipc's own RPC in the benchmark: an echo service defined in TypeScript
 * (`defineService`, msgpack bodies) over shm, a UNIX socket and TCP, with
 * at-most-once on (the default) and off, and the same echo as an ONC RPC
 * program (XDR bodies, `oncClient`/`serveOnc`) over a UNIX socket.
 * @module
 */
import { join } from 'node:path';
import { Type as T } from '@sinclair/typebox';

import { connectService, defineService, oncClient, serve, serveOnc, xdrOpaque, type OncVersionSpec } from '../../lib/index.js';
import { natsServers } from './nats.js';
import type { EchoClient } from './peers.js';

const Echo = defineService({
  name: 'bench-echo',
  version: 1,
  procedures: { echo: { args: T.Uint8Array(), result: T.Uint8Array() } },
});

const ECHO_V1 = {
  programName: 'BENCH',
  program: 0x2000_0099,
  versionName: 'BENCH_V1',
  version: 1,
  procedures: { ECHO: { name: 'ECHO', number: 1, arg: xdrOpaque(), res: xdrOpaque() } },
} as const satisfies OncVersionSpec;

/** The posix-ipc systems: name, label, and the address its server listens on. */
export const PIPC_SYSTEMS: { name: string; label: string; address: (dir: string) => string }[] = [
  { name: 'pipc-shm', label: 'posix-ipc service, shm ring', address: () => `shm:/pipc-rpc-bench-${process.pid}` },
  { name: 'pipc-unix', label: 'posix-ipc service, UNIX socket', address: (d) => `unix:${join(d, 'pipc.sock')}` },
  {
    name: 'pipc-unix-noamo',
    label: 'posix-ipc service, UNIX socket, at-most-once off',
    address: (d) => `unix:${join(d, 'pipc-noamo.sock')}`,
  },
  { name: 'pipc-tcp', label: 'posix-ipc service, TCP loopback', address: () => 'tcp://127.0.0.1:0' },
  { name: 'pipc-onc-unix', label: 'posix-ipc ONC RPC (XDR), UNIX socket', address: (d) => `unix:${join(d, 'pipc-onc.sock')}` },
  {
    name: 'pipc-nats',
    label: 'posix-ipc service, NATS channel (one nats-server)',
    address: () => `nats://${natsServers()}/bench.echo.${process.pid}`,
  },
];

export async function pipcClient(name: string, address: string): Promise<EchoClient> {
  if (name === 'pipc-onc-unix') {
    const c = await oncClient(ECHO_V1, address, { callTimeoutMs: 0 });
    return { call: (b) => c.ECHO(b), close: () => c.close() };
  }
  const c = await connectService(address, Echo, { atMostOnce: name !== 'pipc-unix-noamo' });
  return { call: (b) => c.echo(b), close: () => c.close() };
}

/** The server role: serves the echo at `address` and prints "ready <url>". */
export async function runPipcServer(kind: string, address: string): Promise<boolean> {
  if (!PIPC_SYSTEMS.some((s) => s.name === kind)) return false;
  const server =
    kind === 'pipc-onc-unix'
      ? await serveOnc(address, [{ spec: ECHO_V1, handlers: { ECHO: (b: Uint8Array) => b } }])
      : await serve(address, Echo, { echo: (b) => b });
  process.stdout.write(`ready ${server.url}\n`);
  process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
  return true;
}

// RPC scenario (issue 11): unary echo calls, round trip p50/p99 at 64 B and
// 4 KiB and calls/s with 1 and 64 calls in flight, for posix-ipc's services
// over shm, a UNIX socket and TCP (with and without at-most-once) beside Node
// `net` with a minimal length prefix, birpc over a MessagePort, zeromq and
// grpc-js over a UNIX socket, the service over a NATS channel beside a bare
// nats.js request/reply (through one nats-server this scenario starts, when
// installed), and the C socketpair ceiling (round trip only), all in one run. Every reply is checked against its request.
// Run: node --import tsx benchmarks/scenarios/rpc.ts [--systems a,b] [--sizes 64,4096]
//        [--duration ms] [--reps n] [--json file] [--smoke]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { buildCeiling, runCeiling } from '../lib/ceiling.js';
import { latencyRep, stat, spreadPct } from '../lib/stats.js';
import type { LatencyRep, Stat } from '../lib/types.js';
import {
  birpcClient,
  grpcClient,
  netClient,
  runPeerServer,
  startServer,
  zmqClient,
  type EchoClient,
  type RunningServer,
} from '../rpc/peers.js';
import { NATS_SYSTEM_NAMES, natsReqRepClient, runNatsReqRepServer, startNatsServer } from '../rpc/nats.js';
import { pipcClient, PIPC_SYSTEMS, runPipcServer } from '../rpc/pipc.js';

const self = fileURLToPath(import.meta.url);
const [role, kind = '', address = ''] = process.argv.slice(2);

/** A system under test: how to start its server and open a client (one per in-flight mode). */
interface System {
  name: string;
  label: string;
  start(dir: string): Promise<RunningServer | null>;
  client(server: RunningServer | null, inFlight: boolean): Promise<EchoClient>;
}

function processServer(kind: string, addressIn: (dir: string) => string): System['start'] {
  return (dir) => startServer(self, kind, addressIn(dir));
}

const SYSTEMS: System[] = [
  ...PIPC_SYSTEMS.map((s): System => ({
    name: s.name,
    label: s.label,
    start: processServer(s.name, s.address),
    client: (srv) => pipcClient(s.name, srv!.address),
  })),
  {
    name: 'net-unix',
    label: 'Node net, UNIX socket, length prefix',
    start: processServer('net', (d) => join(d, 'net.sock')),
    client: (srv) => netClient(srv!.address),
  },
  { name: 'birpc-port', label: 'birpc, MessagePort to a worker', start: async () => null, client: () => birpcClient() },
  {
    name: 'zeromq',
    label: 'zeromq REQ/REP (DEALER/ROUTER in flight), ipc://',
    start: processServer('zmq', (d) => `ipc://${join(d, 'zmq')}`),
    client: (srv, inFlight) => zmqClient(srv!.address, inFlight),
  },
  {
    name: 'nats-reqrep',
    label: 'nats.js request/reply (one nats-server): the floor under pipc-nats',
    start: processServer('nats-reqrep', () => `bench.raw.${process.pid}`),
    client: (srv) => natsReqRepClient(srv!.address),
  },
  {
    name: 'grpc-unix',
    label: 'grpc-js, UNIX socket',
    start: processServer('grpc', (d) => join(d, 'grpc.sock')),
    client: (srv) => grpcClient(srv!.address),
  },
];

function stamped(size: number, n: number): Uint8Array {
  const b = new Uint8Array(size);
  new DataView(b.buffer).setUint32(0, n, true);
  b[size - 1] = n & 0xff;
  return b;
}

function check(reply: Uint8Array, size: number, n: number, system: string): void {
  if (
    reply.byteLength !== size ||
    new DataView(reply.buffer, reply.byteOffset, 4).getUint32(0, true) !== n ||
    reply[size - 1] !== (n & 0xff)
  ) {
    throw new Error(`${system}: reply ${reply.byteLength} B does not echo call ${n} (${size} B)`);
  }
}

/** Sequential calls for `ms`: one round-trip sample each. */
async function latency(c: EchoClient, size: number, ms: number, system: string): Promise<LatencyRep> {
  const samples: number[] = [];
  const end = performance.now() + ms;
  for (let n = 0; performance.now() < end || samples.length < 200; n++) {
    const m = stamped(size, n);
    const t0 = process.hrtime.bigint();
    const r = await c.call(m);
    samples.push(Number(process.hrtime.bigint() - t0));
    check(r, size, n, system);
  }
  return latencyRep(Float64Array.from(samples));
}

/** `k` callers, each with one call outstanding, for `ms`: completed calls per second. */
async function throughput(c: EchoClient, size: number, k: number, ms: number, system: string): Promise<number> {
  let done = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(
    Array.from({ length: k }, async (_, lane) => {
      for (let i = 0; performance.now() < end; i++) {
        const n = (lane << 20) | (i & 0xfffff);
        check(await c.call(stamped(size, n)), size, n, system);
        done++;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

interface Row {
  system: string;
  label: string;
  size: number;
  p50Us: Stat;
  p99Us: Stat;
  callsPerSec1: Stat | null;
  callsPerSec64: Stat | null;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      systems: { type: 'string' },
      sizes: { type: 'string', default: '64,4096' },
      duration: { type: 'string', default: '1000' },
      reps: { type: 'string', default: '3' },
      json: { type: 'string' },
      smoke: { type: 'boolean', default: false },
    },
  });
  const sizes = values.sizes.split(',').map(Number);
  const ms = values.smoke ? 150 : Number(values.duration);
  const reps = values.smoke ? 1 : Number(values.reps);
  const wanted = values.systems?.split(',');
  let systems = SYSTEMS.filter((s) => !wanted || wanted.includes(s.name));
  const nats = systems.some((s) => NATS_SYSTEM_NAMES.includes(s.name)) ? await startNatsServer() : undefined;
  if (typeof nats === 'string') {
    console.log(nats);
    systems = systems.filter((s) => !NATS_SYSTEM_NAMES.includes(s.name));
  }
  const dir = mkdtempSync(join(tmpdir(), 'pipc-rpc-bench-'));
  const rows: Row[] = [];
  try {
    for (const s of systems) {
      const server = await s.start(dir);
      try {
        const seq = await s.client(server, false);
        const par = await s.client(server, true);
        try {
          for (const size of sizes) {
            await latency(seq, size, Math.min(300, ms), s.name); // warm-up
            await throughput(par, size, 64, Math.min(300, ms), s.name);
            const lat: LatencyRep[] = [];
            const one: number[] = [];
            const many: number[] = [];
            for (let r = 0; r < reps; r++) {
              lat.push(await latency(seq, size, ms, s.name));
              one.push(await throughput(seq, size, 1, ms, s.name));
              many.push(await throughput(par, size, 64, ms, s.name));
            }
            const row: Row = {
              system: s.name,
              label: s.label,
              size,
              p50Us: stat(lat.map((l) => l.medianNs / 1000)),
              p99Us: stat(lat.map((l) => l.p99Ns / 1000)),
              callsPerSec1: stat(one),
              callsPerSec64: stat(many),
            };
            rows.push(row);
            print(row);
          }
        } finally {
          await seq.close();
          await par.close();
        }
      } finally {
        await server?.stop();
      }
    }
    if (!wanted || wanted.includes('c-socket')) await ceiling(dir, sizes, ms, reps, rows);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (typeof nats === 'object') await nats.stop();
  }
  if (values.json)
    writeFileSync(values.json, `${JSON.stringify({ schema: 'posix-ipc-rpc-bench/1', date: new Date().toISOString(), rows }, null, 2)}\n`);
}

async function ceiling(dir: string, sizes: number[], ms: number, reps: number, rows: Row[]): Promise<void> {
  const build = buildCeiling(dir);
  if (!build.ok) {
    console.log(build.note);
    return;
  }
  const cells = sizes.map((s) => `latency:socket:${s}`);
  await runCeiling(build.binary, cells, { warmupMs: 200, durationMs: ms, reps, minRoundTrips: 1000 }, (r) => {
    if (r.workload !== 'latency') return;
    const row: Row = {
      system: 'c-socket',
      label: 'C socketpair ping-pong (ceiling)',
      size: r.size,
      p50Us: stat(r.reps.map((x) => x.medianNs / 1000)),
      p99Us: stat(r.reps.map((x) => x.p99Ns / 1000)),
      callsPerSec1: stat(r.reps.map((x) => 1e9 / x.meanNs)),
      callsPerSec64: null,
    };
    rows.push(row);
    print(row);
  });
}

function fmt(s: Stat | null, digits = 1): string {
  if (s === null) return 'n/a';
  const v = s.median >= 1000 ? `${(s.median / 1000).toFixed(1)}k` : s.median.toFixed(digits);
  return `${v} ±${spreadPct(s).toFixed(0)}%`;
}

function print(r: Row): void {
  console.log(
    `${r.system.padEnd(16)} ${String(r.size).padStart(5)} B  p50 ${fmt(r.p50Us).padEnd(12)} µs  p99 ${fmt(r.p99Us).padEnd(12)} µs  calls/s 1: ${fmt(r.callsPerSec1).padEnd(12)} 64: ${fmt(r.callsPerSec64)}`,
  );
}

if (role === 'server') {
  if (kind === 'nats-reqrep') await runNatsReqRepServer(address);
  else if (!(await runPeerServer(kind, address)) && !(await runPipcServer(kind, address))) throw new Error(`unknown server ${kind}`);
} else {
  await main();
}

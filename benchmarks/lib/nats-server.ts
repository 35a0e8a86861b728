/**
 * One nats-server on loopback for the benchmarks' NATS rows (Debian's
 * package): started on a free port with a config file that raises
 * `max_payload` to 8 MiB (the channel sizes go to 4 MiB), stopped at the
 * end. Where nats-server is not installed, the rows are left out with the
 * reason. Shared by the stream matrix (transports/pipc-nats.ts,
 * transports/nats-core.ts) and the RPC scenario (rpc/nats.ts).
 * @module
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SERVER_BIN = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((p) => spawnSync(p, ['--version']).status === 0);

/** `true`, or why the NATS rows cannot run here. */
export function natsServerAvailable(): true | string {
  return SERVER_BIN === undefined ? 'nats-server is not installed (apt-get install nats-server): NATS rows left out' : true;
}

export interface BenchNatsServer {
  /** `host:port`. */
  readonly servers: string;
  stop(): Promise<void>;
}

/** Starts a nats-server; resolves once it is ready. */
export async function startNatsServer(): Promise<BenchNatsServer> {
  const why = natsServerAvailable();
  if (why !== true) throw new Error(why);
  const port = await new Promise<number>((resolve, reject) => {
    const s = createServer().once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const dir = mkdtempSync(join(tmpdir(), 'pipc-bench-nats-'));
  const conf = join(dir, 'nats.conf');
  writeFileSync(conf, `listen: 127.0.0.1:${port}\nmax_payload: 8388608\n`);
  const child: ChildProcess = spawn(SERVER_BIN!, ['-c', conf], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LD_PRELOAD: '' }, // a sanitizer run's preload is for node, not for a Go server
  });
  const kill = (): void => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  // A host process that ends without stop() (the shared server) still takes the server and its directory with it.
  const atExit = (): void => {
    kill();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', atExit);
  try {
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
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code}): ${log}`));
      });
    });
  } catch (err) {
    process.removeListener('exit', atExit);
    atExit();
    throw err;
  }
  return {
    servers: `127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        process.removeListener('exit', atExit);
        const done = (): void => (rmSync(dir, { recursive: true, force: true }), resolve());
        if (child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', done);
        child.kill('SIGTERM');
      }),
  };
}

let shared: Promise<BenchNatsServer> | undefined;

/** The server of this (host) process, started on first use and killed when the process exits. */
export function sharedNatsServer(): Promise<BenchNatsServer> {
  shared ??= startNatsServer();
  return shared;
}

// A real NATS cluster on loopback for the tests: three nats-server processes
// (Debian's package), routed to each other, each on free ports of its own.
// The test that starts it stops it; a node can be killed with SIGKILL.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NATS_SERVER = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((p) => spawnSync(p, ['--version']).status === 0);

/** Why NATS tests cannot run here, or undefined when they can. */
export function natsUnavailable(): string | undefined {
  if (NATS_SERVER === undefined) return 'nats-server is not installed (apt-get install nats-server; .ci/run does it)';
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface NatsCluster {
  /** `host:port` of each node's client port. */
  readonly nodes: readonly string[];
  /** Every node, comma-separated: what a `nats://` address takes. */
  readonly servers: string;
  kill(i: number): void;
  /** Starts node `i` again (killing it first if it runs), with its ports, name and store; resolves once it is routed. */
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `n` routed nodes and waits (bounded) until each is ready and routed; with `jetstream`, each stores in a directory of its own and one is the JetStream meta leader. */
export async function startNatsCluster(n = 3, options: { jetstream?: boolean } = {}): Promise<NatsCluster> {
  const store = options.jetstream === true ? mkdtempSync(join(tmpdir(), 'pipc-nats-js-')) : undefined;
  let metaLeader: () => void = () => undefined;
  const elected = new Promise<void>((resolve) => (metaLeader = resolve));
  const client = await Promise.all(Array.from({ length: n }, freePort));
  const route = await Promise.all(Array.from({ length: n }, freePort));
  const procs: ChildProcess[] = [];
  // A backstop: a test process that ends without stop() still takes its servers with it.
  const killAll = (): void => procs.forEach((p) => p.exitCode === null && p.signalCode === null && p.kill('SIGKILL'));
  process.once('exit', killAll);
  const startNode = (i: number): Promise<void> => {
    const routes = route
      .filter((_, j) => j !== i)
      .map((p) => `nats://127.0.0.1:${p}`)
      .join(',');
    const p = spawn(
      NATS_SERVER!,
      [
        ...['-a', '127.0.0.1', '-p', String(client[i]), '-n', `pipc-${i}`],
        ...['--cluster_name', 'pipc', '--cluster', `nats://127.0.0.1:${route[i]}`, '--routes', routes],
        ...(store === undefined ? [] : ['--jetstream', '--store_dir', join(store, String(i))]),
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, LD_PRELOAD: '' }, // the sanitizer run's preload is for node, not for a Go server
      },
    );
    procs[i] = p;
    let log = '';
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server ${i} not routed within 10 s:\n${log}`)), 10_000);
      p.stderr!.on('data', (c: Buffer) => {
        log += c.toString();
        if (/JetStream cluster new metadata leader|Self is new JetStream cluster metadata leader/.test(log)) metaLeader();
        if (log.includes('Server is ready') && (log.match(/Route connection created/g)?.length ?? 0) >= Math.min(1, n - 1)) {
          clearTimeout(timer);
          resolve();
        }
      });
      p.once('exit', (code) => reject(new Error(`nats-server ${i} exited (${code}):\n${log}`)));
    });
  };
  const ready = client.map((_, i) => startNode(i));
  const stop = async (): Promise<void> => {
    process.removeListener('exit', killAll);
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGKILL');
          }),
      ),
    );
    if (store !== undefined) rmSync(store, { recursive: true, force: true });
  };
  try {
    await Promise.all(ready);
    if (store !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        elected,
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('no JetStream meta leader within 15 s')), 15_000))),
      ]).finally(() => clearTimeout(timer));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const nodes = client.map((p) => `127.0.0.1:${p}`);
  const restart = async (i: number): Promise<void> => {
    const old = procs[i]!;
    if (old.exitCode === null && old.signalCode === null) await new Promise((r) => (old.once('exit', r), old.kill('SIGKILL')));
    await startNode(i); // the same ports, name and store: it rejoins and catches up
  };
  return { nodes, servers: nodes.join(','), kill: (i) => void procs[i]!.kill('SIGKILL'), restart, stop };
}

/** One nats-server (no cluster) with `config` (nats-server's config syntax) on a free loopback port: for the tests of secured servers. */
export async function startNatsNode(
  config: string,
  files: Record<string, string> = {},
): Promise<{ servers: string; dir: string; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'pipc-nats-node-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o600 });
  writeFileSync(join(dir, 'nats.conf'), `listen: 127.0.0.1:${port}\n${config.replaceAll('$DIR', dir)}\n`);
  const p = spawn(NATS_SERVER!, ['-c', join(dir, 'nats.conf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LD_PRELOAD: '' },
  });
  const kill = (): void => void (p.exitCode === null && p.signalCode === null && p.kill('SIGKILL'));
  process.once('exit', kill);
  const stop = async (): Promise<void> => {
    process.removeListener('exit', kill);
    if (p.exitCode === null && p.signalCode === null) await new Promise((r) => (p.once('exit', r), p.kill('SIGKILL')));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new Error(`nats-server not ready within 10 s:\n${log}`)), 10_000);
      p.stderr!.on('data', (c: Buffer) => {
        log += c.toString();
        if (log.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      p.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code}):\n${log}`));
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { servers: `127.0.0.1:${port}`, dir, stop };
}

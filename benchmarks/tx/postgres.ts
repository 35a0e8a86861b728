/**
 * PostgreSQL's two-phase commit on the same machine, for comparison: a
 * throw-away cluster (initdb -A trust in a temporary directory on the same
 * disk as the sites' logs, listening only on a UNIX socket in that
 * directory, `max_prepared_transactions=64`, fsync and synchronous_commit
 * on), a one-row table per client, and per transaction two queries from the
 * `pg` client: `BEGIN; UPDATE ... one row; PREPARE TRANSACTION 'g'` (one
 * simple query, one round trip) and `COMMIT PREPARED 'g'`. Each of the two
 * makes the server flush its WAL (one fdatasync each), as a participant's
 * prepare record and a commit record do on our side. Clients are
 * connections of this process, each with one transaction at a time.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import type { Rep } from './floor.js';

interface PgClient {
  connect(): Promise<void>;
  query(text: string): Promise<{ rows: Array<Record<string, unknown>> }>;
  end(): Promise<void>;
}
interface PgModule {
  Client: new (config: { host: string; user: string; database: string }) => PgClient;
}

/** A running throw-away cluster. */
export interface PgCluster {
  /** server_version, wal_sync_method, fsync, synchronous_commit, as the server reports them */
  readonly settings: Record<string, string>;
  /** `clients` connections at once, each running `n` transactions one after the other; checked afterwards. */
  run(clients: number, n: number): Promise<Rep[]>;
  /** Stops the server and removes its directory (also after a failure; idempotent). */
  stop(): void;
}

/** The newest PostgreSQL's bin directory (`POSIX_IPC_BENCH_PG_BIN` to choose), or undefined. */
function findBin(): string | undefined {
  const env = process.env.POSIX_IPC_BENCH_PG_BIN;
  if (env !== undefined) return existsSync(join(env, 'initdb')) ? env : undefined;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

/** Starts a cluster under `base`, or returns why it cannot ("skipped: ..."). */
export async function startPostgres(base: string): Promise<PgCluster | string> {
  const bin = findBin();
  if (bin === undefined) return 'skipped: postgresql not installed';
  let pg: PgModule;
  try {
    const name = 'pg'; // a devDependency; not named statically so the build does not need its types
    pg = ((await import(name)) as { default: PgModule }).default;
  } catch {
    return 'skipped: the pg package is not installed (npm install)';
  }
  // initdb and postgres refuse to run as root: then they run as the postgres user.
  const root = process.getuid?.() === 0;
  let owner: { uid: number; gid: number } | undefined;
  if (root) {
    try {
      owner = {
        uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
        gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
      };
    } catch {
      return 'skipped: running as root and there is no postgres user';
    }
  }
  const dir = mkdtempSync(join(base, 'pg-'));
  const data = join(dir, 'data');
  const run = (cmd: string, args: string[]): string => {
    const [file, argv] = root ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]] : [join(bin, cmd), args];
    return execFileSync(file, argv, { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
  };
  let started = false;
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    try {
      if (started) run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop']);
    } catch {
      // pg_ctl failed: kill the postmaster it names
      try {
        process.kill(Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]), 'SIGKILL');
      } catch {
        // not running
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    if (owner !== undefined) chownSync(dir, owner.uid, owner.gid);
    // -N: initdb's own files need not be synced (a throw-away cluster); the server runs with fsync on.
    run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-N', '-E', 'UTF8', '--locale=C']);
    const opts = `-c listen_addresses='' -c unix_socket_directories='${dir}' -c max_prepared_transactions=64 -c fsync=on -c synchronous_commit=on`;
    started = true;
    run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', opts, 'start']);
    const connect = async (): Promise<PgClient> => {
      const c = new pg.Client({ host: dir, user: 'postgres', database: 'postgres' });
      await c.connect();
      return c;
    };
    const admin = await connect();
    const settings: Record<string, string> = {};
    try {
      for (const s of ['server_version', 'wal_sync_method', 'fsync', 'synchronous_commit', 'full_page_writes'])
        settings[s] = String((await admin.query(`SHOW ${s}`)).rows[0]?.[s]);
      await admin.query('CREATE TABLE bench (id int PRIMARY KEY, v bigint NOT NULL)');
    } finally {
      await admin.end();
    }
    let round = 0;
    const cluster: PgCluster = {
      settings,
      async run(clients, n) {
        const r = round++;
        const conns = await Promise.all(Array.from({ length: clients }, connect));
        try {
          await conns[0]!.query(`DELETE FROM bench; INSERT INTO bench SELECT g, 0 FROM generate_series(0, ${clients - 1}) g`);
          const reps = await Promise.all(
            conns.map(async (c, id) => {
              const samples = new Array<number>(n);
              const start = process.hrtime.bigint();
              for (let i = 0; i < n; i++) {
                const gid = `b${r}-${id}-${i}`;
                const t0 = process.hrtime.bigint();
                await c.query(`BEGIN; UPDATE bench SET v = v + 1 WHERE id = ${id}; PREPARE TRANSACTION '${gid}'`);
                await c.query(`COMMIT PREPARED '${gid}'`);
                samples[i] = Number(process.hrtime.bigint() - t0);
              }
              return { start, end: process.hrtime.bigint(), samples };
            }),
          );
          const rows = (await conns[0]!.query('SELECT id, v FROM bench ORDER BY id')).rows;
          const left = (await conns[0]!.query('SELECT count(*) AS n FROM pg_prepared_xacts')).rows[0]?.n;
          if (rows.length !== clients || rows.some((row) => Number(row.v) !== n) || Number(left) !== 0)
            throw new Error(`PostgreSQL: after ${n} commits per client the table holds ${JSON.stringify(rows)}, ${left} prepared left`);
          return reps;
        } finally {
          await Promise.all(conns.map((c) => c.end().catch(() => undefined)));
        }
      },
      stop,
    };
    return cluster;
  } catch (err) {
    const log = existsSync(join(dir, 'server.log')) ? readFileSync(join(dir, 'server.log'), 'utf8').slice(-2000) : '';
    stop();
    throw new Error(`PostgreSQL cluster: ${(err as Error).message}${log ? `\nserver.log: ${log}` : ''}`);
  }
}

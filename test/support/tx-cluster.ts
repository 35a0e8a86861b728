// A transactional key-value store of real processes for the crash tests:
// partitions and clients (test/fixtures/tx-site.ts), each with its own log,
// killed with SIGKILL, their logs cut back to the last fdatasync'ed offset
// (what a power loss would leave), restarted, and checked.
import { mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

import type { FaultPlan } from '../../lib/coord/causality/index.js';
import { startFixture, type FixtureProcess } from './fixture-process.js';
import { sleep } from './helpers.js';

export interface SiteProcess {
  readonly name: string;
  readonly log: string;
  readonly address: string;
  proc: FixtureProcess;
}

/** The keys `a<n>` that live in partition `p` of `n` (the client's crc32 rule). */
export function keysOf(p: number, n: number, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count && i < 100_000; i++) if (crc32(`a${i}`) % n === p) out.push(`a${i}`);
  return out;
}

export class TxCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'pipc-tx-'));
  readonly partitions: SiteProcess[] = [];
  readonly clients: SiteProcess[] = [];
  readonly #env: NodeJS.ProcessEnv;

  constructor(env: NodeJS.ProcessEnv = {}) {
    this.#env = env;
  }

  #start(role: string, s: Omit<SiteProcess, 'proc'>, plan: FaultPlan | undefined): FixtureProcess {
    const env = { ...process.env, ...this.#env, TX_FAULTS: plan === undefined ? undefined : JSON.stringify(plan) };
    const args = [role, s.name, s.log, s.address, ...(role === 'client' ? [this.partitions.map((p) => p.address).join(',')] : [])];
    return startFixture('tx-site.ts', args, { stdin: true, env });
  }

  /** Starts `n` partitions and waits until they listen. */
  async startPartitions(n: number, plans: Array<FaultPlan | undefined> = []): Promise<void> {
    for (let i = 0; i < n; i++) {
      const s = { name: `p${i}`, log: join(this.dir, `p${i}.log`), address: `unix:${join(this.dir, `p${i}.sock`)}` };
      this.partitions.push({ ...s, proc: this.#start('partition', s, plans[i]) });
    }
    await Promise.all(this.partitions.map((p) => TxCluster.ready(p)));
  }

  /** Starts a client (a coordinator) and waits until it listens. */
  async startClient(plan?: FaultPlan): Promise<SiteProcess> {
    const i = this.clients.length;
    const s = { name: `c${i}`, log: join(this.dir, `c${i}.log`), address: `unix:${join(this.dir, `c${i}.sock`)}` };
    const c = { ...s, proc: this.#start('client', s, plan) };
    this.clients.push(c);
    await TxCluster.ready(c);
    return c;
  }

  /** Waits until `s` listens; fails with what it printed and how it ended if it does not. */
  static async ready(s: SiteProcess): Promise<void> {
    const exited = s.proc.child.exited.then(
      (st) => new Error(`${s.name} exited (${st.signal ?? st.code}) before it was ready: ${s.proc.output().slice(-1500)}`),
    );
    const r = await Promise.race([
      s.proc.waitFor(/^ready /m, 30_000).then(
        () => undefined,
        (err: Error) => new Error(`${err.message}; it printed: ${s.proc.output().slice(-1500)}`),
      ),
      exited,
    ]);
    if (r !== undefined) throw r;
  }

  /** The last size `s` printed as synced. */
  static syncedSize(s: SiteProcess): number {
    const all = [...s.proc.output().matchAll(/^synced (\d+)$/gm)];
    return all.length === 0 ? 0 : Number(all[all.length - 1]![1]);
  }

  /**
   * Kills `s` (if it still runs), cuts its log back to its last synced size
   * (losing what the kernel had not written), and starts it again with
   * `plan`. Returns how the old process ended.
   */
  async restart(
    s: SiteProcess,
    plan?: FaultPlan,
    options: { mayDie?: boolean } = {},
  ): Promise<{ signal: string | null; cut: number; diedEarly: boolean }> {
    const status = await s.proc.stop();
    const synced = TxCluster.syncedSize(s);
    let cut = 0;
    try {
      const size = statSync(s.log).size;
      if (size > synced && synced > 0) {
        truncateSync(s.log, synced);
        cut = size - synced;
      }
    } catch {
      // no log yet
    }
    const role = this.partitions.includes(s) ? 'partition' : 'client';
    s.proc = this.#start(role, s, plan);
    if (options.mayDie === true) {
      // A fault point may be reached while the site recovers (resending a decision): then it dies before it is ready.
      const early = await Promise.race([s.proc.waitFor(/^ready /m, 30_000).then(() => false), s.proc.child.exited.then(() => true)]);
      if (early) return { signal: status.signal ?? null, cut, diedEarly: true };
    } else await TxCluster.ready(s);
    return { diedEarly: false, signal: status.signal ?? null, cut };
  }

  /** Sends a command line to a site. */
  static tell(s: SiteProcess, line: string): void {
    s.proc.write(`${line}\n`);
  }

  /** A partition's committed entries, its in-doubt transactions and how many it has not finished (durably). */
  static async dump(p: SiteProcess): Promise<{ entries: Map<string, string>; inDoubt: string[]; active: number }> {
    const before = (p.proc.output().match(/^dump /gm) ?? []).length;
    TxCluster.tell(p, 'dump');
    const re = /^dump (\S+) (\S+) (\d+)$/gm;
    for (let n = 0; n < 200; n++) {
      const all = [...p.proc.output().matchAll(re)];
      if (all.length > before) {
        const m = all[all.length - 1]!;
        return {
          entries: new Map(JSON.parse(m[1]!) as Array<[string, string]>),
          inDoubt: JSON.parse(m[2]!) as string[],
          active: Number(m[3]),
        };
      }
      await sleep(25);
    }
    throw new Error(`${p.name} did not answer dump: ${p.proc.output().slice(-2000)}`);
  }

  /**
   * Waits (up to `ms`) until every partition has finished every transaction,
   * durably (none in doubt, none whose commit record is still unsynced: a
   * restart then cuts nothing that matters); returns every partition's
   * entries merged.
   */
  async quiesce(ms = 20_000): Promise<Map<string, string>> {
    const until = Date.now() + ms;
    for (;;) {
      const dumps = await Promise.all(this.partitions.map((p) => TxCluster.dump(p)));
      if (dumps.every((d) => d.active === 0)) return new Map(dumps.flatMap((d) => [...d.entries]));
      if (Date.now() > until)
        throw new Error(`still unfinished after ${ms} ms: ${JSON.stringify(dumps.map((d) => ({ inDoubt: d.inDoubt, active: d.active })))}`);
      await sleep(100);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.partitions, ...this.clients].map((s) => s.proc.stop().catch(() => undefined)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

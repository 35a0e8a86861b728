// A group of real member processes (test/fixtures/group-member.ts), each
// writing its trace file, for the group tests: start, send, wait for
// deliveries and views, kill -9, collect the traces.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { FaultPlan } from '../../lib/coord/causality/index.js';
import { readGroupTrace, type GroupEvent, type GroupOrder } from '../../lib/coord/group/index.js';
import { startFixture, type FixtureProcess } from './fixture-process.js';
import { pkiEnv } from './tls-certs.js';

export type Transport = 'unix' | 'shm' | 'tcp' | 'tls' | 'nats';

export interface MemberProcess {
  readonly id: string;
  readonly trace: string;
  url: string;
  proc: FixtureProcess;
  killed: boolean;
}

export interface ClusterOptions {
  order: GroupOrder;
  transport?: Transport;
  /** Faults on every member's outgoing links (one plan; each member gets its own seed from it). */
  faults?: Omit<FaultPlan, 'seed'> & { seed: number };
  env?: NodeJS.ProcessEnv;
  /** For `transport: 'nats'`: the servers (`host:port,...`) each member's subject lives on. */
  natsServers?: string;
}

export class GroupCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'pipc-group-'));
  readonly members: MemberProcess[] = [];
  readonly #o: ClusterOptions;
  readonly #base: NodeJS.ProcessEnv;

  constructor(options: ClusterOptions) {
    this.#o = options;
    this.#base = options.transport === 'tls' ? pkiEnv() : process.env;
  }

  /** The address member `id` listens at (known before it starts for unix: sockets in the cluster's directory). */
  addressOf(id: string): string {
    return this.#address(id);
  }

  #address(id: string): string {
    switch (this.#o.transport ?? 'unix') {
      case 'unix':
        return `unix:${join(this.dir, `${id}.sock`)}`;
      case 'shm':
        return `shm:/pipc-group-${process.pid}-${id}-${Math.floor(Math.random() * 1e9)}`;
      case 'tcp':
        return 'tcp://127.0.0.1:0';
      case 'tls':
        return 'tls://127.0.0.1:0';
      case 'nats':
        return `nats://${this.#o.natsServers!}/pipc-group-${process.pid}-${id}-${Math.floor(Math.random() * 1e9)}`;
    }
  }

  /** Starts member `id` (joining through the first live member, or founding) and waits for its first view. */
  async add(id: string, env: NodeJS.ProcessEnv = {}): Promise<MemberProcess> {
    const contact = this.members.find((m) => !m.killed)?.url;
    const trace = join(this.dir, `${id}.trace`);
    const seed = this.#o.faults === undefined ? undefined : (this.#o.faults.seed + this.members.length * 7919) >>> 0;
    const proc = startFixture('group-member.ts', [id, this.#address(id), this.#o.order, ...(contact === undefined ? [] : [contact])], {
      stdin: true,
      env: {
        ...this.#base,
        ...this.#o.env,
        ...env,
        GROUP_TRACE: trace,
        GROUP_TLS: this.#o.transport === 'tls' ? '1' : undefined,
        GROUP_FAULTS: this.#o.faults === undefined ? undefined : JSON.stringify({ ...this.#o.faults, seed }),
      },
    });
    const url = (await proc.waitFor(/ready (\S+)/, 30_000))[1]!;
    const m: MemberProcess = { id, trace, url, proc, killed: false };
    this.members.push(m);
    return m;
  }

  /** Starts the first member (it founds the group), then the others at once (each joins through the first); waits until all are in one view of all of them. */
  async start(ids: readonly string[], env: Record<string, NodeJS.ProcessEnv> = {}): Promise<void> {
    await this.add(ids[0]!, env[ids[0]!]);
    await Promise.all(ids.slice(1).map((id) => this.add(id, env[id])));
    await this.waitForView(ids);
  }

  /** Waits until every live member among `ids` printed a view with exactly `ids`. */
  async waitForView(ids: readonly string[], ms = 30_000): Promise<void> {
    const want = [...ids].sort().join(',');
    await Promise.all(
      this.live()
        .filter((m) => ids.includes(m.id))
        .map((m) =>
          m.proc.waitFor(new RegExp(`view \\d+ (${[...ids].map(() => '[^,\\s]+').join(',')})\\n`, 'g'), ms).then(async () => {
            // The last view printed must list exactly ids.
            const deadline = Date.now() + ms;
            for (;;) {
              const views = [...m.proc.output().matchAll(/view \d+ (\S+)/g)];
              const last = views.at(-1)?.[1] ?? '';
              if (last.split(',').sort().join(',') === want) return;
              if (Date.now() > deadline) throw new Error(`${m.id}'s last view is ${last}, not ${want}`);
              await new Promise((r) => setTimeout(r, 20));
            }
          }),
        ),
    );
  }

  live(): MemberProcess[] {
    return this.members.filter((m) => !m.killed);
  }

  get(id: string): MemberProcess {
    return this.members.find((m) => m.id === id)!;
  }

  send(id: string, count: number, gapMs = 0): void {
    this.get(id).proc.write(`send ${count} ${gapMs}\n`);
  }

  /** Waits until member `id` printed "delivered <n>" for at least `n`. */
  async delivered(id: string, n: number, ms = 60_000): Promise<void> {
    const m = this.get(id);
    const deadline = Date.now() + ms;
    for (;;) {
      const counts = [...m.proc.output().matchAll(/delivered (\d+)/g)];
      if (Number(counts.at(-1)?.[1] ?? 0) >= n) return;
      if (Date.now() > deadline)
        throw new Error(`${m.id} delivered ${counts.at(-1)?.[1] ?? 0} of ${n} in ${ms} ms:\n${m.proc.output().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Waits until the members `ids` delivered at least `min` messages each, the
   * same number, with no change for 400 ms (what a crashed member sent may
   * add any number, the same at each).
   */
  async settle(ids: readonly string[], min: number, ms = 60_000): Promise<number> {
    const counts = await this.#steady(ids, 400, ms, (c) => c.every((n) => n === c[0] && n >= min), `the same count >= ${min}`);
    return counts[0]!;
  }

  /** Waits until no member among `ids` delivered anything for `quietMs` (best effort: the counts may differ). */
  quiet(ids: readonly string[], quietMs = 500, ms = 60_000): Promise<number[]> {
    return this.#steady(ids, quietMs, ms, () => true, 'no more deliveries');
  }

  /** Waits until the delivery counts of `ids` did not change for `quietMs` and `ok` accepts them. */
  async #steady(ids: readonly string[], quietMs: number, ms: number, ok: (counts: number[]) => boolean, what: string): Promise<number[]> {
    const deadline = Date.now() + ms;
    let last = '';
    let since = Date.now();
    for (;;) {
      const counts = ids.map((id) => this.count(id));
      const key = counts.join(',');
      if (key !== last) {
        last = key;
        since = Date.now();
      } else if (Date.now() - since >= quietMs && ok(counts)) return counts;
      if (Date.now() > deadline) throw new Error(`deliveries at ${ids.join(',')} did not settle (${what}): ${key}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** The number of messages `id` delivered so far. */
  count(id: string): number {
    return Number(
      [
        ...this.get(id)
          .proc.output()
          .matchAll(/delivered (\d+)/g),
      ].at(-1)?.[1] ?? 0,
    );
  }

  async kill(id: string): Promise<void> {
    const m = this.get(id);
    m.killed = true;
    process.kill(m.proc.child.pid, 'SIGKILL');
    await m.proc.stop();
  }

  /** Ends every live member (end of stdin: close and exit) and checks each exited 0. */
  async stop(): Promise<void> {
    const live = this.live();
    for (const m of live) m.proc.endInput();
    const codes = await Promise.all(
      live.map(async (m) => {
        const exit = await Promise.race([m.proc.child.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))]);
        await m.proc.stop(); // kills it if it hung; closes the pipes
        return { id: m.id, exit };
      }),
    );
    for (const c of codes)
      if (c.exit === 'hung' || c.exit.code !== 0)
        throw new Error(`member ${c.id} did not exit 0: ${JSON.stringify(c.exit)}\n${this.get(c.id).proc.output().slice(-1500)}`);
  }

  traces(): GroupEvent[][] {
    return this.members.map((m) => readGroupTrace(m.trace));
  }

  /** Member `id`'s trace. */
  traceOf(id: string): GroupEvent[] {
    return readGroupTrace(this.get(id).trace);
  }

  crashed(): string[] {
    return this.members.filter((m) => m.killed).map((m) => m.id);
  }

  /** Kills whatever still runs and removes the directory. */
  async dispose(): Promise<void> {
    await Promise.all(this.members.map((m) => m.proc.stop().catch(() => undefined)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// The processes of overlapping groups on a spanning tree, each a real process
// (test/fixtures/group-tree-node.ts) writing its trace file: start them all,
// send, wait for deliveries, kill -9, collect the traces.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { FaultPlan } from '../../lib/coord/causality/index.js';
import { readGroupTrace, type GroupEvent, type OverlapGroups, type TreeParents } from '../../lib/coord/group/index.js';
import type { ExitStatus } from '../../lib/index.js';
import { startFixture, type FixtureProcess } from './fixture-process.js';

export interface TreeClusterOptions {
  groups: OverlapGroups;
  tree?: TreeParents;
  transport?: 'unix' | 'shm';
  /** Faults on every process's outgoing links (each process gets its own seed from it). */
  faults?: Omit<FaultPlan, 'seed'> & { seed: number };
  env?: NodeJS.ProcessEnv;
}

export class TreeCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'pipc-tree-'));
  readonly procs = new Map<string, FixtureProcess>();
  readonly killed = new Set<string>();
  /** How each process ended, once it did. */
  readonly exits = new Map<string, ExitStatus>();
  readonly ids: string[];
  readonly #o: TreeClusterOptions;
  readonly #addresses: Record<string, string>;

  constructor(options: TreeClusterOptions) {
    this.#o = options;
    this.ids = [...new Set([...Object.values(options.groups).flat(), ...Object.keys(options.tree ?? {})])].sort();
    const tag = `${process.pid}-${Math.floor(Math.random() * 1e9)}`;
    this.#addresses = Object.fromEntries(
      this.ids.map((id) => [id, options.transport === 'shm' ? `shm:/pipc-tree-${tag}-${id}` : `unix:${join(this.dir, `${id}.sock`)}`]),
    );
  }

  traceFile(id: string): string {
    return join(this.dir, `${id}.trace`);
  }

  /** Starts every process at once; resolves when each printed "ready" (its tree neighbours answered). */
  async start(): Promise<void> {
    const config = JSON.stringify({ groups: this.#o.groups, addresses: this.#addresses, tree: this.#o.tree });
    this.ids.forEach((id, k) => {
      const seed = this.#o.faults === undefined ? undefined : (this.#o.faults.seed + k * 7919) >>> 0;
      const env = {
        ...process.env,
        ...this.#o.env,
        TREE_CONFIG: config,
        TREE_TRACE: this.traceFile(id),
        TREE_FAULTS: this.#o.faults === undefined ? undefined : JSON.stringify({ ...this.#o.faults, seed }),
      };
      const p = startFixture('group-tree-node.ts', [id], { stdin: true, env });
      void p.child.exited.then((st) => this.exits.set(id, st)).catch(() => undefined);
      this.procs.set(id, p);
    });
    await Promise.all([...this.procs.values()].map((p) => p.waitFor(/^ready$/m, 30_000)));
  }

  send(id: string, group: string, count: number, gapMs = 0): void {
    this.procs.get(id)!.write(`send ${group} ${count} ${gapMs}\n`);
  }

  count(id: string): number {
    return Number(
      [
        ...this.procs
          .get(id)!
          .output()
          .matchAll(/delivered (\d+)/g),
      ].at(-1)?.[1] ?? 0,
    );
  }

  /** Waits until `id` printed "delivered <n>" for at least `n`; fails at once when its structure ended or it exited. */
  async delivered(id: string, n: number, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.count(id) < n) {
      const out = this.procs.get(id)!.output();
      const ended = /^(ended|send failed) .*$/m.exec(out)?.[0];
      const exit = this.exits.get(id);
      if (ended !== undefined || exit !== undefined || Date.now() > deadline) {
        const why = ended ?? (exit === undefined ? `not in ${ms} ms` : `exited ${JSON.stringify(exit)}`);
        throw new Error(`${id} delivered ${this.count(id)} of ${n}: ${why}\n${out.slice(-1500)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async kill(id: string): Promise<void> {
    this.killed.add(id);
    process.kill(this.procs.get(id)!.child.pid, 'SIGKILL');
    await this.procs.get(id)!.stop();
  }

  /** Ends every live process (end of stdin) and checks each exited 0. */
  async stop(): Promise<void> {
    const live = this.ids.filter((id) => !this.killed.has(id));
    for (const id of live) this.procs.get(id)!.endInput();
    for (const id of live) {
      const p = this.procs.get(id)!;
      const exit = await Promise.race([p.child.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))]);
      await p.stop();
      if (exit === 'hung' || exit.code !== 0) throw new Error(`${id} did not exit 0: ${JSON.stringify(exit)}\n${p.output().slice(-1500)}`);
    }
  }

  traces(): GroupEvent[][] {
    return this.ids.map((id) => readGroupTrace(this.traceFile(id)));
  }

  output(id: string): string {
    return this.procs.get(id)!.output();
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.procs.values()].map((p) => p.stop().catch(() => undefined)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

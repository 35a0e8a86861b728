/**
 * The orchestrator's side of a host process: fork it for a transport, hand
 * it cells one at a time, enforce a deadline per cell. A host that misses its
 * deadline is killed with its whole process group (it was started as a group
 * leader, so peer B goes too) and a new one takes the remaining cells.
 * @module
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import type { CellPlan, HostReply, HostRequest } from './host.js';
import { tsxExecArgv } from './registry.js';
import type { CellResult } from './types.js';

const HOST = fileURLToPath(new URL('./host.ts', import.meta.url));

/** How long a cell should take: warm-up, repetitions, and starting peer B. */
export function expectedMs(cell: CellPlan): number {
  const t = cell.timing;
  return t.warmupMs + t.reps * t.durationMs + 400;
}

const live = new Set<ChildProcess>();

/** Kills every host still running (and its peers): for Ctrl-C and fatal errors. */
export function killAllHosts(): void {
  for (const child of live) killGroup(child);
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL'); // the host's own process group: host and peer B
  } catch {
    child.kill('SIGKILL');
  }
}

export class HostSession {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly name: string,
  ) {}

  private start(): ChildProcess {
    const child = fork(HOST, [this.file, this.name], {
      execArgv: tsxExecArgv(),
      // Peers must not write to our stdout (it may carry --json output).
      stdio: ['ignore', 2, 2, 'ipc'],
      detached: true,
      serialization: 'advanced',
    });
    live.add(child);
    this.exited = new Promise((resolve) => child.on('exit', () => (live.delete(child), resolve())));
    this.child = child;
    return child;
  }

  /** Kills a host (and its peers); the next cell starts a new one. */
  private abandon(child: ChildProcess): void {
    killGroup(child);
    if (this.child === child) this.child = undefined;
  }

  /** Runs one cell; rejects with the host's error, or on timeout. */
  run(cell: CellPlan): Promise<CellResult> {
    const child = this.child && this.child.exitCode === null && this.child.signalCode === null ? this.child : this.start();
    const timeoutMs = 3 * expectedMs(cell) + 15_000;
    return new Promise<CellResult>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      const onMessage = (m: HostReply): void => {
        cleanup();
        if (m.type === 'result') resolve(m.result);
        else {
          this.abandon(child); // a failed cell may leave peer B behind
          reject(new Error(m.error));
        }
      };
      const onExit = (code: number | null, signal: string | null): void => {
        cleanup();
        this.abandon(child);
        reject(new Error(`the host process exited (code ${code}, signal ${signal}) during the cell`));
      };
      const timer = setTimeout(() => {
        cleanup();
        this.abandon(child);
        reject(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s (a peer hung or died; see stderr)`));
      }, timeoutMs);
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.send({ type: 'cell', cell } satisfies HostRequest);
    });
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const timer = setTimeout(() => killGroup(child), 5000);
    child.send({ type: 'exit' } satisfies HostRequest);
    await this.exited;
    clearTimeout(timer);
  }
}

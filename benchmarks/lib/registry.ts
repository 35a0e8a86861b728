/**
 * Finds the transports: every `*.ts` file in benchmarks/transports/ (except
 * names starting with `_`) default-exports a Transport or an array of them.
 * Adding a transport is adding a file.
 * @module
 */
import { readdirSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import type { Transport } from './types.js';

export const TRANSPORTS_DIR = fileURLToPath(new URL('../transports/', import.meta.url));

export interface LoadedTransport {
  transport: Transport;
  /** Absolute path of the module that exports it (peers import it again). */
  file: string;
}

function check(t: unknown, file: string): Transport {
  const d = t as Partial<Transport> | undefined;
  const problems: string[] = [];
  if (!d || typeof d !== 'object') problems.push('default export is not an object');
  else {
    if (typeof d.name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(d.name))
      problems.push('name must be lower-case letters, digits and dashes');
    if (typeof d.label !== 'string') problems.push('label must be a string');
    if (d.kind !== 'process' && d.kind !== 'thread' && d.kind !== 'inline') problems.push("kind must be 'process', 'thread' or 'inline'");
    if (typeof d.setup !== 'function') problems.push('setup() missing');
    if (typeof d.open !== 'function') problems.push('open() missing');
    if (d.ceiling !== undefined && !['pipe', 'socket', 'tcp', 'shm'].includes(d.ceiling))
      problems.push("ceiling must be 'pipe', 'socket', 'tcp' or 'shm'");
  }
  if (problems.length) throw new Error(`${file}: not a transport: ${problems.join('; ')}`);
  return d as Transport;
}

async function loadFile(file: string): Promise<Transport[]> {
  const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
  const list = Array.isArray(mod.default) ? mod.default : [mod.default];
  return list.map((t) => check(t, file));
}

/**
 * All transports, in table order: those in benchmarks/transports/ and those
 * in the files listed in POSIX_IPC_BENCH_TRANSPORTS (separated by the path
 * delimiter; for transports kept out of the tree, and for the harness's own
 * tests).
 */
export async function loadTransports(): Promise<LoadedTransport[]> {
  const extra = (process.env.POSIX_IPC_BENCH_TRANSPORTS ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((f) => resolve(f));
  const files = readdirSync(TRANSPORTS_DIR)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.startsWith('_'))
    .sort()
    .map((f) => join(TRANSPORTS_DIR, f))
    .concat(extra);
  const out: LoadedTransport[] = [];
  const seen = new Set<string>();
  for (const file of files) {
    for (const transport of await loadFile(file)) {
      if (seen.has(transport.name)) throw new Error(`two transports are named ${transport.name}`);
      seen.add(transport.name);
      out.push({ transport, file });
    }
  }
  return out.sort((a, b) => (a.transport.order ?? 100) - (b.transport.order ?? 100) || a.transport.name.localeCompare(b.transport.name));
}

/** One transport by module file and name (in a host or peer process). */
export async function loadTransport(file: string, name: string): Promise<Transport> {
  const t = (await loadFile(file)).find((x) => x.name === name);
  if (!t) throw new Error(`${file} exports no transport named ${name}`);
  return t;
}

/**
 * `node` arguments for hosts and peer processes: load TypeScript (tsx, resolved
 * so any working directory works), plus POSIX_IPC_BENCH_NODE_ARGS (space
 * separated), e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile a transport.
 */
export function tsxExecArgv(): string[] {
  const extra = (process.env.POSIX_IPC_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return ['--import', import.meta.resolve('tsx'), ...extra];
}

/**
 * The native C ceiling: compiles benchmarks/native/ceiling.c on first use
 * (`cc -O2`, into `<out>/.bin/`, one binary per source hash so an edited
 * source is rebuilt), runs it, and turns its NDJSON lines into results.
 * Without a C compiler the ceiling is skipped with a note, never a failure.
 * @module
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { stat } from './stats.js';
import type { CellResult, LatencyRep, StreamRep } from './types.js';
import type { Timing } from './workloads.js';

export const CEILING_SOURCE = fileURLToPath(new URL('../native/ceiling.c', import.meta.url));

export const CEILING_LABELS: Record<string, string> = {
  'c-pipe': 'C pipe',
  'c-socket': 'C UNIX socketpair',
  'c-tcp': 'C TCP loopback',
  'c-shm': 'C shm ring',
  'c-memcpy': 'C memcpy (one copy)',
};

export type Build = { ok: true; binary: string; compiler: string; built: boolean } | { ok: false; note: string };

/** Compiles the ceiling program unless a binary of the same source exists. */
export function buildCeiling(outDir: string, cc = process.env.CC ?? 'cc'): Build {
  const source = readFileSync(CEILING_SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const binDir = join(outDir, '.bin');
  const binary = join(binDir, `ceiling-${hash}`);
  if (existsSync(binary)) return { ok: true, binary, compiler: cc, built: false };
  mkdirSync(binDir, { recursive: true });
  const tmp = `${binary}.${process.pid}.tmp`;
  const args = ['-O2', '-Wall', '-Wextra', '-o', tmp, CEILING_SOURCE];
  if (process.platform === 'linux') args.push('-lrt'); // shm_open before glibc 2.34
  const r = spawnSync(cc, args, { encoding: 'utf8' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    return {
      ok: false,
      note: `no C compiler ('${cc}' not found): the C ceiling is skipped; install one (e.g. apt-get install gcc) or set CC`,
    };
  }
  if (r.status !== 0) return { ok: false, note: `'${cc} ${args.join(' ')}' failed: the C ceiling is skipped\n${r.stderr}` };
  renameSync(tmp, binary);
  return { ok: true, binary, compiler: cc, built: true };
}

interface Line {
  workload: 'stream' | 'latency' | 'memcpy';
  transport?: string;
  size: number;
  batch?: number;
  reps: unknown[];
  verified?: { messages: number; checksum?: number };
}

function toResult(l: Line): CellResult {
  if (l.workload === 'memcpy') {
    const reps = l.reps as { bytes: number; seconds: number }[];
    return {
      workload: 'memcpy',
      transport: 'c-memcpy',
      size: l.size,
      batch: 1,
      reps,
      bytesPerSec: stat(reps.map((r) => r.bytes / r.seconds)),
    };
  }
  const transport = `c-${l.transport}`;
  if (l.workload === 'stream') {
    const reps = l.reps as StreamRep[];
    const mps = reps.map((r) => r.messages / r.seconds);
    return {
      workload: 'stream',
      transport,
      size: l.size,
      batch: l.batch ?? 1,
      reps,
      msgsPerSec: stat(mps),
      bytesPerSec: stat(mps.map((x) => x * l.size)),
      verified: l.verified ?? { messages: 0 },
    };
  }
  const reps = l.reps as LatencyRep[];
  return {
    workload: 'latency',
    transport,
    size: l.size,
    batch: 1,
    reps,
    medianNs: stat(reps.map((r) => r.medianNs)),
    p99Ns: stat(reps.map((r) => r.p99Ns)),
    maxNs: Math.max(...reps.map((r) => r.maxNs)),
    verified: l.verified ?? { messages: 0 },
  };
}

/** Runs the ceiling program over `cells`, calling `onResult` as each finishes. */
export function runCeiling(binary: string, cells: string[], t: Timing, onResult: (r: CellResult) => void): Promise<void> {
  const args = ['-w', String(t.warmupMs), '-d', String(t.durationMs), '-r', String(t.reps), '-n', String(t.minRoundTrips), ...cells];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const expected = cells.length * (t.warmupMs + t.reps * t.durationMs + 50);
  const timer = setTimeout(() => child.kill('SIGKILL'), 3 * expected + 30_000);
  let out = '';
  let err = '';
  let failure: Error | undefined;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      try {
        onResult(toResult(JSON.parse(line) as Line));
      } catch (e) {
        failure ??= e as Error;
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure) reject(failure);
      else if (code !== 0) reject(new Error(`the C ceiling program failed (code ${code}, signal ${signal}): ${err.trim()}`));
      else resolve();
    });
  });
}

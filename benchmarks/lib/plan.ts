/** The matrices (quick, full, smoke) and how a run is cut into cells. @module */
import type { CellPlan } from './host.js';
import { batchFor } from './payload.js';
import type { LoadedTransport } from './registry.js';
import type { CeilingKind } from './types.js';
import type { Timing } from './workloads.js';

export type Mode = 'quick' | 'full' | 'smoke';

export interface Matrix {
  mode: Mode;
  /** One-way stream, one message per send. */
  sizes: number[];
  /** One-way stream, batched with sendMany (small messages only). */
  batchedSizes: number[];
  /** Ping-pong. */
  latencySizes: number[];
  timing: Timing;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * quick: about a minute and a half on 2 cores; full: the complete matrix;
 * smoke: proves every path works (CI), figures meaningless.
 */
export const MATRICES: Record<Mode, Matrix> = {
  quick: {
    mode: 'quick',
    sizes: [64, KiB, 16 * KiB, 64 * KiB, MiB],
    batchedSizes: [64, KiB],
    latencySizes: [64, 4 * KiB],
    timing: { warmupMs: 80, durationMs: 120, reps: 3, minRoundTrips: 1000 },
  },
  full: {
    mode: 'full',
    sizes: [64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB],
    batchedSizes: [64, 256, KiB, 4 * KiB],
    latencySizes: [64, 4 * KiB],
    timing: { warmupMs: 200, durationMs: 300, reps: 5, minRoundTrips: 5000 },
  },
  smoke: {
    mode: 'smoke',
    sizes: [64],
    batchedSizes: [64],
    latencySizes: [64],
    timing: { warmupMs: 10, durationMs: 20, reps: 1, minRoundTrips: 50 },
  },
};

/** Messages up to this size get a batched variant when sizes are given on the command line. */
export const BATCH_LIMIT = 4 * KiB;

/** The cells of one transport, in run order. */
export function transportCells(t: LoadedTransport, m: Matrix): CellPlan[] {
  const name = t.transport.name;
  const cells: CellPlan[] = [];
  const add = (workload: 'stream' | 'latency', size: number, batch: number): void => {
    if (t.transport.supports && !t.transport.supports({ workload, size, batch })) return;
    cells.push({ transport: name, workload, size, batch, timing: m.timing });
  };
  for (const size of m.sizes) add('stream', size, 1);
  for (const size of m.batchedSizes) if (batchFor(size) > 1) add('stream', size, batchFor(size));
  for (const size of m.latencySizes) add('latency', size, 1);
  return cells;
}

/** The ceiling program's cells (see benchmarks/native/ceiling.c) for the given kinds. */
export function ceilingCells(kinds: readonly CeilingKind[], memcpy: boolean, m: Matrix): string[] {
  const cells: string[] = [];
  for (const k of kinds) {
    for (const size of m.sizes) cells.push(`stream:${k}:${size}:1`);
    for (const size of m.batchedSizes) if (batchFor(size) > 1) cells.push(`stream:${k}:${size}:${batchFor(size)}`);
    for (const size of m.latencySizes) cells.push(`latency:${k}:${size}`);
  }
  if (memcpy) for (const size of m.sizes) cells.push(`memcpy:${size}`);
  return cells;
}

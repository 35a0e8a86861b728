/** Small statistics used by the harness: nearest-rank quantiles, median and spread. @module */
import type { LatencyRep, Stat } from './types.js';

/** Nearest-rank quantile of ascending `sorted` (q in [0, 1]); same rule as ceiling.c. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = Math.min(n, Math.max(1, Math.ceil(q * n)));
  return sorted[rank - 1]!;
}

/** Median and spread of repeated figures (quartiles by linear interpolation). */
export function stat(values: readonly number[]): Stat {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, q1: Number.NaN, q3: Number.NaN };
  const at = (q: number): number => {
    const pos = q * (n - 1);
    const lo = Math.floor(pos);
    const hi = Math.ceil(pos);
    return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
  };
  return { median: at(0.5), min: s[0]!, max: s[n - 1]!, q1: at(0.25), q3: at(0.75) };
}

/** Half the min-max range relative to the median, in percent (the ± shown in tables). */
export function spreadPct(s: Stat): number {
  return s.median > 0 ? ((s.max - s.min) / 2 / s.median) * 100 : 0;
}

/** Summarizes one repetition's round-trip samples (nanoseconds, in any order; sorted in place). */
export function latencyRep(samples: Float64Array): LatencyRep {
  samples.sort();
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]!;
  return {
    count: samples.length,
    medianNs: quantile(samples, 0.5),
    p99Ns: quantile(samples, 0.99),
    maxNs: samples.length ? samples[samples.length - 1]! : Number.NaN,
    meanNs: samples.length ? sum / samples.length : Number.NaN,
  };
}

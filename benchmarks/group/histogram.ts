/**
 * A latency histogram in log buckets (2% wide, from 1 µs up to minutes):
 * each member fills one and the orchestrator merges them, so quantiles over
 * every delivery at every member come out without shipping the samples.
 * @module
 */

const STEP = Math.log(1.02);
const BUCKETS = 1000;

/** Counts of latencies (µs) in log buckets. */
export class Histogram {
  readonly counts = new Uint32Array(BUCKETS);
  total = 0;

  add(us: number): void {
    const i = us <= 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(us) / STEP));
    this.counts[i]!++;
    this.total++;
  }

  /** Sparse form: [bucket, count, bucket, count, ...]. */
  toJSON(): number[] {
    const out: number[] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) out.push(i, this.counts[i]!);
    return out;
  }

  /** Adds a sparse histogram of another member. */
  merge(sparse: readonly number[]): void {
    for (let k = 0; k + 1 < sparse.length; k += 2) {
      const i = sparse[k]!;
      if (!Number.isInteger(i) || i < 0 || i >= BUCKETS) throw new RangeError(`bad histogram bucket ${i}`);
      this.counts[i]! += sparse[k + 1]!;
      this.total += sparse[k + 1]!;
    }
  }

  /** The q-quantile (nearest rank), µs: the middle of its bucket. */
  quantile(q: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return i === 0 ? 1 : Math.exp((i + 0.5) * STEP);
    }
    return Number.NaN;
  }
}

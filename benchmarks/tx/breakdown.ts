/**
 * Where a commit's time goes: the sites' named protocol points (their fault
 * points, stamped with the monotonic clock every process shares on Linux)
 * of paced transactions from one client, so the k-th transaction of each
 * site is the same one. Phases, median over transactions (and
 * participants), in µs.
 * @module
 */
import { quantile } from '../lib/stats.js';
import type { SiteProcess } from './sites.js';

export interface Breakdown {
  transactions: number;
  /** Coordinator's precommit record queued -> a participant got the VOTE_REQ (send, wake-up, decode, lock). */
  voteRequestUs: number;
  /** A participant's forced prepared record (writev + fdatasync on the thread pool, to its promise). */
  prepareLogUs: number;
  /** The last participant's YES sent -> the coordinator decides (the vote's trip). */
  voteUs: number;
  /** The coordinator's forced commit record (with the lazy precommit record, one batch). */
  commitLogUs: number;
  /** Precommit queued -> commit record durable: the coordinator's view of the commit. */
  totalUs: number;
}

type Stamps = Array<[string, number]>;

/** The k-th occurrence of each point, per transaction: transactions begin at `first`. */
function perTx(stamps: Stamps, first: string): Array<Map<string, number>> {
  const out: Array<Map<string, number>> = [];
  for (const [name, t] of stamps) {
    if (name === first) out.push(new Map());
    const m = out[out.length - 1];
    if (m !== undefined && !m.has(name)) m.set(name, t);
  }
  return out;
}

const med = (v: number[]): number => quantile(Float64Array.from(v).sort(), 0.5) / 1000;

/** Records the points on every site while `run()` runs paced transactions from `client` alone. */
export async function breakdown<R>(client: SiteProcess, partitions: SiteProcess[], run: () => Promise<R>): Promise<[Breakdown, R]> {
  const sites = [client, ...partitions];
  for (const s of sites) s.send('record');
  const result = await run();
  const all: Stamps[] = [];
  for (const s of sites) {
    s.send('stamps');
    all.push(JSON.parse(await s.next('stamps', 30_000)) as Stamps);
  }
  const coord = perTx(all[0]!, 'coordinator:before-precommit-log');
  const parts = all.slice(1).map((p) => perTx(p, 'participant:before-prepared-log'));
  const n = Math.min(coord.length, ...parts.map((p) => p.length));
  const req: number[] = [];
  const prep: number[] = [];
  const vote: number[] = [];
  const dec: number[] = [];
  const total: number[] = [];
  for (let k = 0; k < n; k++) {
    const c = coord[k]!;
    const start = c.get('coordinator:before-precommit-log')!;
    const decide = c.get('coordinator:before-decision-log');
    const decided = c.get('coordinator:after-decision-log');
    if (decide === undefined || decided === undefined) continue;
    let lastVote = 0;
    for (const p of parts) {
      const got = p[k]!.get('participant:before-prepared-log')!;
      const logged = p[k]!.get('participant:after-prepared-log');
      const sent = p[k]!.get('participant:before-vote-send');
      if (logged === undefined || sent === undefined) continue;
      req.push(got - start);
      prep.push(logged - got);
      lastVote = Math.max(lastVote, sent);
    }
    vote.push(decide - lastVote);
    dec.push(decided - decide);
    total.push(decided - start);
  }
  const phases = {
    transactions: n,
    voteRequestUs: med(req),
    prepareLogUs: med(prep),
    voteUs: med(vote),
    commitLogUs: med(dec),
    totalUs: med(total),
  };
  return [phases, result];
}

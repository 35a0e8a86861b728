/**
 * The checker of a distributed mutex's recorded run: from the members'
 * traces (each with the `cs:request`, `cs:enter`, `cs:exit`, `cs:abandon`
 * and `cs:revoke` annotations the mutex records, and the vector times of
 * every message), it proves or refutes
 * - **mutual exclusion**: every two critical sections are ordered by
 *   happens-before (one's exit, or the coordinator's `cs:revoke` of it,
 *   happened before the other's entry): not "they did not overlap on the
 *   clock", which a lucky schedule gives, but "they could not have";
 * - **fences rise** along that order;
 * - **no deadlock or starvation**: every request was entered or abandoned
 *   by the end of the run (give the traces after the work is done);
 * - **bounded waiting** (with `maxOvertakes`): no request was overtaken by
 *   more critical sections of others than that, counting a section as
 *   overtaking when its entry happened after the request and before the
 *   request's own entry.
 * Sorting the sections by a linear extension of happens-before (the sum of
 * the entry's vector time) makes the exclusion check linear: if each
 * section is ordered before the next, all are.
 * @module
 */
import { validateInteger, validateOptions } from '../../internal/validators.js';
import type { Trace, TraceEvent } from '../causality/index.js';

/** One critical section found in a trace. */
export interface CriticalSection {
  readonly process: string;
  readonly fence: number;
  readonly request: TraceEvent | undefined;
  readonly enter: TraceEvent;
  /** Its exit, or undefined (the run ended inside it, or the member died). */
  readonly exit: TraceEvent | undefined;
  /** Where the holding was taken back (a lease ran out, the holder's link went down), if it was. */
  readonly revoke: TraceEvent | undefined;
  /** Sections of other members that entered after this one's request and before its entry. */
  readonly overtakes: number;
}

/** A property {@link checkCriticalSections} verifies. */
export type MutexProperty = 'exclusion' | 'fence' | 'starvation' | 'bounded-waiting';

/** One violation. */
export interface MutexViolation {
  readonly property: MutexProperty;
  readonly process: string;
  /** The events concerned (ids). */
  readonly events: readonly string[];
  readonly detail: string;
}

/** Options of {@link checkCriticalSections}. */
export interface CheckMutexOptions {
  /** Check bounded waiting: at most this many sections of others may overtake a request (for N members, N - 1 for every algorithm here). */
  maxOvertakes?: number;
  /** Members killed during the run: their unfinished requests and sections are not violations. */
  crashed?: Iterable<string>;
}

/** What the check found. */
export interface MutexCheck {
  readonly sections: readonly CriticalSection[];
  readonly violations: readonly MutexViolation[];
}

const fenceOf = (e: TraceEvent): number | undefined => {
  const d = e.data as { fence?: unknown } | undefined;
  return typeof d?.fence === 'number' ? d.fence : undefined;
};

/** Checks a recorded run: see the module doc. */
export function checkCriticalSections(trace: Trace, options: CheckMutexOptions = {}): MutexCheck {
  validateOptions(options);
  const maxOvertakes = options.maxOvertakes === undefined ? undefined : validateInteger(options.maxOvertakes, 'options.maxOvertakes', 0);
  const crashed = new Set(options.crashed ?? []);
  const violations: MutexViolation[] = [];
  const revokes = new Map<number, TraceEvent>();
  for (const e of trace.events) {
    const f = e.label === 'cs:revoke' ? fenceOf(e) : undefined;
    if (f !== undefined && !revokes.has(f)) revokes.set(f, e);
  }

  // Each process's sections, in its own order.
  const found: Omit<CriticalSection, 'overtakes'>[] = [];
  for (const process of trace.processes) {
    let request: TraceEvent | undefined;
    let open: { request: TraceEvent | undefined; enter: TraceEvent; fence: number } | undefined;
    const events = trace.events
      .filter((e) => e.process === process && e.label?.startsWith('cs:') === true)
      .sort((a, b) => a.index - b.index);
    for (const e of events) {
      if (e.label === 'cs:request') request = e;
      else if (e.label === 'cs:abandon') request = undefined;
      else if (e.label === 'cs:enter') {
        if (open !== undefined) {
          violations.push({
            property: 'exclusion',
            process,
            events: [open.enter.id, e.id],
            detail: `${process} entered again (${e.id}) inside its own section (${open.enter.id}): two holders in one member`,
          });
          found.push({ process, ...open, exit: undefined, revoke: revokes.get(open.fence) });
        }
        open = { request, enter: e, fence: fenceOf(e) ?? -1 };
        request = undefined;
      } else if (e.label === 'cs:exit' && open !== undefined) {
        found.push({ process, ...open, exit: e, revoke: revokes.get(open.fence) });
        open = undefined;
      }
    }
    if (open !== undefined) found.push({ process, ...open, exit: undefined, revoke: revokes.get(open.fence) });
    if (request !== undefined && !crashed.has(process))
      violations.push({
        property: 'starvation',
        process,
        events: [request.id],
        detail: `${process}'s request ${request.id} was never granted by the end of the run`,
      });
  }

  // Mutual exclusion and fences, along a linear extension of happens-before. A revoked section is
  // judged on its own below: its revoke, not its holder's exit, must come before every later holding.
  const ordered = found.filter((s) => s.revoke === undefined).sort((a, b) => a.enter.time.total - b.enter.time.total);
  const ended = (s: Omit<CriticalSection, 'overtakes'>): TraceEvent | undefined => s.revoke ?? s.exit;
  for (const r of found) {
    if (r.revoke === undefined) continue;
    for (const o of found) {
      if (o === r || (o.revoke !== undefined && o.fence < r.fence)) continue; // a pair of revoked sections: judged once, from the lower fence
      if (o.fence === r.fence) {
        violations.push({
          property: 'fence',
          process: o.process,
          events: [r.enter.id, o.enter.id],
          detail: `the revoked section ${r.enter.id} of ${r.process} and ${o.enter.id} of ${o.process} share fence ${r.fence}`,
        });
        continue;
      }
      const [first, second] = o.fence > r.fence ? [r, o] : [o, r];
      const end = ended(first);
      if (end !== undefined && end.time.before(second.enter.time)) continue;
      violations.push({
        property: 'exclusion',
        process: second.process,
        events: [first.enter.id, second.enter.id],
        detail: `${first.process}'s section (${first.enter.id}, fence ${first.fence}) did not end${first.revoke === undefined ? '' : ' (by its revoke)'} before ${second.process}'s (${second.enter.id}, fence ${second.fence}) began`,
      });
    }
  }
  for (let i = 0; i + 1 < ordered.length; i++) {
    const a = ordered[i]!;
    const b = ordered[i + 1]!;
    const end = ended(a);
    if (end === undefined || !end.time.before(b.enter.time)) {
      violations.push({
        property: 'exclusion',
        process: b.process,
        events: [a.enter.id, b.enter.id],
        detail:
          end === undefined
            ? `${b.process} entered (${b.enter.id}, fence ${b.fence}) while ${a.process}'s section (${a.enter.id}, fence ${a.fence}) never ended`
            : `${a.process}'s section (${a.enter.id}..${end.id}, fence ${a.fence}) and ${b.process}'s (${b.enter.id}, fence ${b.fence}) are not ordered by happens-before: both could be inside at once`,
      });
    }
    if (b.fence <= a.fence)
      violations.push({
        property: 'fence',
        process: b.process,
        events: [a.enter.id, b.enter.id],
        detail: `fence ${b.fence} (${b.process}, ${b.enter.id}) follows fence ${a.fence} (${a.process}, ${a.enter.id}): fences must rise`,
      });
  }
  for (const s of found)
    if (s.exit === undefined && s.revoke === undefined && !crashed.has(s.process))
      violations.push({
        property: 'starvation',
        process: s.process,
        events: [s.enter.id],
        detail: `${s.process}'s section ${s.enter.id} never ended: the others could never enter again`,
      });

  // Bounded waiting.
  const sections: CriticalSection[] = found.map((s) => {
    const r = s.request;
    const overtakes =
      r === undefined
        ? 0
        : found.filter((o) => o.process !== s.process && r.time.before(o.enter.time) && o.enter.time.before(s.enter.time)).length;
    if (maxOvertakes !== undefined && overtakes > maxOvertakes)
      violations.push({
        property: 'bounded-waiting',
        process: s.process,
        events: [r!.id, s.enter.id],
        detail: `${s.process}'s request ${r!.id} was overtaken by ${overtakes} sections of others (bound ${maxOvertakes})`,
      });
    return { ...s, overtakes };
  });
  return { sections, violations };
}

/** One line per violation, for a test's failure message. */
export function describeMutexViolations(check: MutexCheck): string {
  return check.violations.map((v) => `${v.property}: ${v.detail}`).join('\n');
}

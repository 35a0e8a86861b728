/**
 * Export to ShiViz (https://distributedclocks.github.io/shiviz/), the
 * visualiser of distributed executions. The log it loads from a file is:
 * line 1, the parser regex {@link SHIVIZ_REGEX}; line 2, the delimiter of
 * several executions (empty here: one execution); then two lines per event,
 * the host and its vector clock as JSON on one, the event's text on the next.
 * ShiViz requires each host's own clock entry to start at 1 and rise by 1
 * per event, and every host named in a clock to have events in the log:
 * {@link toShiViz} checks both before writing.
 * @module
 */
import { CausalityError } from '../../errors.js';
import { Trace, type TraceEvent } from './trace.js';

/** ShiViz's parser regex for the log {@link toShiViz} writes (its default one, as GoVector writes it). */
export const SHIVIZ_REGEX = String.raw`(?<host>\S*) (?<clock>{.*})\n(?<event>.*)`;

/** Options of {@link toShiViz}. */
export interface ShiVizOptions {
  /** The text of an event (one line; newlines become spaces). Default: kind, message, peer and label, as in "send p1#2 to p3: hello". */
  describe?(event: TraceEvent): string;
}

/** The default text of an event in a ShiViz log. */
export function describeEvent(e: TraceEvent): string {
  let s: string = e.kind;
  if (e.message !== undefined && e.kind !== 'send') s += ` ${e.message}`;
  if (e.kind === 'send') s += ` ${e.id}${e.peer === undefined ? '' : ` to ${e.peer}`}`;
  else if (e.peer !== undefined) s += ` from ${e.peer}`;
  if (e.label !== undefined) s += `: ${e.label}`;
  if (e.data !== undefined) s += ` ${JSON.stringify(e.data)}`;
  return s;
}

/** `.` in the regex matches no line terminator: one line of text. */
function oneLine(s: string): string {
  return s.replace(/[\r\n\u2028\u2029]/g, ' ');
}

/**
 * The trace as a ShiViz log. Throws `ERR_CAUSALITY_BAD_TRACE` when the trace
 * lacks events that a clock names (merge every process's trace first): ShiViz
 * would refuse the log.
 */
export function toShiViz(trace: Trace, options: ShiVizOptions = {}): string {
  if (!(trace instanceof Trace)) throw new TypeError('The "trace" argument must be a Trace');
  const describe = options.describe ?? describeEvent;
  if (typeof describe !== 'function') throw new TypeError('The "options.describe" option must be a function');
  const count = new Map<string, number>();
  for (const p of trace.processes) count.set(p, trace.eventsOf(p).length);
  let out = SHIVIZ_REGEX + '\n\n';
  for (const e of trace.events) {
    for (const [id, n] of e.time.entries()) {
      if ((count.get(id) ?? 0) < n) {
        throw new CausalityError(
          'ERR_CAUSALITY_BAD_TRACE',
          `The clock of ${e.id} names ${id}#${n}, but the trace holds ${count.get(id) ?? 0} events of "${id}": merge the trace of every process first`,
        );
      }
    }
    out += `${e.process} ${e.time.toString()}\n${oneLine(String(describe(e)))}\n`;
  }
  return out;
}

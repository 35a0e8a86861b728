/**
 * The causality-violation check: in a trace, a process delivered message m2
 * before m1 although the send of m1 happened before the send of m2 (the
 * slide's "causality violation"; FIFO violations are the case of one sender).
 * @module
 */
import { Trace, type TraceEvent } from './trace.js';

/** One violation: at `process`, `early` (m2) was delivered before `late` (m1), yet send(m1) happened before send(m2). */
export interface CausalityViolation {
  readonly process: string;
  /** The delivery (or receive, if the message was never delivered apart) of m2: too early. */
  readonly early: TraceEvent;
  /** The delivery of m1, which came after `early`. */
  readonly late: TraceEvent;
  /** The sends: `lateSend` (of m1) happened before `earlySend` (of m2). */
  readonly lateSend: TraceEvent;
  readonly earlySend: TraceEvent;
  /** A sentence for a report, such as "p3 delivered p2#2 before p1#1, but p1#1 was sent before p2#2 was". */
  readonly description: string;
}

/**
 * Finds every causality violation in the delivery order of `trace`. A
 * message's delivery is its first `deliver` event on a process, or its first
 * `receive` there when it has no `deliver` (no hold-back layer). Messages
 * whose send is not in the trace are not judged. Returns `[]` when the order
 * is causal. Quadratic in the deliveries of one process.
 */
export function findCausalityViolations(trace: Trace): CausalityViolation[] {
  if (!(trace instanceof Trace)) throw new TypeError('The "trace" argument must be a Trace');
  const messages = trace.messages();
  const out: CausalityViolation[] = [];
  for (const p of trace.processes) {
    const events = trace.eventsOf(p);
    const deliveredApart = new Set(events.filter((e) => e.kind === 'deliver').map((e) => e.message!));
    const seen = new Set<string>();
    const order: { delivery: TraceEvent; send: TraceEvent }[] = [];
    for (const e of events) {
      const isDelivery = e.kind === 'deliver' || (e.kind === 'receive' && !deliveredApart.has(e.message!));
      if (!isDelivery || seen.has(e.message!)) continue;
      seen.add(e.message!);
      const send = messages.get(e.message!)?.send;
      if (send !== undefined) order.push({ delivery: e, send });
    }
    for (let i = 0; i < order.length; i++) {
      for (let j = i + 1; j < order.length; j++) {
        const early = order[i]!;
        const late = order[j]!;
        if (late.send.time.before(early.send.time)) {
          out.push({
            process: p,
            early: early.delivery,
            late: late.delivery,
            earlySend: early.send,
            lateSend: late.send,
            description: `${p} delivered ${early.send.id} before ${late.send.id}, but ${late.send.id} was sent before ${early.send.id} was`,
          });
        }
      }
    }
  }
  return out;
}

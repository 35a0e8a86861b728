// A port of the checks ShiViz runs when it loads a log (its LogParser,
// VectorTimestamp and ModelGraph), written from their description, so that
// tests can say "ShiViz would accept this log" without a browser:
//  1. the file's first line is the parser regex, with the named groups
//     host, clock and event; the second line is the delimiter (empty: none);
//  2. the regex (flags "m", applied again and again) captures at least one event;
//  3. each clock parses as JSON and contains the event's own host;
//  4. zero entries are ignored; each host's events, sorted by their own entry,
//     count 1, 2, 3, ... ("must start at 1", "must increase monotonically by 1");
//  5. every host an event's clock names (when its entry grew since the previous
//     event of the same host) has events in the log, and the entry is between 1
//     and that host's number of events;
//  6. (ShiViz's stepThroughAndVerify) the events form a DAG (process order and
//     the parents found in 5), and each event's clock is exactly the
//     entry-wise maximum of its own {host: n} and its predecessors' clocks.
// Each failure throws an Error with ShiViz's message.

export interface ShiVizEvent {
  host: string;
  clock: Record<string, number>;
  text: string;
  line: number;
}

export function checkShiVizLog(log: string): ShiVizEvent[] {
  const nl = log.indexOf('\n');
  if (nl < 0) throw new Error('the log has no parser line');
  const regexText = log.slice(0, nl);
  const rest = log.slice(nl + 1);
  const nl2 = rest.indexOf('\n');
  const delimiter = nl2 < 0 ? rest : rest.slice(0, nl2);
  if (delimiter.trim() !== '') throw new Error(`expected an empty delimiter line, found ${JSON.stringify(delimiter)}`);
  const body = (nl2 < 0 ? '' : rest.slice(nl2 + 1)).trim();

  const regexp = new RegExp(regexText, 'gm');
  const names = Object.keys(new RegExp(`${regexText}|(?<__probe>)`).exec('')?.groups ?? {});
  for (const g of ['clock', 'host', 'event']) {
    if (!names.includes(g)) throw new Error('The parser RegExp you entered does not have the necessary named capture groups.');
  }

  const events: ShiVizEvent[] = [];
  for (let m = regexp.exec(body); m !== null; m = regexp.exec(body)) {
    if (m[0].length === 0) {
      regexp.lastIndex++;
      continue;
    }
    const line = (body.slice(0, m.index).match(/\n/g)?.length ?? 0) + 1;
    const { host, clock: clockText, event } = m.groups!;
    let clock: Record<string, number>;
    try {
      clock = JSON.parse(clockText!) as Record<string, number>;
    } catch (err) {
      throw new Error(`An error occured while trying to parse the vector timestamp on line ${line + 1}: ${String(err)}`);
    }
    if (!Object.prototype.hasOwnProperty.call(clock, host!))
      throw new Error(`Local host "${host}" is missing from timestamp: ${clockText}`);
    for (const k of Object.keys(clock)) if (clock[k] === 0) delete clock[k];
    events.push({ host: host!, clock, text: event!, line });
  }
  if (events.length === 0) throw new Error('The parser RegExp you entered does not capture any events for the execution');

  // 4. per-host order
  const byHost = new Map<string, ShiVizEvent[]>();
  for (const e of events) {
    if (!byHost.has(e.host)) byHost.set(e.host, []);
    byHost.get(e.host)!.push(e);
  }
  for (const [host, list] of byHost) {
    list.sort((a, b) => a.clock[host]! - b.clock[host]!);
    list.forEach((e, i) => {
      if (e.clock[host] !== i + 1) {
        throw new Error(
          i === 0
            ? `Logical clock values for each host must start at 1. The clock value for the first event for host "${host}" is ${e.clock[host]}.`
            : `Clock values for a host must increase monotonically by 1. The clock for host "${host}" goes from ${list[i - 1]!.clock[host]} to ${e.clock[host]}`,
        );
      }
    });
  }

  // 5. parents: hosts in clocks must exist, entries in bounds
  const parents = new Map<ShiVizEvent, ShiVizEvent[]>();
  for (const [host, list] of byHost) {
    const latest: Record<string, number> = {};
    for (const e of list) {
      const ps: ShiVizEvent[] = [];
      latest[host] = e.clock[host]!;
      for (const [other, time] of Object.entries(e.clock)) {
        if (latest[other] === undefined || latest[other]! < time) {
          latest[other] = time;
          const otherList = byHost.get(other);
          if (otherList === undefined)
            throw new Error(`The following event's vector clock contains an entry for an unrecognized host "${other}". (line ${e.line})`);
          if (time < 1 || time > otherList.length)
            throw new Error(
              `The following event's vector clock contains an invalid clock value ${time} for host "${other}". (line ${e.line})`,
            );
          ps.push(otherList[time - 1]!);
        }
      }
      const prev = list[e.clock[host]! - 2];
      if (prev !== undefined) ps.push(prev);
      parents.set(e, ps);
    }
  }

  // 6. a DAG whose clocks are exactly the closure of the parents'
  const state = new Map<ShiVizEvent, 'visiting' | 'done'>();
  const computed = new Map<ShiVizEvent, Record<string, number>>();
  const visit = (e: ShiVizEvent): Record<string, number> => {
    const s = state.get(e);
    if (s === 'done') return computed.get(e)!;
    if (s === 'visiting')
      throw new Error(
        'An error occured. The log is intransitive. That is, there are three events x, y, and z such that x occurs before y, y occurs before z, and z before x.',
      );
    state.set(e, 'visiting');
    const clock: Record<string, number> = { [e.host]: e.clock[e.host]! };
    for (const p of parents.get(e)!) {
      for (const [h, t] of Object.entries(visit(p))) clock[h] = Math.max(clock[h] ?? 0, t);
    }
    state.set(e, 'done');
    computed.set(e, clock);
    return clock;
  };
  for (const e of events) {
    const want = visit(e);
    const keys = new Set([...Object.keys(want), ...Object.keys(e.clock)]);
    for (const k of keys) {
      if (want[k] !== e.clock[k]) {
        throw new Error(
          `The following event has an impermissible vector clock (line ${e.line}): ${JSON.stringify(e.clock)}. We think it should be: ${JSON.stringify(want)}`,
        );
      }
    }
  }
  return events;
}

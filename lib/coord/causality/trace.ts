/**
 * Traces: the events of one or more processes with their vector times, the
 * happens-before relation on them, and the trace file format (JSON lines).
 *
 * File format, one JSON object per line, `\n` after each:
 * - line 1, the header: `{"format":"posix-ipc-trace","version":1}`;
 * - then one event per line, keys in this order (absent ones left out):
 *   `process`, `index` (1, 2, ... per process: its own vector entry),
 *   `kind` (`send` | `receive` | `deliver` | `local` | `annotation`), `time`
 *   (the vector time, `{ id: count }`, ids sorted), `message` (send: its own
 *   id; receive and deliver: the id of the send), `peer`, `label`, `data`
 *   (any JSON), `wall` (milliseconds since the epoch, only when recorded with
 *   `wallClock: true`, so that a deterministic run gives a byte-identical file).
 * @module
 */
import { readFile, stat, writeFile } from 'node:fs/promises';

import { CausalityError } from '../../errors.js';
import { validateInteger, validateString } from '../../internal/validators.js';
import { MAX_VECTOR_ENTRIES, validateProcessId, VectorTime } from './clocks.js';
import { vectorTimeFromJSON } from './clock-codec.js';

/** What happened at an event. `deliver` is distinct from `receive`: a held-back message is received early and delivered later. */
export type TraceEventKind = 'send' | 'receive' | 'deliver' | 'local' | 'annotation';

/** One event of one process. */
export interface TraceEvent {
  /** `process#index`: unique in a trace. */
  readonly id: string;
  readonly process: string;
  /** 1 for the process's first event, rising by 1: its own entry in `time`. */
  readonly index: number;
  readonly kind: TraceEventKind;
  /** The vector time of this event. */
  readonly time: VectorTime;
  /** Send: this event's own id (the message's id). Receive, deliver: the id of the message's send. */
  readonly message?: string;
  /** Send: the destination, when known. Receive, deliver: the sender. */
  readonly peer?: string;
  readonly label?: string;
  readonly data?: unknown;
  /** Wall-clock milliseconds, only when recorded with `wallClock: true`. */
  readonly wall?: number;
}

/** The longest label kept on an event, in characters. */
export const MAX_LABEL_LENGTH = 4096;
const KINDS: ReadonlySet<string> = new Set(['send', 'receive', 'deliver', 'local', 'annotation']);
const HEADER = '{"format":"posix-ipc-trace","version":1}';

/** The id of the `index`th event of `process`. */
export function eventId(process: string, index: number): string {
  return `${process}#${index}`;
}

/** True when `a` happened before `b` (a's vector time is before b's). */
export function happenedBefore(a: TraceEvent, b: TraceEvent): boolean {
  return a.time.before(b.time);
}

/** True when neither event happened before the other (and they are different events). */
export function concurrent(a: TraceEvent, b: TraceEvent): boolean {
  return a.time.concurrentWith(b.time);
}

function badTrace(detail: string, cause?: unknown): CausalityError {
  return new CausalityError('ERR_CAUSALITY_BAD_TRACE', detail, cause === undefined ? undefined : { cause });
}

/** One event as its line of the trace file (no newline). @internal */
export function eventToJSON(e: TraceEvent): string {
  const o: Record<string, unknown> = { process: e.process, index: e.index, kind: e.kind, time: e.time.toJSON() };
  if (e.message !== undefined) o.message = e.message;
  if (e.peer !== undefined) o.peer = e.peer;
  if (e.label !== undefined) o.label = e.label;
  if (e.data !== undefined) o.data = e.data;
  if (e.wall !== undefined) o.wall = e.wall;
  return JSON.stringify(o);
}

/** @internal Checks an event's shape and fields (from a file or a caller), returning a frozen copy. */
export function checkEvent(value: unknown, where: string, maxEntries = MAX_VECTOR_ENTRIES): TraceEvent {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badTrace(`${where}: an event must be an object`);
  const v = value as Record<string, unknown>;
  try {
    const process = validateProcessId(v.process, 'process');
    const index = validateInteger(v.index, 'index', 1, Number.MAX_SAFE_INTEGER);
    if (typeof v.kind !== 'string' || !KINDS.has(v.kind)) throw new TypeError(`unknown kind ${JSON.stringify(v.kind)}`);
    const time = v.time instanceof VectorTime ? v.time : vectorTimeFromJSON(v.time, { maxEntries });
    if (time.get(process) !== index) throw new RangeError(`its own entry in "time" is ${time.get(process)}, not its index ${index}`);
    const e: { -readonly [K in keyof TraceEvent]: TraceEvent[K] } = {
      id: eventId(process, index),
      process,
      index,
      kind: v.kind as TraceEventKind,
      time,
    };
    for (const key of ['message', 'peer', 'label'] as const) {
      if (v[key] === undefined) continue;
      const s = validateString(v[key], key);
      if (s.length > MAX_LABEL_LENGTH) throw new RangeError(`"${key}" is longer than ${MAX_LABEL_LENGTH} characters`);
      e[key] = s;
    }
    if ((e.kind === 'send' || e.kind === 'receive' || e.kind === 'deliver') && e.message === undefined)
      throw new TypeError(`a ${e.kind} event needs "message"`);
    if (e.kind === 'send' && e.message !== e.id) throw new RangeError(`a send's "message" must be its own id ${e.id}`);
    if (v.data !== undefined) e.data = v.data;
    if (v.wall !== undefined) {
      if (typeof v.wall !== 'number' || !Number.isFinite(v.wall)) throw new TypeError('"wall" must be a finite number');
      e.wall = v.wall;
    }
    return Object.freeze(e);
  } catch (err) {
    if (err instanceof CausalityError && err.code === 'ERR_CAUSALITY_BAD_TRACE') throw err;
    throw badTrace(`${where}: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

/** Options of {@link Trace.parse} and {@link readTrace}. */
export interface ParseTraceOptions {
  /** The most events accepted (default 1,000,000). */
  maxEvents?: number;
  /** The longest line accepted, in characters (default 1 MiB). */
  maxLineLength?: number;
  /** The most entries in one vector time (default {@link MAX_VECTOR_ENTRIES}). */
  maxEntries?: number;
}

/** A message's events in a trace. */
export interface TraceMessage {
  readonly id: string;
  readonly send: TraceEvent | undefined;
  readonly receives: readonly TraceEvent[];
  readonly delivers: readonly TraceEvent[];
}

/**
 * The events of one or more processes, merged: each process's events
 * complete from index 1, in one deterministic order that respects
 * happens-before (by the sum of the vector time, then process id, then
 * index). Immutable.
 */
export class Trace {
  readonly events: readonly TraceEvent[];
  /** The process ids, sorted. */
  readonly processes: readonly string[];
  readonly #byId: ReadonlyMap<string, TraceEvent>;

  private constructor(events: TraceEvent[]) {
    events.sort((a, b) => a.time.total - b.time.total || (a.process < b.process ? -1 : a.process > b.process ? 1 : a.index - b.index));
    this.events = Object.freeze(events);
    this.#byId = new Map(events.map((e) => [e.id, e]));
    this.processes = Object.freeze([...new Set(events.map((e) => e.process))].sort());
  }

  /**
   * Merges traces, recorders' events or event lists into one trace. The same
   * event appearing twice (identically) is kept once; two different events
   * with one id, or a process whose indexes have a gap, are
   * `ERR_CAUSALITY_BAD_TRACE`.
   */
  static merge(...parts: (Trace | Iterable<TraceEvent> | { readonly events: readonly TraceEvent[] })[]): Trace {
    const byId = new Map<string, TraceEvent>();
    const lines = new Map<string, string>();
    for (const part of parts) {
      const list: Iterable<TraceEvent> =
        Symbol.iterator in Object(part) ? (part as Iterable<TraceEvent>) : (part as { events: readonly TraceEvent[] }).events;
      for (const raw of list) {
        const e = checkEvent(raw, 'merge');
        const line = eventToJSON(e);
        const had = lines.get(e.id);
        if (had === undefined) {
          byId.set(e.id, e);
          lines.set(e.id, line);
        } else if (had !== line) {
          throw badTrace(`two different events have the id ${e.id}`);
        }
      }
    }
    const count = new Map<string, number>();
    for (const e of byId.values()) count.set(e.process, Math.max(count.get(e.process) ?? 0, e.index));
    for (const [p, n] of count) {
      for (let i = 1; i <= n; i++)
        if (!byId.has(eventId(p, i))) throw badTrace(`the events of "${p}" have a gap: ${eventId(p, i)} is missing`);
    }
    return new Trace([...byId.values()]);
  }

  /** Reads a trace file's text (see the module's description). Throws `ERR_CAUSALITY_BAD_TRACE` naming the line. */
  static parse(text: string, options: ParseTraceOptions = {}): Trace {
    validateString(text, 'text');
    const maxEvents = validateInteger(options.maxEvents ?? 1_000_000, 'options.maxEvents', 0, 1e8);
    const maxLine = validateInteger(options.maxLineLength ?? 1 << 20, 'options.maxLineLength', 64, 1 << 28);
    const maxEntries = validateInteger(options.maxEntries ?? MAX_VECTOR_ENTRIES, 'options.maxEntries', 1, 1 << 20);
    const events: TraceEvent[] = [];
    let start = 0;
    let line = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      line++;
      if (end - start > maxLine) throw badTrace(`line ${line}: longer than ${maxLine} characters`);
      const s = text.slice(start, end);
      start = end + 1;
      if (line === 1) {
        if (s !== HEADER) throw badTrace(`line 1: not a posix-ipc trace (expected ${HEADER})`);
        continue;
      }
      if (s === '') continue;
      if (events.length >= maxEvents) throw badTrace(`line ${line}: more than ${maxEvents} events`);
      let value: unknown;
      try {
        value = JSON.parse(s);
      } catch (err) {
        throw badTrace(`line ${line}: not JSON`, err);
      }
      events.push(checkEvent(value, `line ${line}`, maxEntries));
    }
    if (line === 0) throw badTrace('line 1: the trace is empty (no header)');
    return Trace.merge(events);
  }

  /** The trace file's text: the header, then one line per event, in this trace's order. */
  toJSONLines(): string {
    let out = HEADER + '\n';
    for (const e of this.events) out += eventToJSON(e) + '\n';
    return out;
  }

  /** The event with this id. */
  event(id: string): TraceEvent | undefined {
    return this.#byId.get(id);
  }

  #get(e: string | TraceEvent): TraceEvent {
    const ev = typeof e === 'string' ? this.#byId.get(e) : e;
    if (ev === undefined) throw new RangeError(`The trace has no event ${String(e)}`);
    return ev;
  }

  /** True when event `a` happened before event `b` (by id or event). */
  happenedBefore(a: string | TraceEvent, b: string | TraceEvent): boolean {
    return happenedBefore(this.#get(a), this.#get(b));
  }

  /** True when events `a` and `b` are concurrent. */
  concurrent(a: string | TraceEvent, b: string | TraceEvent): boolean {
    return concurrent(this.#get(a), this.#get(b));
  }

  /** The events of one process, in process order. */
  eventsOf(process: string): TraceEvent[] {
    return this.events.filter((e) => e.process === process).sort((a, b) => a.index - b.index);
  }

  /** Every message (by id, in trace order of first appearance) with its send, receives and deliveries. */
  messages(): Map<string, TraceMessage> {
    const out = new Map<string, { id: string; send: TraceEvent | undefined; receives: TraceEvent[]; delivers: TraceEvent[] }>();
    for (const e of this.events) {
      if (e.message === undefined) continue;
      let m = out.get(e.message);
      if (m === undefined) out.set(e.message, (m = { id: e.message, send: undefined, receives: [], delivers: [] }));
      if (e.kind === 'send') m.send = e;
      else if (e.kind === 'receive') m.receives.push(e);
      else if (e.kind === 'deliver') m.delivers.push(e);
    }
    return out;
  }
}

/** Writes a trace file: created exclusively (`EEXIST` if it exists), mode 0600. */
export async function writeTrace(path: string, trace: Trace): Promise<void> {
  validateString(path, 'path');
  if (!(trace instanceof Trace)) throw new TypeError('The "trace" argument must be a Trace');
  await writeFile(path, trace.toJSONLines(), { flag: 'wx', mode: 0o600 });
}

/** Reads and checks a trace file (at most `maxBytes`, default 256 MiB). */
export async function readTrace(path: string, options: ParseTraceOptions & { maxBytes?: number } = {}): Promise<Trace> {
  validateString(path, 'path');
  const maxBytes = validateInteger(options.maxBytes ?? 256 * 1024 * 1024, 'options.maxBytes', 1, 2 ** 31 - 1);
  const { size } = await stat(path);
  if (size > maxBytes) throw badTrace(`${path}: ${size} bytes, more than ${maxBytes}`);
  const buf = await readFile(path);
  if (buf.byteLength > maxBytes) throw badTrace(`${path}: it grew past ${maxBytes} bytes while read`);
  return Trace.parse(buf.toString('utf8'), options);
}

/**
 * The index of a run's group traces that the checkers (`checkGroupTraces`)
 * work on: the events validated and sorted by member, each message numbered
 * once (with its stream: group, view and sender), and the violations collected.
 * @internal
 * @module
 */
import { validateInteger, validateObject, validateString } from '../../internal/validators.js';
import type { GroupProperty, GroupViolation } from './checkers.js';
import { groupMessageId, type GroupEvent } from './trace.js';

/** Violations kept per property; one more line counts the rest. */
export const MAX_PER_PROPERTY = 100;

/** Collects the violations, at most {@link MAX_PER_PROPERTY} per property, in the order of `properties`. */
export class Report {
  readonly #lists: Map<GroupProperty, GroupViolation[]>;
  readonly #more = new Map<GroupProperty, number>();

  constructor(readonly properties: readonly GroupProperty[]) {
    this.#lists = new Map(properties.map((p) => [p, []]));
  }

  /** Adds the violation `<group>: <member> <text>` (about message `at.id` when given). */
  add(
    property: GroupProperty,
    at: { readonly group: string; readonly id?: string | undefined },
    member: string | undefined,
    text: string,
  ): void {
    const list = this.#lists.get(property)!;
    if (list.length >= MAX_PER_PROPERTY) return void this.#more.set(property, (this.#more.get(property) ?? 0) + 1);
    const detail = `${at.group}: ${member === undefined ? '' : `${member} `}${text}`;
    list.push({ property, ...(member === undefined ? {} : { member }), ...(at.id === undefined ? {} : { message: at.id }), detail });
  }

  violations(): GroupViolation[] {
    const out: GroupViolation[] = [];
    for (const p of this.properties) {
      out.push(...this.#lists.get(p)!);
      const more = this.#more.get(p);
      if (more !== undefined) out.push({ property: p, detail: `... and ${more} more ${p} violations` });
    }
    return out;
  }
}

/** A message seen in the traces; `ix`: its sender's number; `stream`: its (group, view, sender); `scope`: its (group, view). */
export interface Msg {
  readonly group: string;
  readonly id: string;
  readonly sender: string;
  readonly view: number;
  readonly seq: number;
  readonly ix: number;
  readonly stream: number;
  readonly scope: number;
  send?: GroupEvent;
  /** Its place among its stream's messages by seq, from 1 (causal check). */
  rank: number;
}

export class Member {
  /** Per event: its message's index, -1 for a view, -2 when left out (already reported). */
  readonly ref: Int32Array;
  /** First deliveries in order, and the index of each one's event. */
  readonly delivered: number[] = [];
  readonly deliveredAt: number[] = [];
  readonly has = new Set<number>();
  /** Per group, the view ids installed in order. */
  readonly installed = new Map<string, number[]>();

  constructor(
    readonly name: string,
    readonly events: GroupEvent[],
  ) {
    this.ref = new Int32Array(events.length);
  }
}

export function entry<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) map.set(key, (v = make()));
  return v;
}

function intern(map: Map<string, number>, key: string, add: () => void): number {
  return entry(map, key, () => (add(), map.size));
}

/** Everything shared between the checks. */
export class Context {
  readonly msgs: Msg[] = [];
  readonly names: string[] = [];
  readonly streamSender: number[] = [];
  readonly scopeStreams: number[][] = [];
  /** Per group, per view id: its members as first installed, and by whom. */
  readonly views = new Map<string, Map<number, { members: readonly string[]; by: string }>>();
  /** Per group, per view id: the members that installed it and are in it. */
  readonly recorders = new Map<string, Map<number, string[]>>();
  readonly #ids = new Map<string, Map<string, number>>();
  readonly #names = new Map<string, number>();
  readonly #streams = new Map<string, number>();
  readonly #scopes = new Map<string, number>();

  /** The index of the message of a send or deliver event; undefined when its id is not its sender's and seq's. */
  message(e: GroupEvent): number | undefined {
    const ids = entry(this.#ids, e.group, () => new Map<string, number>());
    const [id, sender, seq] = [e.message!, e.sender!, e.seq!];
    const known = ids.get(id);
    if (known !== undefined) return this.msgs[known]!.sender === sender && this.msgs[known]!.seq === seq ? known : undefined;
    const view = Number(id.slice(id.lastIndexOf('@') + 1, id.lastIndexOf(':')));
    if (!Number.isSafeInteger(view) || groupMessageId(sender, view, seq) !== id) return undefined;
    const ix = intern(this.#names, sender, () => this.names.push(sender));
    const scope = intern(this.#scopes, `${e.group}\0${view}`, () => this.scopeStreams.push([]));
    const stream = intern(this.#streams, `${e.group}\0${view}\0${sender}`, () => {
      this.scopeStreams[scope]!.push(this.streamSender.push(ix) - 1);
    });
    ids.set(id, this.msgs.length);
    return this.msgs.push({ group: e.group, id, sender, view, seq, ix, stream, scope, rank: 0 }) - 1;
  }
}

function validateEvent(value: unknown, at: string): GroupEvent {
  const e = validateObject(value, at);
  validateString(e.group, `${at}.group`);
  validateString(e.member, `${at}.member`);
  validateInteger(e.view, `${at}.view`, 0);
  if (e.kind === 'view') {
    if (!Array.isArray(e.members)) throw new TypeError(`The "${at}.members" argument must be an array of member names`);
    e.members.forEach((m: unknown, k) => validateString(m, `${at}.members[${k}]`));
  } else if (e.kind === 'send' || e.kind === 'deliver') {
    validateString(e.message, `${at}.message`);
    validateString(e.sender, `${at}.sender`);
    validateInteger(e.seq, `${at}.seq`, 1);
    if (e.payload !== undefined) validateString(e.payload, `${at}.payload`);
  } else throw new TypeError(`The "${at}.kind" argument must be 'send', 'deliver' or 'view'. Received ${String(e.kind)}`);
  return e as unknown as GroupEvent;
}

/** The members (sorted by name), each with its events in the order given. */
export function collect(traces: unknown): Member[] {
  if (traces === null || typeof traces !== 'object' || !(Symbol.iterator in traces))
    throw new TypeError('The "traces" argument must be an iterable of event arrays, or an array of events');
  const flat = Array.isArray(traces) && traces.length > 0 && !Array.isArray(traces[0]);
  const by = new Map<string, GroupEvent[]>();
  (flat ? [traces] : [...(traces as Iterable<unknown>)]).forEach((list, t) => {
    if (!Array.isArray(list)) throw new TypeError(`The "traces[${t}]" argument must be an array of group events`);
    list.forEach((value: unknown, i) => {
      const e = validateEvent(value, flat ? `traces[${i}]` : `traces[${t}][${i}]`);
      entry(by, e.member, () => []).push(e);
    });
  });
  return [...by.keys()].sort().map((name) => new Member(name, by.get(name)!));
}

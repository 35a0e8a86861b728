/**
 * The two-phase total-order protocol on a lab bench: the group's own engine
 * ({@link TwoPhaseEngine}, the code every real member runs) for each member
 * of a group in one process, with the network replaced by a list of
 * messages in flight that you deliver one at a time, in the order you
 * choose, and local events that tick a member's logical clock. Replay the
 * slides' example, watch a member's hold-back buffer (ack times, commit
 * times, pending, delivered), and draw the run as a space-time diagram.
 * @module
 */
import { validateObject, validateOptions, validateString } from '../../internal/validators.js';
import { validateProcessId } from '../causality/clocks.js';
import { TraceRecorder } from '../causality/recorder.js';
import type { Stamp } from '../causality/stamp.js';
import { Trace } from '../causality/trace.js';
import type { Net } from './engine.js';
import { TwoPhaseEngine } from './total.js';
import { G, MAX_MEMBERS, type Message } from './wire.js';

/** A message of the lab's network, in flight or delivered. */
export interface LabMessage {
  readonly from: string;
  readonly to: string;
  /** `multicast`: the message itself; `ack`: phase one's answer with its ack time; `commit`: phase two, with the commit time. */
  readonly kind: 'multicast' | 'ack' | 'commit';
  /** The multicast's name (`m1`). */
  readonly message: string;
  /** The ack or commit time. */
  readonly time?: number;
}

/** One row of a member's hold-back buffer (the slides' table). */
export interface LabBufferRow {
  readonly message: string;
  /** This member's ack time for it. */
  readonly ack: number;
  /** The commit time, once known. */
  readonly commit?: number;
  readonly delivered: boolean;
}

interface InFlight extends LabMessage {
  readonly raw: Message;
  readonly stamp: Stamp;
}

/** See the module doc. */
export class TotalOrderLab {
  readonly members: readonly string[];
  readonly #engines: TwoPhaseEngine[];
  readonly #clocks: { time: number }[];
  readonly #recorders: TraceRecorder[];
  readonly #flight: InFlight[] = [];
  readonly #names = new Map<string, string>();
  readonly #rows: Map<string, { ack: number; commit?: number; delivered: boolean }>[];
  readonly #delivered: string[][];

  /** `clocks`: each member's logical clock at the start (default 0). */
  constructor(members: readonly string[], options: { clocks?: Readonly<Record<string, number>> } = {}) {
    validateOptions(options);
    if (!Array.isArray(members) || members.length < 1 || members.length > MAX_MEMBERS)
      throw new RangeError(`The "members" argument must list 1 to ${MAX_MEMBERS} members`);
    this.members = members.map((m, i) => validateProcessId(m, `members[${i}]`));
    if (new Set(this.members).size !== this.members.length) throw new RangeError('The "members" argument lists a member twice');
    const clocks = options.clocks === undefined ? {} : validateObject(options.clocks, 'options.clocks');
    this.#clocks = this.members.map((m) => ({ time: Number(clocks[m] ?? 0) }));
    this.#rows = this.members.map(() => new Map());
    this.#delivered = this.members.map(() => []);
    this.#recorders = this.members.map((m) => new TraceRecorder(m));
    this.#engines = this.members.map((_, self) => {
      const net: Net = {
        view: 1,
        self,
        n: this.members.length,
        retransmitMs: 1e9,
        send: (to, m) => this.#queue(self, to, m),
        afterSent: (fn) => fn(), // the lab's network takes a message at once
        deliver: (o, s, _p, extra) => {
          const name = this.#names.get(`${o}:${s}`)!;
          this.#delivered[self]!.push(name);
          this.#recorders[self]!.local({ label: `deliver ${name}` });
          const r = this.#row(self, name);
          r.delivered = true;
          if (extra?.ts !== undefined) r.commit = extra.ts;
        },
      };
      return new TwoPhaseEngine(net, this.#clocks[self]!);
    });
  }

  #index(member: string, name: string): number {
    const i = this.members.indexOf(validateString(member, name));
    if (i < 0) throw new RangeError(`The "${name}" argument is not a member: ${member}`);
    return i;
  }

  #row(i: number, name: string): { ack: number; commit?: number; delivered: boolean } {
    let r = this.#rows[i]!.get(name);
    if (r === undefined) this.#rows[i]!.set(name, (r = { ack: -1, delivered: false }));
    return r;
  }

  #queue(from: number, to: number, raw: Message): void {
    const t = raw[0];
    const kind = t === G.DATA ? 'multicast' : t === G.TACK ? 'ack' : t === G.COMMIT ? 'commit' : undefined;
    if (kind === undefined) return; // ACKS (stability) are not part of the slides' protocol
    const origin = t === G.DATA ? raw[2] : t === G.TACK ? to : from;
    const seq = t === G.DATA ? raw[3] : (raw[3] as number[])[0]!;
    const message = this.#names.get(`${origin}:${seq}`)!;
    const time = kind === 'multicast' ? undefined : (raw[3] as number[])[1]!;
    const label = kind === 'multicast' ? message : `${kind} ${message} (${time})`;
    const { stamp } = this.#recorders[from]!.send({ to: this.members[to]!, label });
    this.#flight.push({
      from: this.members[from]!,
      to: this.members[to]!,
      kind,
      message,
      ...(time === undefined ? {} : { time }),
      raw,
      stamp,
    });
  }

  #snapshot(): void {
    this.#engines.forEach((e, i) => {
      for (const p of e.buffer()) {
        const r = this.#row(i, this.#names.get(`${p.origin}:${p.seq}`)!);
        r.ack = p.ack;
        if (p.commit >= 0) r.commit = p.commit;
      }
    });
  }

  /** `from` multicasts a message named `name`: one copy per other member goes in flight; `from` acks its own at once. */
  multicast(from: string, name: string): void {
    const i = this.#index(from, 'from');
    validateString(name, 'name');
    const e = this.#engines[i]!;
    this.#names.set(`${i}:${e.nextSeq}`, name);
    e.multicast(new TextEncoder().encode(name));
    this.#snapshot();
  }

  /** A local event at `member`: its clock goes up by one. Returns the new time. */
  tick(member: string): number {
    const i = this.#index(member, 'member');
    this.#recorders[i]!.local({ label: 'local event' });
    return ++this.#clocks[i]!.time;
  }

  /** `member`'s logical clock now. */
  clock(member: string): number {
    return this.#clocks[this.#index(member, 'member')]!.time;
  }

  /** The messages in flight, oldest first. */
  get inFlight(): readonly LabMessage[] {
    return this.#flight.map(({ raw: _raw, stamp: _stamp, ...m }) => m);
  }

  /** Delivers the oldest message in flight that matches every field given. Returns it; a `RangeError` when none matches. */
  step(match: Partial<LabMessage> = {}): LabMessage {
    validateOptions(match, 'match');
    const k = this.#flight.findIndex((m) => (Object.keys(match) as (keyof LabMessage)[]).every((key) => match[key] === m[key]));
    if (k < 0) throw new RangeError(`No message in flight matches ${JSON.stringify(match)}`);
    const [m] = this.#flight.splice(k, 1) as [InFlight];
    const to = this.members.indexOf(m.to);
    this.#recorders[to]!.receive(m.stamp, { label: m.kind === 'multicast' ? m.message : `${m.kind} ${m.message} (${m.time})` });
    this.#engines[to]!.onMessage(m.raw, this.members.indexOf(m.from));
    this.#snapshot();
    const { raw: _raw, stamp: _stamp, ...out } = m;
    return out;
  }

  /** Delivers everything in flight (and what that sends), oldest first; at most `limit` steps. */
  run(limit = 10_000): void {
    for (let i = 0; i < limit && this.#flight.length > 0; i++) this.step();
  }

  /** The hold-back buffer of `member`'s communication handler: every message it acked, in ack order. */
  buffer(member: string): LabBufferRow[] {
    const i = this.#index(member, 'member');
    return [...this.#rows[i]!].map(([message, r]) => ({ message, ...r })).sort((x, y) => x.ack - y.ack);
  }

  /** The messages `member` delivered, in order. */
  delivered(member: string): readonly string[] {
    return this.#delivered[this.#index(member, 'member')]!;
  }

  /** The run so far as a trace (every member's sends, receives, local events and deliveries): draw it with `toSpaceTimeHtml`. */
  trace(): Trace {
    return Trace.merge(...this.#recorders.map((r) => r.events));
  }
}

/**
 * A group member: its network (a {@link Mesh}), its view, the order engine
 * of that view, its failure detector and the view changes. See
 * docs/groups.md for the guarantees; `membership.ts` holds the view-change
 * protocol.
 * @module
 */
import type { CallOptions } from '../../channels/index.js';
import { GroupError } from '../../errors.js';
import { Mesh, type SiteStats } from '../mesh.js';
import { CausalEngine } from './causal.js';
import { CastQueue } from './casts.js';
import { BestEffortEngine, FifoEngine, type Net } from './engine.js';
import { Inbox } from './inbox.js';
import { Membership, type MembershipHost } from './membership.js';
import { Outbox } from './outbox.js';
import { groupSettings, type GroupOptions, type GroupSettings } from './options.js';
import { SequencerEngine, TwoPhaseEngine } from './total.js';
import { groupMessageId, GroupTraceWriter, type GroupEvent } from './trace.js';
import { decodeFrame, G, type Message, type ViewMember } from './wire.js';

/** A view: its id (rising by one or more at each change) and its members in rank order; the first leads. */
export interface GroupView {
  readonly id: number;
  readonly members: readonly string[];
}

/** A multicast delivered to this member. */
export interface GroupMessage {
  readonly type: 'message';
  /** `<sender>@<view>:<seq>`. */
  readonly id: string;
  readonly sender: string;
  readonly seq: number;
  /** The view it was sent and delivered in. */
  readonly view: number;
  readonly payload: Uint8Array;
  /** Total order: the commit time (two-phase) or the sequence number (sequencer). */
  readonly ts?: number;
}

/** A view installed: every delivery after it belongs to this view, until the next. */
export interface GroupViewChange {
  readonly type: 'view';
  readonly view: GroupView;
}

/** What {@link Group.receive} returns: messages and views, in delivery order. */
export type GroupDelivery = GroupMessage | GroupViewChange;

/** Counters of a member. */
export interface GroupStats extends SiteStats {
  /** Messages delivered to this member. */
  delivered: number;
  /** Views installed. */
  views: number;
  /** Messages of a later view kept until it is installed, and older-view messages dropped. */
  early: number;
  stale: number;
  /** Multicasts of others not taken because the deliveries waiting for the application passed `maxQueuedBytes` (their origins send them again; best effort: lost). */
  deferred: number;
}

const TICK_MS = 10;
/** What a queued delivery weighs beyond its payload (the object, its id), against `maxQueuedBytes`. */
const DELIVERY_OVERHEAD = 128;
/** Messages of a view this member has not installed yet, kept until it does (beyond: dropped, and sent again by their origins). */
const EARLY_LIMIT = 65536;

/**
 * One member of a group. Get one with {@link joinGroup}. Multicast with
 * `multicast(bytes)`; take deliveries (messages and views, in order) with
 * `receive()`, `tryReceive()` or `for await`. `leave()` leaves gracefully
 * (the others install a view without this member); `close()` stops at once
 * (to the others, the same as a crash).
 */
export class Group implements AsyncIterable<GroupDelivery> {
  readonly #s: GroupSettings;
  readonly #mesh: Mesh;
  readonly #inbox: Inbox<GroupDelivery>;
  readonly #trace: GroupTraceWriter | undefined;
  readonly #membership: Membership;
  readonly #outbox: Outbox;
  readonly #casts: CastQueue<Uint8Array>;
  readonly #clock = { time: 0 };
  readonly #timer: NodeJS.Timeout;
  readonly stats: GroupStats;
  #engine: FifoEngine | undefined;
  #members: ViewMember[] = [];
  #viewId = 0;
  #self = -1;
  #counts: number[] = [];
  #future: Message[] = [];
  /** Ticks so far, and the tick each member of the view was last heard from (see #onMessage). */
  #ticks = 0;
  #heardAt: number[] = [];
  #flushing = false;
  #closed: Error | undefined;

  private constructor(s: GroupSettings, mesh: Mesh) {
    this.#s = s;
    this.#mesh = mesh;
    this.#outbox = new Outbox(mesh);
    this.stats = Object.assign(mesh.stats, { delivered: 0, views: 0, early: 0, stale: 0, deferred: 0 });
    this.#casts = new CastQueue<Uint8Array>(
      'group.multicast',
      'the window or a view change',
      mesh.maxMessageSize - 1024,
      () => this.#canSend(),
      (p) => this.#cast(p),
    );
    this.#inbox = new Inbox<GroupDelivery>(`group ${s.group}`, (d) => (d.type === 'message' ? d.payload.length + DELIVERY_OVERHEAD : 0));
    this.#trace = s.trace === undefined ? undefined : new GroupTraceWriter(s.trace);
    const host: MembershipHost = {
      settings: s,
      url: mesh.url,
      send: (address, m) => this.#send(address, m),
      view: () => ({ id: this.#viewId, members: this.#members }),
      engine: () => this.#engine,
      stopForFlush: () => {
        this.#flushing = true;
      },
      install: (id, members, entries) => this.#install(id, members, entries),
      completion: (reports, delivered) => this.#completion(reports, delivered),
      fail: (err) => this.#fail(err),
    };
    this.#membership = new Membership(host);
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  /** Joins (or founds) a group: resolves once this member is in a view. */
  static async join(options: GroupOptions): Promise<Group> {
    const s = groupSettings(options);
    const made: { g?: Group } = {};
    const mesh = await Mesh.open(
      s.mesh,
      (bytes) => {
        const frame = decodeFrame(bytes); // throws on a malformed frame: the mesh ends that connection
        if (made.g !== undefined) for (const m of frame) made.g.#onMessage(m);
        return true;
      },
      (address, why) => {
        if (made.g !== undefined) made.g.#membership.linkDown(address, why);
      },
      false, // no spin in the reads: see Mesh.open
    );
    const g = (made.g = new Group(s, mesh));
    try {
      await g.#membership.start();
    } catch (err) {
      await g.close();
      throw err;
    }
    return g;
  }

  /** The group's name. */
  get group(): string {
    return this.#s.group;
  }

  /** This member's id. */
  get member(): string {
    return this.#s.member;
  }

  /** Where this member listens (what it gives the others). */
  get url(): string {
    return this.#mesh.url;
  }

  /** The view installed now. */
  get view(): GroupView {
    return { id: this.#viewId, members: this.#members.map((m) => m.id) };
  }

  /** This member's events so far (with `trace` set). */
  get trace(): readonly GroupEvent[] {
    return this.#trace?.events ?? [];
  }

  /**
   * Multicasts `payload` to the group in the current view (in the order of
   * the calls). Resolves once the protocol took it: it will be delivered to
   * every member of this view that stays in the group (reliable orders).
   * Waits while `window` multicasts of this member are not yet delivered
   * everywhere, or while a view change runs; abortable.
   */
  multicast(payload: Uint8Array, options?: CallOptions): Promise<void> {
    return this.#casts.submit(this.#casts.checkPayload(payload), options);
  }

  /** Sends queued multicasts while the window and the view allow. */
  #pump(): void {
    this.#casts.pump();
  }

  /** The engine takes a multicast now: a view, no view change, room in the window. */
  #canSend(): boolean {
    const e = this.#engine;
    return e !== undefined && !this.#flushing && this.#closed === undefined && e.backlog < this.#s.window;
  }

  #cast(payload: Uint8Array): void {
    const e = this.#engine!;
    if (this.#trace !== undefined) {
      const seq = e.nextSeq;
      this.#record({ kind: 'send', message: groupMessageId(this.#s.member, this.#viewId, seq), sender: this.#s.member, seq }, payload);
    }
    e.multicast(payload);
  }

  /** The next delivery (a message or a view), in order. Rejects with the member's end (`ERR_GROUP_CLOSED`, `ERR_GROUP_EXCLUDED`) once all before it were taken. */
  receive(options?: CallOptions): Promise<GroupDelivery> {
    return this.#inbox.receive(options);
  }

  /** The next delivery if one is waiting. */
  tryReceive(): GroupDelivery | undefined {
    return this.#inbox.tryReceive();
  }

  [Symbol.asyncIterator](): AsyncIterator<GroupDelivery> {
    return this.#inbox.iterate((err) => err instanceof GroupError && err.code === 'ERR_GROUP_CLOSED');
  }

  #record(e: Omit<GroupEvent, 'group' | 'member' | 'view'>, payload?: Uint8Array): void {
    const ev: GroupEvent = { group: this.#s.group, member: this.#s.member, view: this.#viewId, ...e };
    this.#trace!.record(this.#s.trace!.payloads && payload !== undefined ? { ...ev, payload: Buffer.from(payload).toString('hex') } : ev);
  }

  #deliver(origin: number, seq: number, payload: Uint8Array, extra?: { ts?: number }): void {
    const sender = this.#members[origin]!.id;
    const id = groupMessageId(sender, this.#viewId, seq);
    this.#counts[origin] = Math.max(this.#counts[origin]!, seq);
    this.stats.delivered++;
    if (this.#trace !== undefined) {
      const time: Record<string, number> = {};
      this.#members.forEach((m, i) => (time[m.id] = this.#counts[i]!));
      this.#record({ kind: 'deliver', message: id, sender, seq, time, ...(extra?.ts === undefined ? {} : { ts: extra.ts }) }, payload);
    }
    this.#inbox.push(
      extra?.ts === undefined
        ? { type: 'message', id, sender, seq, view: this.#viewId, payload }
        : { type: 'message', id, sender, seq, view: this.#viewId, payload, ts: extra.ts },
    );
  }

  #newEngine(): FifoEngine {
    const members = this.#members;
    const net: Net = {
      view: this.#viewId,
      self: this.#self,
      n: members.length,
      retransmitMs: this.#s.retransmitMs,
      send: (to, m) => this.#send(members[to]!.address, m),
      // The outbox goes at the next turn, the stream channels write at the one after.
      afterSent: (fn) => setImmediate(() => setImmediate(fn)),
      endOfTurn: queueMicrotask,
      deliver: (o, s, p, extra) => this.#deliver(o, s, p, extra),
    };
    switch (this.#s.order) {
      case 'none':
        return new BestEffortEngine(net);
      case 'causal':
        return new CausalEngine(net, this.#s.window * members.length + 1024);
      case 'total':
        return new TwoPhaseEngine(net, this.#clock);
      case 'sequencer':
        return new SequencerEngine(net);
      default:
        return new FifoEngine(net);
    }
  }

  #completion(reports: Parameters<typeof FifoEngine.complete>[0], delivered: Parameters<typeof FifoEngine.complete>[1]) {
    const k = this.#s.order === 'total' ? TwoPhaseEngine : this.#s.order === 'sequencer' ? SequencerEngine : FifoEngine;
    return k.complete(reports, delivered);
  }

  /** Finishes the current view with the leader's completion, then installs view `id`. */
  #install(id: number, members: ViewMember[], entries: Parameters<FifoEngine['finish']>[0] | undefined): void {
    if (entries !== undefined && this.#engine !== undefined) this.#engine.finish(entries);
    this.#engine?.close();
    this.#engine = undefined;
    this.#viewId = id;
    this.#members = members;
    this.#self = members.findIndex((m) => m.id === this.#s.member);
    this.#counts = new Array<number>(members.length).fill(0);
    this.#heardAt = new Array<number>(members.length).fill(-1);
    this.#flushing = false;
    this.stats.views++;
    if (this.#trace !== undefined) this.#record({ kind: 'view', members: members.map((m) => m.id) });
    this.#inbox.push({ type: 'view', view: this.view });
    if (this.#self < 0) return; // excluded or left: Membership ends the member
    this.#engine = this.#newEngine();
    const early = this.#future;
    this.#future = [];
    for (const m of early) this.#onMessage(m);
    this.#pump();
  }

  #onMessage(m: Message): void {
    if (this.#closed !== undefined) return;
    switch (m[0]) {
      case G.DATA:
      case G.SUBMIT:
      case G.ACKS:
      case G.TACK:
      case G.COMMIT: {
        const v = m[1];
        if (v > this.#viewId) {
          if (this.#future.length < EARLY_LIMIT) this.#future.push(m);
          this.stats.early++;
        } else if (v < this.#viewId || this.#engine === undefined || this.#flushing) this.stats.stale++;
        else {
          // Every one of these names its sender at [2]; once per tick is enough for the failure detector.
          if (this.#heardAt[m[2]] !== this.#ticks) {
            this.#heardAt[m[2]] = this.#ticks;
            this.#membership.heardIndex(m[2]);
          }
          // The application is behind: new multicasts wait at their origins (not acknowledged here, they are
          // sent again), which fills their windows: the backpressure reaches every sender.
          if ((m[0] === G.DATA || m[0] === G.SUBMIT) && this.#inbox.bytes >= this.#s.maxQueuedBytes) {
            this.stats.deferred++;
            return;
          }
          this.#engine.onMessage(m, -1);
          this.#pump();
        }
        return;
      }
      default:
        this.#membership.onMessage(m);
    }
  }

  #send(address: string, m: Message): void {
    if (address === this.#mesh.url) return void queueMicrotask(() => this.#onMessage(m)); // to self: FLUSH, INSTALL of a leader
    this.#outbox.push(address, m);
  }

  #tick(): void {
    if (this.#closed !== undefined) return;
    this.#ticks++;
    const now = Date.now();
    if (!this.#flushing) this.#engine?.tick(now);
    this.#membership.tick(now);
    this.#pump();
  }

  #fail(err: Error): void {
    if (this.#closed !== undefined) return;
    this.#closed = err;
    clearInterval(this.#timer);
    this.#engine?.close();
    this.#casts.end(err);
    this.#inbox.end(err);
    this.#trace?.close();
    this.#outbox.flush();
    void Mesh.turn().then(() => this.#mesh.close());
  }

  /**
   * Leaves the group: the leader installs a view without this member after
   * finishing the current one (this member delivers its messages too), then
   * this member closes. Rejects `ERR_GROUP_CLOSED` after `timeoutMs`
   * (default: `joinTimeoutMs`), closing anyway.
   */
  async leave(options?: CallOptions): Promise<void> {
    if (this.#closed !== undefined) return;
    try {
      await this.#membership.leave(options?.timeoutMs ?? this.#s.joinTimeoutMs);
    } finally {
      await this.close();
    }
  }

  /** Stops at once: the others see it as a failure. Deliveries already queued stay receivable. */
  async close(): Promise<void> {
    this.#fail(new GroupError('ERR_GROUP_CLOSED', `The member ${this.#s.member} of group ${this.#s.group} is closed`));
    this.#membership.close();
    await this.#mesh.close();
  }
}

/** Joins (or founds) a group: see {@link Group}. */
export function joinGroup(options: GroupOptions): Promise<Group> {
  return Group.join(options);
}

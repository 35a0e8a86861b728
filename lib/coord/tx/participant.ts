/**
 * The two-phase commit participant (the slides' `2PC_Participant`): votes
 * through its resource manager, logs its YES before sending it, never
 * changes a vote, applies the decision, and when in doubt asks the
 * coordinator, then the other participants (cooperative termination). See
 * docs/transactions.md.
 * @module
 */
import { TxError } from '../../errors.js';
import { validateInteger, validateObject } from '../../internal/validators.js';
import type { ActivityLog } from '../activity-log.js';
import { commonOptions, openRole, parseTxId, point, pointAfterSend, resender, type CommonOptions, type TxSiteOptions } from './common.js';
import { encodeRecord, type DecodedRecord } from './records.js';
import type { ResourceManager } from './resource.js';
import type { MessageSource, Site, SiteStats } from './site.js';
import { Msg, type Message, type Status } from './wire.js';

/** Options of {@link Participant.open}. */
export interface ParticipantOptions extends TxSiteOptions {
  /** What the transactions change here. */
  resource: ResourceManager;
  /** How long after its YES a participant waits for the decision before it asks, ms (default 1000). */
  decisionTimeoutMs?: number;
}

/** How long a participant's commit record may wait for a batch to ride with before it is flushed alone, ms. */
const COMMIT_RECORD_DEFER_MS = 5;

/** Decided transactions remembered in memory (beyond this, the oldest are forgotten). */
export const OUTCOMES_KEPT = 65536;
/** Coordinator incarnations whose forgotten transactions are remembered; beyond it, every unknown transaction is answered 'unknown'. */
const INCARNATIONS_KEPT = 4096;

interface Branch {
  readonly x: string;
  state: 'preparing' | 'prepared' | 'committing';
  readonly c: string;
  readonly p: readonly string[];
  /** This participant's own address in `p`. */
  readonly self: string;
  readonly w: Uint8Array;
  abortWhenPrepared: boolean;
  stopInquiry: () => void;
}

/** A participant: one site of the transactions, with its log and its resource manager. */
export class Participant {
  readonly #site: Site;
  readonly #log: ActivityLog;
  readonly #rm: ResourceManager;
  readonly #o: CommonOptions;
  readonly #decisionTimeoutMs: number;
  readonly #branches = new Map<string, Branch>();
  readonly #outcomes = new Map<string, 'committed' | 'aborted'>();
  /** Per coordinator incarnation, the highest transaction number this site may have forgotten. */
  #forgotten = new Map<string, number>();
  /** Incarnations started at or before this time (ms) may have been forgotten whole (their watermarks were evicted). */
  #forgottenBefore = -1;
  #checkpointing = false;
  #nextCheckpoint: number;
  #failed: unknown;
  #closed = false;

  private constructor(site: Site, log: ActivityLog, rm: ResourceManager, o: CommonOptions, decisionTimeoutMs: number) {
    this.#site = site;
    this.#log = log;
    this.#rm = rm;
    this.#o = o;
    this.#decisionTimeoutMs = decisionTimeoutMs;
    this.#nextCheckpoint = o.checkpointBytes;
  }

  /** Opens the log, replays it into the resource manager, listens, and asks about every transaction left in doubt. */
  static async open(options: ParticipantOptions): Promise<Participant> {
    const o = commonOptions(options);
    const rm = validateObject(options.resource, 'options.resource') as unknown as ResourceManager;
    for (const f of ['prepare', 'recover', 'commit', 'abort', 'snapshot', 'restore'] as const)
      if (typeof rm[f] !== 'function') throw new TypeError(`The "options.resource.${f}" property must be a function`);
    const decisionTimeoutMs = validateInteger(options.decisionTimeoutMs ?? 1000, 'options.decisionTimeoutMs', 1, 3_600_000);
    return openRole(
      options,
      (site, log, records) => {
        const p = new Participant(site, log, rm, o, decisionTimeoutMs);
        p.#replay(records);
        return p;
      },
      (p, m, from) => p.#onMessage(m, from),
    );
  }

  #replay(records: DecodedRecord[]): void {
    for (const r of records) {
      const b = this.#branches.get(r.x);
      if (r.k === 'S') {
        this.#rm.restore(r.s as Uint8Array);
        this.#forgotten = new Map(r.f as Array<[string, number]>);
        this.#forgottenBefore = r.b as number;
      } else if (r.k === 'P') {
        const p = r.p as string[];
        const nb: Branch = {
          x: r.x,
          state: 'prepared',
          c: r.c as string,
          p,
          self: r.a as string,
          w: r.w as Uint8Array,
          abortWhenPrepared: false,
          stopInquiry: () => undefined,
        };
        this.#branches.set(r.x, nb);
        this.#rm.recover(r.x, nb.w);
      } else if (r.k === 'C') {
        // Without its P, the commit is in the checkpoint's snapshot already (it was committing when the checkpoint ran).
        if (b !== undefined) this.#rm.commit(r.x, b.w);
        this.#branches.delete(r.x);
        this.#remember(r.x, 'committed');
      } else if (r.k === 'A') {
        if (b !== undefined) this.#rm.abort(r.x);
        this.#branches.delete(r.x);
        this.#remember(r.x, 'aborted');
      }
    }
    for (const b of this.#branches.values()) this.#inDoubt(b, 0);
  }

  /** Where coordinators reach this participant. */
  get url(): string {
    return this.#site.url;
  }

  /** Network counters. */
  get stats(): SiteStats {
    return this.#site.stats;
  }

  /** The transactions prepared here whose decision is not known yet. */
  get inDoubt(): string[] {
    return [...this.#branches.values()].filter((b) => b.state === 'prepared').map((b) => b.x);
  }

  /**
   * Transactions not finished here: being prepared, prepared (in doubt), or
   * committing (applied, its commit record not durable yet). 0 means every
   * outcome this participant took part in is on stable storage.
   */
  get active(): number {
    return this.#branches.size;
  }

  /** What this participant knows of transaction `x`. */
  status(x: string): Status {
    const b = this.#branches.get(x);
    if (b !== undefined) return b.state === 'preparing' ? 'unknown' : b.state === 'committing' ? 'committed' : 'prepared';
    return this.#outcomes.get(x) ?? 'unknown';
  }

  #remember(x: string, outcome: 'committed' | 'aborted'): void {
    this.#outcomes.set(x, outcome);
    if (this.#outcomes.size > OUTCOMES_KEPT) {
      const oldest = this.#outcomes.keys().next().value as string;
      this.#outcomes.delete(oldest);
      this.#forget(oldest);
    }
  }

  #forget(x: string): void {
    const id = parseTxId(x);
    if (id === undefined) return;
    if ((this.#forgotten.get(id.incarnation) ?? 0) < id.n) this.#forgotten.set(id.incarnation, id.n);
    if (this.#forgotten.size > INCARNATIONS_KEPT) {
      // Forget the oldest incarnation's watermark; remember that everything that old may be forgotten.
      let oldest: [string, number] | undefined;
      for (const k of this.#forgotten.keys()) {
        const t = parseTxId(`${k}.1`)?.started ?? Number.NaN;
        if (!Number.isNaN(t) && (oldest === undefined || t < oldest[1])) oldest = [k, t];
      }
      if (oldest === undefined) oldest = [this.#forgotten.keys().next().value as string, Number.MAX_SAFE_INTEGER];
      this.#forgotten.delete(oldest[0]);
      this.#forgottenBefore = Math.max(this.#forgottenBefore, oldest[1]);
    }
  }

  /** True when this site may have known `x` and forgotten it (then it must not claim it never voted). */
  #mayHaveForgotten(x: string): boolean {
    const id = parseTxId(x);
    if (id === undefined || Number.isNaN(id.started)) return true; // not an id of ours: claim nothing
    const w = this.#forgotten.get(id.incarnation);
    return w === undefined ? id.started <= this.#forgottenBefore : id.n <= w;
  }

  #onMessage(m: Message, from: MessageSource): void {
    if (this.#failed !== undefined) return;
    const b = this.#branches.get(m.x);
    switch (m.t) {
      case Msg.VOTE_REQ:
        if (b !== undefined) {
          if (b.state !== 'preparing') from.reply({ t: Msg.VOTE, x: m.x, a: b.self, y: true });
        } else if (this.#outcomes.has(m.x)) {
          from.reply({ t: Msg.VOTE, x: m.x, a: m.p[m.i]!, y: this.#outcomes.get(m.x) === 'committed' });
        } else if (this.#mayHaveForgotten(m.x)) {
          // It may have been refused here (to end another participant's doubt) and forgotten since: NO is always safe.
          from.reply({ t: Msg.VOTE, x: m.x, a: m.p[m.i]!, y: false, why: 'the participant may have refused it before' });
        } else void this.#prepare(m, from);
        return;
      case Msg.COMMIT:
        if (b?.state === 'prepared') void this.#commit(b, from);
        else if (b === undefined) from.reply({ t: Msg.ACK, x: m.x, a: m.a }); // already committed (and maybe forgotten)
        return;
      case Msg.ABORT:
        if (b?.state === 'preparing') b.abortWhenPrepared = true;
        else if (b?.state === 'prepared') void this.#abort(b);
        else if (b === undefined && !this.#outcomes.has(m.x)) this.#remember(m.x, 'aborted'); // a VOTE_REQ that comes late is refused
        return;
      case Msg.DECISION:
        if (b?.state === 'prepared' && m.d === 'commit') void this.#commit(b, undefined);
        else if (b?.state === 'prepared' && m.d === 'abort') void this.#abort(b);
        return;
      case Msg.STATUS:
        if (b?.state === 'prepared' && m.s === 'committed') void this.#commit(b, undefined);
        else if (b?.state === 'prepared' && m.s === 'aborted') void this.#abort(b);
        return;
      case Msg.STATUS_REQ:
        void this.#answerStatus(m.x, b, from);
        return;
      case Msg.REQUEST:
        void this.#request(m.r, m.b, from);
        return;
      default:
        return;
    }
  }

  async #prepare(m: Extract<Message, { t: typeof Msg.VOTE_REQ }>, from: MessageSource): Promise<void> {
    const f = this.#o.faults;
    const self = m.p[m.i]!;
    const reason = this.#rm.prepare(m.x, m.w);
    if (reason !== undefined) {
      this.#remember(m.x, 'aborted'); // a NO needs no record: with no record, the answer is abort
      await point(f, 'participant:before-vote-send');
      from.reply({ t: Msg.VOTE, x: m.x, a: self, y: false, why: reason });
      return;
    }
    const b: Branch = { x: m.x, state: 'preparing', c: m.c, p: m.p, self, w: m.w, abortWhenPrepared: false, stopInquiry: () => undefined };
    this.#branches.set(m.x, b);
    try {
      await point(f, 'participant:before-prepared-log');
      await this.#log.append(encodeRecord({ k: 'P', x: m.x, c: m.c, p: m.p, a: self, w: m.w }));
      await point(f, 'participant:after-prepared-log');
    } catch (err) {
      return this.#fail(err);
    }
    b.state = 'prepared';
    if (b.abortWhenPrepared) return this.#abort(b);
    await point(f, 'participant:before-vote-send');
    from.reply({ t: Msg.VOTE, x: m.x, a: self, y: true });
    await pointAfterSend(f, 'participant:after-vote-send');
    if (b.state === 'prepared' && !this.#closed) this.#inDoubt(b, this.#decisionTimeoutMs);
  }

  /** Asks for the decision of `b` after `afterMs`, then again and again: the coordinator first, then also every other participant. */
  #inDoubt(b: Branch, afterMs: number): void {
    let asks = 0;
    const ask = (): void => {
      if (b.state !== 'prepared') return;
      this.#site.send(b.c, { t: Msg.DECISION_REQ, x: b.x });
      if (asks++ > 0) for (const peer of b.p) if (peer !== b.self) this.#site.send(peer, { t: Msg.STATUS_REQ, x: b.x });
    };
    const start = setTimeout(() => {
      ask();
      b.stopInquiry = resender(this.#o.retryMs, this.#o.retryMaxMs, ask);
    }, afterMs);
    start.unref();
    b.stopInquiry = () => clearTimeout(start);
  }

  async #commit(b: Branch, from: MessageSource | undefined): Promise<void> {
    const f = this.#o.faults;
    b.state = 'committing';
    b.stopInquiry();
    // Known from here on: a checkpoint that takes the effect into its snapshot forgets it by watermark, never silently.
    this.#remember(b.x, 'committed');
    this.#rm.commit(b.x, b.w);
    try {
      await point(f, 'participant:before-commit-log');
      // Forced before the ACK, but deferred: it rides with the next prepared record's fdatasync (or goes within 5 ms).
      await this.#log.appendDeferred(encodeRecord({ k: 'C', x: b.x }), COMMIT_RECORD_DEFER_MS);
      await point(f, 'participant:after-commit-log');
    } catch (err) {
      return this.#fail(err);
    }
    this.#branches.delete(b.x);
    const ack: Message = { t: Msg.ACK, x: b.x, a: b.self };
    await point(f, 'participant:before-ack-send');
    if (from !== undefined) from.reply(ack);
    else this.#site.send(b.c, ack);
    await pointAfterSend(f, 'participant:after-ack-send');
    this.#maybeCheckpoint();
  }

  async #abort(b: Branch): Promise<void> {
    const f = this.#o.faults;
    b.stopInquiry();
    this.#branches.delete(b.x);
    this.#rm.abort(b.x);
    this.#remember(b.x, 'aborted');
    await point(f, 'participant:before-abort-log');
    this.#log.appendLazy(encodeRecord({ k: 'A', x: b.x }));
    await point(f, 'participant:after-abort-log');
    this.#maybeCheckpoint();
  }

  async #answerStatus(x: string, b: Branch | undefined, from: MessageSource): Promise<void> {
    if (b !== undefined) {
      if (b.state !== 'preparing') from.reply({ t: Msg.STATUS, x, s: b.state === 'committing' ? 'committed' : 'prepared' });
      return;
    }
    const known = this.#outcomes.get(x);
    if (known !== undefined) return from.reply({ t: Msg.STATUS, x, s: known });
    if (this.#mayHaveForgotten(x)) return from.reply({ t: Msg.STATUS, x, s: 'unknown' });
    // Never voted on it: refuse it for good (forced: a later VOTE_REQ must get NO), so the asker may abort.
    this.#remember(x, 'aborted');
    try {
      await this.#log.append(encodeRecord({ k: 'A', x }));
    } catch (err) {
      return this.#fail(err);
    }
    from.reply({ t: Msg.STATUS, x, s: 'aborted' });
  }

  async #request(r: number, body: Uint8Array, from: MessageSource): Promise<void> {
    try {
      if (this.#rm.request === undefined) throw new TxError('ERR_TX_REQUEST', 'This participant takes no requests');
      from.reply({ t: Msg.REPLY, x: '', r, b: await this.#rm.request(body) });
    } catch (err) {
      from.reply({ t: Msg.REPLY, x: '', r, e: String((err as Error)?.message ?? err).slice(0, 4096) });
    }
  }

  #maybeCheckpoint(): void {
    if (this.#checkpointing || this.#log.size < this.#nextCheckpoint) return;
    this.#checkpointing = true;
    // What is decided is in the snapshot; its outcome is forgotten (watermarks say so); what is prepared is kept.
    for (const x of this.#outcomes.keys()) this.#forget(x);
    const keep = [encodeRecord({ k: 'S', s: this.#rm.snapshot(), f: [...this.#forgotten], b: this.#forgottenBefore })];
    // A branch committing is in the snapshot already (its decision is commit); one preparing must stay prepared.
    for (const b of this.#branches.values())
      if (b.state !== 'committing') keep.push(encodeRecord({ k: 'P', x: b.x, c: b.c, p: [...b.p], a: b.self, w: b.w }));
    // The next one when the log has grown as much again (a snapshot larger than checkpointBytes must not be rewritten at every decision).
    this.#nextCheckpoint = Math.max(this.#o.checkpointBytes, 2 * keep.reduce((n, r) => n + r.length, 0));
    this.#log
      .checkpoint(keep)
      .catch((err: unknown) => this.#fail(err))
      .finally(() => (this.#checkpointing = false));
  }

  #fail(err: unknown): void {
    if (this.#failed !== undefined) return;
    // The log cannot be trusted to hold what comes next: stop taking part (a restart recovers from what is on disk).
    this.#failed = err;
    for (const b of this.#branches.values()) b.stopInquiry();
    void this.#site.close();
  }

  /** The log failure that stopped this participant, if any (it then answers nothing: restart it). */
  get failure(): unknown {
    return this.#failed;
  }

  /** Stops asking, closes the network and the log (prepared transactions stay prepared in the log). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const b of this.#branches.values()) b.stopInquiry();
    await this.#site.close();
    await this.#log.close();
  }
}

/**
 * The two-phase commit coordinator (the slides' `2PC_Coordinator`), with
 * presumed abort: see docs/transactions.md for the protocol, its records
 * and its recovery.
 * @module
 */
import { TxError } from '../../errors.js';
import { validateAbortSignal, validateBytes, validateInteger, validateOptions, validateString } from '../../internal/validators.js';
import type { ActivityLog } from '../activity-log.js';
import {
  commonOptions,
  openRole,
  newIncarnation,
  parseTxId,
  point,
  pointAfterSend,
  resender,
  type CommonOptions,
  type TxSiteOptions,
} from './common.js';
import { encodeRecord, type DecodedRecord } from './records.js';
import type { MessageSource, Site, SiteStats } from './site.js';
import { MAX_PARTICIPANTS, MAX_TX_ID_LENGTH, Msg, type Message } from './wire.js';

/** Room kept in a VOTE_REQ for its fields and each participant's address. */
const MESSAGE_OVERHEAD = 1100;

/** Options of {@link Coordinator.open}. */
export interface CoordinatorOptions extends TxSiteOptions {
  /** How long the coordinator waits for every vote before it aborts, ms (default 5000). */
  voteTimeoutMs?: number;
}

/** One participant's share of a transaction. */
export interface TxBranch {
  /** The participant's address. */
  readonly address: string;
  /** What it is to prepare and commit, as its resource manager reads it. */
  readonly work: Uint8Array;
}

/** Options of {@link Coordinator.commit}. */
export interface CommitOptions {
  /** Aborts the transaction if it is still voting (after the decision, it has no effect). */
  signal?: AbortSignal;
  /** The vote timeout of this transaction (default: the coordinator's). */
  voteTimeoutMs?: number;
}

interface Active {
  readonly x: string;
  readonly branches: readonly TxBranch[];
  readonly addresses: string[];
  phase: 'voting' | 'deciding' | 'committed' | 'aborted';
  readonly yes: Set<string>;
  readonly acked: Set<string>;
  /** Stops the vote timeout and the vote resends. */
  stopVoting: () => void;
  /** Stops the decision resends. */
  stop: () => void;
  settle?: (err?: TxError) => void;
}

/** The coordinator of a site: runs two-phase commits and answers in-doubt participants. */
export class Coordinator {
  readonly #site: Site;
  readonly #log: ActivityLog;
  readonly #o: CommonOptions;
  readonly #voteTimeoutMs: number;
  readonly #incarnation = newIncarnation();
  readonly #active = new Map<string, Active>();
  #n = 0;
  #checkpointing = false;
  #nextCheckpoint: number;
  #failed: unknown;
  #closed = false;

  private constructor(site: Site, log: ActivityLog, o: CommonOptions, voteTimeoutMs: number) {
    this.#site = site;
    this.#log = log;
    this.#o = o;
    this.#voteTimeoutMs = voteTimeoutMs;
    this.#nextCheckpoint = o.checkpointBytes;
  }

  /**
   * Opens the log, listens, and recovers: a transaction whose commit record
   * is in the log but whose end record is not is committed again (COMMIT
   * resent until every participant acknowledges); one with a precommit
   * record and no decision is aborted (ABORT sent to its participants).
   */
  static async open(options: CoordinatorOptions): Promise<Coordinator> {
    const o = commonOptions(options);
    const voteTimeoutMs = validateInteger(options.voteTimeoutMs ?? 5000, 'options.voteTimeoutMs', 1, 3_600_000);
    return openRole(
      options,
      (site, log, records) => {
        const c = new Coordinator(site, log, o, voteTimeoutMs);
        c.#recover(records);
        return c;
      },
      (c, m, from) => c.#onMessage(m, from),
    );
  }

  /** Where participants reach this coordinator. */
  get url(): string {
    return this.#site.url;
  }

  /** Network counters. */
  get stats(): SiteStats {
    return this.#site.stats;
  }

  /** Transactions not finished: voting, or committed and not yet acknowledged by every participant. */
  get active(): number {
    return this.#active.size;
  }

  #recover(records: DecodedRecord[]): void {
    const begun = new Map<string, string[]>();
    const committed = new Map<string, string[]>();
    for (const r of records) {
      if (r.k === 'B') begun.set(r.x, r.p as string[]);
      else if (r.k === 'C') committed.set(r.x, r.p as string[]);
      else {
        begun.delete(r.x);
        committed.delete(r.x);
      }
    }
    for (const [x, p] of committed) {
      begun.delete(x);
      const a = this.#track(
        x,
        p.map((address) => ({ address, work: new Uint8Array(0) })),
      );
      a.phase = 'committed';
      this.#sendDecision(a);
    }
    for (const [x, p] of begun) {
      // Precommitted, undecided: the coordinator decides abort (it could retake the vote; abort is what presumed abort implies).
      this.#log.appendLazy(encodeRecord({ k: 'A', x }));
      for (const address of p) this.#site.send(address, { t: Msg.ABORT, x });
    }
  }

  #track(x: string, branches: readonly TxBranch[]): Active {
    const a: Active = {
      x,
      branches,
      addresses: branches.map((b) => b.address),
      phase: 'voting',
      yes: new Set(),
      acked: new Set(),
      stopVoting: () => undefined,
      stop: () => undefined,
    };
    this.#active.set(x, a);
    return a;
  }

  /**
   * Sends a request to the participant at `address`'s resource manager (a
   * read of the store) and resolves with its answer; `ERR_TX_TIMEOUT` after
   * `timeoutMs`, `ERR_TX_REQUEST` with the error it answered.
   */
  request(address: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return this.#site.request(address, body, timeoutMs);
  }

  /** A new transaction id, unique across this coordinator's restarts: `<name>.<incarnation>.<n>`. */
  newTxId(): string {
    return `${this.#o.name}.${this.#incarnation}.${++this.#n}`;
  }

  /**
   * Runs two-phase commit of transaction `x` over `branches` (one per
   * participant). Resolves once the commit decision is on disk (the
   * participants learn it after); rejects `ERR_TX_ABORTED` when a
   * participant voted NO, a vote did not come within the vote timeout, or
   * `signal` aborted it while voting (`reason` says which).
   */
  async commit(x: string, branches: readonly TxBranch[], options: CommitOptions = {}): Promise<void> {
    validateString(x, 'x');
    if (!Array.isArray(branches)) throw new TypeError('The "branches" argument must be an array');
    validateOptions(options);
    const signal = validateAbortSignal(options.signal, 'options.signal');
    const timeoutMs = validateInteger(options.voteTimeoutMs ?? this.#voteTimeoutMs, 'options.voteTimeoutMs', 1, 3_600_000);
    if (branches.length < 1 || branches.length > MAX_PARTICIPANTS)
      throw new RangeError(`A transaction has 1 to ${MAX_PARTICIPANTS} participants. Received ${branches.length}`);
    branches.forEach((b, i) => {
      validateString(b.address, `branches[${i}].address`);
      validateBytes(b.work, `branches[${i}].work`);
      const room = this.#site.maxMessageSize - MESSAGE_OVERHEAD * (branches.length + 1);
      if (b.work.byteLength > room)
        throw new RangeError(
          `The work of branches[${i}] (${b.work.byteLength} bytes) does not fit in one message (at most ${room} bytes here: raise maxMessageSize)`,
        );
    });
    if (new Set(branches.map((b) => b.address)).size !== branches.length)
      throw new RangeError('Each participant may appear once in "branches"');
    if (x.length > MAX_TX_ID_LENGTH || Number.isNaN(parseTxId(x)?.started ?? Number.NaN))
      throw new RangeError(
        `The transaction id '${x.slice(0, 40)}' is not one of newTxId(): participants refuse other ids (they could not tell whether they forgot them)`,
      );
    if (this.#closed) throw new TxError('ERR_TX_CLOSED', 'The coordinator is closed');
    if (this.#failed !== undefined) throw new TxError('ERR_TX_CLOSED', 'The coordinator stopped: its log failed', { cause: this.#failed });
    if (this.#active.has(x)) throw new RangeError(`The transaction ${x} is running`);
    const a = this.#track(x, branches);
    const f = this.#o.faults;
    const done = new Promise<void>((resolve, reject) => (a.settle = (err) => (err === undefined ? resolve() : reject(err))));
    done.catch(() => undefined); // it may settle while the fault points below are awaited: handled when returned
    await point(f, 'coordinator:before-precommit-log');
    this.#log.appendLazy(encodeRecord({ k: 'B', x, p: a.addresses }));
    await point(f, 'coordinator:after-precommit-log');
    const voteReq = (b: TxBranch, i: number): Message => ({ t: Msg.VOTE_REQ, x, c: this.#site.url, p: a.addresses, i, w: b.work });
    for (const [i, b] of branches.entries()) {
      await point(f, 'coordinator:before-vote-request');
      this.#site.send(b.address, voteReq(b, i));
      await pointAfterSend(f, 'coordinator:after-vote-request');
    }
    // Votes lost on the way are asked for again; the timeout ends the wait.
    const stopResend = resender(this.#o.retryMs, this.#o.retryMaxMs, () => {
      for (const [i, b] of branches.entries()) if (!a.yes.has(b.address) && a.phase === 'voting') this.#site.send(b.address, voteReq(b, i));
    });
    const timer = setTimeout(
      () => void this.#abort(a, `no vote from ${branches.find((b) => !a.yes.has(b.address))?.address} within ${timeoutMs} ms`),
      timeoutMs,
    );
    const onAbort = (): void => void this.#abort(a, 'the caller aborted it');
    signal?.addEventListener('abort', onAbort, { once: true });
    a.stopVoting = () => {
      stopResend();
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    if (a.phase !== 'voting')
      a.stopVoting(); // decided during the fault points above
    else if (signal?.aborted) onAbort();
    return done;
  }

  #onMessage(m: Message, from: MessageSource): void {
    const a = this.#active.get(m.x);
    switch (m.t) {
      case Msg.VOTE: {
        if (a === undefined || a.phase === 'aborted') {
          if (m.y) from.reply({ t: Msg.ABORT, x: m.x }); // a late YES to a transaction aborted (or forgotten: presumed abort)
          return;
        }
        if (a.phase !== 'voting') return;
        const branch = this.#branchOf(a, m);
        if (branch === undefined) return;
        if (!m.y) return void this.#abort(a, `${branch} voted NO${m.why ? `: ${m.why}` : ''}`);
        a.yes.add(branch);
        if (a.yes.size === a.branches.length) void this.#decideCommit(a);
        return;
      }
      case Msg.ACK:
        if (a?.phase === 'committed') {
          const branch = this.#branchOf(a, m);
          if (branch !== undefined) a.acked.add(branch);
          if (a.acked.size === a.branches.length) void this.#end(a);
        }
        return;
      case Msg.DECISION_REQ:
        // Presumed abort: no record of a commit means abort.
        from.reply({
          t: Msg.DECISION,
          x: m.x,
          d: a === undefined || a.phase === 'aborted' ? 'abort' : a.phase === 'committed' ? 'commit' : 'pending',
        });
        return;
      default:
        return; // not for a coordinator
    }
  }

  /** Which participant a vote or an ack is from: each echoes the address the coordinator gave it (`p[i]` of its VOTE_REQ). */
  #branchOf(a: Active, m: { a: string }): string | undefined {
    return a.addresses.includes(m.a) ? m.a : undefined;
  }

  async #decideCommit(a: Active): Promise<void> {
    a.phase = 'deciding';
    a.stopVoting();
    const f = this.#o.faults;
    try {
      await point(f, 'coordinator:before-decision-log');
      await this.#log.append(encodeRecord({ k: 'C', x: a.x, p: a.addresses }));
      await point(f, 'coordinator:after-decision-log');
    } catch (err) {
      // A failed write or fdatasync does not prove the record is not on disk (and a checkpoint may hold it):
      // deciding abort now could contradict a commit found at the restart. Stop (fail-stop); the restart decides.
      return this.#fail(err);
    }
    a.phase = 'committed';
    a.settle?.();
    await this.#sendDecision(a);
  }

  async #sendDecision(a: Active): Promise<void> {
    const f = this.#o.faults;
    for (const address of a.addresses) {
      await point(f, 'coordinator:before-decision-send');
      this.#site.send(address, { t: Msg.COMMIT, x: a.x, a: address });
      await pointAfterSend(f, 'coordinator:after-decision-send');
    }
    // The decision is resent until every participant acknowledges it (forever: 2PC blocks on a lost participant).
    a.stop = resender(this.#o.retryMs, this.#o.retryMaxMs, () => {
      for (const address of a.addresses) if (!a.acked.has(address)) this.#site.send(address, { t: Msg.COMMIT, x: a.x, a: address });
    });
  }

  async #abort(a: Active, reason: string): Promise<void> {
    if (a.phase !== 'voting') return;
    a.phase = 'aborted';
    a.stopVoting();
    this.#active.delete(a.x);
    const f = this.#o.faults;
    await point(f, 'coordinator:before-abort-log');
    this.#log.appendLazy(encodeRecord({ k: 'A', x: a.x }));
    await point(f, 'coordinator:after-abort-log');
    for (const address of a.addresses) this.#site.send(address, { t: Msg.ABORT, x: a.x });
    a.settle?.(new TxError('ERR_TX_ABORTED', `Transaction ${a.x} aborted: ${reason}`, { reason }));
  }

  async #end(a: Active): Promise<void> {
    a.stop();
    this.#active.delete(a.x);
    const f = this.#o.faults;
    await point(f, 'coordinator:before-end-log');
    this.#log.appendLazy(encodeRecord({ k: 'E', x: a.x }));
    await point(f, 'coordinator:after-end-log');
    this.#maybeCheckpoint();
  }

  #maybeCheckpoint(): void {
    if (this.#checkpointing || this.#log.size < this.#nextCheckpoint) return;
    this.#checkpointing = true;
    const keep = [...this.#active.values()].map((a) =>
      encodeRecord(
        a.phase === 'committed' || a.phase === 'deciding' ? { k: 'C', x: a.x, p: a.addresses } : { k: 'B', x: a.x, p: a.addresses },
      ),
    );
    this.#nextCheckpoint = Math.max(this.#o.checkpointBytes, 2 * keep.reduce((n, r) => n + r.length, 0));
    this.#log
      .checkpoint(keep)
      .catch(() => undefined) // latched in the log: the next append reports it
      .finally(() => (this.#checkpointing = false));
  }

  #fail(err: unknown): void {
    if (this.#failed !== undefined) return;
    this.#failed = err;
    for (const a of this.#active.values()) {
      a.stopVoting();
      a.stop();
      a.settle?.(
        new TxError('ERR_TX_IN_DOUBT', `The coordinator's log failed: the outcome of ${a.x} is decided when the coordinator is restarted`, {
          cause: err,
        }),
      );
    }
    this.#active.clear();
    void this.#site.close();
  }

  /** The log failure that stopped this coordinator, if any (restart it: its recovery decides what was in flight). */
  get failure(): unknown {
    return this.#failed;
  }

  /** Stops resending, closes the network and the log. Transactions still voting reject `ERR_TX_CLOSED`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const a of this.#active.values()) {
      a.stopVoting();
      a.stop();
      if (a.phase === 'voting') a.settle?.(new TxError('ERR_TX_CLOSED', 'The coordinator closed while the transaction was voting'));
    }
    this.#active.clear();
    await this.#site.close();
    await this.#log.close();
  }
}

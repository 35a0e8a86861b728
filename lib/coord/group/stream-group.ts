/**
 * Total order from a JetStream stream: a closed group whose members
 * multicast into one replicated stream (`PIPC_<group>`, a subject per member)
 * and each read it whole, in the stream's order, through an ordered consumer.
 * The stream is the sequencer: JetStream's replication (RAFT on
 * `replicas` nodes) gives one order, kept through the loss of a minority of
 * the nodes, and a multicast is acknowledged once a quorum stored it.
 * Retries carry the same `Nats-Msg-Id` (`<member>.<seq>`), so the stream
 * stores a message once within its duplicate window; FIFO per member and
 * the rest of the delivery rule are in ./stream-order.ts. Guarantees, the
 * durability settings and the cost: docs/nats.md.
 * @module
 */
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg, StreamConfig } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';

import { openNatsConnection, type CallOptions, type NatsConnectionHandle } from '../../channels/index.js';
import { GroupError } from '../../errors.js';
import { validateBytes } from '../../internal/validators.js';
import {
  CONSUME_OPTIONS,
  createOrGetStream,
  gone,
  HEADER_ALLOWANCE,
  jetStreamModule,
  payloadLimit,
  retryable,
  watchReading,
  untilReady,
  type JetStreamModule,
} from '../jetstream.js';
import { CastQueue } from './casts.js';
import { parseStreamMessageId, StreamOrder, STREAM_PIPELINE, type StreamEntry } from './stream-order.js';
import { streamGroupSettings, type JoinedStreamSettings, type StreamGroupOptions } from './stream-options.js';
import { groupMessageId, GroupTraceWriter, type GroupEvent } from './trace.js';
import type { GroupMessage } from './group.js';

interface Cast {
  readonly payload: Uint8Array;
  readonly started: (result: Promise<StreamPublished>) => void;
}

/** The view id of every event a JetStream group member records (the group is closed: one view). */
export const STREAM_VIEW = 1;
const RESUME_HEADER = 'Pipc-Resume';

/** What {@link StreamGroup.multicast} resolves with. */
export interface StreamPublished {
  /** The member's number for it, from 1. */
  readonly seq: number;
  /** Its position in the stream: the total order. */
  readonly streamSeq: number;
}

/** Counters of a JetStream group member. */
export interface StreamGroupStats {
  /** Multicasts acknowledged by the stream. */
  published: number;
  /** Publish attempts sent again (no acknowledgement in time, no responders during a fail-over). */
  retries: number;
  /** Messages delivered to this member. */
  delivered: number;
  /** Messages read twice from the stream (a retry stored again past the duplicate window), dropped. */
  duplicates: number;
  /** Messages held now until a gap of their sender fills. */
  held: number;
  /** Times the reading started again from the next message (its server stopped sending heartbeats). */
  restarts: number;
}

/** One member of a JetStream group: see the module doc and {@link joinStreamGroup}. */
export class StreamGroup implements AsyncIterable<GroupMessage> {
  readonly #s: JoinedStreamSettings;
  readonly #nats: NatsConnectionHandle;
  readonly #js: JetStreamClient;
  #messages: ConsumerMessages;
  readonly #open: (from: number, lost: (why: string) => void) => Promise<ConsumerMessages>;
  /** The stream sequence of the next message to read. */
  #next = 1;
  readonly #order: StreamOrder;
  readonly #trace: GroupTraceWriter | undefined;
  readonly #headers: () => MsgHdrs;
  readonly #casts: CastQueue<Cast>;
  /** Multicasts published and not settled: at most {@link STREAM_PIPELINE}. */
  #inFlight = 0;
  readonly #stats = { published: 0, retries: 0, delivered: 0, restarts: 0 };
  #sent: number;
  #resume: number;
  /** The previous multicast's acknowledgement: each settles after the ones before it, and fails when one of them failed. */
  #chain: Promise<unknown> = Promise.resolve();
  #failed: Error | undefined;
  #sendFailed: Error | undefined;
  #iterating = false;

  /** @internal Use {@link joinStreamGroup}. */
  constructor(
    s: JoinedStreamSettings,
    nats: NatsConnectionHandle,
    js: JetStreamClient,
    open: (from: number, lost: (why: string) => void) => Promise<ConsumerMessages>,
    messages: ConsumerMessages,
    headers: () => MsgHdrs,
    resumeAfter: number,
  ) {
    this.#s = s;
    this.#headers = headers;
    this.#nats = nats;
    this.#js = js;
    this.#open = open;
    this.#messages = messages;
    this.#order = new StreamOrder(s.members);
    // Past every number the earlier self could have had stored or in flight: its last in the stream, m, was in
    // flight with at most 63 above it, and those acknowledged let at most 63 more start: m + 127 at most.
    this.#sent = resumeAfter === 0 ? 0 : resumeAfter + 2 * STREAM_PIPELINE;
    this.#resume = this.#sent;
    this.#casts = new CastQueue<Cast>(
      'group.multicast',
      'The stream pipeline',
      s.maxMessageSize,
      () => this.#inFlight < STREAM_PIPELINE,
      (c) => this.#start(c),
    );
    this.#trace = s.trace === undefined ? undefined : new GroupTraceWriter(s.trace);
    nats.onClosed((err) => this.#fail(new GroupError('ERR_GROUP_STREAM', `The NATS connection of ${s.member} closed`, { cause: err })));
    this.#record({ kind: 'view', members: [...s.members] });
  }

  /** This member's id. */
  get member(): string {
    return this.#s.member;
  }

  /** The JetStream stream the group lives in. */
  get stream(): string {
    return this.#s.stream;
  }

  get stats(): Readonly<StreamGroupStats> {
    return { ...this.#stats, duplicates: this.#order.duplicates, held: this.#order.held };
  }

  /** What this member recorded (send, deliver, its one view), when `trace` was given. */
  get events(): readonly GroupEvent[] {
    return this.#trace?.events ?? [];
  }

  /**
   * Multicasts `payload` to the group: resolves when the stream acknowledged
   * it (stored on a quorum of its replicas) and every earlier multicast of
   * this member. A lost acknowledgement, or no stream leader (during a
   * fail-over), is tried again with the same message id for `retryMs`; a refusal by the stream, or no acknowledgement
   * after every retry, fails this member's multicasts for good
   * (`ERR_GROUP_STREAM`, its cause the stream's error: a later message of
   * its would wait behind the gap anyway); reading goes on. At most {@link STREAM_PIPELINE}
   * are in flight; `options` (a signal, a deadline) bound the wait for room,
   * in call order; once published, only the stream's answer settles it.
   */
  multicast(payload: Uint8Array, options?: CallOptions): Promise<StreamPublished> {
    const p = validateBytes(payload, 'payload');
    if (p.byteLength > this.#s.maxMessageSize)
      throw new RangeError(`The "payload" must be at most ${this.#s.maxMessageSize} bytes (options.maxMessageSize)`);
    let result!: Promise<StreamPublished>;
    const cast: Cast = { payload: p, started: (r: Promise<StreamPublished>) => void (result = r) };
    // Waits (abortable, with a deadline) for room in the pipeline; once started, only the stream's answer ends it.
    return this.#casts.submit(cast, options).then(() => result);
  }

  /** Starts a multicast: numbered, recorded, published; it settles after the ones before it. */
  #start(cast: Cast): void {
    const seq = this.#sent + 1;
    try {
      this.#record({ kind: 'send', message: groupMessageId(this.#s.member, STREAM_VIEW, seq), sender: this.#s.member, seq }, cast.payload);
    } catch (err) {
      cast.started(Promise.reject(err as Error)); // a full trace: this multicast fails, unnumbered
      return;
    }
    this.#sent = seq;
    this.#inFlight++;
    // It is acknowledged once the stream stored it and every earlier one was acknowledged: an earlier one that
    // failed fails it too (what it stored waits behind the gap at every reader).
    const before = this.#chain;
    const done = Promise.all([this.#publish(seq, cast.payload), before]).then(([streamSeq]) => ({ seq, streamSeq }));
    this.#chain = done;
    void done
      .catch(() => undefined)
      .then(() => {
        this.#inFlight--;
        this.#casts.pump();
      });
    cast.started(done);
  }

  async #publish(seq: number, payload: Uint8Array): Promise<number> {
    const h = this.#headers();
    // Every message of the first window carries the mark: any one of them may be the first a reader sees.
    if (this.#resume > 0 && seq <= this.#resume + STREAM_PIPELINE) h.set(RESUME_HEADER, String(this.#resume));
    const options = { msgID: `${this.#s.member}.${seq}`, timeout: this.#s.timeoutMs, expect: { streamName: this.#s.stream }, headers: h };
    const until = Date.now() + this.#s.retryMs;
    for (let attempt = 0; ; attempt++) {
      if (this.#sendFailed !== undefined) throw this.#sendFailed;
      try {
        const ack = await this.#js.publish(this.#s.subject, payload, options);
        if (ack.duplicate && attempt === 0)
          throw this.#failSending(
            new GroupError(
              'ERR_GROUP_STREAM',
              `Multicast ${seq} of ${this.#s.member}: the stream holds its id already (another member under this id?)`,
            ),
          );
        this.#stats.published++;
        return ack.seq;
      } catch (err) {
        if (err === this.#sendFailed) throw err;
        // Past retryMs, and tried at least three times (one attempt can outlive retryMs on a starved machine).
        if (!retryable(err) || (Date.now() >= until && attempt >= 2)) {
          const why = retryable(err) ? `no acknowledgement in ${this.#s.retryMs} ms (${attempt + 1} attempts)` : 'the stream refused it';
          throw this.#failSending(new GroupError('ERR_GROUP_STREAM', `Multicast ${seq} of ${this.#s.member}: ${why}`, { cause: err }));
        }
        this.#stats.retries++;
        await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
      }
    }
  }

  /**
   * The group's messages in total order: every member's iteration yields the
   * same sequence. It ends at `close()`, and throws what failed the member
   * (`ERR_GROUP_PROTOCOL`: the stream holds a message that is not the
   * group's; `ERR_GROUP_STREAM`: the NATS connection closed for good).
   * Iterated once (breaking out stops the reading).
   */
  async *[Symbol.asyncIterator](): AsyncIterator<GroupMessage> {
    if (this.#iterating) throw new TypeError('A StreamGroup is iterated once');
    this.#iterating = true;
    try {
      for (;;) {
        const messages = this.#messages;
        for await (const m of messages) {
          if (this.#failed !== undefined) break;
          if (m.seq < this.#next) continue; // read again by a consumer started anew
          this.#next = m.seq + 1;
          for (const e of this.#order.push(this.#entry(m))) {
            if (this.#failed !== undefined) break; // closed (or failed) while a batch was still coming
            const id = groupMessageId(e.sender, STREAM_VIEW, e.seq);
            this.#stats.delivered++;
            this.#record({ kind: 'deliver', message: id, sender: e.sender, seq: e.seq, ts: e.streamSeq }, e.payload);
            yield { type: 'message', id, sender: e.sender, seq: e.seq, view: STREAM_VIEW, payload: e.payload, ts: e.streamSeq };
          }
        }
        if (this.#failed !== undefined) {
          if (this.#failed instanceof GroupError && this.#failed.code === 'ERR_GROUP_CLOSED') return; // close(): the end
          throw this.#failed;
        }
        // Its server stopped answering (killed, say): a consumer of its own again, from the next message, on whichever node now serves.
        this.#messages = await this.#reopen();
      }
    } catch (err) {
      const failed = this.#fail(err as Error);
      if (failed instanceof GroupError && failed.code === 'ERR_GROUP_CLOSED') return; // closed while out: the last pull finds the connection gone
      throw failed;
    }
  }

  /** A new ordered consumer from the next stream message, tried (every second) until one starts or the member fails. */
  async #reopen(): Promise<ConsumerMessages> {
    for (;;) {
      if (this.#failed !== undefined) throw this.#failed;
      try {
        const m = await this.#open(this.#next, this.#lost);
        this.#stats.restarts++;
        if (this.#failed === undefined) return m;
        m.stop();
      } catch (err) {
        if (this.#failed !== undefined) throw this.#failed;
        if (gone(err)) throw new GroupError('ERR_GROUP_STREAM', `The stream ${this.#s.stream} is gone (deleted?)`, { cause: err });
        await new Promise((r) => setTimeout(r, 1000)); // no stream leader yet, or the API timed out: again
      }
    }
  }

  /** A stream message, checked: untrusted (anyone allowed to publish on the group's subjects may have). */
  #entry(m: JsMsg): StreamEntry {
    const sender = m.subject.slice(this.#s.subjectPrefix.length);
    const id = parseStreamMessageId(m.headers?.get('Nats-Msg-Id'));
    const resume = m.headers?.get(RESUME_HEADER) ?? '';
    if (!m.subject.startsWith(this.#s.subjectPrefix) || id === undefined || id.member !== sender || !/^\d{0,15}$/.test(resume))
      throw new GroupError(
        'ERR_GROUP_PROTOCOL',
        `Stream message ${m.seq} on ${m.subject} is not a group message (its Nats-Msg-Id or ${RESUME_HEADER} is bad)`,
      );
    return { sender, seq: id.seq, resume: Number(resume), streamSeq: m.seq, payload: m.data };
  }

  #record(e: Omit<GroupEvent, 'group' | 'member' | 'view'>, payload?: Uint8Array): void {
    if (this.#trace === undefined) return;
    const ev: GroupEvent = { group: this.#s.group, member: this.#s.member, view: STREAM_VIEW, ...e };
    this.#trace.record(
      this.#s.trace!.payloads === true && payload !== undefined ? { ...ev, payload: Buffer.from(payload).toString('hex') } : ev,
    );
  }

  /** No more multicasts (a refusal, or no acknowledgement in time: a later one would wait behind the gap); reading goes on. */
  #failSending(err: Error): Error {
    this.#sendFailed ??= err;
    this.#casts.end(this.#sendFailed);
    return this.#sendFailed;
  }

  /** Neither reading nor multicasting any more (a protocol error in the stream, the connection gone, close). */
  /** The server said the stream or this reader's consumer is gone. */
  readonly #lost = (why: string): void =>
    void this.#fail(new GroupError('ERR_GROUP_STREAM', `The stream ${this.#s.stream} of ${this.#s.member}: ${why}`));

  #fail(err: Error): Error {
    if (this.#failed === undefined) {
      this.#failed = err;
      this.#messages.stop(); // the reading ends; the iterator throws #failed (or ends, at close)
      this.#failSending(err);
    }
    return this.#failed;
  }

  /** Stops reading and multicasting (pending multicasts reject with `ERR_GROUP_CLOSED`), and gives the NATS connection back. The stream stays. */
  async close(): Promise<void> {
    this.#fail(new GroupError('ERR_GROUP_CLOSED', `The member ${this.#s.member} is closed`));
    await this.#nats.release();
    this.#trace?.close();
  }
}

/**
 * Joins the closed group `options.group` as `options.member`: creates its
 * stream if it does not exist (or checks the one there: same subjects and
 * replicas), and reads it from its first message. A member that joined
 * before under this id (its messages are in the stream) resumes its
 * numbering after them. Rejects with `ERR_GROUP_STREAM` when the stream
 * exists with another configuration, `ERR_NATS_CLIENT_MISSING` when
 * `@nats-io/jetstream` or `@nats-io/transport-node` is not installed.
 */
export async function joinStreamGroup(options: StreamGroupOptions): Promise<StreamGroup> {
  const checked = streamGroupSettings(options);
  const mod = await jetStreamModule();
  const nats = await openNatsConnection(checked.servers, { timeoutMs: checked.timeoutMs, auth: checked.auth });
  let messages: ConsumerMessages | undefined;
  try {
    const maxPayload = nats.connection.info?.max_payload ?? 1024 * 1024;
    const s = { ...checked, maxMessageSize: payloadLimit(checked.maxMessageSize, maxPayload, 'options.maxMessageSize') };
    // Each try of the set-up is short; ensureStream tries again until timeoutMs (a cluster just started elects its leaders first).
    const jsm = await mod.jetstreamManager(nats.connection, { timeout: Math.min(s.timeoutMs, 2000), checkAPI: false });
    const resumeAfter = await ensureStream(jsm, s, mod);
    const js = mod.jetstream(nats.connection, { timeout: s.timeoutMs });
    let lostEarly: string | undefined;
    const open = (from: number, lost: (why: string) => void): Promise<ConsumerMessages> => openReader(js, s.stream, from, mod, lost);
    // The reader's consumer is created by a request to the stream's leader: tried again, too, while one is elected.
    messages = await untilReady(
      () => open(1, (why) => (lostEarly = why)),
      s.timeoutMs,
      (err) => !retryable(err),
    );
    const { headers } = await import('@nats-io/transport-node'); // loaded already: openNatsConnection needed it
    const g = new StreamGroup(s, nats, js, open, messages, headers, resumeAfter);
    if (lostEarly !== undefined) throw new GroupError('ERR_GROUP_STREAM', `The stream ${s.stream}: ${lostEarly}`);
    return g;
  } catch (err) {
    messages?.stop();
    await nats.release();
    throw err;
  }
}

/**
 * An ordered consumer of `stream` from sequence `from`, read in batches. Its
 * server sends a heartbeat every second while idle; two missed (the server
 * killed, the consumer lost with it) end the reading, and the member starts
 * another from where it was.
 */
async function openReader(
  js: JetStreamClient,
  stream: string,
  from: number,
  mod: JetStreamModule,
  lost: (why: string) => void,
): Promise<ConsumerMessages> {
  const consumer = await js.consumers.get(stream, { deliver_policy: mod.DeliverPolicy.StartSequence, opt_start_seq: from });
  return watchReading(await consumer.consume({ max_messages: 256, ...CONSUME_OPTIONS }), lost);
}

/**
 * Creates the group's stream, or checks the one there, and finds this member's last number in it (0: none);
 * tried again while JetStream elects the stream's leader (bounded by `timeoutMs`).
 */
async function ensureStream(jsm: JetStreamManager, s: JoinedStreamSettings, mod: JetStreamModule): Promise<number> {
  const config: Partial<StreamConfig> & { name: string; subjects: string[] } = {
    name: s.stream,
    subjects: [`${s.subjectPrefix}*`],
    num_replicas: s.replicas,
    storage: mod.StorageType.File,
    retention: mod.RetentionPolicy.Limits,
    discard: mod.DiscardPolicy.New, // a full stream refuses new messages: never drops old ones a member has not read
    max_msgs: s.maxMessages,
    max_msg_size: s.maxMessageSize + HEADER_ALLOWANCE, // the stream counts the headers too
    duplicate_window: s.duplicateWindowMs * 1_000_000,
    max_age: 0,
    max_msgs_per_subject: -1,
  };
  return untilReady(
    async () => {
      const c = (await createOrGetStream(jsm, mod, config)).config;
      // What every member must read alike: nothing removed from it (no age, no per-subject limit, limits retention,
      // discard new), and the same replicas, subjects and duplicate window.
      const differs = (
        [
          ['num_replicas', c.num_replicas, config.num_replicas],
          ['subjects', c.subjects.join(), config.subjects.join()],
          ['discard', c.discard, config.discard],
          ['retention', c.retention, config.retention],
          ['max_age', c.max_age ?? 0, 0],
          ['max_msgs_per_subject', c.max_msgs_per_subject ?? -1, -1],
          ['duplicate_window', c.duplicate_window, config.duplicate_window],
        ] as const
      ).filter(([, have, want]) => have !== want);
      if (differs.length > 0)
        throw new GroupError(
          'ERR_GROUP_STREAM',
          `The stream ${s.stream} exists with another configuration: ${differs.map(([k, have, want]) => `${k} ${String(have)}, not ${String(want)}`).join('; ')}`,
        );
      const last = await jsm.streams.getMessage(s.stream, { last_by_subj: s.subject });
      return last === null ? 0 : (parseStreamMessageId(last.header.get('Nats-Msg-Id'))?.seq ?? 0);
    },
    s.timeoutMs,
    (err) => err instanceof GroupError,
  );
}

/**
 * Mailboxes in JetStream: many producers into one replicated work-queue
 * stream (`PIPC_MB_<name>`, subject `pipc.mb.<name>`), taken by competing
 * consumers through one shared durable consumer: each message goes to one
 * of them and leaves the stream when that one acknowledges it. No process
 * owns the queue (unlike {@link createMailbox}, whose owner holds it): the
 * NATS cluster does, on `replicas` nodes, so producers and consumers come
 * and go, and a node can fail, without losing what was put. A message taken
 * and not acknowledged within `ackWaitMs` (its consumer killed, say) goes to
 * another, flagged `redelivered`: at-least-once, as the owner's mailbox.
 * See docs/nats.md.
 * @module
 */
import type { Consumer, ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';

import { openNatsConnection, type CallOptions, type NatsAuthOptions, type NatsConnectionHandle } from '../channels/index.js';
import { closedError, timeoutError } from '../errors.js';
import {
  validateAbortSignal,
  validateBytes,
  validateInteger,
  validateOptions,
  validateString,
  validateTimeout,
} from '../internal/validators.js';
import { deadlineAfter, delay, msLeft } from '../internal/waiting.js';
import {
  CONSUME_OPTIONS,
  createOrGetStream,
  gone,
  HEADER_ALLOWANCE,
  jetStreamModule,
  MAX_MESSAGES_EXCEEDED,
  payloadLimit,
  retryable,
  untilReady,
  watchReading,
} from './jetstream.js';

/** Options of {@link openStreamMailbox}. */
export interface StreamMailboxOptions {
  /** The NATS servers, `host:port[,host:port...]` (a JetStream cluster). */
  servers: string;
  /** The mailbox: letters, digits, `_`, `-`; at most 64. Every process that opens the same name shares it. */
  name: string;
  /** Nodes the queue is stored on (default 3): a quorum acknowledges each put. */
  replicas?: number;
  /** Messages queued at most (default 65,536): a put into a full mailbox waits (backpressure) until a consumer takes one. */
  capacity?: number;
  /** Largest payload: default 1 MiB, or what the server's `max_payload` leaves past 1 KiB of headers (a larger one is a `RangeError`). */
  maxMessageSize?: number;
  /** A message taken and not acknowledged within this goes to another consumer, flagged (default 30,000 ms). */
  ackWaitMs?: number;
  /** How long the queue remembers a put's `id`, to store a retried put once (default 120,000 ms). */
  duplicateWindowMs?: number;
  /** Credentials and TLS for servers that require them (checked when the connection opens). */
  auth?: NatsAuthOptions;
  /** Each request to NATS while setting up (default 5000 ms). */
  timeoutMs?: number;
}

/** One message taken from a {@link StreamMailbox}. */
export interface StreamMailboxDelivery {
  readonly payload: Uint8Array;
  /** The put's id (`options.id`, or the one the producer made): the same for every copy of one put, to dedupe by. */
  readonly id: string;
  /** Its place in the queue's stream. */
  readonly seq: number;
  /** Taken before by a consumer that did not acknowledge it in time. */
  readonly redelivered: boolean;
  /** Times it was handed out, this one included. */
  readonly deliveries: number;
  /** Done with it: it leaves the queue. Resolves true once the server confirmed, false when it did not answer (then it may come again). */
  ack(): Promise<boolean>;
  /** Not done: hand it to a consumer again (now, or after `delayMs`). */
  nak(delayMs?: number): void;
}

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
const DURABLE = 'consumers';
let putIds = 0;

/** A mailbox in JetStream: see the module doc and {@link openStreamMailbox}. */
export class StreamMailbox {
  readonly #nats: NatsConnectionHandle;
  readonly #js: JetStreamClient;
  readonly #consumer: Consumer;
  readonly #subject: string;
  readonly #maxMessageSize: number;
  readonly #readers = new Set<ConsumerMessages>();
  #closed = false;

  /** @internal Use {@link openStreamMailbox}. */
  constructor(nats: NatsConnectionHandle, js: JetStreamClient, consumer: Consumer, subject: string, maxMessageSize: number) {
    this.#nats = nats;
    this.#js = js;
    this.#consumer = consumer;
    this.#subject = subject;
    this.#maxMessageSize = maxMessageSize;
  }

  /**
   * Puts `payload` in the mailbox: resolves once a quorum stored it. A lost
   * answer, no leader (a fail-over) or a full mailbox is tried again, backing
   * off, until `options.timeoutMs` (default: no limit) or `options.signal`;
   * `options.id` (default: one of this process's own) makes a retry of the
   * same put, even from another process, stored once within the duplicate
   * window.
   */
  async put(payload: Uint8Array, options?: CallOptions & { id?: string }): Promise<void> {
    const p = validateBytes(payload, 'payload');
    if (p.byteLength > this.#maxMessageSize)
      throw new RangeError(`The "payload" must be at most ${this.#maxMessageSize} bytes (options.maxMessageSize)`);
    const o = validateOptions(options);
    const signal = validateAbortSignal(o.signal, 'options.signal');
    const deadline = deadlineAfter(validateTimeout(o.timeoutMs, 'options.timeoutMs'));
    const msgID = o.id === undefined ? `${process.pid}.${Date.now()}.${++putIds}` : validateString(o.id, 'options.id');
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw closedError('The mailbox');
      try {
        await this.#js.publish(this.#subject, p, { msgID, timeout: Math.min(5000, Math.max(1, msLeft(deadline))) });
        return;
      } catch (err) {
        const full = (err as { code?: number }).code === MAX_MESSAGES_EXCEEDED;
        if (!full && !retryable(err)) throw err;
        if (msLeft(deadline) <= 0) throw timeoutError('put', undefined, full ? 'the mailbox stayed full' : 'no answer from the queue');
        await delay(Math.min(msLeft(deadline), 1000, 20 * 2 ** Math.min(attempt, 6)), signal);
      }
    }
  }

  /**
   * Takes messages, competing with every other consumer of the mailbox: at
   * most `prefetch` (default 16) are held by this reader before they are
   * acknowledged. A reader whose server stops sending heartbeats starts
   * again. It ends at `close()`.
   */
  async *consume(options?: { prefetch?: number }): AsyncGenerator<StreamMailboxDelivery> {
    const o = validateOptions(options);
    const prefetch = validateInteger(o.prefetch ?? 16, 'options.prefetch', 1, 65_536);
    let lost: string | undefined;
    while (!this.#closed) {
      let messages: ConsumerMessages;
      try {
        messages = watchReading(await this.#consumer.consume({ max_messages: prefetch, ...CONSUME_OPTIONS }), (why) => (lost = why));
      } catch (err) {
        if (this.#closed) return;
        if (gone(err) || !retryable(err)) throw err;
        await delay(1000);
        continue;
      }
      this.#readers.add(messages);
      try {
        for await (const m of messages) {
          if (this.#closed) return; // a batch still coming after close(): not handed out (it goes to others after ackWaitMs)
          yield delivery(m);
        }
      } catch (err) {
        if (this.#closed) return; // closed while this reader was out: the iteration's last pull finds the connection gone
        if (!retryable(err)) throw err;
      } finally {
        this.#readers.delete(messages);
        messages.stop();
      }
      if (lost !== undefined) throw Object.assign(new Error(`The mailbox's queue: ${lost} (deleted?)`), { code: 'ERR_MAILBOX_CONFIG' });
    }
  }

  /** Stops this process's readers (what they held and did not acknowledge goes to other consumers after `ackWaitMs`) and gives the connection back. The mailbox stays. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const r of this.#readers) r.stop();
    await this.#nats.release();
  }
}

function delivery(m: JsMsg): StreamMailboxDelivery {
  return {
    payload: m.data,
    id: m.headers?.get('Nats-Msg-Id') ?? '',
    seq: m.seq,
    redelivered: m.redelivered,
    deliveries: m.info.deliveryCount,
    ack: () => m.ackAck({ timeout: 5000 }).catch(() => false),
    nak: (delayMs) => m.nak(delayMs),
  };
}

/**
 * Opens the mailbox `options.name`: creates its work-queue stream and its
 * shared consumer if they do not exist (or checks them: same replicas),
 * trying again while the cluster elects its leaders (within `timeoutMs`).
 * Rejects with `ERR_NATS_CLIENT_MISSING` when `@nats-io/jetstream` or
 * `@nats-io/transport-node` is not installed.
 */
export async function openStreamMailbox(options: StreamMailboxOptions): Promise<StreamMailbox> {
  const o = validateOptions(options);
  const servers = validateString(o.servers, 'options.servers');
  const name = validateString(o.name, 'options.name');
  if (!TOKEN.test(name))
    throw new RangeError(`The "options.name" argument must be 1 to 64 letters, digits, _ or -. Received '${name.slice(0, 80)}'`);
  const replicas = validateInteger(o.replicas ?? 3, 'options.replicas', 1, 5);
  const capacity = validateInteger(o.capacity ?? 65_536, 'options.capacity', 1, 1e12);
  const wanted =
    o.maxMessageSize === undefined ? undefined : validateInteger(o.maxMessageSize, 'options.maxMessageSize', 1, 64 * 1024 * 1024);
  const ackWaitMs = validateInteger(o.ackWaitMs ?? 30_000, 'options.ackWaitMs', 100, 86_400_000);
  const duplicateWindowMs = validateInteger(o.duplicateWindowMs ?? 120_000, 'options.duplicateWindowMs', 100, 7 * 86_400_000);
  const timeoutMs = validateInteger(o.timeoutMs ?? 5000, 'options.timeoutMs', 1, 3_600_000);
  const mod = await jetStreamModule();
  const nats = await openNatsConnection(servers, { timeoutMs, auth: o.auth as NatsAuthOptions | undefined });
  try {
    const maxMessageSize = payloadLimit(wanted, nats.connection.info?.max_payload ?? 1024 * 1024, 'options.maxMessageSize');
    const jsm = await mod.jetstreamManager(nats.connection, { timeout: Math.min(timeoutMs, 2000), checkAPI: false });
    const stream = `PIPC_MB_${name}`;
    const subject = `pipc.mb.${name}`;
    const config = {
      name: stream,
      subjects: [subject],
      retention: mod.RetentionPolicy.Workqueue,
      num_replicas: replicas,
      storage: mod.StorageType.File,
      discard: mod.DiscardPolicy.New,
      max_msgs: capacity,
      max_msg_size: maxMessageSize + HEADER_ALLOWANCE, // the stream counts the headers too
      duplicate_window: duplicateWindowMs * 1_000_000,
    };
    const bad = (why: string): Error => Object.assign(new Error(`The mailbox ${name}: ${why}`), { code: 'ERR_MAILBOX_CONFIG' });
    await untilReady(
      async () => {
        const c = (await createOrGetStream(jsm, mod, config)).config;
        if (c.retention !== config.retention || c.num_replicas !== replicas || c.subjects.join() !== subject)
          throw bad(`its stream ${stream} exists with ${c.num_replicas} replicas, ${c.retention} retention on ${c.subjects.join()}`);
        await jsm.consumers.info(stream, DURABLE).catch((err: unknown) => {
          if ((err as { code?: number }).code !== mod.JetStreamApiCodes.ConsumerNotFound) throw err;
          return jsm.consumers.add(stream, { durable_name: DURABLE, ack_policy: mod.AckPolicy.Explicit, ack_wait: ackWaitMs * 1_000_000 });
        });
      },
      timeoutMs,
      (err) => (err as { code?: unknown }).code === 'ERR_MAILBOX_CONFIG',
    );
    const js = mod.jetstream(nats.connection, { timeout: Math.min(timeoutMs, 5000) });
    const consumer = await untilReady(
      () => js.consumers.get(stream, DURABLE),
      timeoutMs,
      () => false,
    );
    return new StreamMailbox(nats, js, consumer, subject, maxMessageSize);
  } catch (err) {
    await nats.release();
    throw err;
  }
}

/**
 * What the JetStream-backed coordination (the groups of
 * ./group/stream-group.ts, the mailboxes of ./stream-mailbox.ts) shares:
 * the optional package, loaded on first use; which errors are worth a retry
 * with the same message id; a set-up tried again while a cluster elects its
 * leaders; a stream created or checked; and the end of a reading whose
 * server stopped sending heartbeats.
 * @internal
 * @module
 */
import type { ConsumerMessages, JetStreamManager, StreamConfig, StreamInfo } from '@nats-io/jetstream';

/** The package JetStream groups and mailboxes need (an optional peer dependency, like the NATS transport's). */
export const JETSTREAM_PACKAGE = '@nats-io/jetstream';

export type JetStreamModule = typeof import('@nats-io/jetstream');
let loaded: Promise<JetStreamModule> | undefined;

/** The module, or an error naming the package to install (`ERR_NATS_CLIENT_MISSING`). */
export function jetStreamModule(): Promise<JetStreamModule> {
  loaded ??= import(JETSTREAM_PACKAGE).catch((err: unknown) => {
    loaded = undefined;
    throw Object.assign(
      new Error(`JetStream groups and mailboxes need the optional package ${JETSTREAM_PACKAGE}: npm install ${JETSTREAM_PACKAGE}`, {
        cause: err,
      }),
      { code: 'ERR_NATS_CLIENT_MISSING' },
    );
  }) as Promise<JetStreamModule>;
  return loaded;
}

/** A publish or API error worth trying again: no answer in time, or no leader yet (an election). */
export function retryable(err: unknown): boolean {
  const e = err as { name?: string; code?: number; status?: number };
  if (e.code === MAX_MESSAGES_EXCEEDED) return false; // full (discard new): a 503 that waiting alone does not cure
  // A JetStreamApiError's `code` is JetStream's own (10008: "temporarily unavailable"), its HTTP-like status is `status`.
  return (
    ['TimeoutError', 'NoRespondersError', 'RequestError', 'JetStreamNotEnabled'].includes(e.name ?? '') ||
    e.status === 503 ||
    e.code === 10008
  );
}

/** JetStream's code for a full stream (discard new). */
export const MAX_MESSAGES_EXCEEDED = 10077;

/** The stream (10059) or the consumer (10014) is gone: deleted by someone, never coming back by waiting. */
export function gone(err: unknown): boolean {
  const c = (err as { code?: number }).code;
  return c === 10059 || c === 10014;
}

/**
 * Runs `step` until it resolves, again every 200 ms after an error that is
 * not `fatal`, until `timeoutMs` has passed (then its last error): the
 * set-up against a cluster that may still be electing its leaders.
 */
export async function untilReady<R>(step: () => Promise<R>, timeoutMs: number, fatal: (err: unknown) => boolean): Promise<R> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await step();
    } catch (err) {
      if (fatal(err) || Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** The stream `config.name`, created if missing; its info (the caller checks it against what it needs). */
export async function createOrGetStream(
  jsm: JetStreamManager,
  mod: JetStreamModule,
  config: Partial<StreamConfig> & { name: string },
): Promise<StreamInfo> {
  return jsm.streams.info(config.name).catch((err: unknown) => {
    if ((err as { code?: number }).code === mod.JetStreamApiCodes.StreamNotFound) return jsm.streams.add(config);
    throw err;
  });
}

/** Options every reading takes: batches, and a heartbeat each second while idle. */
export const CONSUME_OPTIONS = { expires: 5000, idle_heartbeat: 1000 } as const;

/**
 * Ends `messages` (its iteration returns) once two heartbeats in a row are
 * missed (its server was killed, say: the reader starts again), and calls
 * `lost` first when the server says the stream or the consumer is gone (the
 * client would otherwise wait for it forever).
 */
export function watchReading(messages: ConsumerMessages, lost: (why: string) => void): ConsumerMessages {
  void (async () => {
    for await (const st of messages.status()) {
      if (st.type === 'stream_not_found' || st.type === 'consumer_not_found' || st.type === 'consumer_deleted') {
        lost(st.type.replace(/_/g, ' '));
        return messages.stop();
      }
      if (st.type === 'heartbeats_missed' && st.count >= 2) return messages.stop();
    }
  })().catch(() => undefined);
  return messages;
}

/** Room the headers take (message id, expectations, marks) beside a payload, within the server's `max_payload`. */
export const HEADER_ALLOWANCE = 1024;

/** The largest payload: `wanted`, or what the server's `max_payload` leaves past the headers; a `RangeError` naming `name` if `wanted` does not fit. */
export function payloadLimit(wanted: number | undefined, maxPayload: number, name: string): number {
  const room = maxPayload - HEADER_ALLOWANCE;
  if (wanted === undefined) return Math.min(room, 1024 * 1024);
  if (wanted > room)
    throw new RangeError(
      `The "${name}" argument must be at most ${room} (the server's max_payload ${maxPayload} less ${HEADER_ALLOWANCE} for headers). Received ${wanted}`,
    );
  return wanted;
}

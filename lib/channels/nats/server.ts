/**
 * `nats://host:port[,host:port...]/subject`: a listener on a NATS subject
 * and the channels it accepts. A client subscribes to an inbox of its own,
 * then sends a hello request to the subject; a listener (any one of those
 * listening on the subject: they form a queue group) subscribes to an inbox
 * for the new channel and answers with it. Each side then sends to the
 * other's inbox (see ./link.ts for the frames). Only NATS carries the bytes:
 * the peers never know each other's addresses.
 * @module
 */
import type { NatsConnection } from '@nats-io/transport-node';

import { abortError, closedError, systemError } from '../../errors.js';
import { validateAbortSignal, validateInteger, validateOptions, validateString } from '../../internal/validators.js';
import { bounded, delay, throwIfAborted } from '../../internal/waiting.js';
import { resolveStreamOptions, type StreamSettings } from '../stream/ends.js';
import { makeDuplex } from '../fd.js';
import { ChannelReceiver } from '../receiver.js';
import { ChannelSender } from '../sender.js';
import type { Duplex, Listener } from '../types.js';
import {
  natsModule,
  releaseConnection,
  useConnection,
  validateNatsAuth,
  validateNatsServers,
  type NatsAuthOptions,
  type SharedConnection,
} from './client.js';
import { NatsReceiveEngine, NatsSendEngine } from './engine.js';
import { DATA_HEADER, Inbox, NatsLink } from './link.js';

/** Subjects: dot-separated tokens of letters, digits, `_` and `-`; no wildcards. */
const SUBJECT = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const INBOX_PREFIX = '_PIPC';
const MAX_BACKLOG = 128;
// 4 MiB: through one local nats-server a 1 MiB window held 16 KiB messages to 330 MB/s and 64 KiB to
// 253; 4 MiB gave 526 and 390 (bare nats.js: 497 and 227). It bounds the payload bytes a receiver
// holds unread; the frames are views of the client's socket chunks, so the memory kept alive can
// be more (a chunk stays while one frame in it is unread).
const DEFAULT_WINDOW = 4 * 1024 * 1024;
/** How long "no responders" is tried again while a new listener's subscription spreads through a cluster. */
const LISTENER_GRACE_MS = 1000;

/** Where a `nats:` address points. */
export interface NatsAddress {
  /** `host:port` of every server to try, comma-separated. */
  readonly servers: string;
  readonly subject: string;
}

/** Options of a NATS channel (both {@link NatsServer.listen} and {@link connectNats}). */
export interface NatsChannelOptions<T> {
  codec?: import('../codec.js').Codec<T>;
  maxMessageSize?: number;
  /** Bytes the peer may send before this side has consumed them (its window; default 4 MiB). */
  highWaterMark?: number;
  /** How long connecting (to NATS, then to the listener) may take (default 5000). */
  timeoutMs?: number;
  /** Credentials and TLS for servers that require them (channels reached the same way share one connection). */
  auth?: NatsAuthOptions;
  /** A peer silent this long is gone (default 5000): NATS cannot tell, so each side sends a heartbeat every tenth of it, and a peer whose inbox has no subscriber at two heartbeats in a row is gone too. */
  peerTimeoutMs?: number;
  /** Connecting only: aborts the connect (an `AbortError`); the connection to NATS is released at once, even while the listener has not answered yet. */
  signal?: AbortSignal;
}

interface Settings<T> extends StreamSettings<T> {
  readonly timeoutMs: number;
  readonly auth: NatsAuthOptions | undefined;
  readonly peerTimeoutMs: number;
}

function settings<T>(options: unknown): Settings<T> {
  const o = validateOptions(options);
  const s = resolveStreamOptions<T>({ codec: o.codec, maxMessageSize: o.maxMessageSize, highWaterMark: o.highWaterMark ?? DEFAULT_WINDOW });
  return {
    ...s,
    timeoutMs: validateInteger(o.timeoutMs ?? 5000, 'options.timeoutMs', 1, 3_600_000),
    auth: validateNatsAuth(o.auth, 'options.auth'),
    peerTimeoutMs: validateInteger(o.peerTimeoutMs ?? 5000, 'options.peerTimeoutMs', 100, 3_600_000),
  };
}

/** Parses the opaque part of `nats://servers/subject`. */
export function parseNatsAddress(opaque: string): NatsAddress {
  const m = /^\/\/([^/]+)\/(.+)$/.exec(opaque);
  if (m === null) throw new RangeError(`The "address" argument must be nats://host:port/subject. Received 'nats:${opaque}'`);
  const servers = validateNatsServers(m[1]!, 'address');
  const subject = m[2]!;
  if (subject.length > 255 || !SUBJECT.test(subject) || subject.startsWith(INBOX_PREFIX))
    throw new RangeError(`The "address" argument's subject '${subject}' must be dot-separated tokens of letters, digits, _ and -`);
  return { servers, subject };
}

interface Hello {
  readonly inbox: string;
  readonly window: number;
}

/** A peer's hello or answer: untrusted, checked. */
function parseHello(data: Uint8Array): Hello | undefined {
  if (data.byteLength > 1024) return undefined;
  try {
    const h = JSON.parse(new TextDecoder().decode(data)) as { v?: unknown; inbox?: unknown; window?: unknown };
    if (h.v !== 1 || typeof h.inbox !== 'string' || !h.inbox.startsWith(`${INBOX_PREFIX}.`) || h.inbox.length > 128) return undefined;
    if (!Number.isSafeInteger(h.window) || (h.window as number) < 1 || (h.window as number) > 2 ** 31) return undefined;
    return { inbox: h.inbox, window: h.window as number };
  } catch {
    return undefined;
  }
}

const hello = (inbox: string, window: number): Uint8Array => new TextEncoder().encode(JSON.stringify({ v: 1, inbox, window }));

function channel<T>(shared: SharedConnection, nc: NatsConnection, own: string, inbox: Inbox, peer: Hello, s: Settings<T>): Duplex<T> {
  const link = new NatsLink(shared, nc, inbox, {
    servers: shared.servers,
    peerInbox: peer.inbox,
    ownInbox: own,
    sendWindow: peer.window,
    receiveWindow: s.highWaterMark,
    heartbeatMs: Math.max(20, Math.floor(s.peerTimeoutMs / 10)),
    peerTimeoutMs: s.peerTimeoutMs,
  });
  const payload = (nc.info?.max_payload ?? 1024 * 1024) - DATA_HEADER;
  const outMax = Math.min(s.maxMessageSize, payload);
  const inMax = Math.min(s.maxMessageSize, payload);
  return makeDuplex(
    new ChannelSender<T>(new NatsSendEngine(link, outMax), s.codec, outMax, 'Sender'),
    new ChannelReceiver<T>(new NatsReceiveEngine(link, inMax), s.codec, inMax, 'Receiver'),
  );
}

/**
 * A channel to the listener on `address` (see the module doc). Rejects with
 * `ECONNREFUSED` when nobody listens there, `ETIMEDOUT` past `timeoutMs`, an
 * `AbortError` when `options.signal` aborts.
 */
export async function connectNats<T = Uint8Array>(address: NatsAddress, options?: NatsChannelOptions<T>): Promise<Duplex<T>> {
  const s = settings<T>(options);
  const signal = validateAbortSignal(validateOptions(options).signal, 'options.signal');
  throwIfAborted(signal);
  const { createInbox } = await natsModule();
  const { shared, nc } = await useConnection(address.servers, s);
  let inbox: Inbox | undefined;
  try {
    const own = createInbox(INBOX_PREFIX);
    inbox = new Inbox(nc, own);
    // An abort leaves the request pending: releasing the connection below ends it.
    const answer = await bounded(
      (inner) => sayHello(nc, address, own, s, inner),
      signal,
      Infinity,
      () => new Error('unreachable'),
    );
    const peer = parseHello(answer);
    if (peer === undefined) throw systemError('ECONNREFUSED', 'connect', `nats:${address.subject}`, 'the listener refused the channel');
    return channel<T>(shared, nc, own, inbox, peer, s);
  } catch (err) {
    inbox?.sub.unsubscribe();
    await releaseConnection(shared);
    throw err;
  }
}

/** Sends the hello to the listener on `address`; resolves with its answer. */
async function sayHello<T>(
  nc: NatsConnection,
  address: NatsAddress,
  own: string,
  s: Settings<T>,
  signal: AbortSignal,
): Promise<Uint8Array> {
  await nc.flush();
  throwIfAborted(signal); // before the hello: a listener would open a channel nobody uses
  // A listener that just started may not be known yet to the node this client is on (a cluster
  // spreads subscriptions between its nodes in the background): "no responders" is tried again
  // for a moment before it counts as nobody listening.
  const start = performance.now();
  for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
    const left = s.timeoutMs - (performance.now() - start);
    try {
      return (await nc.request(address.subject, hello(own, s.highWaterMark), { timeout: Math.max(1, left) })).data;
    } catch (err) {
      const text = String((err as Error).message ?? err);
      if (/no responders|503/i.test(text)) {
        if (performance.now() - start + pause < Math.min(s.timeoutMs, LISTENER_GRACE_MS)) {
          await delay(pause, signal);
          continue;
        }
        throw systemError('ECONNREFUSED', 'connect', `nats:${address.subject}`, 'no listener on the subject');
      }
      if (/timeout/i.test(text)) throw systemError('ETIMEDOUT', 'connect', `nats:${address.subject}`, `no answer within ${s.timeoutMs} ms`);
      throw err;
    }
  }
}

interface Waiter<T> {
  resolve(d: Duplex<T>): void;
  reject(e: unknown): void;
}

/** A listener on a NATS subject: see the module doc. */
export class NatsServer<T = Uint8Array> implements Listener<T> {
  readonly url: string;
  readonly #shared: SharedConnection;
  readonly #sub: import('@nats-io/transport-node').Subscription;
  /** Hellos answered whose channel is not ready yet: counted in the backlog. */
  #opening = 0;
  readonly #ready: Duplex<T>[] = [];
  readonly #waiters: Waiter<T>[] = [];
  #closed = false;

  private constructor(
    address: NatsAddress,
    shared: SharedConnection,
    nc: NatsConnection,
    createInbox: (p: string) => string,
    s: Settings<T>,
  ) {
    this.#shared = shared;
    this.url = `nats://${address.servers}/${address.subject}`;
    this.#sub = nc.subscribe(address.subject, {
      queue: 'posix-ipc',
      callback: (err, m) => {
        if (err !== null || this.#closed) return;
        const peer = parseHello(m.data);
        if (peer === undefined || this.#ready.length + this.#opening >= MAX_BACKLOG) return void m.respond(new Uint8Array([0]));
        this.#opening++;
        void this.#open(shared, nc, createInbox(INBOX_PREFIX), peer, s, (answer) => m.respond(answer)).finally(() => this.#opening--);
      },
    });
  }

  /** One accepted channel: its inbox subscribed (and known to the server) before the answer goes; nothing kept if that fails. */
  async #open(
    shared: SharedConnection,
    nc: NatsConnection,
    own: string,
    peer: Hello,
    s: Settings<T>,
    answer: (b: Uint8Array) => void,
  ): Promise<void> {
    shared.users++; // the channel's own use of the connection
    let inbox: Inbox | undefined;
    try {
      inbox = new Inbox(nc, own);
      await nc.flush(); // the inbox's interest reaches the servers before the answer does
      answer(hello(own, s.highWaterMark));
    } catch {
      inbox?.sub.unsubscribe(); // the connection broke meanwhile: the client's connect times out
      await releaseConnection(shared);
      return;
    }
    this.#give(channel<T>(shared, nc, own, inbox, peer, s));
  }

  /** Listens on `address`. */
  static async listen<T = Uint8Array>(address: NatsAddress, options?: NatsChannelOptions<T>): Promise<NatsServer<T>> {
    validateString(address.subject, 'address.subject');
    const s = settings<T>(options);
    const { createInbox } = await natsModule();
    const { shared, nc } = await useConnection(address.servers, s);
    const server = new NatsServer<T>(address, shared, nc, createInbox, s);
    await nc.flush();
    return server;
  }

  #give(d: Duplex<T>): void {
    const w = this.#waiters.shift();
    if (w !== undefined) w.resolve(d);
    else if (this.#closed) void d.close().catch(() => undefined);
    else this.#ready.push(d);
  }

  accept(options?: { signal?: AbortSignal }): Promise<Duplex<T>> {
    if (this.#closed) return Promise.reject(closedError('NatsServer'));
    const d = this.#ready.shift();
    if (d !== undefined) return Promise.resolve(d);
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(abortError(signal!));
      };
      const w: Waiter<T> = {
        resolve: (d) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(d);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      this.#waiters.push(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Duplex<T>> {
    for (;;) {
      let d: Duplex<T>;
      try {
        d = await this.accept();
      } catch {
        return;
      }
      yield d;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sub.unsubscribe();
    for (const w of this.#waiters.splice(0)) w.reject(closedError('NatsServer'));
    for (const d of this.#ready.splice(0)) void d.close().catch(() => undefined);
    void releaseConnection(this.#shared);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

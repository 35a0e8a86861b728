/**
 * A transaction site's network: a listener (for the messages other sites
 * start) and one outgoing link per peer address, connected on first use and
 * again after a failure. Sending is best effort, as the protocol assumes of
 * a network: a message to a peer that cannot be reached is counted and
 * dropped, and the protocol's own timers send it again. Messages from peers
 * are checked ({@link decodeMessage}); a malformed one ends its connection.
 * @module
 */
import { connect, listen, type AddressOptions, type Duplex, type Listener } from '../../channels/index.js';
import { TxError } from '../../errors.js';
import { acceptLoop } from '../accept.js';
import { validateFunction, validateInteger, validateOptions, validateString } from '../../internal/validators.js';
import { decodeMessage, encodeMessage, Msg, type Message } from './wire.js';

/** A connection of a site, as given to {@link SiteOptions.onLink} (attach a trace recorder or a fault injector to it). */
export interface SiteLink {
  readonly duplex: Duplex<Uint8Array>;
  /** `out`: this site connected to `peer`; `in`: a peer connected to this site (its address is unknown). */
  readonly direction: 'out' | 'in';
  /** The address connected to (`out`), or `''` (`in`). */
  readonly peer: string;
}

/** Options of a site (coordinator or participant). */
export interface SiteOptions {
  /** The address to listen at for peers (`unix:`, `shm:`, `tcp://`, `tls://`, `name:`): what the peers are given. */
  listen: string;
  /** Options for `listen()` (TLS credentials, ...). */
  listenOptions?: AddressOptions<Uint8Array>;
  /** Options for each `connect()` to a peer. */
  connectOptions?: AddressOptions<Uint8Array>;
  /** Called with every new connection, before its first message: attach hooks there. */
  onLink?: (link: SiteLink) => void;
  /** The largest message (default 256 KiB, which every transport takes with its defaults; the work sent to one participant must fit). */
  maxMessageSize?: number;
}

/** Where a message came from: answer on the same connection. */
export interface MessageSource {
  reply(m: Message): void;
}

/** Counters of a site's network. */
export interface SiteStats {
  sent: number;
  received: number;
  /** Messages not sent: the peer could not be reached, or its connection broke. */
  dropped: number;
  /** Connections ended for a malformed message. */
  malformed: number;
  /** Connections the listener failed to accept (a client that died while connecting, a lack of descriptors). */
  acceptErrors: number;
}

/** The most outgoing links a site keeps; beyond it the oldest idle one is closed (it reconnects when used again). */
const MAX_LINKS = 1024;

/** A pending link's queue bound: beyond it, messages are dropped (the protocol resends). */
const LINK_QUEUE_LIMIT = 4096;

interface Link {
  duplex?: Duplex<Uint8Array>;
  connecting?: Promise<Duplex<Uint8Array> | undefined>;
  tail: Promise<void>;
  queued: number;
}

type Handler = (m: Message, from: MessageSource) => void;

/** The network of one site. See the module doc. @internal */
export class Site {
  readonly #listener: Listener<Uint8Array>;
  readonly #options: SiteOptions;
  readonly #maxMessageSize: number;
  readonly #links = new Map<string, Link>();
  readonly #conns = new Set<Duplex<Uint8Array>>();
  readonly #handler: Handler;
  readonly #requests = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: unknown) => void }>();
  readonly stats: SiteStats = { sent: 0, received: 0, dropped: 0, malformed: 0, acceptErrors: 0 };
  /** The last accept failure, for diagnosis. */
  lastAcceptError: unknown;
  #nextRequest = 1;
  #closed = false;

  private constructor(listener: Listener<Uint8Array>, options: SiteOptions, maxMessageSize: number, handler: Handler) {
    this.#listener = listener;
    this.#options = options;
    this.#maxMessageSize = maxMessageSize;
    this.#handler = handler;
    void this.#acceptLoop();
  }

  /** Listens at `options.listen`; `handler` gets every valid message from a peer (except REPLY, which settles {@link request}). */
  static async open(options: SiteOptions, handler: Handler): Promise<Site> {
    validateOptions(options);
    validateString(options.listen, 'options.listen');
    validateFunction(options.onLink, 'options.onLink');
    const max = validateInteger(options.maxMessageSize ?? 256 * 1024, 'options.maxMessageSize', 256, 64 * 1024 * 1024);
    const listener = await listen<Uint8Array>(options.listen, { ...options.listenOptions, maxMessageSize: max });
    return new Site(listener, options, max, handler);
  }

  /** The largest message this site sends or takes. */
  get maxMessageSize(): number {
    return this.#maxMessageSize;
  }

  /** Where peers reach this site. */
  get url(): string {
    return this.#listener.url;
  }

  #acceptLoop(): Promise<void> {
    return acceptLoop(
      this.#listener,
      (d) => (this.#closed ? void d.close().catch(() => undefined) : this.#adopt(d, 'in', '')),
      () => this.#closed,
      {
        onError: (err) => {
          this.stats.acceptErrors++;
          this.lastAcceptError = err;
        },
      },
    );
  }

  #adopt(d: Duplex<Uint8Array>, direction: 'in' | 'out', peer: string): void {
    this.#conns.add(d);
    this.#options.onLink?.({ duplex: d, direction, peer });
    void this.#readLoop(d, peer);
  }

  async #readLoop(d: Duplex<Uint8Array>, peer: string): Promise<void> {
    const source: MessageSource = { reply: (m) => this.#write(d, m, peer) };
    try {
      for (;;) {
        const bytes = await d.receiver.receive();
        if (bytes === undefined || this.#closed) break;
        let m: Message;
        try {
          m = decodeMessage(bytes);
        } catch {
          this.stats.malformed++;
          break; // an untrusted peer broke the protocol: drop the connection
        }
        this.stats.received++;
        if (m.t === Msg.REPLY) this.#settle(m);
        else this.#handler(m, source);
      }
    } catch {
      // the peer died or the connection broke: the protocol's timers cover what was lost
    }
    this.#drop(d, peer);
  }

  #drop(d: Duplex<Uint8Array>, peer: string): void {
    this.#conns.delete(d);
    const link = peer === '' ? undefined : this.#links.get(peer);
    if (link?.duplex === d) link.duplex = undefined;
    void d.close().catch(() => undefined);
  }

  #write(d: Duplex<Uint8Array>, m: Message, peer: string): void {
    const bytes = encodeMessage(m);
    // Callers check sizes first (Coordinator.commit refuses work too large): one still over the bound is not sent.
    if (this.#closed || !this.#conns.has(d) || bytes.length > this.#maxMessageSize) {
      this.stats.dropped++;
      return;
    }
    // send(), not trySend(): a hook (fault injection) may delay the message, which only the async call allows.
    let sent: Promise<void>;
    try {
      sent = d.sender.send(bytes);
    } catch (err) {
      sent = Promise.reject(err); // the channel failed or closed: the same as a failed send
    }
    sent.then(
      () => void this.stats.sent++,
      () => {
        this.stats.dropped++;
        this.#drop(d, peer); // and the link forgets it: the next send connects again
      },
    );
  }

  /** Sends `m` to the site at `address`, connecting first if needed (best effort: see the module doc). */
  send(address: string, m: Message): void {
    if (this.#closed) return;
    let link = this.#links.get(address);
    if (link === undefined) {
      this.#links.set(address, (link = { tail: Promise.resolve(), queued: 0 }));
      if (this.#links.size > MAX_LINKS) this.#evictLink();
    }
    if (link.duplex !== undefined && link.queued === 0) return this.#write(link.duplex, m, address);
    if (link.queued >= LINK_QUEUE_LIMIT) {
      this.stats.dropped++;
      return;
    }
    link.queued++;
    const l = link;
    l.tail = l.tail.then(async () => {
      l.queued--;
      const d = l.duplex ?? (await this.#connect(address, l));
      if (d === undefined) this.stats.dropped++;
      else this.#write(d, m, address);
    });
  }

  /** Closes the oldest idle link (a peer may name many addresses: their links are bounded). */
  #evictLink(): void {
    for (const [address, l] of this.#links) {
      if (l.queued > 0 || l.connecting !== undefined) continue;
      this.#links.delete(address);
      if (l.duplex !== undefined) this.#drop(l.duplex, address);
      return;
    }
  }

  #connect(address: string, link: Link): Promise<Duplex<Uint8Array> | undefined> {
    link.connecting ??= connect<Uint8Array>(address, { ...this.#options.connectOptions, maxMessageSize: this.#maxMessageSize })
      .then((d) => {
        if (this.#closed) {
          void d.close().catch(() => undefined);
          return undefined;
        }
        link.duplex = d;
        this.#adopt(d, 'out', address);
        return d;
      })
      .catch(() => undefined)
      .finally(() => (link.connecting = undefined));
    return link.connecting;
  }

  /**
   * Sends REQUEST `body` to the site at `address` and resolves with its
   * REPLY; rejects `ERR_TX_TIMEOUT` after `timeoutMs`, or with the error
   * the peer's resource manager answered (`ERR_TX_REQUEST`).
   */
  request(address: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new TxError('ERR_TX_CLOSED', 'The site is closed'));
    const r = this.#nextRequest;
    this.#nextRequest = this.#nextRequest >= 0xffffffff ? 1 : this.#nextRequest + 1;
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#requests.delete(r);
        reject(new TxError('ERR_TX_TIMEOUT', `No reply from ${address} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done =
        <A>(f: (a: A) => void) =>
        (a: A) => {
          clearTimeout(timer);
          this.#requests.delete(r);
          f(a);
        };
      this.#requests.set(r, { resolve: done(resolve), reject: done(reject) });
      this.send(address, { t: Msg.REQUEST, x: '', r, b: body });
    });
  }

  #settle(m: Extract<Message, { t: typeof Msg.REPLY }>): void {
    const w = this.#requests.get(m.r);
    if (w === undefined) return; // late: it timed out
    if (m.e !== undefined) w.reject(new TxError('ERR_TX_REQUEST', m.e));
    else w.resolve(m.b!);
  }

  /**
   * Resolves after the current event-loop turn, when the channels have
   * handed this turn's messages to the kernel (stream channels write once
   * per turn): the fault points named "after ...-send" wait for it, so that
   * a kill there comes after the message left the process.
   */
  static turn(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }

  /** Stops listening and closes every connection; pending requests reject `ERR_TX_CLOSED`. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    for (const w of [...this.#requests.values()]) w.reject(new TxError('ERR_TX_CLOSED', 'The site is closed'));
    await Promise.all([...this.#conns].map((d) => d.close().catch(() => undefined)));
    this.#conns.clear();
    await Promise.all([...this.#links.values()].map((l) => l.connecting));
  }
}

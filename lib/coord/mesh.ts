/**
 * A mesh of peers: a listener (for the connections peers start) and one
 * outgoing link per peer address, connected on first use and again after a
 * failure. Sending is best effort, as the protocols on top assume of a
 * network: a message to a peer that cannot be reached is counted and
 * dropped, and the protocol's own timers send it again. What the
 * transaction sites and the group members share, written once.
 * @internal
 * @module
 */
import { connect, listen, type AddressOptions, type Duplex, type Listener } from '../channels/index.js';
import { validateAbortSignal, validateFunction, validateInteger, validateOptions, validateString } from '../internal/validators.js';
import { acceptLoop } from './accept.js';

/** A connection of a mesh, as given to {@link MeshOptions.onLink} (attach a trace recorder or a fault injector to it). */
export interface SiteLink {
  readonly duplex: Duplex<Uint8Array>;
  /** `out`: this site connected to `peer`; `in`: a peer connected to this site (its address is unknown). */
  readonly direction: 'out' | 'in';
  /** The address connected to (`out`), or `''` (`in`). */
  readonly peer: string;
}

/** Options of a mesh: where it listens, how it connects. */
export interface MeshOptions {
  /** The address to listen at for peers (`unix:`, `shm:`, `tcp://`, `tls://`, `name:`): what the peers are given. */
  listen: string;
  /** Options for `listen()` (TLS credentials, ...). */
  listenOptions?: AddressOptions<Uint8Array>;
  /** Options for each `connect()` to a peer. */
  connectOptions?: AddressOptions<Uint8Array>;
  /** Called with every new connection, before its first message: attach hooks there. */
  onLink?: (link: SiteLink) => void;
  /** The largest message (default 256 KiB, which every transport takes with its defaults). */
  maxMessageSize?: number;
}

/** Counters of a mesh. */
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

/** Where a message came from: answer on the same connection. */
export interface MeshSource {
  reply(bytes: Uint8Array): void;
}

/** What happened to an outgoing link: its connection ended (`closed`), or a connect failed (`unreachable`). */
export type LinkDown = 'closed' | 'unreachable';

/** The handler of a mesh: false (or a throw) means the message was malformed, and its connection is ended. */
export type MeshHandler = (bytes: Uint8Array, from: MeshSource) => boolean;

/** The most outgoing links a mesh keeps; beyond it the oldest idle one is closed (it reconnects when used again). */
const MAX_LINKS = 1024;

/** A pending link's queue bound: beyond it, messages are dropped (the protocol resends). */
const LINK_QUEUE_LIMIT = 4096;

interface Link {
  duplex?: Duplex<Uint8Array>;
  connecting?: Promise<Duplex<Uint8Array> | undefined>;
  tail: Promise<void>;
  queued: number;
  /** A connect failed: this many messages queued behind it then are dropped at once, not each after a connect of its own. */
  failing: number;
}

/** The network of one site or member. See the module doc. @internal */
export class Mesh {
  readonly #listener: Listener<Uint8Array>;
  readonly #options: MeshOptions;
  readonly #maxMessageSize: number;
  readonly #links = new Map<string, Link>();
  readonly #conns = new Set<Duplex<Uint8Array>>();
  readonly #handler: MeshHandler;
  readonly #onLinkDown: ((address: string, why: LinkDown) => void) | undefined;
  readonly #spin: boolean;
  readonly stats: SiteStats = { sent: 0, received: 0, dropped: 0, malformed: 0, acceptErrors: 0 };
  /** The last accept failure, for diagnosis. */
  lastAcceptError: unknown;
  #closed = false;
  /** Aborts the connects under way when the mesh closes (a NATS hello to a dead peer waits up to its timeout). */
  readonly #closing = new AbortController();
  /** What each connect is given: the closing signal, with the caller's `connectOptions.signal` when there is one (combined once). */
  readonly #connectSignal: AbortSignal;

  private constructor(
    listener: Listener<Uint8Array>,
    options: MeshOptions,
    max: number,
    handler: MeshHandler,
    onLinkDown: ((a: string, why: LinkDown) => void) | undefined,
    spin: boolean,
  ) {
    this.#listener = listener;
    this.#spin = spin;
    this.#options = options;
    this.#maxMessageSize = max;
    this.#handler = handler;
    this.#onLinkDown = onLinkDown;
    const own = options.connectOptions?.signal as AbortSignal | undefined; // checked in open()
    this.#connectSignal = own === undefined ? this.#closing.signal : AbortSignal.any([own, this.#closing.signal]);
    void acceptLoop(
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

  /**
   * Listens at `options.listen`; `handler` gets every message from a peer.
   * `onLinkDown` hears of every outgoing link that broke or could not connect
   * (a peer-death signal: the group's failure detector listens to it).
   * `spin`: an empty connection's read waits with `receive()`, which spins
   * for a moment first (a peer about to answer costs no sleep: request and
   * reply, as the transaction sites), or (false) with `readable()`, which
   * sleeps at once: a group member reads a connection per peer each way, and
   * a spin on each idle one (shm: up to 50 us) is time its peers, on the same
   * cores, lack.
   */
  static async open(
    options: MeshOptions,
    handler: MeshHandler,
    onLinkDown?: (address: string, why: LinkDown) => void,
    spin = true,
  ): Promise<Mesh> {
    validateOptions(options);
    validateString(options.listen, 'options.listen');
    validateFunction(options.onLink, 'options.onLink');
    validateAbortSignal(validateOptions(options.connectOptions, 'options.connectOptions').signal, 'options.connectOptions.signal');
    const max = validateInteger(options.maxMessageSize ?? 256 * 1024, 'options.maxMessageSize', 256, 64 * 1024 * 1024);
    const listener = await listen<Uint8Array>(options.listen, { ...options.listenOptions, maxMessageSize: max });
    return new Mesh(listener, options, max, handler, onLinkDown, spin);
  }

  /** The largest message this mesh sends or takes. */
  get maxMessageSize(): number {
    return this.#maxMessageSize;
  }

  /** Where peers reach this mesh. */
  get url(): string {
    return this.#listener.url;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #adopt(d: Duplex<Uint8Array>, direction: 'in' | 'out', peer: string): void {
    this.#conns.add(d);
    this.#options.onLink?.({ duplex: d, direction, peer });
    void this.#readLoop(d, peer);
  }

  async #readLoop(d: Duplex<Uint8Array>, peer: string): Promise<void> {
    const source: MeshSource = { reply: (bytes) => this.#write(d, bytes, peer) };
    try {
      for (;;) {
        let bytes: Uint8Array | undefined;
        if (this.#spin) bytes = await d.receiver.receive();
        else {
          // Every frame that is here now, then a wait that does not spin (see open()).
          bytes = d.receiver.tryReceive();
          if (bytes === undefined && !d.receiver.ended) {
            await d.receiver.readable();
            continue;
          }
        }
        if (bytes === undefined || this.#closed) break;
        let ok: boolean;
        try {
          ok = this.#handler(bytes, source);
        } catch {
          ok = false;
        }
        if (!ok) {
          this.stats.malformed++;
          break; // an untrusted peer broke the protocol: drop the connection
        }
        this.stats.received++;
      }
    } catch {
      // the peer died or the connection broke: the protocol's timers cover what was lost
    }
    this.#drop(d, peer);
  }

  #drop(d: Duplex<Uint8Array>, peer: string): void {
    if (!this.#conns.delete(d)) return;
    const link = peer === '' ? undefined : this.#links.get(peer);
    if (link?.duplex === d) link.duplex = undefined;
    void d.close().catch(() => undefined);
    if (peer !== '' && !this.#closed) this.#onLinkDown?.(peer, 'closed');
  }

  #write(d: Duplex<Uint8Array>, bytes: Uint8Array, peer: string): void {
    // Callers check sizes first: one still over the bound is not sent.
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

  /** Sends `bytes` to the peer at `address`, connecting first if needed (best effort: see the module doc). */
  send(address: string, bytes: Uint8Array): void {
    if (this.#closed) return;
    let link = this.#links.get(address);
    if (link === undefined) {
      this.#links.set(address, (link = { tail: Promise.resolve(), queued: 0, failing: 0 }));
      if (this.#links.size > MAX_LINKS) this.#evictLink();
    }
    if (link.duplex !== undefined && link.queued === 0) return this.#write(link.duplex, bytes, address);
    if (link.queued >= LINK_QUEUE_LIMIT) {
      this.stats.dropped++;
      return;
    }
    link.queued++;
    const l = link;
    l.tail = l.tail.then(async () => {
      let d: Duplex<Uint8Array> | undefined;
      try {
        if (l.failing > 0)
          l.failing--; // queued behind a connect that failed
        else if (!this.#closed) d = l.duplex ?? (await this.#connect(address, l));
      } catch {
        // #connect does not reject; were it to, the message counts as dropped and the queue goes on
      } finally {
        // Counted down after the write: a send() meanwhile queues behind it, never overtakes it.
        l.queued--;
        if (d === undefined) this.stats.dropped++;
        else this.#write(d, bytes, address);
      }
    });
  }

  /** Forgets the link to `address` (closing its connection): the next send connects again. */
  forget(address: string): void {
    const l = this.#links.get(address);
    if (l === undefined || l.queued > 0 || l.connecting !== undefined) return;
    this.#links.delete(address);
    if (l.duplex !== undefined) {
      const d = l.duplex;
      l.duplex = undefined;
      this.#conns.delete(d);
      void d.close().catch(() => undefined);
    }
  }

  /** Closes the oldest idle link (a peer may name many addresses: their links are bounded). */
  #evictLink(): void {
    for (const [address, l] of this.#links) {
      if (l.queued > 0 || l.connecting !== undefined) continue;
      this.forget(address);
      return;
    }
  }

  #connect(address: string, link: Link): Promise<Duplex<Uint8Array> | undefined> {
    link.connecting ??= connect<Uint8Array>(address, {
      ...this.#options.connectOptions,
      maxMessageSize: this.#maxMessageSize,
      signal: this.#connectSignal,
    })
      .then((d) => {
        if (this.#closed) {
          void d.close().catch(() => undefined);
          return undefined;
        }
        link.duplex = d;
        this.#adopt(d, 'out', address);
        return d;
      })
      .catch(() => {
        link.failing = link.queued - 1; // those behind the message that connected; later ones connect again
        if (!this.#closed) this.#onLinkDown?.(address, 'unreachable');
        return undefined;
      })
      .finally(() => (link.connecting = undefined));
    return link.connecting;
  }

  /**
   * Resolves after the current event-loop turn, when the channels have
   * handed this turn's messages to the kernel (stream channels write once
   * per turn).
   */
  static turn(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    this.#listener.close();
    await Promise.all([...this.#conns].map((d) => d.close().catch(() => undefined)));
    this.#conns.clear();
    // The queued messages are dropped (closed) and the connects under way aborted: these settle at once.
    await Promise.all([...this.#links.values()].map((l) => l.tail.catch(() => undefined)));
  }
}

/**
 * Mailboxes: many producers into one bounded queue, taken by one or many
 * competing consumers; each message goes to exactly one consumer. The
 * owner (the process that created the mailbox) holds the queue; producers
 * and consumers are connections to it over any transport (a `Listener`, or
 * duplexes handed in: one ring pair per producer over shared memory).
 * Semantics, bounds and the crash case: docs/mailboxes.md.
 * @module
 */
import type { Duplex, Listener } from '../channels/index.js';
import { closedError } from '../errors.js';
import { validateInteger, validateObject, validateOptions, validateTimeout } from '../internal/validators.js';
import { Gather, type Gathered } from './gather.js';
import * as wire from './mailbox-wire.js';

/** Options of {@link createMailbox}. */
export interface MailboxOptions {
  /**
   * Messages the owner queues before it stops reading producers (whose sends
   * then wait: backpressure). Default 1024. Messages handed back by departed
   * consumers are queued beyond it (at most their windows).
   */
  capacity?: number;
  /** How long a new connection has to send its hello before it is dropped. Default 5000 ms. */
  helloTimeoutMs?: number;
}

/** What {@link Mailbox.stats} reports. */
export interface MailboxStats {
  /** Messages waiting for a consumer. */
  readonly queued: number;
  readonly producers: number;
  readonly consumers: number;
  /** Messages sent to consumers and not yet acknowledged. */
  readonly inHand: number;
  /** Messages consumers acknowledged (done with), since the mailbox was created. */
  readonly acknowledged: number;
  /** Messages handed to another consumer after theirs left without acknowledging them. */
  readonly redelivered: number;
  /** Connections refused at the hello (not a mailbox client, bad version, bad window, too slow). */
  readonly refused: number;
}

interface Item {
  readonly id: number;
  readonly bytes: Uint8Array;
  redelivered: boolean;
}

interface Consumer {
  readonly d: Duplex<Uint8Array>;
  readonly window: number;
  readonly inHand: Map<number, Item>;
  bye: boolean;
  gone: boolean;
  /** A MSG is waiting in the channel's queue (its buffer was full): no more until it is written. */
  blocked: boolean;
}

/**
 * The owner's side of a mailbox. Made by {@link createMailbox}; clients
 * join with {@link connectMailboxProducer} / {@link connectMailboxConsumer}.
 */
export class Mailbox {
  readonly #gather: Gather<Duplex<Uint8Array>>;
  readonly #helloMs: number;
  readonly #consumers: Consumer[] = [];
  readonly #producers = new Set<Duplex<Uint8Array>>();
  readonly #requeued: Item[] = [];
  readonly #listeners: Pick<Listener, 'accept' | 'close'>[] = [];
  readonly #stop = new AbortController();
  #turn = 0;
  #nextId = 1;
  #redelivered = 0;
  #acknowledged = 0;
  #refused = 0;
  #closed = false;

  /** @internal use {@link createMailbox} */
  constructor(capacity: number, helloMs: number) {
    this.#helloMs = helloMs;
    this.#gather = new Gather<Duplex<Uint8Array>>(
      capacity,
      () => this.#dispatch(),
      (d) => {
        this.#producers.delete(d);
        d.close().catch(() => undefined);
      },
    );
  }

  /**
   * Accepts clients from `listener` until the mailbox closes (which closes
   * the listener too). Returns `this`. Any transport: UNIX, TCP, TLS, shm.
   */
  serve(listener: Pick<Listener, 'accept' | 'close'>): this {
    validateObject(listener, 'listener');
    if (this.#closed) throw closedError('Mailbox');
    this.#listeners.push(listener);
    void (async () => {
      while (!this.#closed) {
        let d: Duplex<Uint8Array>;
        try {
          d = await listener.accept({ signal: this.#stop.signal });
        } catch {
          return; // closed, by us or by its owner
        }
        void this.adopt(d);
      }
    })();
    return this;
  }

  /**
   * Takes one connected duplex (say, a shared-memory ring pair made for one
   * producer), reads its hello and adds it as a producer or a consumer.
   * Resolves `true` once added, `false` when refused (and closed).
   */
  async adopt(duplex: Duplex<Uint8Array>): Promise<boolean> {
    validateObject(duplex, 'duplex');
    let hello: ReturnType<typeof wire.parseHello>;
    try {
      hello = wire.parseHello(await duplex.receiver.receive({ timeoutMs: this.#helloMs, signal: this.#stop.signal }));
    } catch {
      hello = 'no hello in time';
    }
    if (typeof hello === 'string' || this.#closed) {
      if (!this.#closed) this.#refused++;
      await duplex.close().catch(() => undefined);
      return false;
    }
    if (hello.role === wire.ROLE_PRODUCER) {
      this.#producers.add(duplex);
      this.#gather.add(duplex.receiver, duplex);
    } else {
      const c: Consumer = { d: duplex, window: hello.window, inHand: new Map(), bye: false, gone: false, blocked: false };
      this.#consumers.push(c);
      void this.#serveConsumer(c);
      this.#dispatch();
    }
    return true;
  }

  /** A snapshot of the queue and its clients. */
  get stats(): MailboxStats {
    let inHand = 0;
    for (const c of this.#consumers) inHand += c.inHand.size;
    return {
      queued: this.#gather.length + this.#requeued.length,
      producers: this.#producers.size,
      consumers: this.#consumers.length,
      inHand,
      acknowledged: this.#acknowledged,
      redelivered: this.#redelivered,
      refused: this.#refused,
    };
  }

  /**
   * Closes the mailbox: stops listening, closes the producers (their next
   * send fails with `ERR_CHANNEL_PEER_GONE`), tells each consumer the end
   * (its `receive()` returns `undefined` after what it already has). Resolves
   * with the number of queued messages that no consumer got: they are
   * dropped. Messages in consumers' hands stay theirs. Idempotent.
   */
  async close(): Promise<number> {
    if (this.#closed) return 0;
    this.#closed = true;
    this.#stop.abort();
    for (const l of this.#listeners) l.close();
    const dropped = this.#gather.close().length + this.#requeued.splice(0).length;
    const closing: Promise<void>[] = [];
    for (const d of this.#producers) closing.push(d.close());
    this.#producers.clear();
    for (const c of this.#consumers.splice(0)) {
      c.gone = true;
      c.d.sender.send(wire.frame(wire.END, 0, 0)).catch(() => undefined);
      closing.push(c.d.close());
    }
    await Promise.allSettled(closing);
    return dropped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Hands queued messages to consumers with room in their window, round robin. */
  #dispatch(): void {
    const n = this.#consumers.length;
    if (n === 0 || this.#closed) return;
    let idle = 0;
    while (idle < n) {
      const c = this.#consumers[this.#turn++ % n]!;
      if (c.bye || c.gone || c.blocked || c.inHand.size >= c.window) {
        idle++;
        continue;
      }
      const item = this.#requeued.shift() ?? this.#fresh(this.#gather.shift());
      if (item === undefined) return;
      idle = 0;
      c.inHand.set(item.id, item);
      const f = wire.frame(wire.MSG, item.redelivered ? wire.FLAG_REDELIVERED : 0, item.id, item.bytes);
      if (!c.d.sender.trySend(f)) {
        // The consumer's channel is full: one send waits, the others go to consumers with room.
        // A failure shows on the consumer's receiver, which hands its messages back.
        c.blocked = true;
        c.d.sender.send(f).then(
          () => {
            c.blocked = false;
            this.#dispatch();
          },
          () => undefined,
        );
      }
    }
  }

  #fresh(g: Gathered<Duplex<Uint8Array>> | undefined): Item | undefined {
    if (g === undefined) return undefined;
    const id = this.#nextId;
    this.#nextId = id === 0xffff_ffff ? 1 : id + 1;
    return { id, bytes: g.bytes, redelivered: false };
  }

  /** Reads a consumer's acknowledgements until it leaves; then hands back what it still held. */
  async #serveConsumer(c: Consumer): Promise<void> {
    const returned: Item[] = [];
    try {
      for (;;) {
        const b = await c.d.receiver.receive({ signal: this.#stop.signal });
        if (b === undefined) break; // end of stream: with a BYE before it a clean close, else a crash
        const f = b.byteLength === wire.HEADER ? wire.parseFrame(b) : undefined;
        if (f === undefined || c.bye) break; // anything after BYE, or malformed: treated as a crash
        const [type, , id] = f;
        if (type === wire.BYE) {
          c.bye = true;
          continue;
        }
        const item = c.inHand.get(id);
        if (item === undefined || (type !== wire.ACK && type !== wire.RETURN)) break; // not in its hands: corrupt
        c.inHand.delete(id);
        if (type === wire.RETURN) returned.push(item);
        else this.#acknowledged++;
        this.#dispatch();
      }
    } catch {
      // peer gone, corrupt, or the mailbox closing: the same hand-back below
    }
    c.gone = true;
    const i = this.#consumers.indexOf(c);
    if (i >= 0) this.#consumers.splice(i, 1);
    c.d.close().catch(() => undefined);
    if (this.#closed) return;
    // Returned: the consumer's application never saw them. The rest were sent and
    // never acknowledged: the consumer may have seen them, so they go out flagged.
    const back = [...returned, ...[...c.inHand.values()].map((it) => ((it.redelivered = true), it))];
    this.#redelivered += c.inHand.size;
    this.#requeued.unshift(...back);
    this.#requeued.sort((x, y) => x.id - y.id);
    c.inHand.clear();
    this.#dispatch();
  }
}

/**
 * Creates a mailbox owned by this process. Serve it with
 * `mailbox.serve(listener)` (or `adopt(duplex)` per client); close it with
 * `close()`.
 */
export function createMailbox(options?: MailboxOptions): Mailbox {
  const opts = validateOptions(options);
  const capacity = opts.capacity === undefined ? 1024 : validateInteger(opts.capacity, 'options.capacity', 1, 1 << 20);
  const helloMs = opts.helloTimeoutMs === undefined ? 5000 : validateTimeout(opts.helloTimeoutMs, 'options.helloTimeoutMs');
  return new Mailbox(capacity, helloMs);
}

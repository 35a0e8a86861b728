/**
 * One side of a NATS channel: the two subjects (this side's inbox, the
 * peer's), the frames on them, credit-based flow control, sequence numbers
 * that turn any loss into an error, and a heartbeat that is the only way to
 * learn the peer is gone (NATS does not tell). Shared by the sending and the
 * receiving engine of a duplex (./engine.ts).
 *
 * Frames: a type byte, then DATA: u32 sequence + payload; CREDIT: f64
 * bytes the receiver consumed in all (cumulative, so a CREDIT lost in a
 * failover is made good by the next); WANT: the sender waits for credit (the
 * receiver credits what it consumed at once, instead of at a quarter of its
 * window); END: u32 the last sequence sent; PING: u32 the last sequence
 * sent, a request the peer answers (and, coming after every DATA before it,
 * proof that none of them was lost); and GONE + a reason byte: the peer's
 * receiver closed (0), or the peer took this side for gone (1): sends, and
 * the `close()` that confirms them, fail from then on. The receiver holds
 * the sender to its window: a peer that sends past it is corrupt.
 *
 * The PING is how a dead peer shows: once its connection to NATS is gone,
 * nobody subscribes to its inbox and the request fails at once with "no
 * responders". Such answers may be a peer reconnecting to another node, so
 * the peer counts as gone only after a second of them; a peer that is alive
 * but silent past `peerTimeoutMs` counts as gone too. A gone peer is the end
 * of the stream for this side's receiver (what it sent before it died came
 * first, in order) and `ERR_CHANNEL_PEER_GONE` for this side's sender.
 * @internal
 * @module
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';

import { corruptError, peerGoneError } from '../../errors.js';
import { releaseConnection, type SharedConnection } from './client.js';

export const DATA = 1;
export const CREDIT = 2;
export const END = 3;
export const PING = 4;
export const GONE = 5;
export const WANT = 6;
/** Bytes before a DATA frame's payload. */
export const DATA_HEADER = 5;

/** Frames up to this size are cut from a shared slab (one allocation per {@link SLAB} bytes, not per message). */
const SLAB_FRAME_MAX = 16 * 1024;
const SLAB = 256 * 1024;

const readU32 = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}
/** How far sequence number `b` is past `a`, modulo 2^32 (numbers wrap; a gap of 2^31 or more is "behind"). */
const seqAhead = (a: number, b: number): number => (b - a) >>> 0;

/** How long a peer's inbox must have no subscriber before the peer counts as gone. */
const NO_RESPONDERS_MS = 1000;

/** What a link needs: where it is, how big its windows are, how long the peer may stay silent. */
export interface LinkSettings {
  readonly servers: string;
  /** The peer's inbox (where this side sends) and this side's (where it listens). */
  readonly peerInbox: string;
  readonly ownInbox: string;
  /** Bytes the peer lets this side send before it consumes them (its window). */
  readonly sendWindow: number;
  /** Bytes this side lets the peer send (its own window). */
  readonly receiveWindow: number;
  readonly heartbeatMs: number;
  readonly peerTimeoutMs: number;
}

const noResponders = (err: unknown): boolean => /no responders|503/i.test(String((err as Error)?.message ?? err));
const timedOut = (err: unknown): boolean => /timeout/i.test(String((err as Error)?.message ?? err));

/**
 * A link's inbox, subscribed before the link exists (the peer learns it
 * from the hello): a callback subscription, one call per message and no
 * promise (an async iterator costs a promise and a microtask per
 * message), holding what comes before {@link Inbox.attach}.
 * @internal
 */
export class Inbox {
  readonly sub: Subscription;
  #early: Array<{ err: Error | null; m: Msg }> | undefined = [];
  #onMessage: ((m: Msg) => void) | undefined;
  #onError: ((err: Error) => void) | undefined;

  constructor(nc: NatsConnection, subject: string) {
    this.sub = nc.subscribe(subject, {
      callback: (err, m) => {
        if (this.#early !== undefined) this.#early.push({ err, m });
        else this.#dispatch(err, m);
      },
    });
  }

  /** A throw here would stop the client's reader, and with it every link on the connection: it fails this link only. */
  #dispatch(err: Error | null, m: Msg): void {
    try {
      if (err !== null) this.#onError!(err);
      else this.#onMessage!(m);
    } catch (thrown) {
      this.#onError!(thrown as Error);
    }
  }

  /** From now on each message goes to `onMessage` (those held first, in order), a subscription error to `onError`. */
  attach(onMessage: (m: Msg) => void, onError: (err: Error) => void): void {
    this.#onMessage = onMessage;
    this.#onError = onError;
    const early = this.#early!;
    this.#early = undefined;
    for (const { err, m } of early) this.#dispatch(err, m);
  }
}

/** See the module doc. @internal */
export class NatsLink {
  readonly nc: NatsConnection;
  readonly settings: LinkSettings;
  readonly #shared: SharedConnection;
  readonly #sub: Subscription;
  /** Bytes sent in all, and the peer's count of bytes consumed in all (its last CREDIT). */
  #sentTotal = 0;
  #creditedTotal = 0;
  /** Sequence numbers, u32, wrapping. */
  #seqOut = 0;
  #seqIn = 0;
  #slab = new Uint8Array(0);
  #slabAt = 0;
  /** Received DATA frames, whole, not yet consumed. */
  readonly frames: Uint8Array[] = [];
  /** Bytes received in all, consumed in all, and credited back in all. */
  #receivedTotal = 0;
  #consumedTotal = 0;
  #creditSent = 0;
  #receiverClosed = false;
  /** The peer ended its sending side; the peer's receiver closed. */
  ended = false;
  peerReceiverGone = false;
  /** The peer's process or its NATS connection is gone, or the peer took this side for gone (see the module doc). */
  peerGone: Error | undefined;
  #pinging = false;
  /** When the peer's inbox first had no subscriber, in this run of such answers (0: it has one). */
  #noRespondersSince = 0;
  #goneSentAt = 0;
  #wantSentAt = -Infinity;
  #peerWants = false;
  failure: Error | undefined;
  #lastHeard = performance.now();
  /** A frame came since the last heartbeat (cheaper than reading the clock at every frame). */
  #heard = false;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #wakers = new Set<() => void>();
  #users = 2;

  constructor(shared: SharedConnection, nc: NatsConnection, inbox: Inbox, settings: LinkSettings) {
    this.nc = nc;
    this.#shared = shared;
    this.#sub = inbox.sub;
    this.settings = settings;
    shared.links.add(this); // one closed() handler per connection fails them all (see client.ts)
    inbox.attach(
      (m) => this.#message(m),
      (err) => this.fail(peerGoneError('is out of reach: the NATS subscription failed', err)),
    );
    this.#heartbeat = setInterval(() => this.#beat(), settings.heartbeatMs);
    this.#heartbeat.unref();
  }

  /** Bytes this side may still send: the window less what the peer has not credited back. */
  get credit(): number {
    return this.settings.sendWindow - (this.#sentTotal - this.#creditedTotal);
  }

  #message(m: Msg): void {
    if (m.reply !== undefined && m.data.length === 5 && m.data[0] === PING) {
      this.#heard = true;
      const lost = seqAhead(this.#seqIn, readU32(m.data, 1));
      if (lost !== 0 && lost < 2 ** 31 && this.peerGone === undefined && !this.ended)
        this.fail(
          corruptError(`${lost} NATS messages were lost in transit (a node failed over, or the server dropped a slow consumer's messages)`),
        );
      m.respond(new Uint8Array(0));
    } else {
      this.#frame(m.data);
      // The END is in: the sender's close() resolves, or (1) fails when this side lost something or had given up on it.
      if (m.reply !== undefined && m.data[0] === END)
        m.respond(new Uint8Array(this.peerGone === undefined && this.failure === undefined ? 0 : 1));
    }
  }

  #frame(data: Uint8Array): void {
    const b = new Uint8Array(data.buffer, data.byteOffset, data.byteLength); // the client hands a Buffer: a plain view, as every channel gives
    this.#heard = true;
    if (b.length === 0) return this.fail(corruptError('A NATS channel frame was empty'));
    const type = b[0];
    if (type === PING) return;
    if (type === WANT) {
      this.#peerWants = true;
      return this.consumed(0);
    }
    if (type === GONE) {
      if (b[1] === 1) this.#lost(peerGoneError('took this side for gone: what was sent after that was not read'), false);
      else this.peerReceiverGone = true;
      return this.wake();
    }
    if (type === CREDIT) {
      const total = b.length === 9 ? new DataView(b.buffer, b.byteOffset, 9).getFloat64(1) : Number.NaN;
      // Bounded: a peer cannot credit more than was sent, nor go back.
      if (!Number.isSafeInteger(total) || total > this.#sentTotal)
        return this.fail(corruptError('A NATS channel CREDIT frame is malformed'));
      if (total > this.#creditedTotal) this.#creditedTotal = total;
      return this.wake();
    }
    if (b.length < 5) return this.fail(corruptError(`A NATS channel frame of type ${type} was ${b.length} bytes`));
    const n = readU32(b, 1);
    if (type === END) {
      if (n !== this.#seqIn) return this.fail(corruptError(`${seqAhead(this.#seqIn, n)} messages were lost in transit before the end`));
      this.ended = true;
      return this.wake();
    }
    if (type !== DATA) return this.fail(corruptError(`A NATS channel frame has an unknown type ${type}`));
    if (this.ended) return this.fail(corruptError('A NATS channel frame came after the end'));
    if (this.peerGone !== undefined) {
      // The stream ended for this side when the peer was taken for gone: it lives, so tell it again (its sends fail).
      if (performance.now() - this.#goneSentAt > 1000) this.#tellGone();
      return;
    }
    const expected = (this.#seqIn + 1) >>> 0;
    if (n !== expected) return this.fail(corruptError(`NATS message ${expected} was lost in transit (next came ${n})`));
    const len = b.length - DATA_HEADER;
    const outstanding = this.#receivedTotal - this.#creditSent;
    // The window, as the sender keeps it: one message larger than the window only when all before it were credited.
    if (outstanding + len > this.settings.receiveWindow && outstanding > 0)
      return this.fail(corruptError(`The peer sent past this side's window of ${this.settings.receiveWindow} bytes`));
    this.#seqIn = n;
    this.#receivedTotal += len;
    if (this.#receiverClosed) return this.#credit(len); // nobody reads: dropped, and credited so the count stays true
    this.frames.push(b);
    this.wake();
  }

  #beat(): void {
    if (this.failure !== undefined || this.peerGone !== undefined || this.#pinging) return;
    if (this.#heard) [this.#lastHeard, this.#heard] = [performance.now(), false];
    if (performance.now() - this.#lastHeard > this.settings.peerTimeoutMs) {
      return this.#lost(peerGoneError(`stopped answering: nothing for ${this.settings.peerTimeoutMs} ms`));
    }
    this.#pinging = true;
    // A PING lost in a failover just times out: silence for peerTimeoutMs (above) is what counts, not one lost PING.
    this.nc
      .request(this.settings.peerInbox, this.#frameOf(PING, this.#seqOut), {
        timeout: Math.min(this.settings.peerTimeoutMs, 3 * this.settings.heartbeatMs),
      })
      .then(
        () => {
          this.#lastHeard = performance.now();
          this.#noRespondersSince = 0;
        },
        (err: unknown) => {
          if (!noResponders(err)) return;
          // A peer failing over to another node has no subscriber for a moment: gone only past a second of it.
          const now = performance.now();
          if (this.#noRespondersSince === 0) this.#noRespondersSince = now;
          else if (now - this.#noRespondersSince >= NO_RESPONDERS_MS) this.#lost(peerGoneError('exited or lost its NATS connection', err));
        },
      )
      .finally(() => (this.#pinging = false));
  }

  /** The peer is gone (or took this side for gone: `tell` false); if it lives after all, it is told, so its sends fail rather than vanish. */
  #lost(err: Error, tell = true): void {
    if (this.peerGone !== undefined) return;
    this.peerGone = err;
    if (tell) this.#tellGone();
    this.wake();
  }

  #tellGone(): void {
    this.#goneSentAt = performance.now();
    this.#publish(new Uint8Array([GONE, 1]));
  }

  #frameOf(type: number, n?: number): Uint8Array {
    const b = new Uint8Array(n === undefined ? 1 : 5);
    b[0] = type;
    if (n !== undefined) writeU32(b, 1, n);
    return b;
  }

  #publish(b: Uint8Array): void {
    try {
      this.nc.publish(this.settings.peerInbox, b);
    } catch (err) {
      this.fail(peerGoneError('is out of reach: NATS refused the publish', err));
    }
  }

  /** Publishes one DATA frame (the caller checked the credit). */
  sendData(bytes: Uint8Array): void {
    const size = DATA_HEADER + bytes.byteLength;
    let b: Uint8Array;
    if (size > SLAB_FRAME_MAX) b = new Uint8Array(size);
    else {
      // The client holds the frame until it writes it: a slab's bytes are never written twice.
      if (this.#slabAt + size > this.#slab.length) [this.#slab, this.#slabAt] = [new Uint8Array(SLAB), 0];
      b = this.#slab.subarray(this.#slabAt, (this.#slabAt += size));
    }
    this.#seqOut = (this.#seqOut + 1) >>> 0;
    b[0] = DATA;
    writeU32(b, 1, this.#seqOut);
    b.set(bytes, DATA_HEADER);
    this.#sentTotal += bytes.byteLength;
    this.nc.publish(this.settings.peerInbox, b);
  }

  /** A frame's payload was consumed: credit goes back once a quarter of the window is, or at once when the sender waits for it. */
  consumed(bytes: number): void {
    this.#credit(bytes);
  }

  #credit(bytes: number): void {
    this.#consumedTotal += bytes;
    const owed = this.#consumedTotal - this.#creditSent;
    if (owed > 0 && (owed >= this.settings.receiveWindow / 4 || this.#peerWants)) {
      const b = new Uint8Array(9);
      b[0] = CREDIT;
      new DataView(b.buffer).setFloat64(1, this.#consumedTotal);
      this.#publish(b);
      this.#creditSent = this.#consumedTotal;
      this.#peerWants = false;
    }
  }

  /** The sender lacks credit: asks the peer for what it has consumed (again after a heartbeat: a WANT lost in a failover). */
  want(): void {
    if (this.failure !== undefined || performance.now() - this.#wantSentAt < this.settings.heartbeatMs) return;
    this.#wantSentAt = performance.now();
    this.#publish(new Uint8Array([WANT]));
  }

  /**
   * Ends this side's sending: END, as a request the peer answers once every
   * frame before it is in its queue. Rejects (`ERR_CHANNEL_PEER_GONE`) when
   * what was sent may not have been read: the link failed, the peer is gone
   * or took this side for gone, or it never confirmed.
   */
  async end(): Promise<void> {
    if (this.peerGone !== undefined) throw this.peerGone;
    if (this.failure !== undefined) throw this.failure;
    if (this.peerReceiverGone) return this.#publish(this.#frameOf(END, this.#seqOut)); // nobody reads: nothing to wait for
    const start = performance.now();
    for (;;) {
      let answer;
      try {
        answer = await this.nc.request(this.settings.peerInbox, this.#frameOf(END, this.#seqOut), { timeout: this.settings.peerTimeoutMs });
      } catch (err) {
        if (this.peerReceiverGone) return; // its receiver closed meanwhile: nobody to deliver to
        if (noResponders(err) && performance.now() - start < NO_RESPONDERS_MS) {
          await new Promise((r) => setTimeout(r, 50)); // failing over, perhaps: ask again
          continue;
        }
        const why = timedOut(err) ? `did not confirm the end within ${this.settings.peerTimeoutMs} ms` : 'is gone';
        throw peerGoneError(`${why}: what was sent may be lost`, err);
      }
      if (answer.data.length === 1) throw peerGoneError('did not read everything this side sent (a loss, or it took this side for gone)');
      return;
    }
  }

  /** This side's receiver closed: the peer's sends fail from now on, and what still comes is dropped. */
  receiverGone(): void {
    this.#receiverClosed = true;
    for (const f of this.frames.splice(0)) this.#credit(f.byteLength - DATA_HEADER);
    if (this.failure === undefined) this.#publish(new Uint8Array([GONE, 0]));
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.wake();
  }

  /** Resolves at the next frame, failure, or after `ms`; early when `signal` aborts. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
      this.#wakers.add(done);
    });
  }

  wake(): void {
    if (this.#wakers.size === 0) return;
    for (const w of [...this.#wakers]) w();
  }

  /** One end lets go; the last one ends the subscription, the heartbeat and its use of the connection. */
  async release(): Promise<void> {
    if (--this.#users > 0) return;
    // The peer's END and GONE may still be on their way (its close() waits for an answer to END): a second at most.
    const deadline = performance.now() + 1000;
    while (
      !((this.ended && this.peerReceiverGone) || this.peerGone !== undefined || this.failure !== undefined) &&
      performance.now() < deadline
    )
      await new Promise((r) => setTimeout(r, 10));
    clearInterval(this.#heartbeat);
    this.#sub.unsubscribe();
    this.fail(peerGoneError('is gone: this side closed'));
    this.#shared.links.delete(this);
    await releaseConnection(this.#shared);
  }
}

/**
 * The channel engines over a {@link NatsLink}: the sender takes a message
 * while the peer's window has room (credit), the receiver hands out the
 * frames that came and credits them back as they are consumed. NATS runs
 * on Node's event loop, so the `Sync` calls are unsupported
 * (`ERR_CHANNEL_SYNC_UNSUPPORTED`), as on TLS.
 * @internal
 * @module
 */
import { corruptError, peerGoneError, syncUnsupportedError } from '../../errors.js';
import { LIVENESS_SLICE_MS } from '../../internal/liveness.js';
import { END, EMPTY, type ReceiveEngine, type SendEngine } from '../engine.js';
import { DATA_HEADER, type NatsLink } from './link.js';

/** The sending engine. */
export class NatsSendEngine implements SendEngine {
  readonly maxMessage: number;
  readonly syscall = 'publish';
  readonly path: string;
  readonly #link: NatsLink;

  constructor(link: NatsLink, maxMessage: number) {
    this.#link = link;
    this.maxMessage = maxMessage;
    this.path = link.settings.peerInbox;
  }

  get queuedBytes(): number {
    return this.#link.settings.sendWindow - this.#link.credit;
  }

  get capacity(): number {
    return this.#link.settings.sendWindow;
  }

  #check(): void {
    const l = this.#link;
    if (l.failure !== undefined) throw l.failure;
    if (l.peerGone !== undefined) throw l.peerGone;
    if (l.peerReceiverGone) throw peerGoneError('closed its receiving end');
  }

  tryWrite(bytes: Uint8Array): boolean {
    this.#check();
    // A message larger than the whole window goes once everything before it was consumed.
    const l = this.#link;
    if (bytes.byteLength > l.credit && l.credit < l.settings.sendWindow) {
      l.want();
      return false;
    }
    this.#link.sendData(bytes);
    return true;
  }

  tryWriteMany(list: readonly Uint8Array[], from: number): number {
    let i = from;
    while (i < list.length && this.tryWrite(list[i]!)) i++;
    return i - from;
  }

  publish(): void {} // the client writes to its socket itself

  spinWritable(): boolean {
    return false;
  }

  async waitWritable(len: number, signal: AbortSignal): Promise<void> {
    this.#check();
    if (len <= this.#link.credit || this.#link.credit >= this.#link.settings.sendWindow) return;
    await this.#link.wait(LIVENESS_SLICE_MS, signal);
    this.#check();
  }

  syncUnsupported(): Error {
    return syncUnsupportedError('NATS');
  }

  waitWritableSync(): boolean {
    throw this.syncUnsupported();
  }

  flushSync(): boolean {
    throw this.syncUnsupported();
  }

  async close(): Promise<void> {
    try {
      await this.#link.end();
    } finally {
      await this.#link.release();
    }
  }
}

/** The receiving engine. */
export class NatsReceiveEngine implements ReceiveEngine {
  readonly syscall = 'subscribe';
  readonly path: string;
  readonly #link: NatsLink;
  readonly #max: number;
  #closed = false;

  constructor(link: NatsLink, maxMessage: number) {
    this.#link = link;
    this.#max = maxMessage;
    this.path = link.settings.ownInbox;
  }

  get bytes(): Uint8Array {
    return this.#link.frames[0]!;
  }

  get offset(): number {
    return DATA_HEADER;
  }

  next(): number {
    const l = this.#link;
    const head = l.frames[0];
    if (head !== undefined) {
      const n = head.byteLength - DATA_HEADER;
      if (n > this.#max) throw corruptError(`A NATS channel message of ${n} bytes is over the limit of ${this.#max}`);
      return n;
    }
    if (l.failure !== undefined) throw l.failure;
    return l.ended || l.peerGone !== undefined ? END : EMPTY; // a dead peer's stream ends after what it sent, as a socket's does
  }

  release(): void {
    const head = this.#link.frames.shift();
    if (head !== undefined) this.#link.consumed(head.byteLength - DATA_HEADER);
  }

  publish(): void {}

  spinReadable(): boolean {
    return this.#link.frames.length > 0;
  }

  async waitReadable(signal: AbortSignal): Promise<void> {
    const l = this.#link;
    if (l.frames.length > 0 || l.ended || l.failure !== undefined || l.peerGone !== undefined) return;
    await l.wait(LIVENESS_SLICE_MS, signal);
  }

  syncUnsupported(): Error {
    return syncUnsupportedError('NATS');
  }

  waitReadableSync(): boolean {
    throw this.syncUnsupported();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#link.frames.length = 0;
    this.#link.receiverGone();
    void this.#link.release();
  }
}

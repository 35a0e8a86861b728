/**
 * Message passing over a Node stream (a `tls.TLSSocket`): the frame format
 * of ./engine.ts (a u32 little-endian length, then the payload), with Node
 * doing the I/O on its event loop. The engines of ../sender.ts and
 * ../receiver.ts for TLS.
 *
 * - Sending: frames are copied once into a {@link FrameBatch}. The first
 *   publish of an event-loop turn hands the batch to `socket.write()` at
 *   once (a reply is not held back); later frames of the turn go at its end,
 *   corked into one write. Bytes count as queued until their write callback
 *   says they left, and a `write()` that returns false stops the flushing
 *   until 'drain': the sender waits above `highWaterMark`, as on a descriptor.
 * - Receiving: 'data' chunks are appended to one buffer and parsed in place.
 *   The socket is paused while that buffer holds a whole frame and at least
 *   256 KiB, so memory stays bounded when nobody receives (the peer then
 *   meets TCP's backpressure). A closed receiver reads on and drops.
 * - The end of the stream is in band: a closed sender writes a frame header
 *   of {@link END_MARK}, and the receiver takes it as end-of-stream. TLS
 *   cannot half-close: OpenSSL discards the application data that arrives
 *   after its own close_notify, so a sender that ended the TLS stream would
 *   lose what the peer still sends to our open receiver (the soak found it).
 *   close_notify and FIN go only when both ends are closed (node-endpoint.ts).
 *   A stream that ends without the mark (a killed peer) is also the end.
 * - The socket is unreferenced while nobody waits on it: as on a descriptor,
 *   an idle channel keeps no event loop alive.
 * - The `...Sync` waits cannot block on a Node socket: they throw
 *   `ERR_CHANNEL_SYNC_UNSUPPORTED`, and `syncUnsupported()` lets the driver
 *   refuse a sync call before it starts.
 * @internal
 * @module
 */
import type { Duplex as NodeDuplex } from 'node:stream';

import { peerGoneError, syncUnsupportedError } from '../../errors.js';
import { onAbort } from '../../internal/waiting.js';
import { EMPTY, END, type ReceiveEngine, type SendEngine } from '../engine.js';
import { ChannelReceiver } from '../receiver.js';
import { ChannelSender } from '../sender.js';
import type { StreamSettings } from './ends.js';
import { END_MARK, FrameBatch, FrameBuffer, HEADER } from './framing.js';
import { isClosedError, NodeStreamEndpoint, peerGone } from './node-endpoint.js';

const CHUNK = 64 * 1024;
/** Unread bytes above which the socket is paused (once a whole frame is there). */
const READ_LIMIT = 256 * 1024;
/** The sending engine: a frame batch up to a high-water mark, handed to `socket.write()`. */
export class NodeStreamSendEngine implements SendEngine {
  readonly maxMessage: number;
  readonly syscall = 'write';
  readonly path = undefined;
  readonly #ep: NodeStreamEndpoint;
  readonly #highWater: number;
  readonly #batch = new FrameBatch(CHUNK);
  /** Bytes handed to `write()` whose callback has not come yet. */
  #inflight = 0;
  #needDrain = false;
  /** A flush at the end of this event-loop turn is scheduled. */
  #turn = false;
  #spaceWaiters: (() => void)[] = [];
  #drained: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #failure: Error | undefined;
  readonly #unwatch: () => void;

  constructor(ep: NodeStreamEndpoint, maxMessage: number, highWater: number) {
    this.#ep = ep;
    this.maxMessage = maxMessage;
    this.#highWater = highWater;
    ep.socket.on('drain', () => {
      this.#needDrain = false;
      this.#flush();
      this.#wakeSpace();
    });
    this.#unwatch = ep.watch(() => {
      if (ep.error) this.#fail(ep.error);
      else if (ep.closed) this.#fail(peerGoneError('closed the channel or exited'));
    });
  }

  get queuedBytes(): number {
    return this.#batch.length + this.#inflight;
  }

  get capacity(): number {
    return this.#highWater;
  }

  tryWrite(bytes: Uint8Array): boolean {
    if (this.#failure) throw this.#failure;
    if (this.queuedBytes >= this.#highWater) return false;
    this.#batch.append(bytes);
    return true;
  }

  tryWriteMany(list: readonly Uint8Array[], from: number): number {
    let i = from;
    while (i < list.length && this.tryWrite(list[i]!)) i++;
    return i - from;
  }

  spinWritable(): boolean {
    return false; // Node's stream wakes us: nothing to gain from a spin
  }

  publish(): void {
    if (this.#batch.length === 0 || this.#turn) return;
    this.#turn = true;
    this.#flush(); // the first frames of a loop turn go at once
    setImmediate(() => {
      this.#turn = false;
      this.#flush(); // and the rest of the turn's frames in one corked write
    });
  }

  #flush(): void {
    if (this.#failure || this.#needDrain || this.#batch.length === 0) return;
    const socket = this.#ep.socket;
    if (socket.destroyed || socket.writableEnded) {
      this.#fail(peerGoneError('closed the channel or exited'));
      return;
    }
    const chunks = this.#batch.take();
    let ok = true;
    if (chunks.length > 1) socket.cork();
    for (const chunk of chunks) {
      const n = chunk.byteLength;
      this.#inflight += n;
      ok = socket.write(chunk, (err) => this.#written(n, err));
    }
    if (chunks.length > 1) socket.uncork();
    if (!ok) this.#needDrain = true;
  }

  #written(n: number, err: Error | null | undefined): void {
    this.#inflight -= n;
    if (err) {
      this.#fail(err);
      return;
    }
    this.#wakeSpace();
    if (this.queuedBytes === 0) for (const w of this.#drained.splice(0)) w.resolve();
  }

  #wakeSpace(): void {
    if (this.#failure === undefined && this.queuedBytes >= this.#highWater) return;
    for (const wake of this.#spaceWaiters.splice(0)) wake();
  }

  #fail(err: Error): Error {
    this.#failure ??= peerGone(err);
    this.#wakeSpace();
    for (const w of this.#drained.splice(0)) w.reject(this.#failure);
    return this.#failure;
  }

  waitWritable(_len: number, signal: AbortSignal): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.queuedBytes < this.#highWater || signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const unhold = this.#ep.hold();
      const wake = (): void => {
        listener[Symbol.dispose]();
        unhold();
        const i = this.#spaceWaiters.indexOf(wake);
        if (i >= 0) this.#spaceWaiters.splice(i, 1);
        resolve();
      };
      const listener = onAbort(signal, wake);
      this.#spaceWaiters.push(wake);
      this.publish();
    });
  }

  syncUnsupported(): Error {
    return syncUnsupportedError(this.#ep.name);
  }

  waitWritableSync(): boolean {
    throw this.syncUnsupported();
  }

  flushSync(): boolean {
    throw this.syncUnsupported();
  }

  async close(): Promise<void> {
    const unhold = this.#ep.hold();
    try {
      if (!this.#failure && this.queuedBytes > 0) {
        await new Promise<void>((resolve, reject) => {
          this.#drained.push({ resolve, reject });
          this.#flush();
        });
      }
      if (!this.#failure) await this.#end();
    } finally {
      unhold();
      this.#unwatch();
      this.#ep.release();
    }
  }

  /** Writes the end mark; the peer's receiver sees end-of-stream. Resolves once written, or the stream failed. */
  #end(): Promise<void> {
    const { socket } = this.#ep;
    if (socket.destroyed || socket.writableEnded) return Promise.resolve();
    const mark = new Uint8Array(HEADER);
    new DataView(mark.buffer).setUint32(0, END_MARK, true);
    return new Promise<void>((resolve) => {
      const done = (): void => {
        unwatch();
        resolve();
      };
      const unwatch = this.#ep.watch(() => {
        if (this.#ep.closed || this.#ep.error) done();
      });
      socket.write(mark, (err) => {
        if (!err) this.#ep.sentEnd = true;
        done();
      });
    });
  }
}

/** The receiving engine: 'data' appended to one buffer, frames parsed in place, the socket paused when enough is unread. */
export class NodeStreamReceiveEngine implements ReceiveEngine {
  readonly syscall = 'read';
  readonly path = undefined;
  readonly #ep: NodeStreamEndpoint;
  readonly #max: number;
  readonly #frames = new FrameBuffer(READ_LIMIT);
  #eof = false;
  #error: Error | undefined;
  #paused = false;
  #closed = false;
  #waiters: (() => void)[] = [];
  readonly #onData = (chunk: Buffer): void => this.#append(chunk);
  readonly #unwatch: () => void;
  constructor(ep: NodeStreamEndpoint, maxMessage: number) {
    this.#ep = ep;
    this.#max = maxMessage;
    this.#unwatch = ep.watch(() => this.#onEvent());
    this.#onEvent(); // an error or end that came before us
    ep.socket.on('data', this.#onData);
  }

  get bytes(): Uint8Array {
    return this.#frames.buf;
  }

  get offset(): number {
    return this.#frames.offset;
  }

  #append(chunk: Buffer): void {
    if (this.#closed) return; // dropped (see close)
    this.#frames.append(chunk);
    if (!this.#paused && this.#full()) {
      this.#paused = true;
      this.#ep.socket.pause();
    }
    if (this.#waiters.length > 0 && this.#actionable()) this.#wake();
  }

  /**
   * Whether next() has something to say: a whole frame, or a header it
   * acts on at once (the end mark, a length over the limit). A large frame
   * arrives in many chunks (TLS records are at most 16 KiB): waking the
   * receiver for each would cost a promise and a wait per chunk.
   */
  #actionable(): boolean {
    const need = this.#frames.nextFrameBytes();
    return need > 0 && (need - HEADER > this.#max || this.#frames.available >= need);
  }

  #onEvent(): void {
    const ep = this.#ep;
    if (ep.error !== undefined && this.#error === undefined && !this.#eof) {
      if (isClosedError(ep.error))
        this.#eof = true; // a reset ends the stream like EOF (checked for a torn frame)
      else this.#error = peerGone(ep.error);
    }
    if (ep.ended || ep.closed) this.#eof = true;
    this.#wake();
  }

  /** Enough is unread to stop reading: at least READ_LIMIT bytes, and a whole frame first. */
  #full(): boolean {
    const f = this.#frames;
    return f.available >= READ_LIMIT && f.available >= f.nextFrameBytes();
  }

  #resume(): void {
    if (!this.#paused || this.#closed || this.#full()) return;
    this.#paused = false;
    this.#ep.socket.resume();
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  next(): number {
    if (this.#frames.takeEndMark()) this.#eof = true; // the peer's sender closed
    if (this.#eof && this.#error === undefined && this.#frames.available === 0) return END;
    const len = this.#frames.frame(this.#max);
    if (len >= 0) return len;
    const avail = this.#frames.available;
    if (this.#error) throw this.#error;
    if (this.#eof) {
      if (avail > 0) throw peerGoneError(`ended the stream inside a message (${avail} bytes of it)`);
      return END;
    }
    this.#resume();
    return EMPTY;
  }

  release(keep: boolean): void {
    this.#frames.release(keep);
    this.#resume();
  }

  publish(): void {
    this.#frames.publish();
    this.#resume();
  }

  spinReadable(): boolean {
    return false; // Node's stream wakes us: nothing to gain from a spin
  }

  waitReadable(signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.#eof || this.#error !== undefined) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const unhold = this.#ep.hold();
      const wake = (): void => {
        listener[Symbol.dispose]();
        unhold();
        const i = this.#waiters.indexOf(wake);
        if (i >= 0) this.#waiters.splice(i, 1);
        resolve();
      };
      const listener = onAbort(signal, wake);
      this.#waiters.push(wake);
    });
  }

  syncUnsupported(): Error {
    return syncUnsupportedError(this.#ep.name);
  }

  waitReadableSync(): boolean {
    throw this.syncUnsupported();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unwatch();
    // What still arrives is dropped, but read: the TLS layer must see its own
    // records (TLS 1.3 session tickets), and a socket closed with unread
    // bytes is reset, which would throw away what this side still sends.
    this.#frames.clear();
    this.#paused = false;
    this.#ep.socket.resume();
    this.#wake();
    this.#ep.release();
  }
}

/**
 * Both channel ends over one Node stream, which they share: it is destroyed
 * when both are closed. `name` names the transport in errors (`'TLS'`).
 */
export function nodeStreamEnds<Out, In>(
  socket: NodeDuplex,
  [out, inn]: [StreamSettings<Out>, StreamSettings<In>],
  name: string,
): { sender: ChannelSender<Out>; receiver: ChannelReceiver<In> } {
  const ep = new NodeStreamEndpoint(socket, 2, name);
  return {
    sender: new ChannelSender<Out>(
      new NodeStreamSendEngine(ep, out.maxMessageSize, out.highWaterMark),
      out.codec,
      out.maxMessageSize,
      'Sender',
    ),
    receiver: new ChannelReceiver<In>(new NodeStreamReceiveEngine(ep, inn.maxMessageSize), inn.codec, inn.maxMessageSize, 'Receiver'),
  };
}

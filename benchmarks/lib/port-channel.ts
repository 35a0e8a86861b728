/**
 * worker_threads MessagePort as a benchmark transport, two ways:
 *
 * - copy: `postMessage(uint8array)` (structured clone copies the bytes);
 * - transfer: the producer copies the message into an ArrayBuffer from a
 *   pool and transfers it; the consumer transfers the buffers back in
 *   groups, so no buffer is allocated per message in the steady state.
 *
 * postMessage never pushes back, so both use credit flow control: at most
 * `window` messages in flight, the receiver acknowledging a quarter window
 * at a time (a producer that outruns its consumer would otherwise queue
 * gigabytes). On one port, messages are told apart by type: a number is a
 * credit, `{ r: [...] }` returns buffers, anything else is data (`null` ends
 * the stream).
 * @module
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';

import type { BenchReceiver, BenchSender, Ends, MessageHandler, PeerContext, Transport } from './types.js';

/** Messages in flight: about 8 MiB worth, at least 8, at most 4096, and at least 4 batches. */
export function windowFor(size: number, batch: number): number {
  return Math.max(4 * batch, Math.min(4096, Math.max(8, Math.floor((8 << 20) / size))));
}

/** Routes what arrives on a port to this side's sender (credits, returns) and receiver (data). */
class PortEndpoint {
  data: ((m: unknown) => void) | undefined;
  credit: ((n: number) => void) | undefined;
  returned: ((bufs: ArrayBuffer[]) => void) | undefined;
  private early: unknown[] = [];

  constructor(readonly port: MessagePort) {
    port.on('message', (m: unknown) => {
      if (typeof m === 'number') this.credit?.(m);
      else if (m !== null && typeof m === 'object' && !ArrayBuffer.isView(m) && !Array.isArray(m))
        this.returned?.((m as { r: ArrayBuffer[] }).r);
      else if (this.data) this.data(m);
      else this.early.push(m); // data before consume() was called
    });
  }

  setData(fn: (m: unknown) => void): void {
    this.data = fn;
    const early = this.early;
    this.early = [];
    for (const m of early) fn(m);
  }
}

class CopySender implements BenchSender {
  private inflight = 0;
  private waiter: (() => void) | undefined;

  constructor(
    private readonly ep: PortEndpoint,
    private readonly window: number,
  ) {
    ep.credit = (n) => {
      this.inflight -= n;
      if (this.waiter && this.inflight < this.window) {
        const w = this.waiter;
        this.waiter = undefined;
        w();
      }
    };
  }

  private wait(): Promise<void> | void {
    if (this.inflight < this.window) return;
    return new Promise((resolve) => (this.waiter = resolve));
  }

  send(msg: Uint8Array): void | Promise<void> {
    this.ep.port.postMessage(msg);
    this.inflight++;
    return this.wait();
  }

  sendMany(msgs: readonly Uint8Array[]): void | Promise<void> {
    this.ep.port.postMessage(msgs);
    this.inflight += msgs.length;
    return this.wait();
  }

  close(): void {
    this.ep.port.postMessage(null);
  }
}

class TransferSender implements BenchSender {
  private readonly pool: ArrayBuffer[] = [];
  private allocated = 0;
  private waiter: (() => void) | undefined;
  private need = 0;

  constructor(
    private readonly ep: PortEndpoint,
    private readonly window: number,
    private readonly size: number,
  ) {
    ep.returned = (bufs) => {
      for (let i = 0; i < bufs.length; i++) this.pool.push(bufs[i]!);
      if (this.waiter && this.available() >= this.need) {
        const w = this.waiter;
        this.waiter = undefined;
        w();
      }
    };
  }

  private available(): number {
    return this.pool.length + (this.window - this.allocated);
  }

  private take(): ArrayBuffer {
    const b = this.pool.pop();
    if (b) return b;
    this.allocated++;
    return new ArrayBuffer((this.size + 7) & ~7);
  }

  private waitFor(n: number): Promise<void> {
    this.need = n;
    return new Promise((resolve) => (this.waiter = resolve));
  }

  send(msg: Uint8Array): void | Promise<void> {
    if (this.available() < 1) return this.waitFor(1).then(() => this.send(msg));
    const buf = this.take();
    const view = new Uint8Array(buf, 0, msg.length);
    view.set(msg);
    this.ep.port.postMessage(view, [buf]);
  }

  sendMany(msgs: readonly Uint8Array[]): void | Promise<void> {
    if (this.available() < msgs.length) return this.waitFor(msgs.length).then(() => this.sendMany(msgs));
    const views = new Array<Uint8Array>(msgs.length);
    const bufs = new Array<ArrayBuffer>(msgs.length);
    for (let i = 0; i < msgs.length; i++) {
      const buf = this.take();
      const view = new Uint8Array(buf, 0, msgs[i]!.length);
      view.set(msgs[i]!);
      views[i] = view;
      bufs[i] = buf;
    }
    this.ep.port.postMessage(views, bufs);
  }

  close(): void {
    this.ep.port.postMessage(null);
  }
}

class PortReceiver implements BenchReceiver {
  constructor(
    private readonly ep: PortEndpoint,
    private readonly window: number,
    private readonly transfer: boolean,
  ) {}

  consume(onMessage: MessageHandler): Promise<void> {
    const every = Math.max(1, this.window >>> 2);
    const port = this.ep.port;
    let unacked = 0;
    let returns: ArrayBuffer[] = [];
    const one = (u: Uint8Array): void => {
      void onMessage(u, 0, u.length);
      if (this.transfer) {
        returns.push(u.buffer as ArrayBuffer);
        if (returns.length >= every) {
          port.postMessage({ r: returns }, returns);
          returns = [];
        }
      } else if (++unacked >= every) {
        port.postMessage(unacked);
        unacked = 0;
      }
    };
    return new Promise((resolve, reject) => {
      this.ep.setData((m) => {
        try {
          if (m === null) resolve();
          else if (Array.isArray(m)) for (let i = 0; i < m.length; i++) one(m[i] as Uint8Array);
          else one(m as Uint8Array);
        } catch (err) {
          this.ep.data = () => {};
          reject(err);
        }
      });
    });
  }
}

/** A MessagePort transport: `transfer` false copies, true transfers pooled ArrayBuffers. */
export function portTransport(transfer: boolean, order: number): Transport {
  return {
    name: transfer ? 'worker-transfer' : 'worker-copy',
    label: transfer ? 'MessagePort transfer' : 'MessagePort copy',
    kind: 'thread',
    ceiling: 'shm', // the ideal for two threads sharing memory
    order,
    setup() {
      const { port1, port2 } = new MessageChannel();
      return { a: port1, b: port2, transfer: [port2], close: () => port1.close() };
    },
    open(ctx: PeerContext): Ends {
      const port = ctx.params as MessagePort;
      const ep = new PortEndpoint(port);
      const window = windowFor(ctx.spec.size, ctx.spec.batch);
      const ends: Ends = { close: () => port.close() };
      if (ctx.role === 'b' || ctx.spec.duplex)
        ends.sender = transfer ? new TransferSender(ep, window, ctx.spec.size) : new CopySender(ep, window);
      if (ctx.role === 'a' || ctx.spec.duplex) ends.receiver = new PortReceiver(ep, window, transfer);
      return ends;
    },
  };
}

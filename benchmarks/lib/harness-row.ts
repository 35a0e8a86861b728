/**
 * The harness's own row: what the harness costs per message when nothing
 * carries the bytes. Peer B's producer and peer A's consumer run the real
 * workloads (produceStream, consumeStream: stamping, the send and receive
 * loops, verification, timing) in the host, on one thread, joined by a
 * loopback that hands each message to the consumer's handler as it is sent.
 *
 * Both sides' per-message work then adds up on one core, where a real
 * transport runs them on two in parallel: the figure is a conservative
 * ceiling. A transport at half of it or more is marked harness-bound in the
 * report (see `annotate` in report.ts): its figure says as much about the
 * harness as about the transport.
 * @module
 */
import type { BenchReceiver, BenchSender, MessageHandler, Transport } from './types.js';

export const HARNESS = 'harness';

/** The sender and the receiver in one: `send` calls the consumer's handler at once. */
class Loopback implements BenchSender, BenchReceiver {
  private handler: MessageHandler | undefined;
  private ended: (() => void) | undefined;

  send(msg: Uint8Array): void {
    const h = this.handler;
    if (!h) throw new Error('harness loopback: a message before consume()');
    void h(msg, 0, msg.length);
  }

  sendMany(msgs: readonly Uint8Array[]): void {
    const h = this.handler;
    if (!h) throw new Error('harness loopback: a message before consume()');
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]!;
      void h(m, 0, m.length);
    }
  }

  close(): void {
    this.ended?.();
  }

  consume(onMessage: MessageHandler): Promise<void> {
    this.handler = onMessage;
    return new Promise((resolve) => (this.ended = resolve));
  }
}

const harness: Transport = {
  name: HARNESS,
  label: 'harness alone, no IPC',
  kind: 'inline',
  order: 5,
  // Ping-pong over a loopback would recurse: stream cells only.
  supports: (cell) => cell.workload === 'stream',
  setup() {
    const loop = new Loopback();
    return { a: loop, b: loop };
  },
  open(ctx) {
    const loop = ctx.params as Loopback;
    return ctx.role === 'a' ? { receiver: loop } : { sender: loop };
  },
};

export default harness;

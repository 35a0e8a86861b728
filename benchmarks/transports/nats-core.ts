// Bare nats.js (core NATS) through the same nats-server as pipc-nats: peer B
// publishes to a subject peer A subscribes to (and back, for ping-pong). NATS
// itself has no flow control (a reader that falls behind is a "slow
// consumer" whose messages the server drops), so the sender waits for a
// flush (a round trip to the server) every 256 messages or 1 MiB: the
// floor that the project's layer over NATS adds to. The end of stream is a
// message on a subject of its own, after the data on the same connection.
// Each message is copied before publish (nats.js holds the array until it
// writes, and the harness reuses it): the least a correct caller must do.
import type { NatsConnection } from '@nats-io/transport-node';

import { natsServerAvailable, sharedNatsServer } from '../lib/nats-server.js';
import type { BenchReceiver, BenchSender, Ends, MessageHandler, Transport } from '../lib/types.js';

const FLUSH_MESSAGES = 256;
const FLUSH_BYTES = 1024 * 1024;
let cells = 0;

function sender(nc: NatsConnection, subject: string): BenchSender {
  let messages = 0;
  let bytes = 0;
  const publish = (msg: Uint8Array): void | Promise<void> => {
    // nats.js keeps the array until its next write to the socket, and the harness refills it at once: a copy.
    nc.publish(subject, msg.slice());
    bytes += msg.byteLength;
    if (++messages < FLUSH_MESSAGES && bytes < FLUSH_BYTES) return undefined;
    messages = bytes = 0;
    return nc.flush();
  };
  return {
    send: publish,
    async sendMany(msgs) {
      for (const m of msgs) await publish(m);
    },
    async close() {
      nc.publish(`${subject}.end`, new Uint8Array(0));
      await nc.flush();
    },
  };
}

/** Subscribes now (the subscription reaches the server before this peer says ready); `consume` hands messages over as they come. */
async function receiver(nc: NatsConnection, subject: string): Promise<BenchReceiver> {
  let onMessage: MessageHandler | undefined;
  const early: Uint8Array[] = [];
  let settle: { resolve: () => void; reject: (err: unknown) => void } | undefined;
  let outcome: { err?: unknown } | undefined; // the end (or a failure) before consume() was called
  const finish = (err?: unknown): void => {
    if (outcome !== undefined) return;
    outcome = err === undefined ? {} : { err };
    if (settle === undefined) return;
    if (err === undefined) settle.resolve();
    else settle.reject(err);
  };
  const deliver = (m: Uint8Array): void => {
    try {
      const r = onMessage!(m, 0, m.byteLength);
      if (r instanceof Promise) r.catch(finish);
    } catch (err) {
      finish(err); // a verification failure (a lost or corrupt message) fails the cell instead of hanging it
    }
  };
  nc.subscribe(subject, {
    callback: (err, m) => {
      if (err) return finish(err);
      if (onMessage === undefined)
        early.push(m.data.slice()); // the view is into the parser's buffer, reused after the callback
      else deliver(m.data);
    },
  });
  nc.subscribe(`${subject}.end`, { callback: () => finish() });
  nc.closed().then((err) => err && finish(err), finish);
  await nc.flush();
  return {
    consume: (fn) =>
      new Promise<void>((resolve, reject) => {
        onMessage = fn;
        for (const m of early.splice(0)) deliver(m);
        settle = { resolve, reject };
        if (outcome === undefined) return;
        if (outcome.err === undefined) resolve();
        else reject(outcome.err);
      }),
  };
}

const transport: Transport = {
  name: 'nats-core',
  label: 'nats.js publish/subscribe',
  kind: 'process',
  ceiling: 'tcp',
  order: 33,
  available: natsServerAvailable,
  async setup() {
    const { servers } = await sharedNatsServer();
    return {
      a: { servers, subject: `bench.core.${process.pid}.${cells++}` },
      b: { servers, subject: `bench.core.${process.pid}.${cells - 1}` },
    };
  },
  async open(ctx): Promise<Ends> {
    const { connect } = await import('@nats-io/transport-node');
    const { servers, subject } = ctx.params as { servers: string; subject: string };
    const nc = await connect({ servers, name: 'posix-ipc-bench' });
    // Peer A receives on .ab and, in ping-pong, answers on .ba; peer B the other way round.
    const [inbound, outbound] = ctx.role === 'a' ? [`${subject}.ab`, `${subject}.ba`] : [`${subject}.ba`, `${subject}.ab`];
    const ends: Ends = { close: () => nc.close() };
    if (ctx.role === 'a' || ctx.spec.duplex) ends.receiver = await receiver(nc, inbound);
    if (ctx.role === 'b' || ctx.spec.duplex) ends.sender = sender(nc, outbound);
    return ends;
  },
};

export default transport;

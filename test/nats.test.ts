// The NATS transport against a real 3-node nats-server cluster on loopback (started by
// this file; Debian's nats-server, which .ci/run installs): addresses, refusal, the
// channel suites (test/channels.test.ts and the others run on NATS too through
// test/support/channel-transports.ts), and a server node killed mid-stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ChannelError, connect, listen, type Duplex, type Listener } from '../lib/index.js';
import { natsUnavailable, startNatsCluster, type NatsCluster } from './support/nats-cluster.js';

const skip = natsUnavailable();
let cluster: NatsCluster;

beforeAll(async () => {
  if (skip === undefined) cluster = await startNatsCluster(3);
});
afterAll(async () => {
  await cluster?.stop();
});

describe.skipIf(skip !== undefined)(`NATS transport${skip === undefined ? '' : ` (skipped: ${skip})`}`, () => {
  it('refuses bad addresses with a RangeError naming the argument, and a subject nobody listens on with ECONNREFUSED', async () => {
    for (const bad of [
      'nats://127.0.0.1:4222',
      'nats:///x',
      'nats://127.0.0.1:4222/a..b',
      'nats://127.0.0.1:4222/a.*',
      'nats://host/x',
      'nats://127.0.0.1:4222/_PIPC.x',
    ])
      await expect(connect(bad)).rejects.toThrow(/"address"/);
    await expect(connect(`nats://${cluster.nodes[0]}/nobody.here`, { timeoutMs: 2000 })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('a listener on one node serves clients through every node; its url is an address', async () => {
    const server = await listen(`nats://${cluster.nodes[0]}/svc.echo.${process.pid}`);
    try {
      expect(server.url).toBe(`nats://${cluster.nodes[0]}/svc.echo.${process.pid}`);
      const serving = (async () => {
        for (let i = 0; i < 3; i++) {
          const d = await server.accept();
          const m = await d.receiver.receive();
          await d.sender.send(m!);
          await d.close();
        }
      })();
      for (const node of cluster.nodes) {
        const c = await connect(`nats://${node}/svc.echo.${process.pid}`);
        await c.sender.send(new TextEncoder().encode(node));
        expect(new TextDecoder().decode(await c.receiver.receive())).toBe(node);
        await c.close();
      }
      await serving;
    } finally {
      server.close();
    }
  });

  it('a server node killed mid-stream: the client fails over, and every message arrives in order or the channel fails (no silent gap)', async () => {
    const subject = `svc.kill.${process.pid}`;
    const server: Listener<Uint8Array> = await listen(`nats://${cluster.nodes[0]}/${subject}`, { peerTimeoutMs: 4000 });
    let conn: Duplex<Uint8Array> | undefined;
    let client: Duplex<Uint8Array> | undefined;
    try {
      const accepted = server.accept();
      client = await connect(`nats://${cluster.nodes[1]}/${subject}`, { peerTimeoutMs: 4000 }); // learns the other nodes from the cluster
      conn = await accepted;
      const N = 3000;
      const got: number[] = [];
      let failure: unknown;
      const reading = (async () => {
        try {
          for await (const m of conn!.receiver) got.push(new DataView(m.buffer, m.byteOffset).getUint32(0));
        } catch (err) {
          failure = err;
        }
      })();
      let sendFailure: unknown;
      for (let i = 0; i < N; i++) {
        const b = new Uint8Array(64);
        new DataView(b.buffer).setUint32(0, i);
        if (i === 1000) cluster.kill(1); // the client's node
        try {
          await client.sender.send(b);
        } catch (err) {
          sendFailure = err;
          break;
        }
        if (i % 100 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      if (sendFailure === undefined) await client.sender.close().catch((err: unknown) => (sendFailure = err)); // an end not confirmed is an error too
      await Promise.race([reading, new Promise((r) => setTimeout(r, 20_000))]);
      expect(got).toEqual(got.map((_, i) => i)); // a prefix, in order: never a gap
      if (got.length < N) expect(failure ?? sendFailure).toBeInstanceOf(ChannelError);
      else expect(failure).toBeUndefined();
      process.stderr.write(`node kill: ${got.length} of ${N} arrived; ${String(failure ?? sendFailure ?? 'no failure')}\n`);
    } finally {
      await client?.close().catch(() => undefined);
      await conn?.close().catch(() => undefined);
      server.close();
    }
  }, 60_000);
});

// The mesh under the group members and the transaction sites (lib/coord/mesh.ts):
// best-effort sends keep their order while a link connects, a burst to a peer that
// cannot be reached costs one connect (not one per message), and close() ends a
// connect under way at once (a NATS hello nobody answers, here).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { Mesh, type LinkDown } from '../lib/coord/mesh.js';
import { natsCluster } from './support/channel-transports.js';
import { natsUnavailable } from './support/nats-cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'pipc-mesh-'));
const meshes: Mesh[] = [];
afterEach(async () => {
  for (const m of meshes.splice(0)) await m.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function open(
  handler: (bytes: Uint8Array) => boolean = () => true,
  onDown?: (address: string, why: LinkDown) => void,
  listenAt = `unix:${join(dir, `m${++n}.sock`)}`,
): Promise<Mesh> {
  const m = await Mesh.open({ listen: listenAt }, handler, onDown);
  meshes.push(m);
  return m;
}

const until = async (ok: () => boolean, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('mesh', () => {
  it('a message sent the moment the link connects (from onLink) waits for those queued before it', async () => {
    const got: number[] = [];
    const b = await open((bytes) => (got.push(bytes[0]!), true));
    // onLink runs as the connection is made, before the queued message 0 is written: 1 must go behind it.
    const a: Mesh = await Mesh.open(
      { listen: `unix:${join(dir, 'onlink.sock')}`, onLink: (l) => l.direction === 'out' && a.send(b.url, Uint8Array.of(1)) },
      () => true,
    );
    meshes.push(a);
    a.send(b.url, Uint8Array.of(0));
    await until(() => got.length === 2);
    expect(got).toEqual([0, 1]);
  });

  it('messages sent while the link connects, and after, arrive in the order sent', async () => {
    const got: number[] = [];
    const b = await open((bytes) => (got.push(new DataView(bytes.buffer, bytes.byteOffset).getUint32(0)), true));
    const a = await open();
    const N = 3000;
    for (let i = 0; i < N; i++) {
      const m = new Uint8Array(4);
      new DataView(m.buffer).setUint32(0, i);
      a.send(b.url, m);
      // Some while the connect is under way, some once it is done and the queue drains.
      if (i % 500 === 499) await new Promise((r) => setImmediate(r));
    }
    await until(() => got.length === N);
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(a.stats).toMatchObject({ sent: N, dropped: 0 });
  });

  it('a burst to a peer that cannot be reached costs one connect, and is dropped whole; the next message tries again', async () => {
    const downs: string[] = [];
    const a = await open(undefined, (address, why) => downs.push(`${why} ${address}`));
    const nobody = `unix:${join(dir, 'nobody.sock')}`;
    for (let i = 0; i < 200; i++) a.send(nobody, new Uint8Array(8));
    await until(() => a.stats.dropped === 200);
    expect(downs).toEqual([`unreachable ${nobody}`]);
    a.send(nobody, new Uint8Array(8));
    await until(() => a.stats.dropped === 201);
    expect(downs).toEqual([`unreachable ${nobody}`, `unreachable ${nobody}`]);
  });

  it.skipIf(natsUnavailable() !== undefined)(
    'close() aborts a connect under way and drops what is queued: it resolves at once, not at the connect timeout',
    async () => {
      const c = await natsCluster();
      const { connect: natsConnect } = await import('@nats-io/transport-node');
      const nc = await natsConnect({ servers: c.nodes[0] });
      const subject = `mesh.mute.${process.pid}`;
      let hellos = 0;
      nc.subscribe(subject, { callback: () => void hellos++ }); // takes every hello, answers none: the connect waits for its timeout
      await nc.flush();
      try {
        const a = await Mesh.open({ listen: `unix:${join(dir, 'closing.sock')}`, connectOptions: { timeoutMs: 20_000 } }, () => true);
        for (let i = 0; i < 50; i++) a.send(`nats://${c.nodes[0]}/${subject}`, new Uint8Array(8));
        await until(() => hellos === 1); // the hello is out (one connect for the 50)
        const t0 = performance.now();
        await a.close();
        expect(performance.now() - t0).toBeLessThan(1000);
        expect(a.stats).toMatchObject({ sent: 0, dropped: 50 });
      } finally {
        await nc.drain();
      }
    },
  );
});

// Synchronous send (rendezvous) across a forked child, over UNIX sockets, TCP
// and shared memory: 'taken' resolves only once the child's application
// received the message, 'delivered' once its library has it; sendSync in both
// directions; abort and timeout (the message may still arrive: documented);
// the child killed while we wait for its acknowledgement; a corrupt ack.
import { afterEach, describe, expect, it } from 'vitest';

import {
  ChannelError,
  TcpServer,
  TlsServer,
  UnixServer,
  codecs,
  connectTls,
  openShmDuplex,
  rendezvous,
  type Duplex,
  type Rendezvous,
} from '../lib/index.js';
import { startFixture, type FixtureProcess } from './support/fixture-process.js';
import { removePath, sleep, tempPath, uniqueName, within } from './support/helpers.js';
import { expectBaseline, snapshot } from './support/leak-suite.js';
import { testPki } from './support/tls-certs.js';

type Transport = 'unix' | 'tcp' | 'shm';
const TRANSPORTS: Transport[] = ['unix', 'tcp', 'shm'];

interface Pair {
  r: Rendezvous<number>;
  child: FixtureProcess;
  cleanup(): Promise<void>;
}

const open: Pair[] = [];

async function pair(transport: Transport): Promise<Pair> {
  let duplex: Promise<Duplex<Uint8Array>>;
  let child: FixtureProcess;
  let done: () => void = () => undefined;
  if (transport === 'unix') {
    const path = tempPath('rv');
    const server = UnixServer.listen(path);
    duplex = server.accept();
    child = startFixture('rendezvous-peer.ts', ['unix', path], { stdin: true });
    done = () => {
      server.close();
      removePath(path);
    };
  } else if (transport === 'tcp') {
    const server = await TcpServer.listen({ port: 0 });
    duplex = server.accept();
    child = startFixture('rendezvous-peer.ts', ['tcp', String(server.port)], { stdin: true });
    done = () => server.close();
  } else {
    const name = uniqueName('rv');
    duplex = openShmDuplex(name, { create: true, capacity: 1 << 16, timeoutMs: 15_000 });
    child = startFixture('rendezvous-peer.ts', ['shm', name], { stdin: true });
  }
  const d = await within(15_000, `the ${transport} child connects`, duplex);
  await child.waitFor('ready');
  done();
  const r = rendezvous<number>(d, { codec: codecs.json as never });
  const p: Pair = {
    r,
    child,
    async cleanup() {
      await r.close().catch(() => undefined);
      await child.stop();
    },
  };
  open.push(p);
  return p;
}

/** 'pending' when `p` has not settled within `ms`. */
async function state(p: Promise<unknown>, ms = 300): Promise<string> {
  return Promise.race([
    p.then(
      () => 'resolved',
      () => 'rejected',
    ),
    sleep(ms).then(() => 'pending'),
  ]);
}

afterEach(async () => {
  for (const p of open.splice(0)) await p.cleanup();
});

describe.each(TRANSPORTS)('rendezvous over %s', (transport) => {
  it("'taken' resolves only once the child's application received the message; 200 of them checksummed", async () => {
    const { r, child } = await pair(transport);
    const first = r.send(1000);
    expect(await state(first)).toBe('pending'); // in the child's inbox, not taken
    child.write('take 1\n');
    await within(10_000, 'the taken ack', first);
    await child.waitFor('took 1 1000');
    child.write('take 200\n');
    let sum = 0;
    for (let i = 1; i <= 200; i++) {
      await within(10_000, `message ${i} taken`, r.send(i));
      sum += i;
    }
    await child.waitFor(`took 200 ${sum}`);
  });

  it("'delivered' resolves once the child's library has it, before its application takes it", async () => {
    const { r, child } = await pair(transport);
    for (let i = 1; i <= 5; i++) await within(10_000, 'delivered', r.send(i, { until: 'delivered' }));
    child.write('buffered\n');
    await child.waitFor('buffered 5');
    child.write('take 5\n');
    await child.waitFor('took 5 15');
    await within(5000, "'sent'", r.send(7, { until: 'sent' }));
  });

  it('sendSync blocks until taken (the child receiving), and the child sendSyncs to us', async () => {
    const { r, child } = await pair(transport);
    child.write('take-sync 3\n');
    await child.waitFor('receiving');
    for (let i = 1; i <= 3; i++) r.sendSync(i * 10, { timeoutMs: 20_000 });
    await child.waitFor('took 3 60');
    child.write('send-sync taken 4\n');
    const got: number[] = [];
    for (let i = 0; i < 4; i++) got.push((await within(10_000, 'a sync-sent message', r.receive()))!);
    expect(got).toEqual([1, 2, 3, 4]);
    await child.waitFor('sent 4');
    child.write('send-sync delivered 2\n');
    await child.waitFor('sent 2');
    expect(r.receiveSync({ timeoutMs: 5000 })).toBe(1);
    expect(r.receiveSync({ timeoutMs: 5000 })).toBe(2);
  });

  it('a timeout or an abort rejects at once; a message that had left still arrives (sent: true)', async () => {
    const { r, child } = await pair(transport);
    const t0 = performance.now();
    const err = await r.send(1, { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ETIMEDOUT', sent: true });
    expect(performance.now() - t0).toBeLessThan(10_000);
    const ctl = new AbortController();
    const aborted = r.send(2, { signal: ctl.signal });
    ctl.abort();
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(() => r.sendSync(3, { timeoutMs: 100 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT', sent: true }));
    child.write('take 3\n');
    await child.waitFor('took 3 6'); // all three arrived: a send cannot be recalled
    await within(10_000, 'the channel still works', r.send(4, { until: 'delivered' })); // late acks were ignored
  });

  it('the child killed while we wait for its ack: ERR_CHANNEL_PEER_GONE, not a hang; latched', async () => {
    const { r, child } = await pair(transport);
    const waiting = r.send(1);
    expect(await state(waiting)).toBe('pending');
    child.child.kill('SIGKILL');
    const err = await within(
      20_000,
      'peer-gone',
      waiting.catch((e: unknown) => e),
    );
    expect(err).toBeInstanceOf(ChannelError);
    expect(err).toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' });
    await expect(r.send(2)).rejects.toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' });
  });

  it('an ack for a message never sent is ERR_CHANNEL_CORRUPT, latched', async () => {
    const { r, child } = await pair(transport);
    const waiting = r.send(1);
    waiting.catch(() => undefined);
    child.write('raw-ack 99\n');
    await expect(within(10_000, 'corrupt', waiting)).rejects.toMatchObject({ code: 'ERR_CHANNEL_CORRUPT' });
    await expect(r.send(2)).rejects.toMatchObject({ code: 'ERR_CHANNEL_CORRUPT' });
    expect(() => r.sendSync(3)).toThrow(expect.objectContaining({ code: 'ERR_CHANNEL_CORRUPT' }));
  });
});

describe('rendezvous: arguments and TLS', () => {
  it('checks its options', async () => {
    const path = tempPath('rv-args');
    const server = UnixServer.listen(path);
    try {
      const { connectUnix } = await import('../lib/index.js');
      const accepted = server.accept();
      const d = await connectUnix(path);
      const r = rendezvous(d);
      expect(() => rendezvous(d, { until: 'later' as never })).toThrow(TypeError);
      expect(() => rendezvous(d, { inboxLimit: 0 })).toThrow(RangeError);
      expect(() => rendezvous(d, { codec: {} as never })).toThrow(TypeError);
      await expect(r.send(new Uint8Array(1), { until: 'soon' as never })).rejects.toThrow(TypeError);
      await expect(r.send(new Uint8Array(1), { timeoutMs: -1 })).rejects.toThrow(RangeError);
      await r.close();
      await expect(r.send(new Uint8Array(1))).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
      await (await accepted).close();
    } finally {
      server.close();
    }
  });

  it("over TLS: send 'taken' works, sendSync is ERR_CHANNEL_SYNC_UNSUPPORTED before anything is sent", async () => {
    const pki = testPki();
    const server = await TlsServer.listen({ key: pki.server.key, cert: pki.server.cert });
    try {
      const accepted = server.accept();
      const a = rendezvous<number>(await connectTls({ host: 'localhost', port: server.port, ca: pki.ca.cert }), {
        codec: codecs.json as never,
      });
      const b = rendezvous<number>(await within(10_000, 'tls accept', accepted), { codec: codecs.json as never });
      expect(() => a.sendSync(1)).toThrow(expect.objectContaining({ code: 'ERR_CHANNEL_SYNC_UNSUPPORTED', sent: false }));
      const sent = a.send(2);
      expect(await within(10_000, 'tls receive', b.receive())).toBe(2); // seq 1 was never used: no gap
      await within(10_000, 'tls taken', sent);
      await a.close();
      expect(await within(10_000, 'tls end', b.receive())).toBeUndefined();
      await b.close();
    } finally {
      server.close();
    }
  });

  it('leaves no descriptor behind: wrap, exchange both ways and close, 3 times (and a close with an ack pending)', async () => {
    const { connectUnix } = await import('../lib/index.js');
    const cycle = async (): Promise<void> => {
      const path = tempPath('rv-leak');
      const server = UnixServer.listen(path);
      const accepted = server.accept();
      const a = rendezvous(await connectUnix(path));
      const b = rendezvous(await within(5000, 'accept', accepted));
      server.close();
      const sent = a.send(new Uint8Array([1]));
      expect(await within(5000, 'receive', b.receive())).toEqual(new Uint8Array([1]));
      await within(5000, 'taken', sent);
      const pending = a.send(new Uint8Array([2]));
      await a.close();
      await expect(pending).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
      await b.close();
    };
    await cycle();
    const base = snapshot();
    for (let i = 0; i < 3; i++) await cycle();
    await expectBaseline(base);
  });
});

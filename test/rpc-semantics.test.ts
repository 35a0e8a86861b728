// RPC services' semantics between real processes: at-most-once (duplicates
// injected on the wire, a duplicate in progress, a reply dropped by the
// retention rule, a persisted cache surviving kill -9, a retry after a
// reconnection; on UNIX sockets and NATS), security (uid allow-list before any handler, a client run
// under another uid, the per-procedure authorize hook, TLS client
// certificates) and hostile frames fuzzed with fast-check.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { connect, connectService, serve, type Duplex, type Handlers } from '../lib/index.js';
import { encodeFrame, Frame, readHeader, decodeBody, type Header } from '../lib/coord/rpc/wire.js';
import { startFixture, fixturePath } from './support/fixture-process.js';
import { TestService } from './fixtures/rpc-service.js';
import { removePath, tempPath, within } from './support/helpers.js';
import { pkiEnv, testPki } from './support/tls-certs.js';
import { rpcOutcome } from './support/rpc-errors.js';
import { natsCluster } from './support/channel-transports.js';
import { natsUnavailable } from './support/nats-cluster.js';

const PKI = testPki();
const proc = (name: string): number => TestService.byName.get(name)!.index;

async function startServer(address: string, args: string[] = []) {
  const server = startFixture('rpc-server.ts', [address, ...args], { env: pkiEnv() });
  const m = await server.waitFor(/ready (\S+)/);
  return { server, url: m[1]! };
}

/** A hand-made client speaking the wire directly (to inject duplicates and garbage). */
async function rawClient(url: string, clientId: Buffer = randomBytes(16)) {
  const d: Duplex<Uint8Array> = await connect<Uint8Array>(url, { timeoutMs: 5000 });
  await d.sender.send(
    encodeFrame(Frame.HELLO, 0, 0, 0, 0, 0, { s: 'rpctest', v: 2, c: clientId, p: TestService.compiled.map((p) => p.name) }),
  );
  const h: Header = { type: 0, proc: 0, id: 0, seq: 0, ack: 0, timeout: 0 };
  const next = async (): Promise<{ type: number; id: number; body: unknown }> => {
    const m = await within(10_000, 'a frame', d.receiver.receive());
    if (m === undefined) throw new Error('end of stream');
    readHeader(m, 0, m.length, h);
    return { type: h.type, id: h.id, body: decodeBody(m, 0, m.length, 'ERR_RPC_PROTOCOL') };
  };
  expect((await next()).type).toBe(Frame.WELCOME);
  const call = (id: number, seq: number, ack: number, name: string, args: unknown): Promise<void> =>
    d.sender.send(encodeFrame(Frame.CALL, proc(name), id, seq, ack, 0, args));
  return { d, next, call };
}

// On UNIX sockets, and through a 3-node NATS cluster where nats-server is installed (.ci/run installs it).
const AMO_TRANSPORTS = ['unix', ...(natsUnavailable() === undefined ? (['nats'] as const) : [])] as const;
let subjects = 0;

describe.each(AMO_TRANSPORTS)('RPC at-most-once over %s', (transport) => {
  /** Where a server listens: the socket at `path`, or a NATS subject of its own (the same one again for the same path). */
  const named = new Map<string, string>();
  const where = async (path: string): Promise<string> => {
    if (transport === 'unix') return `unix:${path}`;
    if (!named.has(path)) named.set(path, `nats://${(await natsCluster()).nodes[0]}/rpc.amo.${process.pid}.${++subjects}`);
    return named.get(path)!;
  };

  it('every call frame sent twice on the wire runs once; the duplicate in progress waits for the same reply', async () => {
    const path = tempPath('rpc-dup');
    const { server, url } = await startServer(await where(path));
    try {
      const d = await connect<Uint8Array>(url);
      let doubled = 0;
      d.sender.intercept({
        send: (bytes) => {
          if (bytes[0] !== Frame.CALL) return bytes;
          doubled++;
          return [bytes, Uint8Array.from(bytes)];
        },
      });
      const c = await connectService(d, TestService);
      expect(await c.bump({ key: 'slow', delayMs: 300 })).toBe(1); // the copy arrives while the first runs: it waits
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => c.bump({ key: `k${i % 10}` })));
      expect(results.filter((n) => n === 10)).toHaveLength(10); // each key bumped exactly 10 times, not 20
      expect(doubled).toBeGreaterThanOrEqual(101);
      const plain = await connectService(url, TestService, { atMostOnce: false });
      expect(await plain.count({ key: 'slow' })).toBe(1);
      for (let i = 0; i < 10; i++) expect(await plain.count({ key: `k${i}` })).toBe(10);
      await plain.close();
      await c.close();
    } finally {
      await server.stop();
      removePath(path);
    }
  }, 60_000);

  it('a duplicate at or below the acknowledged floor is refused ERR_RPC_DUPLICATE, never run again', async () => {
    const path = tempPath('rpc-floor');
    const { server, url } = await startServer(await where(path));
    try {
      const raw = await rawClient(url);
      await raw.call(1, 1, 0, 'bump', { key: 'f' });
      expect(await raw.next()).toMatchObject({ type: Frame.REPLY, id: 1, body: 1 });
      await raw.call(2, 1, 0, 'bump', { key: 'f' }); // not acknowledged yet: the cached reply, not a second run
      expect(await raw.next()).toMatchObject({ type: Frame.REPLY, id: 2, body: 1 });
      await raw.call(3, 2, 1, 'bump', { key: 'f' }); // acks seq 1: its entry goes
      expect(await raw.next()).toMatchObject({ type: Frame.REPLY, id: 3, body: 2 });
      await raw.call(4, 1, 1, 'bump', { key: 'f' });
      expect(await raw.next()).toMatchObject({ type: Frame.ERROR, id: 4, body: { c: 'ERR_RPC_DUPLICATE' } });
      await raw.call(5, 0, 0, 'count', { key: 'f' });
      expect(await raw.next()).toMatchObject({ type: Frame.REPLY, id: 5, body: 2 });
      await raw.d.close();
    } finally {
      await server.stop();
      removePath(path);
    }
  }, 60_000);

  it('a second CALL on a running call id is a copy only for a unary call with the same seq; otherwise ERR_RPC_PROTOCOL', async () => {
    const path = tempPath('rpc-copy');
    const { server, url } = await startServer(await where(path));
    try {
      // A server stream waiting for credit (ack 0), then the same id and seq again: not a copy.
      const a = await rawClient(url);
      await a.d.sender.send(encodeFrame(Frame.CALL, proc('numbers'), 7, 5, 0, 0, { n: 3, tag: 'copy' }));
      await a.d.sender.send(encodeFrame(Frame.CALL, proc('numbers'), 7, 5, 0, 0, { n: 3, tag: 'copy' }));
      expect(await a.next()).toMatchObject({ type: Frame.ERROR, id: 0, body: { c: 'ERR_RPC_PROTOCOL' } });
      await a.d.close();
      // A unary call running, then the same id with another seq: not a copy either.
      const b = await rawClient(url);
      await b.call(8, 1, 0, 'hang', { tag: 'copy2', ms: 20_000 });
      await b.call(8, 2, 0, 'hang', { tag: 'copy3', ms: 20_000 });
      expect(await b.next()).toMatchObject({ type: Frame.ERROR, id: 0, body: { c: 'ERR_RPC_PROTOCOL' } });
      await b.d.close();
      // The same unary call and seq again is still its copy: one reply each, from one run.
      const c = await rawClient(url);
      await c.call(9, 1, 0, 'bump', { key: 'copy', delayMs: 200 });
      await c.call(9, 1, 0, 'bump', { key: 'copy', delayMs: 200 });
      expect(await c.next()).toMatchObject({ type: Frame.REPLY, id: 9, body: 1 });
      expect(await c.next()).toMatchObject({ type: Frame.REPLY, id: 9, body: 1 });
      await c.d.close();
    } finally {
      await server.stop();
      removePath(path);
    }
  }, 60_000);

  it('a persisted cache survives kill -9: a second server on the same file replays a finished call and refuses one that was running', async () => {
    const path = tempPath('rpc-persist');
    const file = tempPath('rpc-cache');
    const id = randomBytes(16);
    let { server, url } = await startServer(await where(path), [file]);
    try {
      let raw = await rawClient(url, id);
      await raw.call(1, 1, 0, 'bump', { key: 'p' });
      expect(await raw.next()).toMatchObject({ type: Frame.REPLY, body: 1 });
      await raw.call(2, 2, 0, 'hang', { tag: 'p2' });
      await server.waitFor('hanging p2');
      server.child.kill('SIGKILL');
      await server.stop();
      await raw.d.close().catch(() => undefined);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      ({ server, url } = await startServer(await where(path), [file]));
      raw = await rawClient(url, id);
      await raw.call(1, 1, 0, 'bump', { key: 'p' });
      expect(await raw.next()).toMatchObject({ type: Frame.REPLY, id: 1, body: 1 }); // replayed from the file
      await raw.call(2, 2, 0, 'hang', { tag: 'p2' });
      expect(await raw.next()).toMatchObject({ type: Frame.ERROR, id: 2, body: { c: 'ERR_RPC_DUPLICATE' } });
      await raw.call(3, 0, 0, 'count', { key: 'p' });
      expect(await raw.next()).toMatchObject({ type: Frame.REPLY, body: 0 }); // this server never ran bump
      expect(server.output()).not.toContain('hanging p2');
      await raw.d.close();
    } finally {
      await server.stop();
      removePath(path);
      removePath(file);
      removePath(`${file}.lock`); // left by the server killed -9 (the next one takes it over)
    }
  }, 60_000);

  it('a retry after a reconnection: an idempotent call succeeds, a deduplicated one in progress at the crash is refused, not run twice', async () => {
    const path = tempPath('rpc-retry');
    const file = tempPath('rpc-retry-cache');
    let { server, url } = await startServer(await where(path), [file]);
    try {
      const c = await connectService(url, TestService, { retry: { attempts: 20, maxMs: 20_000, baseMs: 50 } });
      expect(await c.bump({ key: 'r' })).toBe(1);
      const inProgress = c.hang({ tag: 'r1' });
      await server.waitFor('hanging r1');
      server.child.kill('SIGKILL');
      await server.stop();
      const during = c.add({ a: 1, b: 1 }); // started while the client reconnects: sent once it has
      const stream = c.numbers({ n: 1, tag: 'x' })[Symbol.asyncIterator]();
      expect(await rpcOutcome(stream.next())).toBe('ERR_RPC_SERVER_GONE'); // streams are never retried
      ({ server, url } = await startServer(await where(path), [file]));
      expect(await within(20_000, 'the retried call', rpcOutcome(inProgress))).toBe('ERR_RPC_DUPLICATE');
      expect(await within(20_000, 'the call made while reconnecting', during)).toBe(2);
      expect(await c.echo({ text: 'again' })).toBe('again');
      expect(await c.count({ key: 'r' })).toBe(0);
      expect(server.output()).not.toContain('hanging r1');
      await c.close();
    } finally {
      await server.stop();
      removePath(path);
      removePath(file);
      removePath(`${file}.lock`); // left by the server killed -9 (the next one takes it over)
    }
  }, 60_000);
});

describe('RPC binding', () => {
  it('serve and connectService by name: (the name service), over shared memory and TCP', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pipc-rpcname-'));
    const saved = process.env.POSIX_IPC_RUNTIME_DIR;
    process.env.POSIX_IPC_RUNTIME_DIR = dir;
    try {
      for (const at of ['shm:/pipc-rpc-name', 'tcp://127.0.0.1:0']) {
        const name = `rpctest-${randomBytes(3).toString('hex')}`;
        const server = startFixture('rpc-server.ts', [`name:${name}`], { env: { ...process.env, RPC_LISTEN_AT: at } });
        try {
          expect((await server.waitFor(/ready (\S+)/))[1]).toBe(`name:${name}`);
          const c = await connectService(`name:${name}`, TestService);
          expect(await c.add({ a: 2, b: 3 })).toBe(5);
          await c.close();
          expect(await rpcOutcome(connectService(`name:nobody-${name}`, TestService, { connectTimeoutMs: 2000 }))).toBe(
            'ERR_RPC_PROGRAM_UNAVAILABLE',
          );
        } finally {
          await server.stop();
        }
      }
    } finally {
      if (saved === undefined) delete process.env.POSIX_IPC_RUNTIME_DIR;
      else process.env.POSIX_IPC_RUNTIME_DIR = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('RPC security', () => {
  it('allowUids refuses a peer of another uid in-band before any handler; authorize refuses per procedure', async () => {
    const path = tempPath('rpc-uid');
    const { server, url } = await startServer(`unix:${path}`, ['-', '4242']);
    try {
      expect(await rpcOutcome(connectService(url, TestService))).toBe('ERR_RPC_UNAUTHORIZED');
    } finally {
      await server.stop();
      removePath(path);
    }
    const open = await startServer(`unix:${path}`, ['-', String(process.getuid!()), 'fail']);
    try {
      const c = await connectService(open.url, TestService);
      expect(await rpcOutcome(c.fail({}))).toBe('ERR_RPC_UNAUTHORIZED');
      expect(await c.echo({ text: 'ok' })).toBe('ok');
      await c.close();
    } finally {
      await open.server.stop();
      removePath(path);
    }
  }, 60_000);

  const setpriv = process.getuid?.() === 0 && existsSync('/usr/bin/setpriv');
  it.skipIf(!setpriv)(
    'a client process running as another uid (setpriv) is refused; root is served',
    async () => {
      const path = tempPath('rpc-setpriv');
      const { server, url } = await startServer(`unix:${path}`, ['-', '0', '-', '777']);
      try {
        const run = (uid: number): string => {
          const r = spawnSync(
            'setpriv',
            [
              `--reuid=${uid}`,
              `--regid=${uid}`,
              '--clear-groups',
              process.execPath,
              '--import',
              'tsx',
              fixturePath('rpc-client.ts'),
              url,
              'call',
            ],
            { encoding: 'utf8', timeout: 30_000, cwd: process.cwd() },
          );
          return `${r.stdout}${r.stderr}`;
        };
        expect(run(65534)).toContain('error ERR_RPC_UNAUTHORIZED');
        expect(run(0)).toContain('ok hello');
        expect(server.output()).not.toContain('hanging');
      } finally {
        await server.stop();
        removePath(path);
      }
    },
    90_000,
  );

  it('TLS with requestCert: a client without a certificate is refused; with one, ctx.peer carries its subject', async () => {
    const server = await serve(
      'tls://127.0.0.1:0',
      TestService,
      {
        ...(Object.fromEntries(TestService.compiled.map((p) => [p.name, () => null])) as Record<string, unknown>),
        whoami: (_a: unknown, ctx: { peer: unknown }) => ({ peer: JSON.parse(JSON.stringify(ctx.peer)) as unknown, clientId: null }),
      } as unknown as Handlers<typeof TestService>,
      { listen: { key: PKI.server.key, cert: PKI.server.cert, ca: PKI.ca.cert, requestCert: true } },
    );
    try {
      const anonymous = connectService(server.url, TestService, { connect: { ca: PKI.ca.cert }, connectTimeoutMs: 5000 });
      expect(await rpcOutcome(anonymous)).not.toBe('resolved');
      const c = await connectService(server.url, TestService, { connect: { ca: PKI.ca.cert, key: PKI.client.key, cert: PKI.client.cert } });
      const who = (await c.whoami({})) as { peer: { authorized: boolean; subject: { CN: string } } };
      expect(who.peer.authorized).toBe(true);
      expect(who.peer.subject.CN).toBe('client-1');
      await c.close();
    } finally {
      await server.close();
    }
  }, 60_000);
});

describe('RPC hostile frames', () => {
  it('deep nesting and huge declared lengths are clear errors, and the server stays bounded', async () => {
    const path = tempPath('rpc-hostile');
    const { server, url } = await startServer(`unix:${path}`);
    try {
      const raw = await rawClient(url);
      const header = encodeFrame(Frame.CALL, proc('echo'), 1, 0, 0, 0);
      const send = (id: number, body: number[] | Uint8Array) => {
        const f = Buffer.concat([header, Buffer.from(body)]);
        f.writeUInt32LE(id, 4);
        return raw.d.sender.send(f);
      };
      await send(1, new Uint8Array(200_000).fill(0x91)); // 200 000 nested arrays
      expect(await raw.next()).toMatchObject({ id: 1, type: Frame.ERROR, body: { c: 'ERR_RPC_BAD_ARGUMENTS' } });
      await send(2, [0xdd, 0xff, 0xff, 0xff, 0xff, 1]); // an array of 4 billion items in 6 bytes
      expect(await raw.next()).toMatchObject({ id: 2, type: Frame.ERROR, body: { c: 'ERR_RPC_BAD_ARGUMENTS' } });
      await send(3, [0xdb, 0x7f, 0xff, 0xff, 0xff, 0x61]); // a 2 GiB string in 6 bytes
      expect(await raw.next()).toMatchObject({ id: 3, type: Frame.ERROR, body: { c: 'ERR_RPC_BAD_ARGUMENTS' } });
      await send(4, [0x81, 0xa4, 0x74, 0x65, 0x78, 0x74, 0xa2, 0x6f, 0x6b]); // { text: 'ok' }
      expect(await raw.next()).toMatchObject({ id: 4, type: Frame.REPLY, body: 'ok' });
      await raw.d.close();
    } finally {
      await server.stop();
      removePath(path);
    }
  }, 60_000);

  it('a client that sends calls and never reads the replies meets backpressure: the server stops reading it, its memory stays bounded', async () => {
    const path = tempPath('rpc-noread');
    const { server, url } = await startServer(`unix:${path}`);
    try {
      const probe = await connectService(url, TestService, { atMostOnce: false });
      const rss0 = await probe.memory({});
      const raw = await rawClient(url);
      const text = 'x'.repeat(4096);
      let sent = 0;
      const until = performance.now() + 10_000;
      for (let refusedInARow = 0; sent < 50_000 && performance.now() < until && refusedInARow < 50;) {
        if (raw.d.sender.trySend(encodeFrame(Frame.CALL, proc('echo'), sent + 1, 0, 0, 0, { text }))) {
          sent++;
          refusedInARow = 0;
        } else {
          refusedInARow++;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      expect(sent).toBeLessThan(50_000); // 200 MiB of replies were never taken in
      const rss1 = await within(10_000, 'the probe is still served', probe.memory({}));
      expect(rss1 - rss0).toBeLessThan(128 * 1024 * 1024);
      expect(await probe.echo({ text: 'alive' })).toBe('alive');
      await probe.close();
      await server.stop(); // the raw client's unsent calls now fail: its close can finish
      await within(
        10_000,
        'the raw client closes',
        raw.d.close().catch(() => undefined),
      );
    } finally {
      await server.stop();
      removePath(path);
    }
  }, 60_000);

  it('fuzzed frames (fast-check) never crash, hang or grow the server', async () => {
    const path = tempPath('rpc-fuzz');
    const { server, url } = await startServer(`unix:${path}`);
    try {
      const probe = await connectService(url, TestService, { atMostOnce: false });
      const rss0 = await probe.memory({});
      const frame = fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        fc
          .tuple(
            fc.integer({ min: 0, max: 12 }),
            fc.integer({ min: 0, max: 0xffff }),
            fc.integer({ min: 0, max: 8 }),
            fc.uint8Array({ maxLength: 300 }),
          )
          .map(([type, p, id, body]) => Buffer.concat([encodeFrame(type, p % 16, id, id % 3, 0, id % 2, undefined), body])),
      );
      await fc.assert(
        fc.asyncProperty(fc.boolean(), fc.array(frame, { minLength: 1, maxLength: 8 }), async (hello, frames) => {
          const raw = hello ? await rawClient(url) : { d: await connect<Uint8Array>(url, { timeoutMs: 5000 }) };
          for (const f of frames) await raw.d.sender.send(f).catch(() => undefined);
          // Whatever happens to this connection, it ends or answers within a bound, and the server still serves others.
          await within(
            10_000,
            'the fuzzed connection settles',
            raw.d.receiver.receive({ timeoutMs: 200 }).catch(() => undefined),
          );
          await raw.d.close().catch(() => undefined);
          expect(await within(10_000, 'a probe call', probe.echo({ text: 'alive' }))).toBe('alive');
        }),
        { numRuns: 150 },
      );
      const rss1 = await probe.memory({});
      expect(rss1 - rss0).toBeLessThan(64 * 1024 * 1024);
      await probe.close();
      expect(server.child.status).toBeNull();
    } finally {
      await server.stop();
      removePath(path);
    }
  }, 120_000);
});

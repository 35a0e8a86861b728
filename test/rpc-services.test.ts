// Typed RPC services (lib/coord/rpc/) between real processes, over every
// transport: typed calls, validation at the server, errors in-band,
// streaming with credit, cancellation and deadlines reaching the handler,
// a server killed mid-call, a client killed (its server state released).
import { Type as T } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';

import { connectService, defineService, RpcError } from '../lib/index.js';
import { startFixture, type FixtureProcess } from './support/fixture-process.js';
import { TestService } from './fixtures/rpc-service.js';
import { removePath, sleep, tempPath, uniqueName, within } from './support/helpers.js';
import { pkiEnv, testPki } from './support/tls-certs.js';
import { rpcOutcome } from './support/rpc-errors.js';
import { natsCluster } from './support/channel-transports.js';
import { natsUnavailable } from './support/nats-cluster.js';

const PKI = testPki();
// NATS where nats-server is installed (.ci/run installs it): the same suite through a 3-node cluster.
const TRANSPORTS = ['unix', 'shm', 'tcp', 'tls', ...(natsUnavailable() === undefined ? (['nats'] as const) : [])] as const;
type Transport = 'unix' | 'shm' | 'tcp' | 'tls' | 'nats';

async function addressFor(t: Transport): Promise<{ address: string; cleanup: () => void }> {
  if (t === 'unix') {
    const p = tempPath('rpc');
    return { address: `unix:${p}`, cleanup: () => removePath(p) };
  }
  if (t === 'shm') return { address: `shm:${uniqueName('rpc')}`, cleanup: () => undefined };
  if (t === 'nats') return { address: `nats://${(await natsCluster()).nodes[0]}/${uniqueName('rpc').slice(1)}`, cleanup: () => undefined };
  return { address: `${t}://127.0.0.1:0`, cleanup: () => undefined };
}

/** Starts rpc-server.ts on transport `t`; resolves with its url. */
export async function startServer(
  t: Transport,
  args: string[] = [],
): Promise<{ server: FixtureProcess; url: string; cleanup: () => void }> {
  const { address, cleanup } = await addressFor(t);
  const server = startFixture('rpc-server.ts', [address, ...args], { env: pkiEnv() });
  const m = await server.waitFor(/ready (\S+)/);
  return { server, url: m[1]!, cleanup };
}

const clientOptions = (t: Transport): { connect?: { ca: string } } => (t === 'tls' ? { connect: { ca: PKI.ca.cert } } : {});

describe.each(TRANSPORTS)('RPC services over %s', (t) => {
  it('typed calls, validation at the server, in-band errors, unknown procedure and version mismatch', async () => {
    const { server, url, cleanup } = await startServer(t);
    try {
      const c = await connectService(url, TestService, clientOptions(t));
      expect(await c.echo({ text: 'héllo' })).toBe('héllo');
      expect(await c.add({ a: 40, b: 2 })).toBe(42);
      const calls = Array.from({ length: 200 }, (_, i) => c.add({ a: i, b: i }));
      expect(await Promise.all(calls)).toEqual(Array.from({ length: 200 }, (_, i) => 2 * i));
      const bad = await c.add({ a: 1, b: 'two' } as never).catch((e: unknown) => e as RpcError);
      expect(bad).toBeInstanceOf(RpcError);
      expect(bad).toMatchObject({ code: 'ERR_RPC_BAD_ARGUMENTS', procedure: 'add' });
      const app = await c.fail({}).catch((e: unknown) => e as RpcError);
      expect(app).toMatchObject({ code: 'ERR_RPC_APPLICATION', message: 'it failed', details: { why: 'asked to' } });
      const who = (await c.whoami({})) as { peer: Record<string, unknown>; clientId: string };
      expect(who.clientId).toBe(c.clientId);
      if (t === 'unix' || t === 'shm') expect(who.peer).toMatchObject({ pid: process.pid, uid: process.getuid!() });
      if (t === 'tcp') expect(who.peer).toMatchObject({ address: '127.0.0.1' });
      // A client whose definition has a procedure the server lacks.
      const Wider = defineService({
        name: 'rpctest',
        version: 2,
        procedures: { ...TestService.procedures, extra: { args: T.Object({}), result: T.Null() } },
      });
      const w = await connectService(url, Wider, clientOptions(t));
      expect(await rpcOutcome(w.extra({}))).toBe('ERR_RPC_UNKNOWN_PROCEDURE');
      expect(await w.echo({ text: 'still fine' })).toBe('still fine');
      await w.close();
      const V1 = defineService({ name: 'rpctest', version: 1, procedures: { echo: TestService.procedures.echo } });
      const mismatch = await connectService(url, V1, clientOptions(t)).catch((e: unknown) => e as RpcError);
      expect(mismatch).toMatchObject({ code: 'ERR_RPC_VERSION_MISMATCH', low: 2, high: 2 });
      const Other = defineService({ name: 'nope', version: 2, procedures: { echo: TestService.procedures.echo } });
      expect(await rpcOutcome(connectService(url, Other, clientOptions(t)))).toBe('ERR_RPC_PROGRAM_UNAVAILABLE');
      await c.close();
      expect(await rpcOutcome(c.echo({ text: 'x' }))).toBe('ERR_RPC_SERVER_GONE');
    } finally {
      await server.stop();
      cleanup();
    }
  }, 60_000);

  it('streams with credit: a slow consumer keeps the producer within the window; breaking out stops it; client streams sum', async () => {
    const { server, url, cleanup } = await startServer(t);
    try {
      const c = await connectService(url, TestService, { ...clientOptions(t), streamWindow: 16 });
      let consumed = 0;
      let maxAhead = 0;
      for await (const i of c.numbers({ n: 100_000, tag: 'slow' })) {
        expect(i).toBe(consumed);
        consumed++;
        if (consumed % 10 === 0) {
          await sleep(20);
          const p = await c.produced({ tag: 'slow' });
          maxAhead = Math.max(maxAhead, p.n - consumed);
        }
        if (consumed === 200) break;
      }
      expect(maxAhead).toBeGreaterThan(0);
      expect(maxAhead).toBeLessThanOrEqual(2 * 16 + 2); // window in flight + the buffered half: bounded, not 100 000
      await within(5000, 'the producer stops', server.waitFor('stopped slow'));
      const done = await c.produced({ tag: 'slow' });
      expect(done.stopped).toBe(true);
      expect(done.n).toBeLessThan(300);
      let total = 0;
      for await (const i of c.numbers({ n: 1000, tag: 'all' })) total += i;
      expect(total).toBe((999 * 1000) / 2);
      function* ints(n: number): Generator<number> {
        for (let i = 1; i <= n; i++) yield i;
      }
      expect(await c.sum(ints(5000))).toBe((5000 * 5001) / 2);
      expect(await rpcOutcome(c.sum(['x' as never]))).toBe('ERR_RPC_BAD_ARGUMENTS');
      await c.close();
    } finally {
      await server.stop();
      cleanup();
    }
  }, 60_000);

  it('cancellation and deadlines reach the handler (ctx.signal aborts); the connection stays usable', async () => {
    const { server, url, cleanup } = await startServer(t);
    try {
      const c = await connectService(url, TestService, clientOptions(t));
      const ac = new AbortController();
      const cancelled = c.hang({ tag: 'c1' }, { signal: ac.signal });
      await server.waitFor('hanging c1');
      ac.abort();
      expect(await rpcOutcome(cancelled)).toBe('ERR_RPC_CANCELLED');
      await server.waitFor('aborted c1');
      const t0 = performance.now();
      expect(await rpcOutcome(c.hang({ tag: 'd1' }, { timeoutMs: 300 }))).toBe('ERR_RPC_DEADLINE_EXCEEDED');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
      await within(5000, 'the server aborts at its deadline', server.waitFor('aborted d1'));
      expect(await c.aborted({ tag: 'd1' })).toBe(true);
      expect(await c.hang({ tag: 'quick', ms: 10 }, { timeoutMs: 10_000 })).toBe('done');
      await c.close();
    } finally {
      await server.stop();
      cleanup();
    }
  }, 60_000);

  it('a server killed mid-call fails every pending call at once with ERR_RPC_SERVER_GONE', async () => {
    const { server, url, cleanup } = await startServer(t);
    try {
      const c = await connectService(url, TestService, clientOptions(t));
      const pending = [c.hang({ tag: 'k1' }), c.hang({ tag: 'k2' }), c.bump({ key: 'k', delayMs: 30_000 })];
      const stream = c.numbers({ n: 1_000_000, tag: 'ks' })[Symbol.asyncIterator]();
      await stream.next();
      await server.waitFor('hanging k2');
      const t0 = performance.now();
      server.child.kill('SIGKILL');
      const codes = await within(
        2000,
        'pending calls fail',
        Promise.all([
          ...pending.map(rpcOutcome),
          rpcOutcome(
            (async () => {
              for (;;) if ((await stream.next()).done) return;
            })(),
          ),
        ]),
      );
      expect(codes).toEqual(['ERR_RPC_SERVER_GONE', 'ERR_RPC_SERVER_GONE', 'ERR_RPC_SERVER_GONE', 'ERR_RPC_SERVER_GONE']);
      expect(performance.now() - t0).toBeLessThan(2000);
      await c.close();
    } finally {
      await server.stop();
      cleanup();
    }
  }, 60_000);

  it('a client killed mid-call releases its server state: the handler signal aborts, the stream producer stops', async () => {
    const { server, url, cleanup } = await startServer(t);
    const client = startFixture('rpc-client.ts', [url, 'hold', 'gone'], { env: pkiEnv() });
    try {
      await client.waitFor('holding');
      await server.waitFor('hanging gone');
      client.child.kill('SIGKILL');
      await within(10_000, 'the handler is aborted', server.waitFor('aborted gone'));
      await within(10_000, 'the producer stops', server.waitFor('stopped gone'));
    } finally {
      await client.stop();
      await server.stop();
      cleanup();
    }
  }, 60_000);
});

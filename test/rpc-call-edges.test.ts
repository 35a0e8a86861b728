// Edges of RPC calls found by the issue-11 review, with the server in this
// process (its reply cache is inspected directly) over a real UNIX socket:
// a call refused for a bad option still lets the ack advance, a far
// deadline does not spin the timer, a client-stream handler answering early
// stops the client's pump, raw frames that reuse a call id, close() during a
// reconnection, and serve() failing to listen leaks nothing.
import { readdirSync, readlinkSync } from 'node:fs';
import { Type as T } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';

import { connectService, defineService, listen, RpcError, serve, type Handlers } from '../lib/index.js';
import { decodeBody, encodeFrame, Frame, readHeader, type Header } from '../lib/coord/rpc/wire.js';
import { removePath, tempPath, within } from './support/helpers.js';

const Svc = defineService({
  name: 'edges',
  version: 1,
  procedures: {
    add: { args: T.Object({ a: T.Integer(), b: T.Integer() }), result: T.Integer() },
    first: { stream: 'client', item: T.Integer(), result: T.Integer() },
    ticks: { args: T.Object({ n: T.Integer() }), stream: 'server', item: T.Integer() },
    wait: { args: T.Object({ ms: T.Integer() }), result: T.Boolean() },
  },
});

const handlers: Handlers<typeof Svc> = {
  add: ({ a, b }) => a + b,
  async first(items) {
    for await (const x of items) return x; // answers after the first item
    return -1;
  },
  async *ticks({ n }) {
    for (let i = 0; i < n; i++) yield i;
  },
  wait: ({ ms }, ctx) =>
    new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      ctx.signal.addEventListener('abort', () => (clearTimeout(t), resolve(true)), { once: true });
    }),
};

async function withServer<R>(fn: (url: string, server: Awaited<ReturnType<typeof serve>>) => Promise<R>): Promise<R> {
  const path = tempPath('rpc-edges');
  const server = await serve(`unix:${path}`, Svc, handlers);
  try {
    return await fn(server.url, server);
  } finally {
    await server.close();
    removePath(path);
  }
}

describe('RPC call edges', () => {
  it('a frame owns its bytes: encoding the next ones (small, 2 MiB, small again) changes nothing in it', () => {
    const bodies = [{ a: 'x'.repeat(3000) }, new Uint8Array(2 << 20).fill(9), { n: 7 }, [1, 'two', { deep: ['z'.repeat(5000)] }]];
    const frames = bodies.map((b, i) => encodeFrame(Frame.CALL, 1, i + 1, i + 2, 0, 0, b));
    const copies = frames.map((f) => Buffer.from(f));
    for (let i = 0; i < 50; i++) encodeFrame(Frame.REPLY, 2, 99, 0, 0, 0, { filler: 'y'.repeat(i * 100) });
    const h: Header = { type: 0, proc: 0, id: 0, seq: 0, ack: 0, timeout: 0 };
    frames.forEach((f, i) => {
      expect(Buffer.compare(f, copies[i]!)).toBe(0);
      expect(readHeader(f, 0, f.length, h)).toBe(true);
      expect(h).toMatchObject({ type: Frame.CALL, proc: 1, id: i + 1, seq: i + 2 });
      const body = decodeBody(f, 0, f.length, 'ERR_RPC_PROTOCOL');
      const sent = bodies[i];
      if (sent instanceof Uint8Array) expect(Buffer.compare(body as Uint8Array, sent)).toBe(0);
      else expect(body).toEqual(sent);
    });
    expect(encodeFrame(Frame.END, 3, 4, 0, 0, 0).length).toBe(20); // no body: the header alone
  });

  it('a frame encoded inside another (a getter), right after a large one, leaves both whole', () => {
    encodeFrame(Frame.CALL, 1, 1, 1, 0, 0, new Uint8Array(2 << 20)); // the next pack starts on a small buffer
    let inner: Buffer | undefined;
    const body = {
      get x(): number {
        inner = encodeFrame(Frame.REPLY, 2, 2, 0, 0, 0, { y: 'inner' });
        return 1;
      },
      z: 'outer',
    };
    const outer = encodeFrame(Frame.CALL, 1, 3, 3, 0, 0, body);
    expect(decodeBody(outer, 0, outer.length, 'ERR_RPC_PROTOCOL')).toEqual({ x: 1, z: 'outer' });
    expect(decodeBody(inner!, 0, inner!.length, 'ERR_RPC_PROTOCOL')).toEqual({ y: 'inner' });
    // A pack that throws (a BigInt past 64 bits) after growing the buffer: the next frames are whole.
    expect(() => encodeFrame(Frame.CALL, 1, 4, 4, 0, 0, ['x'.repeat(3 << 20), 2n ** 70n])).toThrow();
    const after = encodeFrame(Frame.CALL, 1, 5, 5, 0, 0, { ok: true });
    expect(decodeBody(after, 0, after.length, 'ERR_RPC_PROTOCOL')).toEqual({ ok: true });
  });

  it('a call refused for a bad option (timeoutMs Infinity, -1) does not stall the ack: the server drops later answered entries', async () => {
    await withServer(async (url, server) => {
      const c = await connectService(url, Svc);
      try {
        expect(await c.add({ a: 1, b: 1 })).toBe(2);
        expect(() => c.add({ a: 1, b: 1 }, { timeoutMs: Infinity })).toThrow(RangeError);
        expect(() => c.add({ a: 1, b: 1 }, { timeoutMs: -1 })).toThrow(RangeError);
        for (let i = 0; i < 20; i++) expect(await c.add({ a: i, b: 0 })).toBe(i);
        // Each call acks the ones before it: the cache holds the last one or two, not every call since the bad ones.
        expect(server.replyCache.stats(c.clientId!)!.entries).toBeLessThanOrEqual(2);
      } finally {
        await c.close();
      }
    });
  }, 30_000);

  it('a far deadline (timeoutMs 0xffff_fff0) completes normally, without a TimeoutOverflowWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      await withServer(async (url) => {
        const c = await connectService(url, Svc);
        try {
          expect(await c.add({ a: 2, b: 3 }, { timeoutMs: 0xffff_fff0 })).toBe(5);
          expect(await c.wait({ ms: 50 }, { timeoutMs: 0xffff_fff0 })).toBe(false);
        } finally {
          await c.close();
        }
      });
      await new Promise((r) => setTimeout(r, 50));
      expect(warnings.filter((w) => w.name === 'TimeoutOverflowWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  }, 30_000);

  it('a client-stream handler that answers after one item: the call resolves and the endless source is closed', async () => {
    await withServer(async (url) => {
      const c = await connectService(url, Svc);
      try {
        let closed = false;
        async function* endless(): AsyncGenerator<number> {
          try {
            for (let i = 7; ; i++) yield i;
          } finally {
            closed = true;
          }
        }
        expect(await within(10_000, 'the early answer', c.first(endless()))).toBe(7);
        for (let i = 0; i < 100 && !closed; i++) await new Promise((r) => setTimeout(r, 20));
        expect(closed).toBe(true);
      } finally {
        await c.close();
      }
    });
  }, 30_000);

  it('close() while a reconnection waits for its welcome: the new connection is closed, not used; the pending call fails SERVER_GONE', async () => {
    const path = tempPath('rpc-reconnect');
    const listener = await listen<Uint8Array>(`unix:${path}`);
    const welcome = encodeFrame(Frame.WELCOME, 0, 0, 0, 0, 0, { v: [1], w: 32 });
    try {
      const connecting = connectService(listener.url, Svc, { retry: { attempts: 3, baseMs: 50, maxMs: 20_000 } });
      const d1 = await within(10_000, 'the first connection', listener.accept());
      expect((await within(10_000, 'its hello', d1.receiver.receive()))![0]).toBe(Frame.HELLO);
      await d1.sender.send(welcome);
      const c = await connecting;
      const call = c.wait({ ms: 1000 });
      const outcome = call.then(
        () => 'resolved',
        (e: unknown) => (e instanceof RpcError ? e.code : String(e)),
      );
      expect((await within(10_000, 'the call', d1.receiver.receive()))![0]).toBe(Frame.CALL);
      await d1.close(); // the connection is lost: the call is retried on a new one
      const d2 = await within(10_000, 'the reconnection', listener.accept());
      expect((await within(10_000, 'its hello', d2.receiver.receive()))![0]).toBe(Frame.HELLO);
      await c.close(); // while the reconnection waits for its welcome
      expect(await within(10_000, 'the pending call to settle', outcome)).toBe('ERR_RPC_SERVER_GONE');
      await d2.sender.send(welcome).catch(() => undefined);
      // The closed client never resends the call on the new connection: it closes it.
      expect(
        await within(
          10_000,
          'the end of the new connection',
          d2.receiver.receive().catch(() => undefined),
        ),
      ).toBeUndefined();
      await d2.close();
    } finally {
      listener.close();
      removePath(path);
    }
  }, 30_000);

  it('serve() that cannot listen (the path is in use) closes its reply cache file: no descriptor left', async () => {
    const path = tempPath('rpc-twice');
    const file = tempPath('rpc-twice-cache');
    const onFile = (): number =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === file;
        } catch {
          return false;
        }
      }).length;
    const first = await serve(`unix:${path}`, Svc, handlers, { replyCache: { persistPath: `${file}-a` } });
    try {
      await expect(serve(`unix:${path}`, Svc, handlers, { replyCache: { persistPath: file } })).rejects.toMatchObject({
        code: 'EADDRINUSE',
      });
      expect(onFile()).toBe(0);
    } finally {
      await first.close();
      removePath(path);
      removePath(file);
      removePath(`${file}-a`);
    }
  }, 30_000);
});

// ONC RPC (RFC 5531) in TypeScript on both sides: the messages and record
// marking as bytes, the client and server over raw ONC TCP and over the
// channels (unix:, shm:, tcp:, tls:), every reply status, AUTH_SYS and the
// authorization hooks, deadlines and cancellation, bounded in-flight calls,
// a server process killed mid-call, hostile bytes from a raw socket
// (fast-check), binding through the name service, and no leaked fds.
// The C side (rpcgen + libtirpc) is onc-interop.test.ts's.
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  AUTH_NONE,
  AuthStat,
  authSys,
  decodeCredential,
  decodeMessage,
  encodeCall,
  encodeReply,
  frameRecord,
  lookupOnc,
  ONC_MAX_FRAGMENTS,
  oncClient,
  RecordReader,
  registerOnc,
  RpcError,
  serveOnc,
  XdrError,
  type OncCallContext,
  type OncServer,
} from '../lib/index.js';
import { xdrInt } from '../lib/coord/rpc/xdr/codec.js';
import { xdrOpaque } from '../lib/coord/rpc/xdr/scalars.js';
import { XdrWriter } from '../lib/coord/rpc/xdr/stream.js';
import { KVSTORE_V1, KVSTORE_V2 } from './fixtures/onc/kv-spec.js';
import { startFixture } from './support/fixture-process.js';
import { snapshot, expectBaseline } from './support/leak-suite.js';
import { removePath, tempPath, within } from './support/helpers.js';
import { testPki } from './support/tls-certs.js';
import { rpcRejection } from './support/rpc-errors.js';

const kvService = (extra: Partial<{ onCall: (ctx: OncCallContext) => void }> = {}) => ({
  spec: KVSTORE_V1,
  handlers: {
    EXAMPLE: (n: number, ctx: OncCallContext) => {
      extra.onCall?.(ctx);
      return n + 1;
    },
  },
});

describe('messages and record marking', () => {
  it('a call with AUTH_SYS and every reply round-trip through the bytes', () => {
    const cred = authSys({ stamp: 1, machinename: 'lab-host', uid: 1000, gid: 100, gids: [4, 24, 27] });
    const bytes = encodeCall({ xid: 0xdeadbeef, prog: 0x20000001, vers: 1, proc: 1, cred }, (w) => w.int(41));
    const m = decodeMessage(bytes);
    expect(m).toMatchObject({ type: 'call', xid: 0xdeadbeef, rpcvers: 2, prog: 0x20000001, vers: 1, proc: 1 });
    if (m.type !== 'call') throw new Error('not a call');
    expect(decodeCredential(m.cred)).toEqual({ flavor: 'sys', stamp: 1, machinename: 'lab-host', uid: 1000, gid: 100, gids: [4, 24, 27] });
    expect([...m.args]).toEqual([0, 0, 0, 41]);
    const ok = decodeMessage(encodeReply(7, { accepted: true, stat: 'SUCCESS', writeResults: (w) => w.int(42) }));
    expect(ok).toMatchObject({ xid: 7, accepted: true, stat: 'SUCCESS' });
    expect(decodeMessage(encodeReply(8, { accepted: true, stat: 'PROG_MISMATCH', low: 1, high: 3 }))).toMatchObject({
      stat: 'PROG_MISMATCH',
      low: 1,
      high: 3,
    });
    for (const stat of ['PROG_UNAVAIL', 'PROC_UNAVAIL', 'GARBAGE_ARGS', 'SYSTEM_ERR'] as const) {
      expect(decodeMessage(encodeReply(9, { accepted: true, stat }))).toMatchObject({ accepted: true, stat });
    }
    expect(decodeMessage(encodeReply(10, { accepted: false, stat: 'RPC_MISMATCH', low: 2, high: 2 }))).toMatchObject({
      accepted: false,
      low: 2,
      high: 2,
    });
    expect(decodeMessage(encodeReply(11, { accepted: false, stat: 'AUTH_ERROR', auth: AuthStat.AUTH_TOOWEAK }))).toMatchObject({ auth: 5 });
    // the bytes of RFC 5531's layout for the simplest reply: xid, REPLY, MSG_ACCEPTED, AUTH_NONE (0, 0), SUCCESS, 42
    expect([...encodeReply(1, { accepted: true, stat: 'SUCCESS', writeResults: (w) => w.int(42) })]).toEqual(
      [1, 1, 0, 0, 0, 0, 42].flatMap((v) => [0, 0, 0, v]),
    );
  });

  it('bounds: an opaque_auth over 400 bytes, 17 gids, a machinename over 255, a bad msg_type', () => {
    const w = new XdrWriter();
    w.uint(1).uint(0).uint(2).uint(1).uint(1).uint(1).uint(0).uint(401);
    expect(() => decodeMessage(w.finish())).toThrow(XdrError);
    expect(() => authSys({ stamp: 0, machinename: 'x', uid: 0, gid: 0, gids: new Array(17).fill(0) })).toThrow(XdrError);
    expect(() => authSys({ stamp: 0, machinename: 'x'.repeat(256), uid: 0, gid: 0, gids: [] })).toThrow(XdrError);
    const body = new XdrWriter().uint(0).string('h').uint(0).uint(0).uint(17).finish();
    expect(() => decodeCredential({ flavor: 1, body })).toThrow(XdrError);
    expect(() => decodeMessage(new XdrWriter().uint(1).uint(2).finish())).toThrow(/msg_type 2/);
    expect(decodeCredential(AUTH_NONE)).toEqual({ flavor: 'none' });
  });

  it('reassembles fragments split anywhere, and refuses a 2^31 - 1 fragment before allocating it', () => {
    const msg = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const two = new Uint8Array(8 + 300);
    new DataView(two.buffer).setUint32(0, 100);
    two.set(msg.subarray(0, 100), 4);
    new DataView(two.buffer).setUint32(104, 0x8000_0000 | 200);
    two.set(msg.subarray(100), 108);
    const stream = new Uint8Array([...two, ...frameRecord(msg)]);
    for (const step of [1, 3, 7, 64, stream.length]) {
      const r = new RecordReader(1024);
      const out: Uint8Array[] = [];
      for (let i = 0; i < stream.length; i += step) out.push(...r.push(stream.subarray(i, i + step)));
      expect(out.map((o) => Buffer.from(o).equals(msg))).toEqual([true, true]);
      expect(r.partial).toBe(false);
    }
    const hostile = new RecordReader();
    expect(() => hostile.push(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toThrow(expect.objectContaining({ code: 'ERR_RPC_PROTOCOL' }));
    expect(() => hostile.push(new Uint8Array([0]))).toThrow(RpcError); // latched
    const over = new RecordReader(1000);
    over.push(new Uint8Array([0, 0, 1, 0xf4, ...new Uint8Array(500)])); // 500 of a record, not last
    expect(() => over.push(new Uint8Array([0x80, 0, 1, 0xf5]))).toThrow(/larger than its bound of 1000/); // + 501 > 1000
    const empties = new RecordReader();
    expect(() => empties.push(new Uint8Array(4 * (ONC_MAX_FRAGMENTS + 1)))).toThrow(/fragments/);
  });
});

const PKI = testPki();
const transports: Array<[string, () => string, Record<string, unknown>, Record<string, unknown>, string]> = [
  ['raw ONC TCP', () => 'oncrpc://127.0.0.1:0', {}, {}, 'oncrpc'],
  ['unix:', () => `unix:${tempPath('onc')}.sock`, {}, {}, 'unix'],
  ['shm:', () => `shm:/onc${randomBytes(4).toString('hex')}`, {}, {}, 'shm'],
  ['tcp:', () => 'tcp://127.0.0.1:0', {}, {}, 'tcp'],
  [
    'tls: (mutual)',
    () => 'tls://127.0.0.1:0',
    { key: PKI.server.key, cert: PKI.server.cert, ca: PKI.ca.cert, requestCert: true },
    { ca: PKI.ca.cert, key: PKI.client.key, cert: PKI.client.cert },
    'tls',
  ],
];

describe.each(transports)('KVSTORE over %s', (_name, address, serverOpts, clientOpts, kind) => {
  it('typed calls, many in flight, and the peer identity in the call context', async () => {
    const seen: OncCallContext[] = [];
    const server = await serveOnc(address(), [kvService({ onCall: (c) => seen.push(c) })], { channel: serverOpts });
    try {
      const kv = await oncClient(KVSTORE_V1, server.url, { channel: clientOpts, credential: 'sys' });
      try {
        expect(await kv.EXAMPLE(41)).toBe(42);
        const ns = Array.from({ length: 300 }, (_, i) => i - 150);
        expect(await Promise.all(ns.map((n) => kv.EXAMPLE(n)))).toEqual(ns.map((n) => n + 1));
        await kv.ping();
      } finally {
        await kv.close();
      }
      const ctx = seen[0]!;
      expect(ctx.peer?.transport).toBe(kind);
      if (ctx.peer?.transport === 'unix' || ctx.peer?.transport === 'shm') expect(ctx.peer.credentials.pid).toBe(process.pid);
      if (ctx.peer?.transport === 'tls') expect(ctx.peer.tls.subject?.CN).toBe('client-1');
      if (ctx.peer?.transport === 'oncrpc' || ctx.peer?.transport === 'tcp') expect(ctx.peer.address.address).toMatch(/127\.0\.0\.1/);
      expect(ctx.credential).toMatchObject({ flavor: 'sys', uid: process.getuid!() });
    } finally {
      await server.close();
    }
  });
});

describe('server replies (raw ONC TCP)', () => {
  let server: OncServer;
  let calls = 0;
  beforeAll(async () => {
    server = await serveOnc('oncrpc://127.0.0.1:0', [
      kvService({ onCall: () => calls++ }),
      {
        spec: KVSTORE_V2,
        handlers: {
          EXAMPLE: (n) => {
            calls++;
            if (n === 13) throw new Error('unlucky');
            if (n === -1) return new Promise<number>(() => {});
            return n + 2;
          },
          TWICE: (n) => {
            calls++;
            return n * 2;
          },
        },
        authorize: {
          TWICE: (ctx) => ctx.credential.flavor === 'sys' && ctx.credential.uid === 1234,
          EXAMPLE: (ctx) => (ctx.credential.flavor === 'sys' && ctx.credential.uid === 666 ? AuthStat.AUTH_BADCRED : true),
        },
      },
    ]);
  });
  afterAll(() => server.close());

  it('two versions; version 3 is PROG_MISMATCH 1..2; another program PROG_UNAVAIL; an unknown procedure PROC_UNAVAIL', async () => {
    const v1 = await oncClient(KVSTORE_V1, server.url);
    const v2 = await oncClient(KVSTORE_V2, server.url);
    const v3 = await oncClient({ ...KVSTORE_V2, version: 3 }, server.url);
    const other = await oncClient({ ...KVSTORE_V1, program: 0x20000099 }, server.url);
    const noProc = await oncClient({ ...KVSTORE_V2, version: 1 }, server.url);
    try {
      expect([await v1.EXAMPLE(1), await v2.EXAMPLE(1)]).toEqual([2, 3]);
      const e = await rpcRejection(v3.EXAMPLE(1));
      expect([e.code, e.low, e.high, e.procedure]).toEqual(['ERR_RPC_VERSION_MISMATCH', 1, 2, 'EXAMPLE']);
      expect((await rpcRejection(v3.ping())).code).toBe('ERR_RPC_VERSION_MISMATCH');
      expect((await rpcRejection(other.EXAMPLE(1))).code).toBe('ERR_RPC_PROGRAM_UNAVAILABLE');
      expect((await rpcRejection(noProc.TWICE(1))).code).toBe('ERR_RPC_UNKNOWN_PROCEDURE');
      expect((await rpcRejection(v2.EXAMPLE(13))).code).toBe('ERR_RPC_SYSTEM');
    } finally {
      await Promise.all([v1, v2, v3, other, noProc].map((c) => c.close()));
    }
  });

  it('GARBAGE_ARGS for arguments that do not decode (short, or bytes left over); RPC_MISMATCH for rpcvers 3', async () => {
    const short = await oncClient(
      {
        ...KVSTORE_V1,
        procedures: { EXAMPLE: { ...KVSTORE_V1.procedures.EXAMPLE, arg: { name: 'nothing', encode: () => {}, decode: () => 0 } } },
      },
      server.url,
    );
    const long = await oncClient(
      {
        ...KVSTORE_V1,
        procedures: {
          EXAMPLE: {
            ...KVSTORE_V1.procedures.EXAMPLE,
            arg: { name: 'two ints', encode: (w, v: number) => void w.int(v).int(v), decode: xdrInt.decode },
          },
        },
      },
      server.url,
    );
    try {
      expect((await rpcRejection(short.EXAMPLE(1))).code).toBe('ERR_RPC_BAD_ARGUMENTS');
      expect((await rpcRejection(long.EXAMPLE(1))).code).toBe('ERR_RPC_BAD_ARGUMENTS');
    } finally {
      await Promise.all([short.close(), long.close()]);
    }
    const call = encodeCall({ xid: 77, prog: KVSTORE_V1.program, vers: 1, proc: 1 }, (w) => w.int(1));
    new DataView(call.buffer).setUint32(8, 3); // rpcvers
    const reply = await rawExchange(server.url, frameRecord(call));
    expect(decodeMessage(reply)).toMatchObject({ xid: 77, accepted: false, stat: 'RPC_MISMATCH', low: 2, high: 2 });
  });

  it('an authorize hook refuses with AUTH_ERROR before the handler runs (its counter stays 0)', async () => {
    const before = calls;
    const anon = await oncClient(KVSTORE_V2, server.url);
    const wrongUid = await oncClient(KVSTORE_V2, server.url, {
      credential: { flavor: 'sys', stamp: 0, machinename: 'm', uid: 1, gid: 1, gids: [] },
    });
    const bad = await oncClient(KVSTORE_V2, server.url, {
      credential: { flavor: 'sys', stamp: 0, machinename: 'm', uid: 666, gid: 1, gids: [] },
    });
    const good = await oncClient(KVSTORE_V2, server.url, {
      credential: { flavor: 'sys', stamp: 0, machinename: 'm', uid: 1234, gid: 1, gids: [] },
    });
    try {
      const e = await rpcRejection(anon.TWICE(4));
      expect([e.code, (e.details as { name: string }).name]).toEqual(['ERR_RPC_UNAUTHORIZED', 'AUTH_TOOWEAK']);
      expect((await rpcRejection(wrongUid.TWICE(4))).code).toBe('ERR_RPC_UNAUTHORIZED');
      expect(((await rpcRejection(bad.EXAMPLE(4))).details as { name: string }).name).toBe('AUTH_BADCRED');
      await anon.ping(); // NULL is never authorized
      expect(calls - before).toBe(0);
      expect(await good.TWICE(4)).toBe(8);
      expect(calls - before).toBe(1);
    } finally {
      await Promise.all([anon, wrongUid, bad, good].map((c) => c.close()));
    }
  });

  it('a deadline and an AbortSignal end a call; the connection goes on; a late reply is dropped', async () => {
    const v2 = await oncClient(KVSTORE_V2, server.url);
    try {
      const t0 = performance.now();
      expect((await rpcRejection(v2.EXAMPLE(-1, { timeoutMs: 100 }))).code).toBe('ERR_RPC_DEADLINE_EXCEEDED');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(90);
      const ac = new AbortController();
      const p = v2.EXAMPLE(-1, { signal: ac.signal });
      setTimeout(() => ac.abort(), 20);
      expect((await rpcRejection(p)).code).toBe('ERR_RPC_CANCELLED');
      expect((await rpcRejection(v2.EXAMPLE(1, { signal: AbortSignal.abort() }))).code).toBe('ERR_RPC_CANCELLED');
      expect(await v2.EXAMPLE(5)).toBe(7);
      expect(v2.pending).toBe(0);
    } finally {
      await v2.close();
    }
  });

  it('a deadline over 2^31 - 1 ms (setTimeout would clamp it to 1 ms) is honoured: the call stays pending', async () => {
    const v2 = await oncClient(KVSTORE_V2, server.url, { callTimeoutMs: 2 ** 33 });
    try {
      const ac = new AbortController();
      const outcomes = [v2.EXAMPLE(-1, { signal: ac.signal }), v2.EXAMPLE(-1, { signal: ac.signal, timeoutMs: 2 ** 40 })].map((p) =>
        rpcRejection(p),
      );
      await new Promise((r) => setTimeout(r, 300));
      expect(v2.pending).toBe(2);
      ac.abort();
      expect((await Promise.all(outcomes)).map((e) => e.code)).toEqual(['ERR_RPC_CANCELLED', 'ERR_RPC_CANCELLED']);
      expect(await v2.EXAMPLE(5, { timeoutMs: 2 ** 32 })).toBe(7);
    } finally {
      await v2.close();
    }
  });
});

/** Sends raw bytes, returns the first reply record (bounded). */
async function rawExchange(url: string, bytes: Uint8Array): Promise<Uint8Array> {
  const port = Number(url.replace(/^.*:/, ''));
  const socket = net.connect({ host: '127.0.0.1', port });
  const reader = new RecordReader();
  try {
    return await within(
      5000,
      'a reply',
      new Promise<Uint8Array>((resolve, reject) => {
        socket.on('data', (c) => {
          const out = reader.push(c);
          if (out.length > 0) resolve(out[0]!);
        });
        socket.on('error', reject);
        socket.on('close', () => reject(new Error('closed without a reply')));
        socket.write(bytes);
      }),
    );
  } finally {
    socket.destroy();
  }
}

/** Sends raw bytes and half-closes; resolves `true` once the server closed its side, `false` if it had not after 5 s (a hang). */
function rawSend(port: number, bytes: Uint8Array): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      socket.destroy();
    }, 5000);
    socket.on('error', () => {});
    socket.on('data', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(!hung);
    });
    socket.on('connect', () => socket.end(bytes));
  });
}

describe('hostile peers', () => {
  it('random bytes and random records from a raw socket never crash, hang or grow the server (fast-check)', async () => {
    let calls = 0;
    const server = await serveOnc('oncrpc://127.0.0.1:0', [kvService({ onCall: () => calls++ })], { maxMessageSize: 64 * 1024 });
    const port = Number(server.url.replace(/^.*:/, ''));
    const heap = process.memoryUsage().heapUsed;
    try {
      const framed = fc.uint8Array({ maxLength: 512 }).map((b) => frameRecord(b));
      const callLike = fc
        .tuple(fc.integer({ min: 0, max: 6 }), fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 0xffff_ffff }))
        .map(([proc, tail, x]) =>
          frameRecord(new Uint8Array([...encodeCall({ xid: x, prog: KVSTORE_V1.program, vers: 1, proc }, () => {}), ...tail])),
        );
      const header = fc.integer({ min: 0, max: 0xffff_ffff }).map((h) => {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setUint32(0, h);
        return b;
      });
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 1024 }), framed, callLike, header), async (bytes) => {
          expect(await rawSend(port, bytes)).toBe(true); // the server answered or hung up: it never waits forever
        }),
        { numRuns: 150 },
      );
      const kv = await oncClient(KVSTORE_V1, server.url);
      try {
        expect(await kv.EXAMPLE(1)).toBe(2);
      } finally {
        await kv.close();
      }
      expect(process.memoryUsage().heapUsed - heap).toBeLessThan(64 * 1024 * 1024);
      expect(calls).toBeGreaterThan(0);
      await within(
        5000,
        'connections to close',
        (async () => {
          for (let i = 0; i < 100 && server.connections > 0; i++) await new Promise((r) => setTimeout(r, 50));
        })(),
      );
      expect(server.connections).toBe(0);
    } finally {
      await server.close();
    }
  }, 120_000);

  it('a hostile server: garbage replies fail the pending calls with ERR_RPC_PROTOCOL, never a crash', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 256 }), async (garbage) => {
        const srv = net.createServer((s) => {
          s.on('error', () => {});
          s.once('data', () => s.write(frameRecord(garbage)));
        });
        await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
        const port = (srv.address() as net.AddressInfo).port;
        try {
          const kv = await oncClient(KVSTORE_V1, `oncrpc://127.0.0.1:${port}`, { callTimeoutMs: 300 });
          const e = await rpcRejection(kv.EXAMPLE(1));
          expect(['ERR_RPC_PROTOCOL', 'ERR_RPC_DEADLINE_EXCEEDED', 'ERR_RPC_SERVER_GONE']).toContain(e.code);
          await kv.close();
        } finally {
          await new Promise((r) => srv.close(r));
        }
      }),
      { numRuns: 30 },
    );
  }, 60_000);

  it('a server announcing a 2^31 - 1 byte record fails the call with ERR_RPC_PROTOCOL at once', async () => {
    const srv = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3])));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const kv = await oncClient(KVSTORE_V1, `oncrpc://127.0.0.1:${(srv.address() as net.AddressInfo).port}`, { callTimeoutMs: 20_000 });
      expect((await within(5000, 'the call to fail', rpcRejection(kv.EXAMPLE(1)))).code).toBe('ERR_RPC_PROTOCOL');
      expect(kv.closed).toBe(true);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });

  it('bounded: maxConnections are served at once; the next waits until one closes', async () => {
    const server = await serveOnc('oncrpc://127.0.0.1:0', [kvService()], { maxConnections: 2 });
    try {
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => oncClient(KVSTORE_V1, server.url)));
      expect([await a!.EXAMPLE(1), await b!.EXAMPLE(1)]).toEqual([2, 2]);
      let third = false;
      const p = c!.EXAMPLE(1).then((v) => ((third = true), v));
      await new Promise((r) => setTimeout(r, 300));
      expect([third, server.connections]).toEqual([false, 2]);
      await a!.close();
      expect(await within(5000, 'the third client to be served', p)).toBe(2);
      await Promise.all([b!.close(), c!.close()]);
    } finally {
      await server.close();
    }
  });

  it('bounded: maxInFlight calls run at once per connection, the rest wait unread', async () => {
    let running = 0;
    let most = 0;
    const server = await serveOnc(
      'oncrpc://127.0.0.1:0',
      [
        {
          spec: KVSTORE_V1,
          handlers: {
            EXAMPLE: async (n) => {
              most = Math.max(most, ++running);
              await new Promise((r) => setTimeout(r, 2));
              running--;
              return n + 1;
            },
          },
        },
      ],
      { maxInFlight: 4 },
    );
    try {
      const kv = await oncClient(KVSTORE_V1, server.url);
      const ns = Array.from({ length: 100 }, (_, i) => i);
      expect(await Promise.all(ns.map((n) => kv.EXAMPLE(n)))).toEqual(ns.map((n) => n + 1));
      expect(most).toBe(4);
      await kv.close();
    } finally {
      await server.close();
    }
  });
  it('bounded: a peer that pipelines calls with large results and never reads holds maxInFlight handlers, not all of them', async () => {
    const big = new Uint8Array(4 << 20);
    let ran = 0;
    const spec = { ...KVSTORE_V1, procedures: { EXAMPLE: { name: 'EXAMPLE', number: 1, arg: xdrInt, res: xdrOpaque() } } } as const;
    const server = await serveOnc('oncrpc://127.0.0.1:0', [{ spec, handlers: { EXAMPLE: () => (ran++, big) } }], {
      maxInFlight: 2,
      maxMessageSize: 8 << 20,
    });
    const socket = net.connect({ host: '127.0.0.1', port: Number(server.url.replace(/^.*:/, '')) });
    try {
      socket.on('error', () => {});
      socket.pause(); // never reads: the replies pile up in the kernel, then in the server
      const n = 40;
      const calls = Array.from({ length: n }, (_, i) =>
        frameRecord(encodeCall({ xid: i + 1, prog: spec.program, vers: spec.version, proc: 1, cred: AUTH_NONE }, (w) => w.int(i))),
      );
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.once('connect', () => socket.write(Buffer.concat(calls), () => resolve()));
      });
      const deadline = Date.now() + 5000;
      while (ran < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 1000));
      // 2 in flight, plus at most what the loopback socket buffers absorbed (a few MiB): before the fix, all 40 (160 MiB queued)
      expect(ran).toBeGreaterThanOrEqual(2);
      expect(ran).toBeLessThan(10);
    } finally {
      socket.destroy();
      await server.close();
    }
  });
});

describe.each([
  ['raw ONC TCP', 'oncrpc://127.0.0.1:0'],
  ['unix:', `unix:${tempPath('onck')}.sock`],
])('server process kill -9 mid-call (%s)', (_n, address) => {
  it('fails every pending call at once with ERR_RPC_SERVER_GONE', async () => {
    const f = startFixture('onc-server.ts', [address], { stdin: true });
    try {
      const url = (await f.waitFor(/URL (\S+)/))[1]!;
      const kv = await oncClient(KVSTORE_V1, url, { callTimeoutMs: 60_000 });
      expect(await kv.EXAMPLE(1)).toBe(2);
      const hung = Array.from({ length: 20 }, () => kv.EXAMPLE(-1));
      await f.waitFor(/CALLS 21/);
      const settled = Promise.allSettled(hung);
      f.child.kill('SIGKILL');
      const results = await within(10_000, 'the pending calls to fail', settled);
      expect(results.map((r) => r.status === 'rejected' && (r.reason as RpcError).code)).toEqual(new Array(20).fill('ERR_RPC_SERVER_GONE'));
      await kv.close();
    } finally {
      await f.stop();
      if (address.startsWith('unix:')) removePath(address.slice('unix:'.length)); // the killed server could not
    }
  });
});

describe.each([
  ['raw ONC TCP', 'oncrpc://127.0.0.1:0'],
  ['unix:', `unix:${tempPath('oncc')}.sock`],
])('client process kill -9 mid-call (%s)', (_n, address) => {
  it("releases the server's connection; the server goes on serving", async () => {
    let started = 0;
    const server = await serveOnc(address, [
      {
        spec: KVSTORE_V1,
        handlers: { EXAMPLE: (n) => (started++, n === -1 ? new Promise<number>((r) => setTimeout(() => r(0), 300)) : n + 1) },
      },
    ]);
    const f = startFixture('onc-client.ts', [server.url]);
    try {
      await f.waitFor('CALLING');
      await within(
        10_000,
        'the call to reach the handler',
        (async () => {
          for (let i = 0; i < 500 && started === 0; i++) await new Promise((r) => setTimeout(r, 20));
        })(),
      );
      expect(server.connections).toBe(1);
      f.child.kill('SIGKILL');
      await within(
        10_000,
        'the connection to be released',
        (async () => {
          for (let i = 0; i < 500 && server.connections > 0; i++) await new Promise((r) => setTimeout(r, 20));
        })(),
      );
      expect(server.connections).toBe(0);
      await new Promise((r) => setTimeout(r, 400)); // the handler finishes; its reply goes nowhere, harmlessly
      const kv = await oncClient(KVSTORE_V1, server.url);
      expect(await kv.EXAMPLE(1)).toBe(2);
      await kv.close();
    } finally {
      await f.stop();
      await server.close();
    }
  });
});

describe('binding through the name service', () => {
  it('registerOnc/lookupOnc: found, a missing version, a missing program', async () => {
    const program = 0x20000000 + Math.floor(Math.random() * 0x0fff_ffff);
    const spec = { ...KVSTORE_V1, program };
    const server = await serveOnc(`unix:${tempPath('oncn')}.sock`, [{ spec, handlers: { EXAMPLE: (n: number) => n + 1 } }]);
    const binding = await registerOnc(server.url, [spec], { via: 'names' });
    try {
      expect(binding.via).toBe('names');
      const address = await lookupOnc(spec, { via: 'names' });
      expect(address).toBe(server.url);
      const kv = await oncClient(spec, address);
      expect(await kv.EXAMPLE(9)).toBe(10);
      await kv.close();
      const e = await rpcRejection(lookupOnc({ program, version: 5 }, { via: 'names' }));
      expect([e.code, e.low, e.high]).toEqual(['ERR_RPC_VERSION_MISMATCH', 1, 1]);
    } finally {
      await binding.unregister();
      await server.close();
    }
    expect((await rpcRejection(lookupOnc(spec, { via: 'names' }))).code).toBe('ERR_RPC_PROGRAM_UNAVAILABLE');
  });
});

describe('resources', () => {
  it('servers and clients over ONC TCP and unix: leave no fd behind', async () => {
    const cycle = async (): Promise<void> => {
      for (const address of ['oncrpc://127.0.0.1:0', `unix:${tempPath('oncl')}.sock`]) {
        const server = await serveOnc(address, [kvService()]);
        const clients = await Promise.all([1, 2, 3].map(() => oncClient(KVSTORE_V1, server.url)));
        await Promise.all(clients.map((c) => c.EXAMPLE(1)));
        await Promise.all(clients.slice(1).map((c) => c.close()));
        await server.close(); // closes the first client's connection from the server side
        await within(
          5000,
          'the client to see the end',
          (async () => {
            for (let i = 0; i < 100 && !clients[0]!.closed; i++) await new Promise((r) => setTimeout(r, 20));
          })(),
        );
        expect(clients[0]!.closed).toBe(true);
      }
    };
    await cycle();
    const base = snapshot();
    for (let i = 0; i < 3; i++) await cycle();
    await expectBaseline(base);
  });
});

// ONC RPC against real C: the seed's kv_store.x through the system's rpcgen
// (Debian rpcsvc-proto) and libtirpc. A TS client calls the C server
// (hand-written main() over the generated dispatch function, bound to
// 127.0.0.1, registered with protocol 0 so no portmapper is needed), a C
// client (the generated example_1 stub) calls the TS server; errors,
// AUTH_SYS both ways, kill -9 of the C server mid-call. Through the
// system's rpcbind (Debian package rpcbind), the C server registers and the
// TS client finds it, and the C client finds the TS server: rpcbind listens
// on every interface, so it, the C programs and the TS side run in
// test/fixtures/onc-rpcbind-scenario.ts inside a network namespace the test
// makes itself (only `lo`), with a private mount namespace (a tmpfs over
// /run: its own rpcbind.sock, never the host's) and a PID namespace (nothing
// outlives it); needs root (test/support/netns.ts), skipped with the reason
// otherwise. Then the system's own /usr/include/rpcsvc/spray.x
// (opaque<8845>, structs) both ways.
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { authSysCredential, compileXdr, oncClient, RpcError, serveOnc, type OncCallContext, type OncServer } from '../lib/index.js';
import { KVSTORE_V1, KVSTORE_V2 } from './fixtures/onc/kv-spec.js';
// spray.ts is posix-ipc-rpcgen's output for the system's spray.x (test/fixtures/onc/spray.x, a copy).
import { SPRAYMAX, SPRAYVERS_SPEC as SPRAYVERS, type spraycumul as SprayCumul } from './fixtures/onc/spray.js';
import { buildC, cToolchainMissing, runC, startC, type CBuild, type CProcess } from './support/onc-c.js';
import { within } from './support/helpers.js';
import { netnsUnavailable, runInNetns } from './support/netns.js';
import { rpcRejection } from './support/rpc-errors.js';

const missing = cToolchainMissing();
if (missing && process.env.CI) throw new Error(`CI must run the ONC interop tests: ${missing}`);

/** The bytes spray_client.c sends for an array of `length`. */
function sprayPattern(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7 + length) & 0xff);
}

it('fixtures/onc/spray.ts is what posix-ipc-rpcgen makes of fixtures/onc/spray.x today', () => {
  const dir = new URL('./fixtures/onc/', import.meta.url).pathname;
  const generated = compileXdr(readFileSync(`${dir}spray.x`, 'utf8'), { file: 'spray.x', importFrom: '../../../lib/index.js' });
  expect(readFileSync(`${dir}spray.ts`, 'utf8')).toBe(generated);
});

describe.skipIf(missing !== undefined)('ONC RPC interop with rpcgen + libtirpc (kv_store.x)', () => {
  let build: CBuild;
  beforeAll(() => {
    build = buildC('kv_store.x', { kv_server: ['kv_server.c', 'svc'], kv_client: ['kv_client.c', 'clnt'] });
  }, 120_000);
  afterAll(() => build?.remove());

  describe('TS client -> C server', () => {
    let server: CProcess;
    let url: string;
    beforeAll(async () => {
      server = startC(build.bin('kv_server'), ['noreg']);
      url = `oncrpc://127.0.0.1:${(await server.waitFor(/PORT (\d+)/))[1]}`;
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('EXAMPLE(41) is 42, NULL answers, many calls in flight on one connection', async () => {
      const kv = await oncClient(KVSTORE_V1, url);
      try {
        expect(await kv.EXAMPLE(41)).toBe(42);
        await kv.ping();
        const ns = Array.from({ length: 200 }, (_, i) => i * 7919 - 500_000);
        expect(await Promise.all(ns.map((n) => kv.EXAMPLE(n)))).toEqual(ns.map((n) => n + 1));
        expect(await kv.EXAMPLE(0x7fff_fffe)).toBe(0x7fff_ffff);
      } finally {
        await kv.close();
      }
    });

    it('the C server sees the AUTH_SYS credential the TS client sends', async () => {
      const kv = await oncClient(KVSTORE_V1, url, {
        credential: { flavor: 'sys', stamp: 7, machinename: 'ts-client', uid: 4242, gid: 77, gids: [1, 2] },
      });
      try {
        expect(await kv.EXAMPLE(-2)).toBe(-1);
        await server.waitFor(/AUTH_SYS uid=4242 gid=77 machine=ts-client/);
      } finally {
        await kv.close();
      }
    });

    it('version 2 is PROG_MISMATCH 1..1, an unknown procedure PROC_UNAVAIL, another program PROG_UNAVAIL', async () => {
      const v2 = await oncClient(KVSTORE_V2, url);
      try {
        const e = await rpcRejection(v2.EXAMPLE(1));
        expect([e.code, e.low, e.high]).toEqual(['ERR_RPC_VERSION_MISMATCH', 1, 1]);
        expect((await rpcRejection(v2.ping())).code).toBe('ERR_RPC_VERSION_MISMATCH');
      } finally {
        await v2.close();
      }
      const bogus = await oncClient({ ...KVSTORE_V2, version: 1 }, url);
      try {
        expect((await rpcRejection(bogus.TWICE(1))).code).toBe('ERR_RPC_UNKNOWN_PROCEDURE');
        expect(await bogus.EXAMPLE(1)).toBe(2); // the connection is still good
      } finally {
        await bogus.close();
      }
      const other = await oncClient({ ...KVSTORE_V1, program: 0x20000002 }, url);
      try {
        expect((await rpcRejection(other.EXAMPLE(1))).code).toBe('ERR_RPC_PROGRAM_UNAVAILABLE');
      } finally {
        await other.close();
      }
    });

    it('arguments that do not decode are GARBAGE_ARGS (void sent where an int is expected)', async () => {
      const wrong = await oncClient(
        {
          ...KVSTORE_V1,
          procedures: { EXAMPLE: { ...KVSTORE_V1.procedures.EXAMPLE, arg: { name: 'void', encode: () => {}, decode: () => 0 } } },
        },
        url,
      );
      try {
        expect((await rpcRejection(wrong.EXAMPLE(0))).code).toBe('ERR_RPC_BAD_ARGUMENTS');
      } finally {
        await wrong.close();
      }
    });
  });

  it('kill -9 of the C server mid-call fails every pending call with ERR_RPC_SERVER_GONE, within a bound', async () => {
    const server = startC(build.bin('kv_server'), ['noreg']);
    try {
      const url = `oncrpc://127.0.0.1:${(await server.waitFor(/PORT (\d+)/))[1]}`;
      const kv = await oncClient(KVSTORE_V1, url, { callTimeoutMs: 60_000 });
      const hung = kv.EXAMPLE(-1); // the C server never answers it (and, single-threaded, nothing after it)
      const queued = [kv.EXAMPLE(1), kv.EXAMPLE(2), kv.EXAMPLE(3)];
      const settled = Promise.allSettled([hung, ...queued]);
      await new Promise((r) => setTimeout(r, 200));
      expect(kv.pending).toBe(4);
      server.child.kill('SIGKILL');
      const results = await within(10_000, 'pending calls to fail', settled);
      for (const r of results) {
        expect(r.status).toBe('rejected');
        expect(((r as PromiseRejectedResult).reason as RpcError).code).toBe('ERR_RPC_SERVER_GONE');
      }
      expect(kv.closed).toBe(true);
      expect((await rpcRejection(kv.EXAMPLE(1))).code).toBe('ERR_RPC_SERVER_GONE');
    } finally {
      await server.stop();
    }
  });

  describe('C client -> TS server', () => {
    let server: OncServer;
    let port: string;
    const seen: OncCallContext[] = [];
    beforeAll(async () => {
      server = await serveOnc('oncrpc://127.0.0.1:0', [
        {
          spec: KVSTORE_V1,
          handlers: {
            EXAMPLE: (n, ctx) => {
              seen.push(ctx);
              return n + 1;
            },
          },
        },
      ]);
      port = server.url.replace(/^.*:/, '');
    });
    afterAll(() => server?.close());

    it('the generated example_1 stub gets *argp + 1', async () => {
      const { out, status } = await runC(build.bin('kv_client'), [port, '41']);
      expect(out).toBe('RESULT 42\n');
      expect(status.code).toBe(0);
      expect(seen.at(-1)?.credential).toEqual({ flavor: 'none' });
      expect(seen.at(-1)?.peer).toMatchObject({ transport: 'oncrpc', address: { address: '127.0.0.1' } });
    });

    it("libtirpc's authunix_create_default() reaches the handler as AUTH_SYS uid/gid/machinename", async () => {
      const { out } = await runC(build.bin('kv_client'), [port, '-5', 'sys']);
      expect(out).toBe('RESULT -4\n');
      const cred = seen.at(-1)!.credential;
      const mine = authSysCredential();
      expect(cred).toMatchObject({ flavor: 'sys', uid: process.getuid!(), gid: process.getgid!() });
      expect(cred.flavor === 'sys' && cred.machinename.length > 0).toBe(true);
      expect(mine.flavor).toBe('sys');
    });

    it('the C client reads PROG_MISMATCH low/high from the TS server', async () => {
      const { out, status } = await runC(build.bin('kv_client'), [port, '1', 'none', '3']);
      expect(out).toMatch(/^ERROR .*Program\/version mismatch; low version = 1, high version = 1/);
      expect(status.code).toBe(2);
    });
  });
});

// rpcbind listens on every interface (port 111, and /run/rpcbind.sock): it runs only inside namespaces of the test's own.
const RPCBIND_SKIP =
  missing ?? netnsUnavailable({ tools: { rpcbind: 'rpcbind', rpcinfo: 'rpcbind' }, privateRun: true, probe: 'test -w /run' });

interface RpcbindCase {
  case: string;
  error?: string;
  [key: string]: unknown;
}

describe('ONC RPC binding through the system rpcbind (in a network, mount and PID namespace of its own)', () => {
  let build: CBuild;
  let results: RpcbindCase[] = [];
  const result = (name: string): RpcbindCase => {
    const r = results.find((x) => x.case === name);
    if (!r) throw new Error(`the rpcbind scenario printed no '${name}' case: ${JSON.stringify(results)}`);
    expect(r.error).toBeUndefined();
    return r;
  };
  beforeAll(async () => {
    if (RPCBIND_SKIP !== undefined) return;
    build = buildC('kv_store.x', { kv_server: ['kv_server.c', 'svc'], kv_client: ['kv_client.c', 'clnt'] });
    results = (await runInNetns('onc-rpcbind-scenario.ts', [build.bin('kv_server'), build.bin('kv_client')], {
      privateRun: true,
      timeoutMs: 90_000,
    })) as RpcbindCase[];
  }, 180_000);
  afterAll(() => build?.remove());

  it.skipIf(RPCBIND_SKIP !== undefined)(
    "rpcbind runs where only loopback is, with its own /run (the host's rpcbind.sock untouched)",
    () => {
      const r = result('rpcbind');
      expect(r.interfaces).toEqual(['lo']);
      expect(r.runIsTmpfs).toBe(true);
      expect([r.sockBefore, r.sockAfter]).toEqual([false, true]);
      expect(result('teardown').rpcbindExit).toMatchObject({ signal: 'SIGKILL' }); // stopped and reaped by the scenario
    },
  );

  it.skipIf(RPCBIND_SKIP !== undefined)(
    'the C server registers with rpcbind; lookupOnc finds it, and a missing version is ERR_RPC_VERSION_MISMATCH',
    () => {
      const r = result('c-server');
      expect(r.pmapPort).toBe(r.port);
      expect(r.lookup).toBe(`oncrpc://127.0.0.1:${r.port as number}`);
      expect(r.example).toBe(2);
      expect(r.v2).toEqual({ code: 'ERR_RPC_VERSION_MISMATCH', low: 1, high: 1 });
      expect((r.unknown as { code: string }).code).toBe('ERR_RPC_PROGRAM_UNAVAILABLE');
    },
  );

  it.skipIf(RPCBIND_SKIP !== undefined)('the TS server registers with rpcbind and the C client finds it with clnt_create()', () => {
    const r = result('ts-server');
    expect(r.via).toBe('rpcbind');
    expect(r.out).toBe('RESULT 100\n');
    expect(r.after).toBe(0);
  });
  it.skipIf(RPCBIND_SKIP === undefined)(`skipped: ${RPCBIND_SKIP ?? ''}`, () => undefined);
});

describe.skipIf(missing !== undefined || !existsSync('/usr/include/rpcsvc/spray.x'))(
  'ONC RPC interop: the system spray.x (opaque<8845>, structs)',
  () => {
    let build: CBuild;
    beforeAll(() => {
      build = buildC('/usr/include/rpcsvc/spray.x', { spray_server: ['spray_server.c', 'svc'], spray_client: ['spray_client.c', 'clnt'] });
    }, 120_000);
    afterAll(() => build?.remove());

    const lengths = [0, 1, 3, 4, 5, 1000, SPRAYMAX];
    const expected = (ls: number[]): SprayCumul => ({
      counter: ls.length,
      clock: { sec: ls.reduce((a, b) => a + b, 0), usec: ls.reduce((a, l) => a + sprayPattern(l).reduce((s, b) => s + b, 0), 0) },
    });

    it('TS client -> C server: opaque arrays of every padding arrive intact; one over the bound is refused locally', async () => {
      const server = startC(build.bin('spray_server'), []);
      try {
        const spray = await oncClient(SPRAYVERS, `oncrpc://127.0.0.1:${(await server.waitFor(/PORT (\d+)/))[1]}`);
        try {
          await spray.SPRAYPROC_CLEAR();
          for (const l of lengths) await spray.SPRAYPROC_SPRAY(sprayPattern(l));
          expect(await spray.SPRAYPROC_GET()).toEqual(expected(lengths));
          await expect(spray.SPRAYPROC_SPRAY(new Uint8Array(SPRAYMAX + 1))).rejects.toMatchObject({ code: 'ERR_XDR_RANGE' });
        } finally {
          await spray.close();
        }
      } finally {
        await server.stop();
      }
    });

    it('C client -> TS server', async () => {
      const got: SprayCumul = { counter: 0, clock: { sec: 0, usec: 0 } };
      const server = await serveOnc('oncrpc://127.0.0.1:0', [
        {
          spec: SPRAYVERS,
          handlers: {
            SPRAYPROC_SPRAY: (arr) => {
              got.counter++;
              got.clock.sec += arr.byteLength;
              got.clock.usec += arr.reduce((s, b) => s + b, 0);
            },
            SPRAYPROC_GET: () => got,
            SPRAYPROC_CLEAR: () => {
              got.counter = got.clock.sec = got.clock.usec = 0;
            },
          },
        },
      ]);
      try {
        const { out, status } = await runC(build.bin('spray_client'), [server.url.replace(/^.*:/, ''), ...lengths.map(String)]);
        const e = expected(lengths);
        expect(out).toBe(`CUMUL ${e.counter} ${e.clock.sec} ${e.clock.usec}\n`);
        expect(status.code).toBe(0);
      } finally {
        await server.close();
      }
    });
  },
);

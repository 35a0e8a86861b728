// One address syntax for every transport: parseAddress/formatAddress on a
// table of good and bad addresses (IPv6 included), listen/connect round
// trips over each scheme, a child process that connects by the listener's
// url, and the scheme registry (defineScheme, unknown schemes, fifo: has
// no listener).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  codecs,
  connect,
  defineScheme,
  formatAddress,
  listen,
  openFifoDuplex,
  parseAddress,
  ShmServer,
  TcpServer,
  TlsServer,
  UnixServer,
  type Address,
  type Listener,
  type OpaqueAddress,
} from '../lib/index.js';
import { exchangeChecksummed } from './support/checksummed.js';
import { startFixture } from './support/fixture-process.js';
import { removePath, tempPath, uniqueName, within } from './support/helpers.js';
import { pkiEnv, testPki } from './support/tls-certs.js';

const PKI = testPki();
const SERVER_TLS = { key: PKI.server.key, cert: PKI.server.cert };

let runtime: string;
let previous: string | undefined;

beforeAll(() => {
  previous = process.env.POSIX_IPC_RUNTIME_DIR;
  runtime = mkdtempSync(join(tmpdir(), 'posix-ipc-rt-'));
  process.env.POSIX_IPC_RUNTIME_DIR = runtime;
});

afterAll(() => {
  if (previous === undefined) delete process.env.POSIX_IPC_RUNTIME_DIR;
  else process.env.POSIX_IPC_RUNTIME_DIR = previous;
  rmSync(runtime, { recursive: true, force: true });
});

describe('parseAddress and formatAddress', () => {
  const GOOD: [string, Address, string?][] = [
    ['shm:/kv', { scheme: 'shm', name: '/kv' }],
    ['unix:/run/app.sock', { scheme: 'unix', path: '/run/app.sock' }],
    ['unix:///run/app.sock', { scheme: 'unix', path: '/run/app.sock' }, 'unix:/run/app.sock'],
    ['unix:run/app.sock', { scheme: 'unix', path: 'run/app.sock' }],
    ['unix:/tmp/a/../b', { scheme: 'unix', path: '/tmp/a/../b' }], // verbatim: the kernel resolves, symbolic links included
    ['unix:/tmp/a%20b%3F%23%25', { scheme: 'unix', path: '/tmp/a b?#%' }],
    ['unix:////tmp/x', { scheme: 'unix', path: '//tmp/x' }],
    ['UNIX:/x', { scheme: 'unix', path: '/x' }, 'unix:/x'],
    ['fifo:/tmp/pair', { scheme: 'fifo', path: '/tmp/pair' }],
    ['fifo:pair', { scheme: 'fifo', path: 'pair' }],
    ['tcp://127.0.0.1:4000', { scheme: 'tcp', host: '127.0.0.1', port: 4000 }],
    ['tcp://localhost:0', { scheme: 'tcp', host: 'localhost', port: 0 }],
    ['tcp://[::1]:4000', { scheme: 'tcp', host: '::1', port: 4000 }],
    ['tcp://[::]:0', { scheme: 'tcp', host: '::', port: 0 }],
    ['tcp://[fe80::1:2]:65535', { scheme: 'tcp', host: 'fe80::1:2', port: 65535 }],
    ['tcp://host-1.example:80/', { scheme: 'tcp', host: 'host-1.example', port: 80 }, 'tcp://host-1.example:80'],
    ['tls://localhost:443', { scheme: 'tls', host: 'localhost', port: 443 }],
    ['tls://[::1]:8443', { scheme: 'tls', host: '::1', port: 8443 }],
    ['name:kvstore', { scheme: 'name', opaque: 'kvstore' }],
    ['nats://broker:4222/orders', { scheme: 'nats', opaque: '//broker:4222/orders' }],
  ];

  it.each(GOOD)('%s parses, and formats back', (text, parsed, formatted) => {
    expect(parseAddress(text)).toEqual(parsed);
    expect(formatAddress(parsed)).toBe(formatted ?? text);
    expect(parseAddress(formatAddress(parsed))).toEqual(parsed);
  });

  const BAD: string[] = [
    '',
    'nocolon',
    ':4000',
    '1tcp://h:1',
    'tc p://h:1',
    'shm:kv',
    'shm:/a/b',
    'shm:/',
    'shm:/..',
    `shm:/${'x'.repeat(256)}`,
    'unix:',
    'unix://host/path',
    'unix:/tmp/x?mode=600',
    'unix:/tmp/x#frag',
    `unix:/${'x'.repeat(107)}`,
    'unix:/tmp/%zz',
    'fifo:',
    'tcp://h',
    'tcp://h:',
    'tcp://:80',
    'tcp:h:80',
    'tcp://h:65536',
    'tcp://h:-1',
    'tcp://h:80/path',
    'tcp://h:80?nodelay=1',
    'tcp://user@h:80',
    'tcp://::1:80',
    'tcp://[::1:80',
    'tcp://h%20x:80',
    'tls://h',
  ];

  it.each(BAD)('%j is a RangeError naming the argument and showing the text', (text) => {
    let caught: unknown;
    try {
      parseAddress(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RangeError);
    expect((caught as Error).message).toContain('"address"');
    expect((caught as Error).message).toContain(`'${text.length > 200 ? text.slice(0, 20) : text}`);
  });

  it('a non-string is a TypeError; the argument name can be given', () => {
    expect(() => parseAddress(42 as never)).toThrow(TypeError);
    expect(() => parseAddress('x', 'peer')).toThrow(/"peer"/);
    expect(() => formatAddress(null as never)).toThrow(TypeError);
  });
});

/** A listener's accepted connection and a client's, over `address`; both checked with one message each way. */
async function roundTrip(server: Listener<unknown>, url: string, options: Record<string, unknown> = {}): Promise<void> {
  const accepted = server.accept();
  const client = await connect<unknown>(url, { codec: codecs.json, timeoutMs: 10_000, ...options });
  const conn = await within(10_000, 'accept', accepted);
  await client.sender.send({ to: 'server' });
  expect(await within(5000, 'server receives', conn.receiver.receive())).toEqual({ to: 'server' });
  await conn.sender.send(['to', 'client']);
  expect(await within(5000, 'client receives', client.receiver.receive())).toEqual(['to', 'client']);
  await client.close();
  expect(await within(5000, 'the end', conn.receiver.receive())).toBeUndefined();
  await conn.close();
}

describe('listen(address) and connect(address)', () => {
  it('tcp:// on IPv4 and IPv6: port 0 picks a port, which url reports', async () => {
    for (const [address, host] of [
      ['tcp://127.0.0.1:0', '127.0.0.1'],
      ['tcp://[::1]:0', '[::1]'],
    ] as const) {
      const server = await listen(address, { codec: codecs.json });
      try {
        expect(server).toBeInstanceOf(TcpServer);
        const port = (server as TcpServer).port;
        expect(port).toBeGreaterThan(0);
        expect(server.url).toBe(`tcp://${host}:${port}`);
        await roundTrip(server, server.url);
      } finally {
        server.close();
      }
    }
  });

  it('tls:// with the options beside the address (certificates), and the verified host', async () => {
    const server = await listen('tls://127.0.0.1:0', { codec: codecs.json, ...SERVER_TLS });
    try {
      expect(server).toBeInstanceOf(TlsServer);
      expect(server.url).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
      await roundTrip(server, server.url, { ca: PKI.ca.cert });
      await roundTrip(server, server.url.replace('127.0.0.1', 'localhost'), { ca: PKI.ca.cert });
      await expect(connect(server.url, { timeoutMs: 5000 })).rejects.toMatchObject({ code: expect.stringMatching(/CERT|UNABLE_TO/) });
    } finally {
      server.close();
    }
  });

  it('unix: with an absolute and a relative path (url: the absolute path, resolved at listen)', async () => {
    const abs = tempPath('addr');
    for (const text of [`unix:${abs}`, `unix:${relative(process.cwd(), abs)}`]) {
      const server = await listen(text, { codec: codecs.json });
      try {
        expect(server).toBeInstanceOf(UnixServer);
        expect(server.url).toBe(`unix:${abs}`);
        await roundTrip(server, text);
      } finally {
        server.close();
        removePath(abs);
      }
    }
  });

  it('shm:/name', async () => {
    const name = uniqueName('addr');
    const server = await listen(`shm:${name}`, { codec: codecs.json, capacity: 4096 });
    try {
      expect(server).toBeInstanceOf(ShmServer);
      expect(server.url).toBe(`shm:${name}`);
      await roundTrip(server, server.url);
    } finally {
      server.close();
    }
  });

  it('fifo: connects to a pair its creator made; it has no listener', async () => {
    const path = tempPath('addrfifo');
    const creating = openFifoDuplex<unknown>(path, { create: true, codec: codecs.json, timeoutMs: 5000 });
    const b = await connect<unknown>(`fifo:${path}`, { codec: codecs.json, timeoutMs: 5000 });
    const a = await creating;
    try {
      await b.sender.send('over fifo');
      expect(await within(5000, 'receive', a.receiver.receive())).toBe('over fifo');
      await a.sender.send('back');
      expect(await within(5000, 'receive', b.receiver.receive())).toBe('back');
    } finally {
      await b.close();
      await a.close();
    }
    await expect(listen(`fifo:${path}`)).rejects.toThrow(/'fifo:' cannot listen.*openFifoDuplex/);
  });

  it('bad addresses and options: unknown scheme named, where given twice, port 0 to connect to', async () => {
    await expect(listen('carrier-pigeon://coop:1')).rejects.toThrow(/unknown scheme 'carrier-pigeon:'/);
    await expect(connect('gopher:kvstore')).rejects.toThrow(/unknown scheme 'gopher:' \(known: unix, fifo, shm, tcp, tls, nats, name\)/);
    await expect(listen('tcp://127.0.0.1:0', { port: 4000 })).rejects.toThrow(/"options.port"/);
    await expect(connect('tcp://127.0.0.1:0')).rejects.toThrow(RangeError);
    await expect(connect('tcp://127.0.0.1')).rejects.toThrow(/needs a port/);
    await expect(listen(7 as never)).rejects.toThrow(TypeError);
    await expect(listen('unix:/tmp/x', 'opts' as never)).rejects.toThrow(TypeError);
  });
});

describe('defineScheme', () => {
  it('a registered scheme listens and connects through its handler; removing it makes it unknown again', async () => {
    const seen: OpaqueAddress[] = [];
    const targets = new Map<string, string>();
    // An alias resolving to another address: what a name service does.
    const remove = defineScheme('alias', {
      listen: (a, o) => {
        seen.push(a as OpaqueAddress);
        return listen('tcp://127.0.0.1:0', o);
      },
      connect: async (a, o) => {
        seen.push(a as OpaqueAddress);
        return connect(targets.get((a as OpaqueAddress).opaque)!, o);
      },
    });
    try {
      const server = await listen('alias:svc', { codec: codecs.json });
      targets.set('svc', server.url);
      try {
        await roundTrip(server, 'alias:svc');
      } finally {
        server.close();
      }
      expect(seen).toEqual([
        { scheme: 'alias', opaque: 'svc' },
        { scheme: 'alias', opaque: 'svc' },
      ]);
      expect(() => defineScheme('alias', {})).toThrow(/already defined/);
    } finally {
      remove();
    }
    await expect(connect('alias:svc')).rejects.toThrow(/unknown scheme 'alias:'/);
  });

  it('refuses a built-in scheme, a bad scheme and a bad handler', () => {
    expect(() => defineScheme('tcp', {})).toThrow(RangeError);
    expect(() => defineScheme('Name:', {})).toThrow(RangeError);
    expect(() => defineScheme('x', { listen: 1 as never })).toThrow(TypeError);
    expect(() => defineScheme('x', null as never)).toThrow(TypeError);
  });

  it('a scheme without connect says so', async () => {
    const remove = defineScheme('listenonly', { listen: () => listen('tcp://127.0.0.1:0') });
    try {
      await expect(connect('listenonly:x')).rejects.toThrow(/'listenonly:' cannot connect/);
    } finally {
      remove();
    }
  });
});

describe('a child process connects by the listener url', () => {
  const SCHEMES: [string, () => Promise<Listener<Uint8Array>>][] = [
    ['tcp', () => listen('tcp://127.0.0.1:0')],
    ['tcp over IPv6', () => listen('tcp://[::1]:0')],
    ['tls', () => listen('tls://127.0.0.1:0', SERVER_TLS)],
    ['unix', () => listen(`unix:${tempPath('addrkid')}`)],
    ['shm', () => listen(`shm:${uniqueName('addrkid')}`)],
  ];

  it.each(SCHEMES)(
    '%s: checksummed messages both ways; the child prints its peer',
    async (_scheme, open) => {
      const server = await open();
      const child = startFixture('address-peer.ts', ['exchange', server.url, '100'], { env: pkiEnv() });
      try {
        const conn = await within(20_000, 'the child connects', server.accept());
        const ready = await child.waitFor(/ready (\d+) (\S+)/);
        expect(Number(ready[1])).toBe(child.child.pid);
        if (server.url.startsWith('unix:') || server.url.startsWith('shm:')) expect(ready[2]).toBe(String(process.pid));
        expect(await within(30_000, 'the exchange', exchangeChecksummed(conn, 100))).toBe(100);
        await child.waitFor('exchanged 100');
        expect(await within(5000, 'the end', conn.receiver.receive())).toBeUndefined();
        await conn.close();
        expect(await within(15_000, 'exit', child.child.exited)).toEqual({ code: 0, signal: null });
      } finally {
        server.close();
        await child.stop();
        if (server.url.startsWith('unix:')) removePath(server.url.slice('unix:'.length));
      }
    },
    60_000,
  );
});

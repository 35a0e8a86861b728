// The name service across real processes: registration, lookup,
// exclusivity, a kill -9ed registrant's names, the TCP name server.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  codecs,
  connectTcp,
  NameClient,
  NameError,
  NameServer,
  listNames,
  lookupName,
  parseNameAddress,
  registerName,
  resolveName,
  waitForName,
} from '../lib/index.js';
import { startFixture, type FixtureProcess } from './support/fixture-process.js';
import { within } from './support/helpers.js';

let dir: string;
const running = new Set<FixtureProcess>();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pipc-names-'));
  process.env.POSIX_IPC_RUNTIME_DIR = dir;
});

afterAll(async () => {
  for (const f of running) await f.stop();
  delete process.env.POSIX_IPC_RUNTIME_DIR;
  rmSync(dir, { recursive: true, force: true });
});

function peer(...args: string[]): FixtureProcess {
  const f = startFixture('names-peer.ts', args, { stdin: true });
  running.add(f);
  return f;
}

async function stop(f: FixtureProcess): Promise<void> {
  await f.stop();
  running.delete(f);
}

/** What the peer printed: 'registered' or the error code. */
async function outcome(f: FixtureProcess): Promise<string> {
  const m = await f.waitFor(/(registered|taken (\S+)) (\d+)/, 20_000);
  return m[2] ?? m[1]!;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

let seq = 0;
function fresh(tag: string): string {
  return `${tag}-${process.pid}-${seq++}`;
}

describe('the local registry', { timeout: 60_000 }, () => {
  it('registers in one process, looks up in another, and unregisters', async () => {
    const name = fresh('kv');
    const child = peer('register', name, 'unix:/tmp/kv.sock');
    expect(await outcome(child)).toBe('registered');
    expect(lookupName(name)).toBe('unix:/tmp/kv.sock');
    expect(listNames().find((e) => e.name === name)).toMatchObject({ address: 'unix:/tmp/kv.sock', pid: child.child.pid });

    const mine = fresh('mine');
    const reg = registerName(mine, 'tcp://127.0.0.1:4000');
    const other = peer('register', mine, 'unix:/x');
    expect(await outcome(other)).toBe('ERR_NAME_TAKEN');
    reg.unregister();
    reg.unregister(); // idempotent
    expect(reg.unregistered).toBe(true);
    expect(code(() => lookupName(mine))).toBe('ERR_NAME_NOT_FOUND');
    const again = peer('register', mine, 'unix:/x');
    expect(await outcome(again)).toBe('registered');
    expect(lookupName(mine)).toBe('unix:/x');
    await Promise.all([stop(child), stop(other), stop(again)]);
  });

  it('a kill -9ed registrant: its name is gone as soon as the process has exited, and can be taken again', async () => {
    const name = fresh('victim');
    const child = peer('register', name, 'unix:/v');
    expect(await outcome(child)).toBe('registered');
    expect(lookupName(name)).toBe('unix:/v');
    await stop(child); // SIGKILL, then waits for the exit
    expect(code(() => lookupName(name))).toBe('ERR_NAME_NOT_FOUND');
    expect(existsSync(join(dir, 'names', `${name}.json`))).toBe(false); // the lookup removed the dead entry
    using reg = registerName(name, 'unix:/new');
    expect(lookupName(name)).toBe('unix:/new');
    expect(reg.name).toBe(name);
  });

  it('a dead registrant left in place (not looked up) is replaced by the next registration', async () => {
    const name = fresh('stale');
    const child = peer('register', name, 'unix:/old');
    expect(await outcome(child)).toBe('registered');
    await stop(child);
    expect(existsSync(join(dir, 'names', `${name}.json`))).toBe(true);
    using _reg = registerName(name, 'unix:/fresh');
    expect(lookupName(name)).toBe('unix:/fresh');
  });

  it('the second registrant of a name gets ERR_NAME_TAKEN naming the holder', async () => {
    const name = fresh('taken');
    const child = peer('register', name, 'unix:/a');
    expect(await outcome(child)).toBe('registered');
    let err: unknown;
    try {
      registerName(name, 'unix:/b');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NameError);
    expect(err).toMatchObject({ code: 'ERR_NAME_TAKEN', serviceName: name, pid: child.child.pid });
    expect((err as Error).message).toContain(String(child.child.pid));
    expect(lookupName(name)).toBe('unix:/a'); // unchanged
    await stop(child);
  });

  it('concurrent registrations of one name from several processes: exactly one wins', async () => {
    for (let round = 0; round < 2; round++) {
      const name = fresh('race');
      const children = Array.from({ length: 5 }, (_, i) => peer('register', name, `unix:/r${i}`));
      const results = await Promise.all(children.map(outcome));
      expect(results.filter((r) => r === 'registered')).toHaveLength(1);
      expect(results.filter((r) => r === 'ERR_NAME_TAKEN')).toHaveLength(4);
      const winner = children[results.indexOf('registered')]!;
      expect(lookupName(name)).toBe(`unix:/r${results.indexOf('registered')}`);
      expect(listNames().filter((e) => e.name === name)).toEqual([expect.objectContaining({ pid: winner.child.pid })]);
      await Promise.all(children.map(stop));
    }
  });

  it('waitForName waits for a registration, and times out with ERR_NAME_NOT_FOUND', async () => {
    const name = fresh('later');
    const waiting = waitForName(name, { timeoutMs: 20_000 });
    const child = peer('register', name, 'unix:/late');
    expect(await within(25_000, 'waitForName', waiting)).toBe('unix:/late');
    await expect(waitForName(fresh('never'), { timeoutMs: 50 })).rejects.toMatchObject({ code: 'ERR_NAME_NOT_FOUND' });
    expect(await resolveName(`name:${name}`)).toBe('unix:/late');
    await stop(child);
  });

  it("a terminated worker thread's names go with it (the environment's teardown closes the lock)", async () => {
    const name = fresh('worker');
    const f = startFixture('names-worker.ts', [name, 'unix:/w'], { stdin: true });
    running.add(f);
    await f.waitFor('registered', 30_000);
    expect(lookupName(name)).toBe('unix:/w');
    f.write('terminate\n');
    await f.waitFor('terminated', 30_000);
    expect(code(() => lookupName(name))).toBe('ERR_NAME_NOT_FOUND'); // the process still runs
    expect(f.child.status).toBe(null);
    await stop(f);
  });

  it('refuses bad names and addresses, naming the argument', () => {
    for (const bad of ['', 'Kv', '.hidden', '-x', 'a/b', 'a b', 'x'.repeat(129), 'é']) {
      expect(() => registerName(bad, 'unix:/x')).toThrow(RangeError);
      expect(() => lookupName(bad)).toThrow(/"name"/);
    }
    expect(() => registerName(42 as unknown as string, 'unix:/x')).toThrow(TypeError);
    for (const bad of ['', 'no-scheme', 'unix:', 'unix:/a\nb', 'name:other', `unix:/${'x'.repeat(1024)}`]) {
      expect(() => registerName('okname', bad)).toThrow(/"address"/);
    }
    expect(code(() => lookupName('okname'))).toBe('ERR_NAME_NOT_FOUND'); // nothing was registered
    expect(parseNameAddress('name:kv')).toEqual({ name: 'kv' });
    expect(parseNameAddress('name://[::1]:7070/kv')).toEqual({ name: 'kv', server: { host: '::1', port: 7070 } });
    for (const bad of ['kv', 'name:', 'name://host/kv', 'name://h:1/Kv', 'tcp://h:1'])
      expect(() => parseNameAddress(bad)).toThrow(RangeError);
  });
});

describe('the TCP name server', { timeout: 60_000 }, () => {
  it("answers remote lookups and holds a remote registrant's names while its connection lives", async () => {
    await using server = await NameServer.listen({ host: '127.0.0.1', port: 0 });
    expect(server.url).toBe(`tcp://127.0.0.1:${server.port}`);
    const local = fresh('local');
    using _reg = registerName(local, 'unix:/srv.sock');
    await using client = await NameClient.connect(server.url);
    expect(await client.lookup(local)).toBe('unix:/srv.sock');
    expect(await resolveName(`name://127.0.0.1:${server.port}/${local}`)).toBe('unix:/srv.sock');
    await expect(client.lookup(fresh('none'))).rejects.toMatchObject({ code: 'ERR_NAME_NOT_FOUND', name: 'NameError' });

    const remote = fresh('remote');
    const child = peer('remote', server.url, remote, 'tcp://10.1.2.3:5000');
    expect(await outcome(child)).toBe('registered');
    expect(lookupName(remote)).toBe('tcp://10.1.2.3:5000'); // a local entry held by the server
    expect((await client.list()).find((e) => e.name === remote)).toMatchObject({
      pid: process.pid,
      remote: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    });
    await expect(client.register(remote, 'unix:/mine')).rejects.toMatchObject({ code: 'ERR_NAME_TAKEN' });

    await stop(child); // kill -9: its kernel closes the connection, the server drops the name
    await within(
      10_000,
      'the remote name to go',
      (async () => {
        while ((await client.list()).some((e) => e.name === remote)) await new Promise((r) => setTimeout(r, 20));
      })(),
    );
    expect(code(() => lookupName(remote))).toBe('ERR_NAME_NOT_FOUND');

    await client.register(remote, 'unix:/mine');
    expect(await client.lookup(remote)).toBe('unix:/mine');
    await client.unregister(remote);
    await expect(client.lookup(remote)).rejects.toMatchObject({ code: 'ERR_NAME_NOT_FOUND' });
  });

  it("a client's close, and the server's, drop the client's names", async () => {
    const server = await NameServer.listen();
    const client = await NameClient.connect({ host: '127.0.0.1', port: server.port });
    const name = fresh('short');
    await client.register(name, 'unix:/s');
    expect(lookupName(name)).toBe('unix:/s');
    await client.close();
    await within(
      10_000,
      'the name to go',
      (async () => {
        while (listNames().some((e) => e.name === name)) await new Promise((r) => setTimeout(r, 20));
      })(),
    );
    await expect(client.lookup(name)).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });

    const second = await NameClient.connect(server.url);
    await second.register(name, 'unix:/t');
    await server.close();
    expect(code(() => lookupName(name))).toBe('ERR_NAME_NOT_FOUND');
    await expect(second.lookup(name)).rejects.toMatchObject({ code: 'ERR_NAME_SERVER' });
    await second.close();
  });

  it('a hostile client (not JSON, an oversized frame) loses its connection and its names; others are served', async () => {
    await using server = await NameServer.listen();
    await using good = await NameClient.connect(server.url);
    for (const frame of [Buffer.from('not json {'), Buffer.alloc(64 * 1024, 0x20)]) {
      const bad = await connectTcp({ port: server.port });
      await bad.sender.send(frame).catch(() => {});
      await expect(within(10_000, 'the server to drop the client', bad.receiver.receive())).resolves.toBeUndefined();
      await bad.close();
    }
    const evil = await connectTcp({ port: server.port, codec: codecs.json });
    const name = fresh('evil');
    await evil.sender.send({ id: 1, op: 'register', name, address: 'unix:/e' });
    expect(await evil.receiver.receive()).toEqual({ id: 1, ok: true, address: 'unix:/e' });
    await evil.sender.send({ id: 2, op: 'register', name: '../../etc', address: 'unix:/e' });
    expect(await evil.receiver.receive()).toMatchObject({ id: 2, ok: false, code: 'ERR_NAME_SERVER' });
    await evil.sender.send({ id: 3, op: 'nonsense' });
    expect(await evil.receiver.receive()).toMatchObject({ id: 3, ok: false, code: 'ERR_NAME_SERVER' });
    expect(lookupName(name)).toBe('unix:/e');
    await evil.sender.send({ id: 4, op: 'lookup', name: 'x'.repeat(9000) }).catch(() => {}); // over the server's 8 KiB request limit
    await within(
      10_000,
      'the evil name to go',
      (async () => {
        while (listNames().some((e) => e.name === name)) await new Promise((r) => setTimeout(r, 20));
      })(),
    );
    await evil.close();
    expect(await good.lookup(name).catch((e: { code: string }) => e.code)).toBe('ERR_NAME_NOT_FOUND');
  });

  it('read-only servers and per-client bounds refuse with ERR_NAME_SERVER', async () => {
    await using ro = await NameServer.listen({ readOnly: true });
    await using c1 = await NameClient.connect(ro.url);
    await expect(c1.register(fresh('ro'), 'unix:/x')).rejects.toMatchObject({ code: 'ERR_NAME_SERVER' });
    await using small = await NameServer.listen({ maxNamesPerClient: 1 });
    await using c2 = await NameClient.connect(small.url);
    await c2.register(fresh('one'), 'unix:/1');
    await expect(c2.register(fresh('two'), 'unix:/2')).rejects.toMatchObject({ code: 'ERR_NAME_SERVER' });
    await expect(NameClient.connect('http://x:1')).rejects.toThrow(RangeError);
  });
});

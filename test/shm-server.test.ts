// The shared-memory listener: one ShmServer serves several clients in their
// own processes, each over a ring pair of its own; the peer is the client's
// pid; allowUids and verifyPeer refuse; a client killed (after or during the
// handshake) is noticed and leaves nothing in /dev/shm or the runtime
// directory; a socket left by a killed server is replaced.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connect, connectShm, listen, ShmServer, type ShmDuplex } from '../lib/index.js';
import { exchangeChecksummed } from './support/checksummed.js';
import { startFixture, type FixtureProcess } from './support/fixture-process.js';
import { sleep, uniqueName, within } from './support/helpers.js';
import { expectBaseline, snapshot } from './support/leak-suite.js';

let runtime: string;
let previous: string | undefined;

beforeAll(() => {
  previous = process.env.POSIX_IPC_RUNTIME_DIR;
  runtime = mkdtempSync(join(tmpdir(), 'posix-ipc-rt-')); // not pipc-: the leak gate watches our shm names, not this
  process.env.POSIX_IPC_RUNTIME_DIR = runtime;
});

afterAll(() => {
  if (previous === undefined) delete process.env.POSIX_IPC_RUNTIME_DIR;
  else process.env.POSIX_IPC_RUNTIME_DIR = previous;
  rmSync(runtime, { recursive: true, force: true });
});

/** /dev/shm entries whose name starts with the listener's (its rings). */
function rings(name: string): string[] {
  return readdirSync('/dev/shm').filter((n) => n.startsWith(name.slice(1)));
}

function socketOf(name: string): string {
  return join(runtime, 'shm', `${name.slice(1)}.sock`);
}

/** Waits (a bounded number of times) until `check` holds. */
async function eventually(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await sleep(20);
  }
}

function peer(role: string, address: string, n?: number): FixtureProcess {
  return startFixture('address-peer.ts', [role, address, ...(n === undefined ? [] : [String(n)])]);
}

describe('ShmServer', () => {
  it('serves several clients in child processes at once, each over its own rings: checksummed messages both ways, the peer pid on both sides', async () => {
    const name = uniqueName('lsn');
    const server = ShmServer.listen(name, { capacity: 256 * 1024 });
    const children: FixtureProcess[] = [];
    try {
      expect(server.url).toBe(`shm:${name}`);
      expect(existsSync(socketOf(name))).toBe(true);
      const n = 200;
      for (let i = 0; i < 3; i++) children.push(peer('exchange', server.url, n));
      const conns: ShmDuplex<Uint8Array>[] = [];
      for (let i = 0; i < 3; i++) conns.push(await within(20_000, 'a client is accepted', server.accept()));
      expect(new Set(conns.map((c) => c.peer.pid))).toEqual(new Set(children.map((c) => c.child.pid)));
      for (const c of conns) expect(c.peer.uid).toBe(process.getuid!());
      // The children see this process as their peer.
      for (const child of children) await child.waitFor(`ready ${child.child.pid} ${process.pid}`);
      const counts = await within(30_000, 'the exchanges', Promise.all(conns.map((c) => exchangeChecksummed(c, n))));
      expect(counts).toEqual([n, n, n]);
      for (const child of children) await child.waitFor(`exchanged ${n}`);
      for (const c of conns) expect(await within(5000, 'the client closes', c.receiver.receive())).toBeUndefined();
      for (const child of children) expect(await within(15_000, 'exit', child.child.exited)).toEqual({ code: 0, signal: null });
      for (const c of conns) await c.close();
      expect(rings(name)).toEqual([]); // attached: the names were unlinked at once
    } finally {
      server.close();
      for (const child of children) await child.stop();
    }
    expect(existsSync(socketOf(name))).toBe(false);
    expect(rings(name)).toEqual([]);
  }, 60_000);

  it('allowUids refuses a client of another uid: its connect fails with ECONNRESET, nothing is yielded and no ring is made', async () => {
    const name = uniqueName('uid');
    const strict = ShmServer.listen(name, { allowUids: [process.getuid!() + 1] });
    try {
      const accepting = strict.accept();
      accepting.catch(() => undefined);
      await expect(within(5000, 'the refused connect', connectShm(name))).rejects.toMatchObject({ code: 'ECONNRESET', syscall: 'connect' });
      expect(rings(name)).toEqual([]);
      expect(await Promise.race([accepting.then(() => 'yielded'), sleep(100).then(() => 'pending')])).toBe('pending');
    } finally {
      strict.close();
    }
  });

  it('verifyPeer refuses by pid (a throw refuses too); the next client that passes is accepted', async () => {
    const name = uniqueName('ver');
    let calls = 0;
    const server = ShmServer.listen(name, {
      verifyPeer: (p) => {
        calls++;
        if (calls === 1) throw new Error('a throwing verifier refuses');
        return p.pid !== process.pid;
      },
    });
    let child: FixtureProcess | undefined;
    try {
      const accepting = server.accept();
      for (let i = 0; i < 2; i++) await expect(within(5000, 'refused', connectShm(name))).rejects.toMatchObject({ code: 'ECONNRESET' });
      child = peer('exchange', server.url, 10);
      const conn = await within(15_000, 'the child is accepted', accepting);
      expect(conn.peer.pid).toBe(child.child.pid);
      expect(await within(10_000, 'exchange', exchangeChecksummed(conn, 10))).toBe(10);
      await conn.close();
    } finally {
      server.close();
      await child?.stop();
    }
    expect(rings(name)).toEqual([]);
  });

  it("a client killed with SIGKILL after connecting is seen by the server's receive (end of stream or peer gone), and leaves nothing", async () => {
    const name = uniqueName('kill');
    const server = ShmServer.listen(name);
    const child = peer('hang', server.url);
    try {
      const conn = await within(15_000, 'accept', server.accept());
      await child.waitFor('ready');
      const receiving = conn.receiver.receive().then(
        (m) => (m === undefined ? 'ended' : 'message'),
        (err: { code?: string }) => err.code,
      );
      child.child.kill('SIGKILL');
      expect(['ended', 'ERR_CHANNEL_PEER_GONE']).toContain(await within(5000, 'the server notices', receiving));
      await conn.close();
    } finally {
      server.close();
      await child.stop();
    }
    expect(rings(name)).toEqual([]);
  });

  it.each(['hello', 'half'])(
    'a client killed mid-handshake (%s: told its rings, none or one attached) is dropped, its rings removed; the next client is served',
    async (role) => {
      const name = uniqueName('mid');
      const server = ShmServer.listen(name);
      const child = peer(role, name);
      try {
        const accepting = server.accept();
        const m = await child.waitFor(role === 'half' ? /half (\S+)/ : /hello (\S+)/);
        expect(m[1]!.startsWith(`${name}.`)).toBe(true);
        expect(rings(name).length).toBeGreaterThan(0); // the pair exists while the client holds it
        child.child.kill('SIGKILL');
        await child.stop();
        await eventually(() => rings(name).length === 0, 'the rings of the dead client are removed');
        const client = connectShm(name, { timeoutMs: 10_000 });
        const conn = await within(10_000, 'the next client', accepting);
        const mine = await client;
        await mine.sender.send(new Uint8Array([1, 2, 3]));
        expect(await within(5000, 'receive', conn.receiver.receive())).toEqual(new Uint8Array([1, 2, 3]));
        await mine.close();
        await conn.close();
      } finally {
        server.close();
        await child.stop();
      }
      expect(rings(name)).toEqual([]);
      expect(existsSync(socketOf(name))).toBe(false);
    },
    30_000,
  );

  it('a SIGKILLed server (killed mid-handshake) leaves a socket and a ring pair: the next listen replaces the one and removes the other; a live one is EADDRINUSE', async () => {
    const name = uniqueName('stale');
    const old = peer('listen', `shm:${name}`);
    let client: FixtureProcess | undefined;
    try {
      await old.waitFor(`listening shm:${name}`);
      expect(() => ShmServer.listen(name)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
      client = peer('hello', name); // once the server listens
      await client.waitFor(/hello \S+/); // the old server made the client's rings and waits for it to attach
      old.child.kill('SIGKILL');
      await old.stop();
      await client.stop();
      expect(existsSync(socketOf(name))).toBe(true); // left behind
      expect(rings(name).length).toBeGreaterThan(0);
      await expect(connectShm(name)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      const server = ShmServer.listen(name);
      try {
        expect(rings(name)).toEqual([]);
        const accepted = server.accept();
        const conn = await connectShm(name, { timeoutMs: 5000 });
        await (await accepted).close();
        await conn.close();
      } finally {
        server.close();
      }
      expect(existsSync(socketOf(name))).toBe(false);
      expect(rings(name)).toEqual([]);
    } finally {
      await old.stop();
      await client?.stop();
    }
  });

  it('after many connections (some aborted) no descriptor, mapping or /dev/shm entry is left', async () => {
    const name = uniqueName('many');
    const server = ShmServer.listen(name, { capacity: 4096 });
    const cycle = async (i: number): Promise<void> => {
      const accepted = server.accept();
      const client = await connectShm(name, { timeoutMs: 5000 });
      const conn = await within(5000, 'accept', accepted);
      await client.sender.send(new Uint8Array([i & 255]));
      expect(await conn.receiver.receive()).toEqual(new Uint8Array([i & 255]));
      await client.close();
      await conn.close();
      if (i % 5 === 0) {
        // a connect aborted while nobody accepts: it gives up cleanly
        const ac = new AbortController();
        const pending = connectShm(name, { signal: ac.signal });
        setTimeout(() => ac.abort(), 10);
        await expect(pending).rejects.toMatchObject({ code: 'ABORT_ERR' });
      }
    };
    try {
      await cycle(1); // warm-up
      await sleep(50);
      const base = snapshot();
      for (let i = 0; i < 60; i++) await cycle(i);
      // The aborted clients' connections wait in the backlog: the next accepts drop them.
      const tail = server.accept();
      const last = await connectShm(name, { timeoutMs: 5000 });
      await (await within(5000, 'accept', tail)).close();
      await last.close();
      await expectBaseline(base);
      expect(rings(name)).toEqual([]);
    } finally {
      server.close();
    }
  }, 60_000);

  it('accept and connect take a signal and a timeout; close() rejects a waiting accept', async () => {
    const name = uniqueName('sig');
    const server = ShmServer.listen(name);
    try {
      const ac = new AbortController();
      const waiting = server.accept({ signal: ac.signal });
      ac.abort();
      await expect(waiting).rejects.toMatchObject({ code: 'ABORT_ERR' });
      await expect(connectShm(name, { timeoutMs: 50 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
      const closing = server.accept();
      server.close();
      await expect(closing).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
    } finally {
      server.close();
    }
    await expect(connectShm(name)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('checks its arguments before anything is made', async () => {
    expect(() => ShmServer.listen('noslash')).toThrow(RangeError);
    expect(() => ShmServer.listen(`/${'x'.repeat(250)}`)).toThrow(/too long/);
    expect(() => ShmServer.listen(uniqueName('opt'), { capacity: 100 })).toThrow(RangeError);
    expect(() => ShmServer.listen(uniqueName('opt'), { allowUids: 'me' as never })).toThrow(TypeError);
    await expect(connectShm('/a/b')).rejects.toThrow(RangeError);
    await expect(connectShm(uniqueName('opt'), { codec: 1 as never })).rejects.toThrow(TypeError);
  });

  it('is what listen("shm:/name") and connect("shm:/name") make', async () => {
    const name = uniqueName('addr');
    const server = await listen(`shm:${name}`);
    try {
      const accepted = server.accept();
      const client = await connect(`shm:${name}`, { timeoutMs: 5000 });
      const conn = await accepted;
      expect(server).toBeInstanceOf(ShmServer);
      expect((conn as ShmDuplex<Uint8Array>).peer.pid).toBe(process.pid);
      await client.close();
      await conn.close();
    } finally {
      server.close();
    }
  });
});

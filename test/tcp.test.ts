// The TCP primitive (lib/tcp.ts) and the TCP channel (TcpServer/connectTcp)
// on loopback: address and port reporting, IPv6, many clients, a real child
// at the other end (checksummed both ways, then kill -9), peer refusal, and
// the errors with their codes, addresses and ports. The framing,
// backpressure and end-of-stream rules are the suites' of channels.test.ts
// and channel-api.test.ts, which run over TCP too. Silent-peer detection
// (keep-alive, user timeout) is tested in tcp-netns.test.ts.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import {
  acceptTcpSocket,
  closeSync,
  codecs,
  connectTcp,
  connectTcpSocket,
  DEFAULT_TCP_KEEPALIVE_MS,
  finishConnectTcpSocket,
  isSystemError,
  listenTcpSocket,
  lookupTcpHost,
  pollSync,
  readSync,
  setTcpSocketOptions,
  TcpServer,
  tcpKeepAlive,
  tcpPeerAddress,
  tcpSocketAddress,
  writeSync,
  type TcpDuplex,
} from '../lib/index.js';
import { native } from '../lib/internal/native.js';
import { startFixture } from './support/fixture-process.js';
import { message } from './fixtures/channel-peer.js';
import { sleep, within } from './support/helpers.js';

/** ::1 exists here (a container may have IPv6 turned off). */
function hasIpv6Loopback(): boolean {
  try {
    closeSync(listenTcpSocket({ host: '::1' }));
    return true;
  } catch {
    return false;
  }
}
const IPV6 = hasIpv6Loopback();

async function pair<T = Uint8Array>(
  server: TcpServer<T>,
  options: Parameters<typeof connectTcp<T>>[0] = { port: server.port },
): Promise<[TcpDuplex<T>, TcpDuplex<T>]> {
  const accepted = server.accept();
  const client = await within(5000, 'connect', connectTcp<T>(options));
  return [await within(5000, 'accept', accepted), client];
}

describe('TCP primitive', () => {
  it('listens on an ephemeral port and reports it; connect, accept, and both ends agree on the addresses', async () => {
    const lfd = listenTcpSocket({ port: 0 });
    try {
      const local = tcpSocketAddress(lfd);
      expect(local).toMatchObject({ address: '127.0.0.1', family: 4 });
      expect(local.port).toBeGreaterThan(0);
      const pending = connectTcpSocket({ host: '127.0.0.1', port: local.port, keepAliveMs: 5000 });
      expect(pending.remote).toEqual(local);
      if (pending.inProgress) expect(pollSync(pending.fd, 'w', 5000)).toBe(true);
      finishConnectTcpSocket(pending);
      let conn: number | null = null;
      for (let i = 0; i < 100 && conn === null; i++) {
        conn = acceptTcpSocket(lfd);
        if (conn === null) await sleep(5);
      }
      expect(conn).not.toBeNull();
      expect(tcpPeerAddress(conn!)).toEqual(tcpSocketAddress(pending.fd));
      expect(tcpPeerAddress(pending.fd)).toEqual(local);
      setTcpSocketOptions(conn!, { noDelay: false, keepAliveMs: 0 });
      expect(writeSync(pending.fd, Buffer.from('ping'))).toBe(4);
      expect(pollSync(conn!, 'r', 5000)).toBe(true);
      const got = Buffer.alloc(8);
      expect(readSync(conn!, got)).toBe(4);
      expect(got.subarray(0, 4).toString()).toBe('ping');
      closeSync(conn!);
      closeSync(pending.fd);
    } finally {
      closeSync(lfd);
    }
  });

  it('reports EADDRINUSE and ECONNREFUSED as system errors with address and port', async () => {
    const lfd = listenTcpSocket();
    const { port } = tcpSocketAddress(lfd);
    try {
      expect(() => listenTcpSocket({ port })).toThrow(
        expect.objectContaining({ code: 'EADDRINUSE', syscall: 'bind', address: '127.0.0.1', port }),
      );
    } finally {
      closeSync(lfd);
    }
    // Nobody listens on that port any more.
    const err = await connectTcp({ port }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSystemError(err, 'ECONNREFUSED')).toBe(true);
    expect(err).toMatchObject({ syscall: 'connect', address: '127.0.0.1', port });
    expect((err as Error).message).toBe(`ECONNREFUSED: connection refused, connect 127.0.0.1:${port}`);
  });

  it('checks its arguments: a name where a numeric address is needed, a port or keep-alive out of range', () => {
    expect(() => listenTcpSocket({ host: 'localhost' })).toThrow(TypeError);
    expect(() => listenTcpSocket({ port: 65536 })).toThrow(RangeError);
    expect(() => connectTcpSocket({ host: '127.0.0.1', port: 0 })).toThrow(RangeError);
    expect(() => connectTcpSocket({ host: '127.0.0.1', port: 9, keepAliveMs: 500 })).toThrow(RangeError);
    expect(() => tcpKeepAlive(999)).toThrow(RangeError);
  });

  it('derives the keep-alive settings and the documented dead-peer bound from keepAliveMs', () => {
    expect(DEFAULT_TCP_KEEPALIVE_MS).toBe(30_000);
    expect(tcpKeepAlive()).toEqual({ idleMs: 10_000, intervalMs: 10_000, count: 2, userTimeoutMs: 30_000, boundMs: 40_000 });
    expect(tcpKeepAlive(3000)).toEqual({ idleMs: 1000, intervalMs: 1000, count: 2, userTimeoutMs: 3000, boundMs: 4000 });
    expect(tcpKeepAlive(1000)).toEqual({ idleMs: 1000, intervalMs: 1000, count: 1, userTimeoutMs: 1000, boundMs: 3000 });
    expect(tcpKeepAlive(10_000)).toEqual({ idleMs: 3000, intervalMs: 3000, count: 3, userTimeoutMs: 10_000, boundMs: 15_000 });
    expect(tcpKeepAlive(0)).toEqual({ idleMs: 0, intervalMs: 0, count: 0, userTimeoutMs: 0, boundMs: 0 });
    for (const ms of [1000, 2500, 7000, 30_000, 45_000, 600_000]) {
      const k = tcpKeepAlive(ms);
      expect(k.boundMs).toBeGreaterThanOrEqual(ms + k.intervalMs);
      expect(k.boundMs).toBeLessThanOrEqual(Math.max(3000, ms + 2 * k.intervalMs));
      // Probes alone (macOS, userTimeout: false) give up one interval before the bound.
      expect(k.idleMs + k.count * k.intervalMs).toBe(k.boundMs - k.intervalMs);
    }
  });

  it('the native calls are backstopped: bad arguments are Type/RangeErrors, a non-numeric host is EINVAL (inet_pton)', () => {
    expect(() => native.tcpListen(5 as never, '127.0.0.1', 0, 1, false)).toThrow(RangeError);
    expect(() => native.tcpListen(4, '127.0.0.1', 70_000, 1, false)).toThrow(RangeError);
    expect(() => native.tcpListen(4, 42 as never, 0, 1, false)).toThrow(TypeError);
    expect(() => native.tcpConnect(4, '127.0.0.1', 1, true, -1, 0, 0, 0)).toThrow(RangeError);
    expect(() => native.tcpConnect(4, '127.0.0.1', 1, true, 0, 0, 0, 2 ** 32)).toThrow(RangeError);
    expect(() => native.tcpConnect(6, '127.0.0.1', 80, true, 0, 0, 0, 0)).toThrow(
      expect.objectContaining({ code: 'EINVAL', syscall: 'inet_pton', address: '127.0.0.1', port: 80 }),
    );
    expect(() => native.tcpLocalAddress(2 ** 31)).toThrow(RangeError);
    expect(() => native.tcpPeerAddress(0)).toThrow(expect.objectContaining({ syscall: 'getpeername' })); // stdin: not a socket
  });

  it('resolves names off the event loop; numeric addresses need no lookup', async () => {
    expect(await lookupTcpHost('127.0.0.1')).toEqual([{ address: '127.0.0.1', family: 4 }]);
    const local = await lookupTcpHost('localhost');
    expect(local.length).toBeGreaterThan(0);
    expect(local.every((a) => a.address === '127.0.0.1' || a.address === '::1')).toBe(true);
    await expect(lookupTcpHost('name.invalid')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});

describe('TCP channel', () => {
  it('a server on port 0 reports its address and port; each end knows both addresses', async () => {
    const server = await TcpServer.listen({ port: 0, codec: codecs.json });
    try {
      expect(server.address).toBe('127.0.0.1');
      expect(server.family).toBe(4);
      expect(server.port).toBeGreaterThan(0);
      const [conn, client] = await pair<unknown>(server, { port: server.port, codec: codecs.json });
      expect(conn.local).toEqual({ address: '127.0.0.1', port: server.port, family: 4 });
      expect(client.peer).toEqual(conn.local);
      expect(conn.peer).toEqual(client.local);
      await client.sender.send({ hello: 'server' });
      expect(await within(5000, 'receive', conn.receiver.receive())).toEqual({ hello: 'server' });
      await conn.sender.send(['reply']);
      expect(await within(5000, 'receive', client.receiver.receive())).toEqual(['reply']);
      await client.close();
      expect(await within(5000, 'end', conn.receiver.receive())).toBeUndefined();
      await conn.close();
    } finally {
      server.close();
    }
  });

  it('resolves a host name: listen and connect on localhost', async () => {
    const server = await TcpServer.listen({ host: 'localhost' });
    try {
      const [conn, client] = await pair(server, { host: 'localhost', port: server.port });
      expect(['127.0.0.1', '::1']).toContain(server.address);
      await client.sender.send(new Uint8Array([1, 2, 3]));
      expect(await within(5000, 'receive', conn.receiver.receive())).toEqual(new Uint8Array([1, 2, 3]));
      await client.close();
      await conn.close();
    } finally {
      server.close();
    }
  });

  it.runIf(IPV6)('works over IPv6 (::1)', async () => {
    const server = await TcpServer.listen({ host: '::1' });
    try {
      expect(server).toMatchObject({ address: '::1', family: 6 });
      const [conn, client] = await pair(server, { host: '::1', port: server.port });
      expect(conn.peer.family).toBe(6);
      expect(conn.peer.address).toBe('::1');
      await client.sender.send(new Uint8Array(100_000).fill(6));
      expect((await within(5000, 'receive', conn.receiver.receive()))!.byteLength).toBe(100_000);
      await client.close();
      await conn.close();
      const err = await connectTcp({ host: '::1', port: server.port + (server.port < 65535 ? 1 : -1) }).catch((e: unknown) => e);
      expect(err).toMatchObject({ address: '::1' });
      expect((err as Error).message).toMatch(/\[::1\]:\d+$/);
    } finally {
      server.close();
    }
  });
  it.skipIf(IPV6)('works over IPv6 (::1) — skipped: this machine has no ::1 (IPv6 turned off)', () => undefined);

  it.runIf(IPV6)('a dual-stack server on :: takes an IPv4 client (as ::ffff:127.0.0.1)', async () => {
    const server = await TcpServer.listen({ host: '::' });
    try {
      const [conn, client] = await pair(server, { host: '127.0.0.1', port: server.port });
      expect(conn.peer.address).toBe('::ffff:127.0.0.1');
      await client.close();
      await conn.close();
    } finally {
      server.close();
    }
  });

  it('serves many clients at once, each with its own checksummed exchange', async () => {
    const server = await TcpServer.listen();
    const n = 40;
    try {
      const serving = (async () => {
        const done: Promise<void>[] = [];
        for await (const conn of server) {
          done.push(
            (async () => {
              for await (const m of conn.receiver) await conn.sender.send(createHash('sha256').update(m).digest());
              await conn.close();
            })(),
          );
          if (done.length === n) break;
        }
        await Promise.all(done);
      })();
      const clients = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const c = await connectTcp({ port: server.port, timeoutMs: 5000 });
          const sent: string[] = [];
          const got: string[] = [];
          for (let k = 0; k < 5; k++) {
            const m = message(i * 5 + k, 3);
            sent.push(createHash('sha256').update(m).digest('hex'));
            await c.sender.send(m);
            got.push(Buffer.from((await c.receiver.receive())!).toString('hex'));
          }
          await c.close();
          return { sent, got };
        }),
      );
      await within(20_000, 'serving', serving);
      for (const { sent, got } of clients) expect(got).toEqual(sent);
    } finally {
      server.close();
    }
  });

  it('carries a checksummed stream both ways with a forked child; its kill -9 ends our receive and fails our send', async () => {
    const server = await TcpServer.listen();
    const accepted = server.accept();
    const child = startFixture('net-echo.ts', ['tcp', String(server.port)]);
    try {
      const conn = await within(15_000, 'the child connects', accepted);
      server.close();
      await child.waitFor('ready');
      const out = createHash('sha256');
      const back = createHash('sha256');
      const n = 200;
      const echoing = (async () => {
        for (let i = 0; i < n; i++) back.update((await conn.receiver.receive())!);
      })();
      for (let i = 0; i < n; i++) {
        const m = message(i, 5);
        out.update(m);
        await conn.sender.send(m);
      }
      await within(15_000, 'the echo', echoing);
      expect(back.digest('hex')).toBe(out.digest('hex'));
      // The child now waits for more. Kill it: a pending receive sees the end, sends fail.
      const pending = conn.receiver.receive();
      await sleep(20);
      child.child.kill('SIGKILL');
      expect(await within(5000, 'receive after kill -9', pending)).toBeUndefined();
      const sending = (async () => {
        for (let i = 0; i < 1000; i++) await conn.sender.send(new Uint8Array(64 * 1024));
      })();
      await expect(within(5000, 'send after kill -9', sending)).rejects.toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' });
      await conn.close().catch(() => undefined);
    } finally {
      server.close();
      await child.stop();
    }
  });

  it('verifyPeer refuses a client: its connection is closed at once and never yielded', async () => {
    const seen: number[] = [];
    const server = await TcpServer.listen({ verifyPeer: (peer) => (seen.push(peer.port), seen.length > 1) });
    try {
      const accepting = server.accept();
      const refused = await connectTcp({ port: server.port });
      expect(await within(5000, 'the refused client sees the end', refused.receiver.receive())).toBeUndefined();
      const admitted = await connectTcp({ port: server.port });
      const conn = await within(5000, 'accept', accepting);
      expect(conn.peer).toEqual(admitted.local);
      expect(seen).toEqual([refused.local.port, admitted.local.port]);
      await refused.close().catch(() => undefined);
      await admitted.close();
      await conn.close();
    } finally {
      server.close();
    }
  });

  it('close() makes accept() reject with the closed error and ends the iteration; a pre-aborted signal rejects at once', async () => {
    const server = await TcpServer.listen();
    const waiting = server.accept();
    const iterating = (async () => {
      const got: unknown[] = [];
      for await (const c of server) got.push(c);
      return got;
    })();
    await expect(server.accept({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(connectTcp({ port: server.port, signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    await sleep(10);
    server.close();
    server.close();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
    expect(await within(5000, 'iteration end', iterating)).toEqual([]);
    await expect(connectTcp({ port: server.port })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('checks options before any socket exists', async () => {
    await expect(TcpServer.listen({ keepAliveMs: 10 })).rejects.toThrow(RangeError);
    await expect(TcpServer.listen({ codec: 42 as never })).rejects.toThrow(TypeError);
    await expect(TcpServer.listen({ verifyPeer: 'yes' as never })).rejects.toThrow(TypeError);
    await expect(connectTcp({ port: 70_000 })).rejects.toThrow(RangeError);
    await expect(connectTcp(undefined as never)).rejects.toThrow(TypeError);
    await expect(TcpServer.listen({ host: 'name.invalid' })).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});

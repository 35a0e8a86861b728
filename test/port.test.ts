// Ports: a bounded, bidirectional, buffered FIFO queue known by a number.
// The owner (this process) receives from clients in child processes, in
// arrival order, and replies to each; the number is refused while its owner
// lives, reusable after close; the buffer's bound holds a client back.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TcpServer, codecs, connectPort, connectTcp, openPort, portPath, type PortResolver } from '../lib/index.js';
import { startFixture } from './support/fixture-process.js';
import { sleep, tempPath, within } from './support/helpers.js';
import { expectBaseline, snapshot } from './support/leak-suite.js';

const dir = tempPath('ports-rt');
let saved: string | undefined;
const json = codecs.json as never;

beforeAll(() => {
  saved = process.env.POSIX_IPC_RUNTIME_DIR;
  mkdirSync(dir, { mode: 0o700 });
  process.env.POSIX_IPC_RUNTIME_DIR = dir;
});

afterAll(() => {
  if (saved === undefined) delete process.env.POSIX_IPC_RUNTIME_DIR;
  else process.env.POSIX_IPC_RUNTIME_DIR = saved;
  rmSync(dir, { recursive: true, force: true });
});

describe('ports', () => {
  it('two client processes send to port 4242 and get replies; each client is FIFO, every message once', async () => {
    const port = await openPort<{ c: number; k: number } | number>(4242, { codec: json });
    expect(portPath(4242)).toBe(`${dir}/ports/4242.sock`);
    const N = 100;
    const clients = [startFixture('port-client.ts', ['4242', '1', String(N)]), startFixture('port-client.ts', ['4242', '2', String(N)])];
    try {
      const next = new Map<number, number>([
        [1, 0],
        [2, 0],
      ]);
      const connections = new Set<number>();
      for (let i = 0; i < 2 * N; i++) {
        const m = (await within(15_000, `message ${i}`, port.receive()))!;
        const { c, k } = m.message as { c: number; k: number };
        expect(k).toBe(next.get(c)); // FIFO per sender
        next.set(c, k + 1);
        connections.add(m.client);
        await m.reply(k * 2);
      }
      expect(connections.size).toBe(2);
      const sum = N * (N - 1); // sum of 2k
      for (const c of clients) await c.waitFor(`replies ${N} ${sum}`);
      expect(await port.receive({ timeoutMs: 50 }).catch((e: { code?: string }) => e.code)).toBe('ETIMEDOUT');
    } finally {
      for (const c of clients) await c.stop();
      await port.close();
    }
  });

  it('one owner per number (EADDRINUSE while it lives); closing frees it; its clients see the end', async () => {
    const port = await openPort(4243);
    await expect(openPort(4243)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    const client = await connectPort(4243);
    await client.send(new Uint8Array([9]));
    expect((await within(5000, 'receive', port.receive()))!.message).toEqual(new Uint8Array([9]));
    expect(await port.close()).toBe(0);
    expect(await within(5000, 'the client sees the end', client.receive())).toBeUndefined();
    await client.close().catch(() => undefined);
    await expect(connectPort(4243)).rejects.toMatchObject({ code: expect.stringMatching(/^(ENOENT|ECONNREFUSED)$/) });
    const again = await openPort(4243);
    await again.close();
  });

  it('bounded: a full port stops reading, the client waits; everything arrives once the owner receives', async () => {
    const port = await openPort<{ k: number; pad: string }>(4244, { codec: json, capacity: 4 });
    const client = await connectPort<{ k: number; pad: string }>(4244, { codec: json });
    try {
      let sent = 0;
      const pad = 'y'.repeat(16 * 1024);
      for (;;) {
        const err = await client.send({ k: sent, pad }, { timeoutMs: 500 }).catch((e: unknown) => e);
        if (err !== undefined) {
          expect(err).toMatchObject({ code: 'ETIMEDOUT' });
          break;
        }
        expect(++sent).toBeLessThan(100_000);
      }
      await sleep(100);
      expect(port.queued).toBeLessThanOrEqual(4);
      for (let k = 0; k < sent; k++) expect((await within(5000, `message ${k}`, port.receive()))!.message.k).toBe(k);
    } finally {
      await client.close();
      await port.close();
    }
  });

  it('a resolver maps the number to another transport (here TCP)', async () => {
    const ports = new Map<number, number>();
    const tcp: PortResolver = {
      async listen(n) {
        const server = await TcpServer.listen({ port: 0 });
        ports.set(n, server.port);
        return server;
      },
      connect: (n) => connectTcp({ port: ports.get(n)! }),
    };
    const port = await openPort(7, { resolver: tcp });
    const client = await connectPort(7, { resolver: tcp });
    await client.send(new Uint8Array([1, 2]));
    const m = (await within(5000, 'receive', port.receive()))!;
    await m.reply(new Uint8Array([3]));
    expect(await within(5000, 'reply', client.receive())).toEqual(new Uint8Array([3]));
    await client.close();
    await port.close();
  });

  it('checks its arguments', async () => {
    await expect(openPort(0)).rejects.toThrow(RangeError);
    await expect(openPort(65536)).rejects.toThrow(RangeError);
    await expect(openPort(1.5)).rejects.toThrow(RangeError);
    await expect(connectPort('80' as never)).rejects.toThrow(TypeError);
    await expect(openPort(5, { resolver: {} as never })).rejects.toThrow(TypeError);
    await expect(openPort(5, { capacity: 0 })).rejects.toThrow(RangeError);
  });

  it('leaves no descriptor or socket file behind after open, use and close, 3 times', async () => {
    const cycle = async (): Promise<void> => {
      const port = await openPort(4250);
      const client = await connectPort(4250);
      await client.send(new Uint8Array([1]));
      await (await within(5000, 'receive', port.receive()))!.reply(new Uint8Array([2]));
      expect(await within(5000, 'reply', client.receive())).toEqual(new Uint8Array([2]));
      await client.close();
      await port.close();
    };
    await cycle();
    const base = snapshot();
    for (let i = 0; i < 3; i++) await cycle();
    await expectBaseline(base);
    expect(existsSync(portPath(4250))).toBe(false);
  });
});

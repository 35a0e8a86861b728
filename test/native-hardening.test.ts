// Regression tests from the native-code review (docs/reliability.md,
// "Sanitizers and memory checks"). Some fail only under `npm run test:asan`,
// whose build also traps float-to-integer conversions out of range.
import { spawn as cpSpawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { connectUnix, UnixServer, type Duplex } from '../lib/index.js';
import { native } from '../lib/internal/native.js';
import { tempPath, uniqueName, within } from './support/helpers.js';

function runFixture(file: string): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = cpSpawn(process.execPath, ['--import', 'tsx', new URL(`./fixtures/${file}`, import.meta.url).pathname], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('native argument backstop', () => {
  // Converting a double outside int32/uint32 range to an integer is undefined
  // behaviour in C++; the checks must come before any conversion.
  it.each([2 ** 31, -(2 ** 31) - 1, 2 ** 40, -1e300, Infinity, NaN, 1.5])('an int32 argument of %s is a RangeError', (fd) => {
    expect(() => native.close(fd)).toThrow(RangeError);
  });

  it.each([2 ** 32, 2 ** 53, 1e300, Infinity, -1, NaN, 0.5])('a uint32 argument of %s is a RangeError', (value) => {
    const name = uniqueName('backstop');
    expect(() => new native.NamedSemaphore(name, true, 0o600, value)).toThrow(RangeError);
  });

  it.each([
    [1, 2 ** 32 + 1],
    [2 ** 32, 1],
    [1, -1],
    [1, 1.5],
    [NaN, 1],
  ])('spawnChild refuses the fd map entry %s <- %s (no modulo-2^32 wrap to another descriptor)', (child, parent) => {
    const bin = '/bin/true';
    expect(() => native.spawnChild(bin, [bin], [bin], [], '', [child, parent], false, () => {})).toThrow(RangeError);
  });

  it('the extremes of the ranges are accepted', () => {
    expect(() => native.close(2 ** 31 - 1)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'close' }));
    expect(() => native.close(-(2 ** 31))).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'close' }));
  });
});

describe('FdPoller', () => {
  it('an exception thrown by its callback is an uncaught exception, not an abort', async () => {
    const r = await within(15_000, 'poll-throw fixture', runFixture('native-poll-throw.ts'));
    expect(r, r.stderr).toMatchObject({ code: 0, signal: null });
    expect(r.stdout).toBe('uncaught: thrown by the poll callback\n');
  });
});

describe('connectUnix with the server backlog full', () => {
  it('waits for room (ETIMEDOUT when none comes), then connects for real', async () => {
    const path = tempPath('backlog');
    const server = UnixServer.listen(path, { backlog: 1 });
    const clients: Duplex<Uint8Array>[] = [];
    const accepted: Duplex<Uint8Array>[] = [];
    try {
      // Nobody accepts: connections pile up in the backlog until it is full
      // (Linux queues backlog + 1). A connect then must not "succeed" with a
      // socket that is not connected (it used to: writes gave ENOTCONN).
      let refused: unknown;
      for (let i = 0; i < 8 && refused === undefined; i++) {
        try {
          clients.push(await connectUnix(path, { timeoutMs: 50 }));
        } catch (err) {
          refused = err;
        }
      }
      expect(refused).toMatchObject({ code: 'ETIMEDOUT', syscall: 'connect' });
      const queued = clients.length;
      expect(queued).toBeGreaterThan(0);

      const late = connectUnix(path, { timeoutMs: 10_000 });
      accepted.push(await server.accept()); // room for one more
      const client = await within(10_000, 'connect after room appeared', late);
      clients.push(client);
      for (let i = 0; i < queued; i++) accepted.push(await server.accept());
      const mine = accepted[accepted.length - 1]!; // the server side of `client`
      await client.sender.send(new Uint8Array([7, 8, 9]));
      expect(await within(5_000, 'message', mine.receiver.receive())).toEqual(new Uint8Array([7, 8, 9]));
    } finally {
      for (const d of [...clients, ...accepted]) await d.close();
      server.close();
    }
  });

  it('an abort stops the retries', async () => {
    const path = tempPath('backlog-abort');
    const server = UnixServer.listen(path, { backlog: 1 });
    const clients: Duplex<Uint8Array>[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        try {
          clients.push(await connectUnix(path, { timeoutMs: 50 }));
        } catch {
          break;
        }
      }
      const controller = new AbortController();
      const pending = connectUnix(path, { signal: controller.signal });
      setTimeout(() => controller.abort(), 30);
      await expect(within(5_000, 'aborted connect', pending)).rejects.toMatchObject({ name: 'AbortError' });
    } finally {
      for (const d of clients) await d.close();
      server.close();
    }
  });
});

// `posix-ipc ls` / `clean` against real processes: what a kill -9ed process
// left is listed with its dead pid, and `clean` removes exactly that.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SharedMemory, mkfifo } from '../lib/index.js';
import { startFixture, type FixtureProcess } from './support/fixture-process.js';
import { uniqueName } from './support/helpers.js';

const CLI = new URL('../lib/cli.ts', import.meta.url).pathname;
let runtime: string;
const dirs: string[] = [];

interface Row {
  kind: string;
  name: string;
  detail: string;
  pid: number;
  alive: boolean;
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { ...process.env, POSIX_IPC_RUNTIME_DIR: runtime },
      timeout: 30_000,
    });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '' };
  }
}

async function ls(): Promise<Row[]> {
  const { code, stdout } = await cli('ls', '--json');
  expect(code).toBe(0);
  return JSON.parse(stdout) as Row[];
}

function shmExists(name: string): boolean {
  try {
    SharedMemory.open(name).close();
    return true;
  } catch {
    return false;
  }
}

/** A process that made a name, a UNIX socket, a FIFO and a shm channel. */
async function maker(tag: string): Promise<{ f: FixtureProcess; name: string; dir: string; shm: string }> {
  const dir = mkdtempSync(join(tmpdir(), `pipc-cli-${tag}-`));
  dirs.push(dir);
  const name = `${tag}-${process.pid}`;
  const shm = uniqueName(`cli-${tag}`);
  const f = startFixture('names-peer.ts', ['objects', name, dir, shm], {
    stdin: true,
    env: { ...process.env, POSIX_IPC_RUNTIME_DIR: runtime },
  });
  await f.waitFor(/registered \d+/, 20_000);
  return { f, name, dir, shm };
}

beforeAll(() => {
  runtime = mkdtempSync(join(tmpdir(), 'pipc-cli-runtime-'));
});

afterAll(() => {
  for (const d of [runtime, ...dirs]) rmSync(d, { recursive: true, force: true });
});

// Each `cli()` starts node with tsx (1 to 3 s on a loaded machine): generous timeouts.
describe('posix-ipc ls / clean', { timeout: 120_000 }, () => {
  it('lists what a kill -9ed process left with its dead pid, and clean removes exactly that', async () => {
    expect(await ls()).toEqual([]);
    const dead = await maker('dead');
    const live = await maker('live');
    const deadPid = dead.f.child.pid;
    const livePid = live.f.child.pid;
    const expected = (m: typeof dead, alive: boolean): unknown[] => [
      { kind: 'name', name: m.name, pid: m.f.child.pid, alive },
      { kind: 'socket', name: join(m.dir, 'sock'), pid: m.f.child.pid, alive },
      { kind: 'fifo', name: join(m.dir, 'fifo'), pid: m.f.child.pid, alive },
      { kind: 'shm', name: m.shm, pid: m.f.child.pid, alive },
    ];
    const before = await ls();
    expect(before).toHaveLength(8);
    expect(before).toEqual(
      expect.arrayContaining([...expected(dead, true), ...expected(live, true)].map((r) => expect.objectContaining(r as object))),
    );

    await dead.f.stop(); // SIGKILL: nothing of it ran its clean-up
    const after = await ls();
    expect(after.filter((r) => r.pid === deadPid)).toEqual(
      expect.arrayContaining(expected(dead, false).map((r) => expect.objectContaining(r as object))),
    );
    expect(after.filter((r) => r.pid === deadPid)).toHaveLength(4);
    expect(after.filter((r) => r.pid === livePid).every((r) => r.alive)).toBe(true);
    expect(existsSync(join(dead.dir, 'sock')) && existsSync(join(dead.dir, 'fifo')) && shmExists(dead.shm)).toBe(true);

    // someone else re-made the dead process's socket path: not its object any more, so neither listed nor removed
    unlinkSync(join(dead.dir, 'sock'));
    mkfifo(join(dead.dir, 'sock'), 0o600);
    expect((await ls()).filter((r) => r.pid === deadPid)).toHaveLength(3);

    const table = await cli('ls');
    expect(table.stdout).toMatch(new RegExp(`fifo\\s+${join(dead.dir, 'fifo')}\\s+${deadPid}\\s+dead`));

    const dry = await cli('clean', '--dry-run', '--json');
    expect(dry.code).toBe(0);
    expect((JSON.parse(dry.stdout) as { removed: Row[] }).removed).toHaveLength(3);
    expect(existsSync(join(dead.dir, 'fifo'))).toBe(true); // a dry run removes nothing

    const cleaned = await cli('clean', '--json');
    expect(cleaned.code).toBe(0);
    const report = JSON.parse(cleaned.stdout) as { removed: Row[]; left: Row[] };
    expect(report.removed.map((r) => r.pid)).toEqual([deadPid, deadPid, deadPid]);
    expect(report.left).toEqual([]);
    expect(existsSync(join(dead.dir, 'fifo')) || shmExists(dead.shm)).toBe(false);
    expect(existsSync(join(dead.dir, 'sock'))).toBe(true); // the newcomer's
    unlinkSync(join(dead.dir, 'sock'));
    // the live process's objects are untouched
    expect(existsSync(join(live.dir, 'sock')) && existsSync(join(live.dir, 'fifo')) && shmExists(live.shm)).toBe(true);
    const rest = await ls();
    expect(rest).toHaveLength(4);
    expect(rest.every((r) => r.pid === livePid && r.alive)).toBe(true);
    expect((await cli('clean')).stdout).toMatch(/nothing to remove/);

    // a clean exit removes the channels' names and the ledger itself; the name goes with the lock
    live.f.endInput();
    await live.f.child.exited;
    await live.f.stop();
    const left = await ls();
    expect(left.filter((r) => r.kind !== 'name')).toEqual([]);
    expect(left.every((r) => !r.alive)).toBe(true);
    await cli('clean');
    expect(await ls()).toEqual([]);
  });

  it('a dead ledger whose objects are all gone is pruned by the next process that makes an object', async () => {
    const a = await maker('pruned');
    const ledgers = (): string[] => readdirSync(join(runtime, 'objects')).filter((f) => f.startsWith(`${a.f.child.pid}-`));
    expect(ledgers()).toHaveLength(1);
    await a.f.stop();
    unlinkSync(join(a.dir, 'sock'));
    unlinkSync(join(a.dir, 'fifo'));
    SharedMemory.unlink(a.shm);
    expect(ledgers()).toHaveLength(1); // listed as nothing, but still there
    expect((await ls()).filter((r) => r.kind !== 'name')).toEqual([]);
    const b = await maker('pruner');
    expect(ledgers()).toEqual([]);
    await b.f.stop();
    await cli('clean');
    expect(await ls()).toEqual([]);
  });

  it('fail-soft: with an unusable runtime directory the channels still work, unlisted', async () => {
    const open = mkdtempSync(join(tmpdir(), 'pipc-cli-open-'));
    dirs.push(open);
    chmodSync(open, 0o755); // open to others: refused as a runtime directory
    const fifo = join(open, 'fifo');
    const f = startFixture('names-peer.ts', ['fifo', fifo], { stdin: true, env: { ...process.env, POSIX_IPC_RUNTIME_DIR: open } });
    await f.waitFor(/registered \d+/, 20_000);
    expect(existsSync(fifo)).toBe(true);
    expect(existsSync(join(open, 'objects'))).toBe(false);
    f.endInput();
    await f.child.exited;
    await f.stop();
    expect(existsSync(fifo)).toBe(false); // removed at exit as before
  });

  it('reports usage errors with exit code 2', async () => {
    expect((await cli()).code).toBe(2);
    expect((await cli('rm')).code).toBe(2);
    expect((await cli('ls', '--force')).code).toBe(2);
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/usage: posix-ipc/);
  });
});

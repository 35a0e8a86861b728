import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { runtimeBase, runtimeDir } from '../lib/internal/runtime-dir.js';

const root = mkdtempSync(join(tmpdir(), 'pipc-rt-'));
const saved = process.env.POSIX_IPC_RUNTIME_DIR;

afterEach(() => {
  if (saved === undefined) delete process.env.POSIX_IPC_RUNTIME_DIR;
  else process.env.POSIX_IPC_RUNTIME_DIR = saved;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the runtime directory', () => {
  it('is made 0700 with its subdirectories, under $POSIX_IPC_RUNTIME_DIR when set', () => {
    process.env.POSIX_IPC_RUNTIME_DIR = join(root, 'a');
    expect(runtimeBase()).toBe(join(root, 'a'));
    const names = runtimeDir('names');
    expect(names).toBe(join(root, 'a', 'names'));
    expect(statSync(join(root, 'a')).mode & 0o777).toBe(0o700);
    expect(statSync(names).mode & 0o777).toBe(0o700);
  });

  it('refuses a directory open to others, and a symbolic link, with EACCES', () => {
    mkdirSync(join(root, 'open'), { mode: 0o700 });
    chmodSync(join(root, 'open'), 0o755);
    process.env.POSIX_IPC_RUNTIME_DIR = join(root, 'open');
    expect(() => runtimeDir()).toThrow(expect.objectContaining({ code: 'EACCES', syscall: 'mkdir', path: join(root, 'open') }));
    mkdirSync(join(root, 'real'), { mode: 0o700 });
    symlinkSync(join(root, 'real'), join(root, 'link'));
    process.env.POSIX_IPC_RUNTIME_DIR = join(root, 'link');
    expect(() => runtimeDir()).toThrow(/not a directory/);
  });
});

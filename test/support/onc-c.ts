// The C side of the ONC RPC interop tests: compiles test/fixtures/onc/*.c
// with the stubs the system's rpcgen generates from the .x files, into a
// temporary directory, and runs the programs (lib's spawn, stdout read
// line by line, like fixture-process.ts does for TS fixtures).
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { closeSync, pipe, spawn, streamFromFd, type Child, type ExitStatus } from '../../lib/index.js';
import { fixturePath, watchOutput } from './fixture-process.js';
import { within } from './helpers.js';

/** Why the C side cannot be built here, or undefined when it can (rpcgen, cc and libtirpc's headers). */
export function cToolchainMissing(): string | undefined {
  for (const tool of ['rpcgen', 'cc']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (apt-get install rpcsvc-proto libtirpc-dev gcc)`;
    }
  }
  if (!existsSync('/usr/include/tirpc/rpc/rpc.h')) return 'libtirpc-dev is not installed';
  return undefined;
}

export interface CBuild {
  readonly dir: string;
  /** The path of a built program. */
  bin(name: string): string;
  remove(): void;
}

/**
 * Generates the stubs of `x` (a file of test/fixtures/onc/, or an absolute
 * path) with rpcgen (-h header, -c XDR routines, -m server dispatch, -l
 * client stubs) and compiles each program from its own .c file plus the
 * stubs it needs: `programs` maps a binary to [its .c file, 'svc' | 'clnt'].
 */
export function buildC(x: string, programs: Record<string, [string, 'svc' | 'clnt']>): CBuild {
  const dir = mkdtempSync(join(tmpdir(), 'onc-c-'));
  const src = x.startsWith('/') ? x : fixturePath(`onc/${x}`);
  const base = x.replace(/^.*\//, '').replace(/\.x$/, '');
  copyFileSync(src, join(dir, `${base}.x`));
  const run = (cmd: string, args: string[]): void => {
    execFileSync(cmd, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
  };
  run('rpcgen', ['-h', `${base}.x`, '-o', `${base}.h`]);
  run('rpcgen', ['-c', `${base}.x`, '-o', `${base}_xdr.c`]);
  run('rpcgen', ['-m', `${base}.x`, '-o', `${base}_svc.c`]);
  run('rpcgen', ['-l', `${base}.x`, '-o', `${base}_clnt.c`]);
  for (const [name, [c, side]] of Object.entries(programs)) {
    copyFileSync(fixturePath(`onc/${c}`), join(dir, c));
    run('cc', ['-O1', '-w', '-I/usr/include/tirpc', '-I.', '-o', name, c, `${base}_${side}.c`, `${base}_xdr.c`, '-ltirpc']);
  }
  return { dir, bin: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface CProcess {
  readonly child: Child;
  output(): string;
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** SIGKILLs it if it still runs and waits for it. */
  stop(): Promise<ExitStatus>;
  /** Waits for it to exit by itself (bounded). */
  exited(ms?: number): Promise<ExitStatus>;
}

/** Runs a built C program, its stdout collected. */
export function startC(file: string, args: string[]): CProcess {
  const [outR, outW] = pipe();
  let child: Child;
  try {
    child = spawn(file, args, { fds: { 1: outW, 2: 2 } });
  } finally {
    closeSync(outW);
  }
  const stdout = streamFromFd(outR, 'r');
  const watch = watchOutput(stdout, file);
  const ended = new Promise<void>((resolve) => stdout.once('close', () => resolve()));
  return {
    child,
    output: watch.output,
    waitFor: watch.waitFor,
    async stop() {
      if (child.status === null) child.kill('SIGKILL');
      const status = await within(15_000, `${file} to exit`, child.exited);
      stdout.destroy();
      return status;
    },
    async exited(ms = 20_000) {
      const status = await within(ms, `${file} to exit`, child.exited);
      await within(5_000, `${file}'s output to end`, ended);
      return status;
    },
  };
}

/** Runs a C client to its end: its output and exit status. */
export async function runC(file: string, args: string[], ms = 20_000): Promise<{ out: string; status: ExitStatus }> {
  const p = startC(file, args);
  try {
    const status = await p.exited(ms);
    return { out: p.output(), status };
  } finally {
    await p.stop();
  }
}

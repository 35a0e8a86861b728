#!/usr/bin/env node
// npm run test:valgrind: test/memcheck/smoke.mjs (each native primitive once)
// under valgrind's memcheck, on the normal build of the addon (build/Release,
// or POSIX_IPC_ADDON). Fails on any memcheck error (invalid access, use of
// uninitialised memory, bad free, syscall with bad buffers) and on any
// definite leak, except leaks node itself allocated (test/memcheck/node.supp).
// Child processes are not traced: they exec other programs at once.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function run(file, args) {
  const r = spawnSync(file, args, { cwd: root, stdio: 'inherit' });
  if (r.error) {
    console.error(`test:valgrind: ${file}: ${r.error.message}`);
    process.exit(1);
  }
  return r.status ?? 128;
}

if (!process.env.POSIX_IPC_ADDON && !existsSync(join(root, 'build', 'Release', 'posix_ipc.node'))) {
  console.error('test:valgrind: build the addon first (npx node-gyp rebuild)');
  process.exit(1);
}
// The smoke script runs on dist/: plain node, no TypeScript loader under valgrind.
if (run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json']) !== 0) process.exit(1);

const started = Date.now();
const status = run('valgrind', [
  '--tool=memcheck',
  '--error-exitcode=99',
  '--leak-check=full',
  '--show-leak-kinds=definite',
  '--errors-for-leak-kinds=definite',
  '--track-origins=yes',
  '--num-callers=40',
  `--suppressions=${join(root, 'test', 'memcheck', 'node.supp')}`,
  process.execPath,
  join(root, 'test', 'memcheck', 'smoke.mjs'),
]);
const seconds = ((Date.now() - started) / 1000).toFixed(1);
const verdict = status === 0 ? 'clean' : status === 99 ? 'memcheck errors (above)' : `the smoke script failed (exit ${status})`;
console.log(`test:valgrind: ${verdict} in ${seconds} s`);
process.exit(status === 0 ? 0 : 1);

#!/usr/bin/env node
// npm run test:asan: builds the addon with AddressSanitizer and
// UndefinedBehaviorSanitizer into build-asan/ (never build/, so it cannot
// shadow the normal build), then runs the test files that exercise native
// code with that build loaded in every process, fixtures included.
//
// node itself is not instrumented, so the sanitizer runtimes are preloaded
// (LD_PRELOAD, inherited by every child). Every report goes to a log file in
// build-asan/reports/, which this script reads at the end, so a report from
// any process counts, even one whose exit status no test looks at:
//   - any AddressSanitizer error or UBSan runtime error fails the run (the
//     process that hits it also aborts at once);
//   - a leak fails the run when the code that allocated it is the addon's.
//     LeakSanitizer checks every process at exit, and each vitest worker at
//     the end of its test file (test/setup/sanitizers.ts: vitest kills its
//     workers too soon for the check at exit). Leaks allocated by node, V8 or
//     the other programs the tests start (sh, tail: they get the preload too)
//     are only counted. They never change an exit status (exitcode=0), so
//     fixtures behave as usual.
// Linux with gcc (libasan, libubsan) only. Extra arguments go to vitest; test
// files among them replace the default list.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const buildDir = join(root, 'build-asan');
const addon = join(buildDir, 'RelWithDebInfo', 'posix_ipc.node');
const reports = join(buildDir, 'reports');

// Every test file that calls into the addon (ring.test.ts is pure TypeScript).
const FILES = [
  'test/smoke.test.ts',
  'test/native-hardening.test.ts',
  'test/fd.test.ts',
  'test/socket.test.ts',
  'test/tcp.test.ts',
  'test/process.test.ts',
  'test/semaphore.test.ts',
  'test/shm.test.ts',
  'test/futex.test.ts',
  'test/unnamed-semaphore.test.ts',
  'test/channels.test.ts',
  'test/shm-channel.test.ts',
  'test/fd-passing.test.ts',
];

function fail(message) {
  console.error(`test:asan: ${message}`);
  process.exit(1);
}

function run(file, args, env = process.env) {
  const r = spawnSync(file, args, { cwd: root, env, stdio: 'inherit' });
  if (r.error) fail(`${file}: ${r.error.message}`);
  return r.status ?? 128;
}

// 1. The instrumented build: configured every time (a changed option must
// reach CMake's cache), compiled incrementally. float-cast-overflow is not
// part of gcc's "undefined" group.
const cmakeJs = join(root, 'node_modules', '.bin', 'cmake-js');
const common = ['--log-level', 'warn', '--out', buildDir, '--config', 'RelWithDebInfo'];
const configured = run(cmakeJs, ['configure', ...common, '--CDPOSIX_IPC_SANITIZE=address,undefined,float-cast-overflow']);
if (configured !== 0 || run(cmakeJs, ['build', ...common, '--parallel', '2']) !== 0 || !existsSync(addon)) {
  fail('the sanitizer build failed');
}

// 2. The runtimes the addon was linked against, as the dynamic loader finds them.
const ldd = spawnSync('ldd', [addon], { encoding: 'utf8' });
const runtime = (lib) => ldd.stdout.match(new RegExp(`${lib}\\.so\\.\\d+ => (\\S+)`))?.[1];
const preload = [runtime('libasan'), runtime('libubsan')];
if (preload.some((p) => p === undefined)) fail(`${addon} is not linked against libasan and libubsan:\n${ldd.stdout}`);

rmSync(reports, { recursive: true, force: true });
mkdirSync(reports, { recursive: true });
const frames = "stack_trace_format='    #%n %p %F %L {%m}'"; // {module} on every frame, for the leak triage
const env = {
  ...process.env,
  POSIX_IPC_ADDON: addon,
  LD_PRELOAD: [...preload, process.env.LD_PRELOAD].filter(Boolean).join(':'),
  // abort_on_error: an error kills its process at once (SIGABRT) whatever
  // exitcode says; exitcode=0 only keeps leak reports from changing exit codes.
  ASAN_OPTIONS: [
    'detect_leaks=1',
    'exitcode=0',
    'abort_on_error=1',
    'disable_coredump=1',
    'strict_init_order=1',
    'check_initialization_order=1',
    'detect_stack_use_after_return=1',
    `log_path=${join(reports, 'asan')}`,
    frames,
    process.env.ASAN_OPTIONS, // the caller's, last, win
  ]
    .filter(Boolean)
    .join(':'),
  // use_tls=0: gcc 12's LeakSanitizer can record a bogus dynamic-TLS range
  // (glibc 2.36) and crash its stop-the-world tracer scanning it. Objects
  // only a thread-local points at would then look leaked; ours are all
  // owned by something else as well (environment cleanup hooks).
  LSAN_OPTIONS: ['use_tls=0', process.env.LSAN_OPTIONS].filter(Boolean).join(':'),
  UBSAN_OPTIONS: [
    'halt_on_error=1',
    'print_stacktrace=1',
    'abort_on_error=1',
    'disable_coredump=1',
    `log_path=${join(reports, 'ubsan')}`,
    frames,
    process.env.UBSAN_OPTIONS,
  ]
    .filter(Boolean)
    .join(':'),
};

// 3. Proof that the instrumented build is what the library loads.
const probe = `
  import { readFileSync } from 'node:fs';
  await import('./lib/internal/native.ts');
  const maps = readFileSync('/proc/self/maps', 'utf8');
  if (!maps.includes(process.env.POSIX_IPC_ADDON) || !/libasan\\.so/.test(maps)) process.exit(3);
`;
if (run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], env) !== 0) {
  fail('the library did not load the sanitizer build');
}

// 4. The tests.
const started = Date.now();
const extra = process.argv.slice(2);
const files = extra.some((a) => a.endsWith('.test.ts')) ? [] : FILES;
// UBSan writes to stderr whatever log_path says when ASan is loaded too (gcc's
// two runtimes share exported helpers), so stderr is scanned as well.
const vitest = spawn(
  join(root, 'node_modules', '.bin', 'vitest'),
  ['run', '--config', 'test/setup/vitest.sanitizers.config.ts', ...files, ...extra],
  {
    cwd: root,
    env,
    stdio: ['inherit', 'inherit', 'pipe'],
  },
);
let stderr = '';
vitest.stderr.on('data', (chunk) => {
  process.stderr.write(chunk);
  stderr += chunk.toString();
});
const status = await new Promise((resolve) => vitest.on('close', (code) => resolve(code ?? 128)));
const seconds = ((Date.now() - started) / 1000).toFixed(1);

// 5. The reports.
const RUNTIME_LIBS = /^(libasan|libubsan|libstdc\+\+|libc|libgcc_s|libm)\.so/;
const ours = [];
const errors = [];
let foreignLeaks = 0;
// Anything but a leak report: ASan errors, UBSan errors, a sanitizer's own
// fatal error (LeakSanitizer cannot stop the world, ...), a deadly signal.
const ERROR = /runtime error:|==\d+==ERROR: (?!LeakSanitizer: detected memory leaks)|Sanitizer has encountered a fatal error|DEADLYSIGNAL/;
if (ERROR.test(stderr)) errors.push('(on stderr, above)');
for (const name of readdirSync(reports)) {
  const text = readFileSync(join(reports, name), 'utf8');
  if (ERROR.test(text)) errors.push(`${name}:\n${text}`);
  // Leak blocks: "Direct leak of N byte(s) ..." then one frame per line.
  for (const block of text.split(/\n(?=(?:Direct|Indirect) leak of )/).slice(1)) {
    if (!block.startsWith('Direct')) continue; // reachable from a direct leak, judged with it
    const modules = [...block.matchAll(/^\s+#\d+ .*\{(.*)\}$/gm)].map((m) => m[1]);
    const allocator = modules.find((m) => !RUNTIME_LIBS.test(basename(m)));
    if (allocator === addon) ours.push(`${name}:\n${block.trimEnd()}`);
    else foreignLeaks++;
  }
}
if (foreignLeaks > 0) console.log(`test:asan: ${foreignLeaks} leak(s) allocated by node, V8 or other programs (not ours; ignored)`);
for (const e of errors) console.error(e);
for (const l of ours) console.error(`Leak allocated by the addon, in ${l}\n`);
console.log(
  `test:asan: vitest exit ${status} in ${seconds} s; ${errors.length} sanitizer error report(s); ${ours.length} leak(s) from the addon`,
);
process.exit(status !== 0 || errors.length > 0 || ours.length > 0 ? 1 : 0);

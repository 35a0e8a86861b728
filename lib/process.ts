/**
 * Child processes started with fork + exec and an exact descriptor map.
 *
 * {@link spawn} runs a program; {@link forkNode} runs a JavaScript module in a
 * new Node.js process (this library's safe answer to `fork()`: see
 * docs/process.md for why a running V8 isolate is never duplicated). The
 * child gets exactly the descriptors named in `fds` and nothing else, all
 * signals at their defaults and an empty signal mask. Exec failures are
 * thrown by the call itself, with the errno of the child's failed step.
 *
 * Children are watched one by one (a pidfd on the event loop on Linux, a
 * small dedicated thread elsewhere) and never with `waitpid(-1)` or a
 * SIGCHLD handler, so `node:child_process` keeps working beside this module.
 * @module
 */
import { constants as osConstants } from 'node:os';
import { fileURLToPath } from 'node:url';

import { isSystemError, systemError } from './errors.js';
import { validateFd, validateInteger, validateObject, validateOptions, validateString } from './internal/validators.js';
import { native, type ChildHandle, type ExitCallback } from './internal/native.js';

/**
 * A descriptor map: `{ [childFd]: parentFd }`. The child's descriptor
 * `childFd` refers to what the parent's `parentFd` refers to, without
 * close-on-exec; every descriptor not named is closed in the child.
 * Several child fds may share one parent fd; the map may be cyclic
 * (`{ 3: 4, 4: 3 }` swaps them).
 */
export type FdMap = Readonly<Record<number, number>>;

/** An environment for the child: `undefined` values are left out. */
export type ChildEnv = Readonly<Record<string, string | undefined>>;

/** Options of {@link spawn}. */
export interface SpawnOptions {
  /** The child's descriptors. Default `{ 0: 0, 1: 1, 2: 2 }`; `{}` gives it none. */
  fds?: FdMap;
  /** The child's environment (also where the PATH search looks). Default `process.env`. */
  env?: ChildEnv;
  /** The child's working directory. Default: the parent's. */
  cwd?: string | URL;
  /** `argv[0]` as the program sees it. Default: `file`. */
  argv0?: string;
}

/** Options of {@link forkNode}. */
export interface ForkNodeOptions {
  /** Arguments after the module path (`process.argv.slice(2)` in the child). */
  args?: readonly string[];
  /** The child's descriptors, as in {@link SpawnOptions.fds}. Default `{ 0: 0, 1: 1, 2: 2 }`. */
  fds?: FdMap;
  /** The child's environment. Default `process.env`. */
  env?: ChildEnv;
  /** The child's working directory; a relative `modulePath` is resolved from it. */
  cwd?: string | URL;
  /**
   * Node options placed before the module path, e.g. `['--import', 'tsx']`.
   * Default: `process.execArgv` without the options that make no sense in a
   * second process (`--eval`/`--print`, `--inspect*`/`--debug*`, `--watch*`,
   * `--test*`); see {@link defaultExecArgv}.
   */
  execArgv?: readonly string[];
}

/** How a child ended, like the `(code, signal)` of Node's `'exit'` event: exactly one is non-null. */
export interface ExitStatus {
  /** The exit code when the child exited by itself. */
  code: number | null;
  /** The signal that killed it, such as `'SIGTERM'`. */
  signal: NodeJS.Signals | null;
}

const signalNumbers = osConstants.signals as Readonly<Record<string, number>>;
const signalNames = new Map<number, NodeJS.Signals>(Object.entries(signalNumbers).map(([name, num]) => [num, name as NodeJS.Signals]));

function signalNumber(value: unknown): number {
  if (typeof value === 'string') {
    const num = Object.hasOwn(signalNumbers, value) ? signalNumbers[value] : undefined;
    if (num === undefined) throw new TypeError(`The "signal" argument must be a signal name such as 'SIGTERM'. Received '${value}'`);
    return num;
  }
  if (typeof value === 'number') return validateInteger(value, 'signal', 0, 64);
  throw new TypeError(`The "signal" argument must be a signal name or number. Received type ${typeof value}`);
}

function exitStatus(code: number, signo: number): ExitStatus {
  if (signo === 0) return { code, signal: null };
  return { code: null, signal: signalNames.get(signo) ?? (`SIG${signo}` as NodeJS.Signals) };
}

const kCreate = Symbol('Child.create');
/** Starts the process, given the callback its exit is reported to. */
type Launch = (onExit: ExitCallback) => [ChildHandle, number];

/**
 * A running (or finished) child process. Its exit is collected without
 * blocking the event loop; `exited` resolves once it is.
 */
export class Child {
  /** The child's process id. */
  readonly pid: number;
  /**
   * Resolves with the exit status once the child has ended and been reaped.
   * Rejects (`ECHILD`, syscall `waitpid`) only if something else in the
   * process reaped it first (a `waitpid(-1)` elsewhere). Never rejects
   * unobserved: an ignored `exited` cannot crash the process.
   */
  readonly exited: Promise<ExitStatus>;
  readonly #handle: ChildHandle;
  #status: ExitStatus | null = null;
  #settle: (err: Error | null, status: ExitStatus | null) => void = () => {};

  /** @internal Use {@link spawn} or {@link forkNode}. */
  constructor(token: symbol, launch: Launch) {
    if (token !== kCreate) throw new TypeError('Child objects are created by spawn() and forkNode()');
    this.exited = new Promise<ExitStatus>((resolve, reject) => {
      this.#settle = (err, status) => (err ? reject(err) : resolve(status!));
    });
    this.exited.catch(() => {}); // a rejection nobody awaits must not crash the process
    // The native reaper reports on the loop thread, never during launch().
    [this.#handle, this.pid] = launch((err, code, signo) => this.#onExit(err, code, signo));
  }

  /** The exit status once known (after `exited` resolved or `waitSync()`), else `null`. */
  get status(): ExitStatus | null {
    return this.#status;
  }

  #onExit(err: Error | null, code: number, signo: number): void {
    if (this.#status !== null) return; // waitSync() got there first
    if (err) {
      this.#settle(err, null);
      return;
    }
    this.#status = exitStatus(code, signo);
    this.#settle(null, this.#status);
  }

  /**
   * Sends `signal` (a name such as `'SIGKILL'`, or a number; `0` only checks
   * that the child is there). Returns `false` when the child has already been
   * reaped (the OS is not asked: its pid may belong to another process by
   * now). A child that exited but was not yet reaped still holds its pid, so
   * the call is safe and returns `true`.
   * Throws `TypeError` for an unknown signal name, `EINVAL` (syscall `kill`)
   * for a number the OS does not know.
   */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    const signo = signalNumber(signal);
    if (this.#status !== null) return false;
    return native.childKill(this.#handle, signo);
  }

  /**
   * Blocks the calling thread until the child exits, and returns its status;
   * `exited` then resolves with the same value. For scripts and tests: event
   * loop code awaits `exited`. Throws `ECHILD` (syscall `waitpid`) if
   * something else reaped the child.
   */
  waitSync(): ExitStatus {
    if (this.#status !== null) return this.#status;
    let code: number;
    let signo: number;
    try {
      [code, signo] = native.childWaitSync(this.#handle);
    } catch (err) {
      if (isSystemError(err)) this.#settle(err, null);
      throw err;
    }
    this.#status = exitStatus(code, signo);
    this.#settle(null, this.#status);
    return this.#status;
  }

  /** Lets the pending exit keep the event loop alive (the default, like `child_process`). */
  ref(): this {
    if (this.#status === null) native.childSetRef(this.#handle, true);
    return this;
  }

  /** The process may exit while this child still runs; the child is not killed. */
  unref(): this {
    if (this.#status === null) native.childSetRef(this.#handle, false);
    return this;
  }

  /**
   * For `await using`: sends `SIGTERM` if the child has not exited, then waits
   * for it. A child that ignores SIGTERM keeps this waiting.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#status === null) this.kill('SIGTERM');
    await this.exited;
  }
}

function validateArgs(value: unknown, name: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new TypeError(`The "${name}" argument must be an array of strings. Received type ${typeof value}`);
  return value.map((a, i) => validateString(a, `${name}[${i}]`));
}

function validateNonEmpty(value: unknown, name: string): string {
  if (validateString(value, name) === '') throw new TypeError(`The "${name}" argument must be a non-empty string`);
  return value as string;
}

function validatePathLike(value: unknown, name: string): string {
  return validateNonEmpty(value instanceof URL ? fileURLToPath(value) : value, name);
}

/** `{ [childFd]: parentFd }` as a flat `[childFd, parentFd, ...]` list, every parent fd checked open. */
function validateFdMap(value: unknown): number[] {
  if (value === undefined) return [0, 0, 1, 1, 2, 2];
  const map = validateObject(value, 'options.fds');
  const flat: number[] = [];
  for (const key of Object.keys(map)) {
    if (!/^(0|[1-9]\d{0,9})$/.test(key) || Number(key) > 2 ** 31 - 1) {
      throw new RangeError(`The keys of "options.fds" must be descriptor numbers (integers >= 0). Received '${key}'`);
    }
    const name = `options.fds[${key}]`;
    const parentFd = validateFd(map[key], name);
    try {
      native.getFlags(parentFd);
    } catch (err) {
      if (isSystemError(err, 'EBADF')) {
        throw systemError('EBADF', 'fcntl', undefined, `bad file descriptor: ${name} is ${parentFd}, which is not open`);
      }
      throw err;
    }
    flat.push(Number(key), parentFd);
  }
  return flat;
}

function validateEnv(value: unknown): { entries: string[]; path: string | undefined } {
  const env = value === undefined ? process.env : validateObject(value, 'options.env');
  const entries: string[] = [];
  for (const [key, val] of Object.entries(env)) {
    if (val === undefined) continue;
    if (key === '' || key.includes('=') || key.includes('\0')) {
      throw new TypeError(`The keys of "options.env" must be non-empty names without '=' or null bytes. Received '${key}'`);
    }
    entries.push(`${key}=${validateString(val, `options.env.${key}`)}`);
  }
  const path = env.PATH;
  return { entries, path: typeof path === 'string' ? path : undefined };
}

/** execvp's search, done before fork: the child only tries the list. */
function execCandidates(file: string, searchPath: string | undefined): string[] {
  if (file.includes('/')) return [file];
  // The child's PATH, as libuv does; confstr(_CS_PATH)'s usual value without one.
  return (searchPath ?? '/usr/bin:/bin').split(':').map((dir) => `${dir === '' ? '.' : dir}/${file}`);
}

const usePidfd = process.platform === 'linux' && !['1', 'true'].includes(process.env.POSIX_IPC_NO_PIDFD ?? '');

function start(file: string, argv: string[], fdMap: number[], env: { entries: string[]; path: string | undefined }, cwd: string): Child {
  const candidates = execCandidates(file, env.path);
  return new Child(kCreate, (onExit) => native.spawnChild(file, candidates, argv, env.entries, cwd, fdMap, usePidfd, onExit));
}

/**
 * Starts `file` with `args` in a new process (fork + exec), like
 * `child_process.spawn` but with an exact descriptor map and no pipes of its
 * own. A `file` without a `/` is searched in the child's `PATH` (execvp's
 * rules: a permission error on the way wins over "not found"; no `/bin/sh`
 * fallback for scripts without a `#!` line).
 *
 * Returns once the program has been exec'd. Throws, with no process left
 * behind (the failed child is reaped first):
 * - `ENOENT`/`EACCES`/`ENOEXEC`/... (syscall `execve`, `path` = `file`) when
 *   the program cannot be run;
 * - `ENOENT`/`ENOTDIR`/`EACCES` (syscall `chdir`, `path` = `cwd`) for a bad `cwd`;
 * - `EBADF` (syscall `fcntl`) before forking when a parent fd of the map is not open;
 * - `EMFILE` (syscall `fcntl`/`dup2`) when the child cannot place its descriptors;
 * - `EAGAIN` (syscall `fork`) at the process limit;
 * - `TypeError`/`RangeError` naming the argument for invalid arguments.
 *
 * @example
 * const [r, w] = pipe();
 * const child = spawn('sh', ['-c', 'echo hi >&3'], { fds: { 0: 0, 1: 1, 2: 2, 3: w } });
 * closeSync(w);
 * await child.exited; // { code: 0, signal: null }
 */
export function spawn(file: string, args?: readonly string[], options?: SpawnOptions): Child {
  validateNonEmpty(file, 'file');
  const argList = validateArgs(args, 'args');
  const opts = validateOptions(options);
  const argv0 = opts.argv0 === undefined ? file : validateString(opts.argv0, 'options.argv0');
  const cwd = opts.cwd === undefined ? '' : validatePathLike(opts.cwd, 'options.cwd');
  const env = validateEnv(opts.env);
  const fdMap = validateFdMap(opts.fds);
  return start(file, [argv0, ...argList], fdMap, env, cwd);
}

// Node options that belong to the parent alone: running code given on the
// command line, a debugger port, a file watcher, the test runner.
const PARENT_ONLY_WITH_VALUE = new Set([
  '--eval',
  '-e',
  '--print',
  '-p',
  '-pe',
  '-ep',
  '--input-type',
  '--inspect-port',
  '--debug-port',
  '--watch-path',
  '--test-reporter',
  '--test-reporter-destination',
  '--test-name-pattern',
  '--test-skip-pattern',
  '--test-concurrency',
  '--test-timeout',
  '--test-shard',
  '--test-coverage-include',
  '--test-coverage-exclude',
]);
const PARENT_ONLY = /^(--eval|--print|-[ep]+|--input-type|--inspect|--debug|--watch|--test)(=|-|$)/;

/**
 * The Node options {@link forkNode} passes by default: `process.execArgv`
 * without `--eval`/`-e`/`--print`/`-p` (and their code), `--input-type`,
 * `--inspect*`/`--debug*` (the port is taken), `--watch*` and `--test*`.
 * Everything else (`--import`, `--require`, `--conditions`, `--loader`,
 * memory and V8 flags) is kept, so a child starts like its parent.
 */
export function defaultExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (PARENT_ONLY_WITH_VALUE.has(arg)) {
      i++; // and its value
      continue;
    }
    if (PARENT_ONLY.test(arg)) continue;
    out.push(arg);
  }
  return out;
}

/**
 * Starts a new Node.js process (`process.execPath`) running the module at
 * `modulePath` (a path, or a `file:` URL), with the same descriptor wiring as
 * {@link spawn}. The child shares nothing with the parent but the mapped
 * descriptors and the environment: no IPC channel is set up (map a
 * {@link pipe} instead). A `.ts` module runs with `execArgv: ['--import', 'tsx']`.
 *
 * Throws what {@link spawn} throws.
 */
export function forkNode(modulePath: string | URL, options?: ForkNodeOptions): Child {
  const path = validatePathLike(modulePath, 'modulePath');
  const opts = validateOptions(options);
  const args = validateArgs(opts.args, 'options.args');
  const execArgv = opts.execArgv === undefined ? defaultExecArgv() : validateArgs(opts.execArgv, 'options.execArgv');
  const cwd = opts.cwd === undefined ? '' : validatePathLike(opts.cwd, 'options.cwd');
  const env = validateEnv(opts.env);
  const fdMap = validateFdMap(opts.fds);
  return start(process.execPath, [process.execPath, ...execArgv, path, ...args], fdMap, env, cwd);
}

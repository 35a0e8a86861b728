// A fixture from test/fixtures/ in its own process, started with forkNode
// (run by tsx), its stdout read line by line and, on request, a stdin to
// write to. Handshakes are lines the fixture prints, never sleeps.
import type { Socket } from 'node:net';

import { closeSync, forkNode, pipe, streamFromFd, type Child, type ExitStatus } from '../../lib/index.js';
import { within } from './helpers.js';

/** True while `pid` names a process that has not exited (a zombie counts as exited): the library's own check. */
export { isAlive as isRunning } from '../../lib/internal/liveness.js';

export interface FixtureProcess {
  readonly child: Child;
  /** Everything printed so far. */
  output(): string;
  /** Resolves with the first match once the fixture printed it; fails after `ms`. */
  waitFor(pattern: RegExp | string, ms?: number): Promise<RegExpExecArray>;
  /** Writes to the fixture's stdin (started with `stdin: true`). */
  write(text: string): void;
  /** Closes the fixture's stdin: the fixtures take that as "stop". */
  endInput(): void;
  /** SIGKILLs the fixture if it still runs, waits for it and closes the pipes. */
  stop(): Promise<ExitStatus>;
}

export interface FixtureOptions {
  env?: NodeJS.ProcessEnv;
  /** More descriptors for the child, e.g. `{ 3: pipeEnd }`. */
  fds?: Record<number, number>;
  /** Give the child a stdin pipe (else it has no fd 0). */
  stdin?: boolean;
}

/** What a process printed so far, and a bounded wait for a pattern in it. */
export interface OutputWatch {
  output(): string;
  /** Resolves with the first match of `pattern` (a string matches literally) in the output, within `ms`. */
  waitFor(pattern: string | RegExp, ms?: number): Promise<RegExpExecArray>;
}

/** Collects `stdout` of the program named `what` as text (for its messages), from now on. */
export function watchOutput(stdout: Socket, what: string): OutputWatch {
  let text = '';
  const listeners = new Set<() => void>();
  stdout.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    for (const l of listeners) l();
  });
  return {
    output: () => text,
    waitFor(pattern, ms = 15_000) {
      const re = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern;
      return within(
        ms,
        `${what} to print ${re}`,
        new Promise<RegExpExecArray>((resolve) => {
          const check = (): void => {
            const m = re.exec(text);
            if (m) {
              listeners.delete(check);
              resolve(m);
            }
          };
          listeners.add(check);
          check();
        }),
      ).catch((err: unknown) => {
        if (err instanceof Error) err.message += `; it had printed: ${JSON.stringify(text.slice(-400))}`;
        throw err;
      });
    },
  };
}

export function fixturePath(file: string): string {
  return new URL(`../fixtures/${file}`, import.meta.url).pathname;
}

export function startFixture(file: string, args: string[] = [], options: FixtureOptions = {}): FixtureProcess {
  const [outR, outW] = pipe();
  const [inR, inW] = options.stdin ? pipe() : [undefined, undefined];
  const fds: Record<number, number> = { 1: outW, 2: 2, ...options.fds };
  if (inR !== undefined) fds[0] = inR;
  let child: Child;
  try {
    child = forkNode(fixturePath(file), { execArgv: ['--import', 'tsx'], args, env: options.env ?? process.env, fds });
  } finally {
    closeSync(outW);
    if (inR !== undefined) closeSync(inR);
  }
  const stdout = streamFromFd(outR, 'r');
  const stdin: Socket | undefined = inW === undefined ? undefined : streamFromFd(inW, 'w');
  stdin?.on('error', () => {}); // the fixture may be gone (EPIPE): stop() reports how it ended
  const watch = watchOutput(stdout, file);
  return {
    child,
    output: watch.output,
    waitFor: watch.waitFor,
    write(t) {
      stdin!.write(t);
    },
    endInput() {
      stdin!.end();
    },
    async stop() {
      if (child.status === null) child.kill('SIGKILL');
      const status = await within(15_000, `${file} to exit`, child.exited);
      stdin?.destroy();
      stdout.destroy();
      return status;
    },
  };
}

/**
 * A benchmark process driven by lines: `node --import tsx <script> ...` in
 * a child process of its own, commands written to its stdin, answers read
 * by lines from its stdout. Every wait is bounded; `stop()` ends its stdin
 * (the script closes what it opened and exits), then SIGKILLs it after 5 s.
 * The transaction sites (tx/sites.ts) and the group members
 * (group/members.ts) run this way.
 * @module
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

import { tsxExecArgv } from './registry.js';

/** A running line-driven process. */
export interface LineProcess {
  /** Its first answer (what followed "ready"). */
  readonly url: string;
  readonly what: string;
  readonly pid: number;
  /** Writes a command line. */
  send(line: string): void;
  /** The next line it prints, which must start with `prefix` ("failed ..." or an exit rejects); within `ms`. */
  next(prefix: string, ms: number): Promise<string>;
  stop(): Promise<void>;
}

/** Starts `script <args>` and waits for its "ready" line. */
export async function startLineProcess(
  script: string,
  what: string,
  args: string[],
  timeoutMs = 30_000,
  execArgv: string[] = [],
): Promise<LineProcess> {
  const child = spawn(process.execPath, [...execArgv, ...tsxExecArgv(), script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = `${what} exited (${code ?? signal})`;
      wake?.();
      resolve();
    }),
  );
  child.stdin.on('error', () => undefined); // a child that died: reported by next()
  createInterface({ input: child.stdout }).on('line', (line) => {
    queue.push(line);
    wake?.();
  });
  const next = async (prefix: string, ms: number): Promise<string> => {
    const deadline = performance.now() + ms;
    for (;;) {
      const line = queue.shift();
      if (line !== undefined) {
        if (line.startsWith(prefix)) return line.slice(prefix.length).trim();
        throw new Error(`${what}: expected '${prefix}', got: ${line.slice(0, 2000)}`);
      }
      if (exited !== undefined) throw new Error(exited);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${what}: no '${prefix}' within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = undefined;
    }
  };
  const stop = async (): Promise<void> => {
    if (exited === undefined) child.stdin.end();
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(t);
  };
  try {
    const url = await next('ready', timeoutMs);
    return { url, what, pid: child.pid!, send: (line) => void child.stdin.write(`${line}\n`), next, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

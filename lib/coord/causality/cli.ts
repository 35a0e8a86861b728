#!/usr/bin/env node
/**
 * `posix-ipc-trace`: trace files in, views out.
 *
 * ```
 * posix-ipc-trace diagram <out.html|-> <trace>...   the space-time diagram (one offline HTML page)
 * posix-ipc-trace shiviz <out.log|-> <trace>...     the ShiViz log
 * posix-ipc-trace check <trace>...                  the causality violations; exit 1 if any
 * ```
 *
 * The traces are merged first (one file per process, or any mix). An output
 * file is created exclusively with mode 0600 (`-`: standard output). Exit
 * status 2 for a usage or trace error, with the reason on standard error.
 * @module
 */
import { writeFile } from 'node:fs/promises';

import { runIfMain } from '../../internal/cli-main.js';
import { toSpaceTimeHtml } from './diagram.js';
import { toShiViz } from './shiviz.js';
import { readTrace, Trace } from './trace.js';
import { findCausalityViolations } from './violations.js';

const USAGE = `usage: posix-ipc-trace diagram <out.html|-> <trace>...
       posix-ipc-trace shiviz <out.log|-> <trace>...
       posix-ipc-trace check <trace>...
`;

/** Runs the CLI on `args` (without node and the script); resolves with the exit status. @internal */
export async function traceCli(args: readonly string[], stdout: (s: string) => void, stderr: (s: string) => void): Promise<number> {
  const [command, ...rest] = args;
  const load = async (files: readonly string[]): Promise<Trace> => Trace.merge(...(await Promise.all(files.map((f) => readTrace(f)))));
  const emit = async (out: string, text: string): Promise<void> => {
    if (out === '-') stdout(text);
    else await writeFile(out, text, { flag: 'wx', mode: 0o600 });
  };
  try {
    if ((command === 'diagram' || command === 'shiviz') && rest.length >= 2) {
      const [out, ...files] = rest;
      const trace = await load(files);
      await emit(
        out!,
        command === 'diagram' ? toSpaceTimeHtml(trace, { title: `Space-time diagram of ${trace.processes.join(', ')}` }) : toShiViz(trace),
      );
      return 0;
    }
    if (command === 'check' && rest.length >= 1) {
      const violations = findCausalityViolations(await load(rest));
      for (const v of violations) stdout(`violation: ${v.description}\n`);
      if (violations.length === 0) stdout('no causality violation\n');
      return violations.length === 0 ? 0 : 1;
    }
    stderr(USAGE);
    return 2;
  } catch (err) {
    stderr(`posix-ipc-trace: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
}

await runIfMain(import.meta.url, traceCli);

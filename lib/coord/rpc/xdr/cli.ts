#!/usr/bin/env node
/**
 * `posix-ipc-rpcgen`: compiles an rpcgen `.x` file to a TypeScript module.
 *
 * ```
 * posix-ipc-rpcgen file.x [-o out.ts|-] [--import-from specifier] [-D NAME[=value]]...
 * ```
 *
 * The output defaults to `file.ts` beside the input (`-`: standard output);
 * a new file is created with mode 0600, an existing one is replaced (a
 * regenerated stub). `--import-from` is the module the generated code takes
 * the runtime from (default `posix-ipc`); `-D` defines a macro for `#ifdef`
 * and `#if`. Exit status 2 for a usage or compile error, with the reason
 * (`file:line:column: ...`) on standard error.
 * @module
 */
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';

import { runIfMain } from '../../../internal/cli-main.js';
import { compileXdr } from './lang/index.js';

const USAGE = 'usage: posix-ipc-rpcgen file.x [-o out.ts|-] [--import-from specifier] [-D NAME[=value]]...\n';

/** Runs the CLI on `args` (without node and the script); resolves with the exit status. @internal */
export async function rpcgenCli(args: readonly string[], stdout: (s: string) => void, stderr: (s: string) => void): Promise<number> {
  let input: string | undefined;
  let out: string | undefined;
  let importFrom: string | undefined;
  const defines: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string | undefined => args[++i];
    if (a === '-o') out = value();
    else if (a === '--import-from') importFrom = value();
    else if (a === '-D' || (a.startsWith('-D') && a.length > 2)) {
      const d = a === '-D' ? value() : a.slice(2);
      if (d === undefined) return (stderr(USAGE), 2);
      const eq = d.indexOf('=');
      defines[eq < 0 ? d : d.slice(0, eq)] = eq < 0 ? '1' : d.slice(eq + 1);
    } else if (a === '-h' || a === '--help') return (stdout(USAGE), 0);
    else if (a.startsWith('-') || input !== undefined) return (stderr(USAGE), 2);
    else input = a;
    if ((a === '-o' || a === '--import-from') && args[i] === undefined) return (stderr(USAGE), 2);
  }
  if (input === undefined) return (stderr(USAGE), 2);
  try {
    const ts = compileXdr(await readFile(input, 'utf8'), { file: input, importFrom, defines });
    const target = out ?? input.replace(/(\.x)?$/, '.ts');
    if (target === '-') stdout(ts);
    else {
      // Written beside the target, then renamed over it: a reader never sees half a file.
      const tmp = `${target}.${process.pid}.tmp`;
      await writeFile(tmp, ts, { flag: 'wx', mode: 0o600 });
      await rename(tmp, target).catch(async (err: unknown) => {
        await unlink(tmp).catch(() => {});
        throw err;
      });
    }
    return 0;
  } catch (err) {
    stderr(`posix-ipc-rpcgen: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
}

await runIfMain(import.meta.url, rpcgenCli);

/**
 * How a command-line module runs when it is the program, and stays quiet
 * when it is imported (by a test that calls its function with its own
 * output streams).
 * @internal
 * @module
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** A command: its arguments and where it writes; resolves with the exit code. */
export type Cli = (args: readonly string[], stdout: (s: string) => void, stderr: (s: string) => void) => number | Promise<number>;

/** True when the module at `moduleUrl` is the script node was started with (through links too). */
export function isMainModule(moduleUrl: string): boolean {
  try {
    return process.argv[1] !== undefined && moduleUrl === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false; // argv[1] is not a file: the module was imported
  }
}

/** Runs `cli` on this process's arguments and streams when `moduleUrl` is the program; sets the exit code. */
export async function runIfMain(moduleUrl: string, cli: Cli): Promise<void> {
  if (!isMainModule(moduleUrl)) return;
  process.exitCode = await cli(
    process.argv.slice(2),
    (s) => void process.stdout.write(s),
    (s) => void process.stderr.write(s),
  );
}

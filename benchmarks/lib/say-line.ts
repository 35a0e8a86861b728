/**
 * The child's side of a line-driven benchmark process (line-process.ts):
 * one whole line on stdout. Stdout is a pipe, so a long line may go in parts,
 * or find the pipe full for a moment; this waits at most 30 s.
 * @module
 */
import { writeSync } from 'node:fs';

export function sayLine(line: string): void {
  const b = Buffer.from(`${line}\n`);
  const end = performance.now() + 30_000;
  for (let at = 0; at < b.length;) {
    try {
      at += writeSync(1, b, at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || performance.now() > end) throw err;
    }
  }
}

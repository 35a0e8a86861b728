// Shared test helpers: unique names, temporary FIFO paths, a watchdog.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A unique object name with the prefix the leak gate watches: `/pipc-<tag>-<random>`. */
export function uniqueName(tag: string): string {
  return `/pipc-${tag}-${randomBytes(4).toString('hex')}`;
}

/** A unique path in the temporary directory with the watched prefix. */
export function tempPath(tag: string): string {
  return join(tmpdir(), `pipc-${tag}-${randomBytes(4).toString('hex')}`);
}

export function removePath(path: string): void {
  rmSync(path, { force: true });
}

/** Rejects after `ms`: race it against a multi-process step so nothing hangs. */
export function watchdog(ms: number, what: string): { promise: Promise<never>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`watchdog: ${what} took longer than ${ms} ms`)), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Awaits `p`, failing the test instead of hanging when it takes longer than `ms`. */
export async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  const dog = watchdog(ms, what);
  try {
    return await Promise.race([p, dog.promise]);
  } finally {
    dog.cancel();
  }
}

/** Resolves once `cond()` holds, checked every `everyMs`; fails the test after `ms` (and stops checking). */
export async function until(cond: () => boolean, what: string, ms = 30_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`watchdog: ${what} took longer than ${ms} ms`);
    await sleep(everyMs);
  }
}

/** Children of this process in state Z (exited, not reaped), from /proc. */
export function zombieChildren(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' && Number(fields[1]) === process.pid) out.push(Number(name));
    } catch {
      // the process went away while we looked
    }
  }
  return out;
}

/** A ring waker that wakes nobody: for rings driven by hand in one process. */
export const noWake = { wake: (): void => undefined };

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Runs `op` while a 5 ms interval ticks, and returns how it settled and the
 * largest gap between two ticks (counting from the start and to the end):
 * the longest time the event loop was blocked during `op`.
 */
export async function largestLoopGap<T>(op: () => Promise<T>, ms = 10_000): Promise<{ gap: number; result: PromiseSettledResult<T> }> {
  let last = performance.now();
  let gap = 0;
  const tick = (): void => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  };
  const timer = setInterval(tick, 5);
  try {
    const [result] = await Promise.allSettled([within(ms, 'the operation under the interval', Promise.resolve().then(op))]);
    await sleep(15); // at least one more tick after the operation settled
    tick();
    return { gap, result: result! };
  } finally {
    clearInterval(timer);
  }
}

/**
 * The transaction benchmark's processes: each site (a partition or a
 * client) is `node --import tsx benchmarks/tx/site.ts ...` in a child
 * process of its own, driven by lines on its stdin and read by lines on its
 * stdout (see lib/line-process.ts).
 * @module
 */
import { fileURLToPath } from 'node:url';

import { startLineProcess, type LineProcess } from '../lib/line-process.js';

const SCRIPT = fileURLToPath(new URL('./site.ts', import.meta.url));

/** A running site; its `url` is where it listens (from its "ready <url>"). */
export type SiteProcess = LineProcess;

/** Starts `site.ts <args>` and waits for its "ready" line. */
export function startSite(what: string, args: string[], timeoutMs = 30_000): Promise<SiteProcess> {
  return startLineProcess(SCRIPT, what, args, timeoutMs);
}

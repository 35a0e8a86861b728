#!/usr/bin/env node
/**
 * `posix-ipc`: the command-line tool. `ls` lists what posix-ipc made on this
 * machine for this user (registered names, shared-memory channel segments,
 * FIFOs and socket files of channels) with each owner's pid and whether it
 * is alive; `clean` removes exactly what dead owners left. See docs/names.md.
 *
 * Exit codes: 0 done (`ls` always, when it could read); 1 `clean` could not
 * remove something a dead owner left (it says what); 2 usage error; 3 the
 * runtime directory is unusable (not private to this user).
 * @module
 */
import { lstatSync } from 'node:fs';

import { scanNames } from './coord/names.js';
import { readLedgers, type LedgerObject } from './internal/ledger.js';
import { runtimeBase } from './internal/runtime-dir.js';

/** One row of the listing. */
interface Row {
  kind: 'name' | 'shm' | 'fifo' | 'socket' | 'file';
  name: string;
  /** For a name: its address. */
  detail: string;
  pid: number;
  alive: boolean;
}

const USAGE = `usage: posix-ipc <command> [options]

commands:
  ls [--json]           list registered names, shm channel segments, FIFOs and sockets
                        posix-ipc made for this user, with owner pid and liveness
  clean [--dry-run] [--json]
                        remove exactly what dead owners left (their objects and names)

The runtime directory is $POSIX_IPC_RUNTIME_DIR, else $XDG_RUNTIME_DIR/posix-ipc,
else <tmpdir>/posix-ipc-<uid>.`;

function fileKind(path: string): Row['kind'] {
  try {
    const st = lstatSync(path);
    if (st.isFIFO()) return 'fifo';
    if (st.isSocket()) return 'socket';
  } catch {
    // gone meanwhile
  }
  return 'file';
}

function objectRow(o: LedgerObject, pid: number, alive: boolean): Row {
  return { kind: o.kind === 'shm' ? 'shm' : fileKind(o.name), name: o.name, detail: '', pid, alive };
}

function listing(): Row[] {
  const rows: Row[] = [];
  for (const e of scanNames(true))
    rows.push({ kind: 'name', name: e.name, detail: e.remote ? `${e.address} (for ${e.remote})` : e.address, pid: e.pid, alive: e.alive });
  for (const l of readLedgers()) for (const o of l.objects) rows.push(objectRow(o, l.pid, l.alive));
  return rows;
}

function clean(dryRun: boolean): { removed: Row[]; left: Row[] } {
  const stale = listing().filter((r) => !r.alive);
  if (dryRun) return { removed: stale, left: [] };
  const removed: Row[] = [];
  const before = new Map(stale.map((r) => [`${r.kind}:${r.name}`, r]));
  // names: a scan that does not keep dead entries removes them
  scanNames(false);
  readLedgers(true);
  const after = new Set(
    listing()
      .filter((r) => !r.alive)
      .map((r) => `${r.kind}:${r.name}`),
  );
  for (const [key, row] of before) if (!after.has(key)) removed.push(row);
  const left = stale.filter((r) => after.has(`${r.kind}:${r.name}`));
  return { removed, left };
}

function table(rows: Row[]): string {
  const head = ['KIND', 'NAME', 'PID', 'OWNER', 'ADDRESS'];
  const cells = rows.map((r) => [r.kind, r.name, String(r.pid), r.alive ? 'alive' : 'dead', r.detail]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return [head, ...cells]
    .map((c) =>
      c
        .map((x, i) => x.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Runs the tool with `argv` (without node and the script); returns the exit code. @internal */
export function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + '\n')): number {
  const [command, ...rest] = argv;
  const flags = new Set(rest);
  const known = command === 'ls' ? ['--json'] : command === 'clean' ? ['--json', '--dry-run'] : [];
  if ((command !== 'ls' && command !== 'clean') || [...flags].some((f) => !known.includes(f))) {
    out(
      command === 'help' || command === '--help' || command === '-h'
        ? USAGE
        : `posix-ipc: ${command === undefined ? 'no command' : `unknown command or option in '${argv.join(' ')}'`}\n${USAGE}`,
    );
    return command === 'help' || command === '--help' || command === '-h' ? 0 : 2;
  }
  const json = flags.has('--json');
  try {
    if (command === 'ls') {
      const rows = listing();
      out(json ? JSON.stringify(rows) : rows.length === 0 ? `nothing in ${runtimeBase()}` : table(rows));
      return 0;
    }
    const dryRun = flags.has('--dry-run');
    const { removed, left } = clean(dryRun);
    if (json) out(JSON.stringify({ dryRun, removed, left }));
    else {
      const verb = dryRun ? 'would remove' : 'removed';
      out(removed.length === 0 ? `nothing to remove in ${runtimeBase()}` : `${verb} ${removed.length}:\n${table(removed)}`);
      if (left.length > 0) out(`could not remove ${left.length}:\n${table(left)}`);
    }
    return left.length > 0 ? 1 : 0;
  } catch (err) {
    out(`posix-ipc: ${err instanceof Error ? err.message : String(err)}`);
    return 3;
  }
}

process.exitCode = main(process.argv.slice(2));

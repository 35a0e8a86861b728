/** What the figures were measured on, recorded with every result file. @module */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  os: string;
  kernel: string;
  arch: string;
  node: string;
  v8: string;
  /** 1-minute load average when the run started and ended: other work on the machine skews figures. */
  loadAverage: { start: number; end?: number };
  /** Linux: the pipe capacity limit for unprivileged processes. */
  pipeMaxSize?: number;
  cc?: string;
  date: string;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1]!.trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

export function compilerVersion(cc: string): string | undefined {
  const r = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n')[0]?.trim() : undefined;
}

export function machineInfo(cc: string): MachineInfo {
  let pipeMaxSize: number | undefined;
  try {
    pipeMaxSize = Number(readFileSync('/proc/sys/fs/pipe-max-size', 'utf8').trim());
  } catch {
    pipeMaxSize = undefined;
  }
  return {
    cpuModel: cpuModel(),
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()}`,
    kernel: os.version(),
    arch: os.arch(),
    node: process.version,
    v8: process.versions.v8,
    loadAverage: { start: os.loadavg()[0]! },
    pipeMaxSize,
    cc: compilerVersion(cc),
    date: new Date().toISOString(),
  };
}

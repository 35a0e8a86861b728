// Network namespaces for the tests whose peers must reach loopback only: a
// fixture runs in a namespace the test makes itself (`unshare -n`, `lo` up,
// no other interface), so whatever it listens on (even 0.0.0.0) cannot be
// reached from outside, and the test process stays in the normal one.
// Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN), util-linux's unshare and
// iproute2's ip (CI: apt-get install util-linux iproute2).
import { execFile, spawnSync } from 'node:child_process';

import { fixturePath } from './fixture-process.js';

export interface NetnsOptions {
  /**
   * Also a private mount namespace with a fresh tmpfs over /run, and a PID
   * namespace whose init is the fixture: daemons that keep state or an
   * AF_UNIX socket in /run (rpcbind's /run/rpcbind.sock, which would
   * otherwise be the host's) see only their own, and the kernel kills every
   * process left in the namespace when the fixture ends, however it ends
   * (`--kill-child`: also when unshare itself is killed).
   */
  privateRun?: boolean;
}

/** The `unshare` argv that runs `argv` in a fresh namespace with `lo` up. */
function unshareArgs(argv: string[], options: NetnsOptions): string[] {
  const setup = ['ip link set lo up'];
  const flags = ['-n'];
  if (options.privateRun) {
    flags.push('-m', '--propagation', 'private', '-p', '--kill-child', '--mount-proc');
    setup.push('mount -t tmpfs -o mode=0755,size=4m tmpfs /run');
  }
  return [...flags, '--', 'sh', '-c', `${setup.join(' && ')} && exec "$0" "$@"`, ...argv];
}

/**
 * Why a fixture cannot run in a network namespace here (`tools`, a command
 * to the Debian package that has it, must be installed too, and `probe`, a
 * shell command, must succeed inside it), or undefined when it can.
 */
export function netnsUnavailable(options: NetnsOptions & { tools?: Record<string, string>; probe?: string } = {}): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  for (const [tool, pkg] of Object.entries({ unshare: 'util-linux', ip: 'iproute2', ...options.tools })) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (apt-get install ${pkg})`;
  }
  const probe = spawnSync('unshare', unshareArgs(['sh', '-c', options.probe ?? 'true'], options), {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (probe.status !== 0) {
    const flags = options.privateRun ? '-n -m -p' : '-n';
    return `unshare ${flags} is not permitted here: ${(probe.stderr || probe.error?.message || `exit ${probe.status}`).trim()}`;
  }
  return undefined;
}

/**
 * Runs test/fixtures/`fixture` (node --import tsx) in a fresh network
 * namespace and resolves with the JSON lines it printed (SIGKILLed after
 * `timeoutMs`); rejects, with its output, when it printed none.
 */
export function runInNetns(fixture: string, args: string[], options: NetnsOptions & { timeoutMs?: number } = {}): Promise<unknown[]> {
  const argv = [process.execPath, '--import', 'tsx', fixturePath(fixture), ...args];
  return new Promise((resolve, reject) => {
    execFile(
      'unshare',
      unshareArgs(argv, options),
      { timeout: options.timeoutMs ?? 100_000, killSignal: 'SIGKILL', maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        const results: unknown[] = [];
        for (const line of stdout.split('\n')) {
          if (!line.startsWith('{')) continue;
          try {
            results.push(JSON.parse(line));
          } catch {
            // not a result line
          }
        }
        if (results.length > 0) resolve(results);
        else reject(new Error(`${fixture} in its namespace printed no result (${err?.message ?? 'exit 0'}): ${stdout} ${stderr}`));
      },
    );
  });
}

/**
 * TEST-ONLY fault injection, so crash tests can stop a peer at an exact point
 * of a transfer instead of killing it at a random moment.
 *
 * `POSIX_IPC_FAULT=<stage>[:<n>]` in a process's environment makes it kill
 * itself with SIGKILL when it reaches `<stage>` for its `n`-th message
 * (0-based, default 0). Stages:
 *
 * - `create`: shared-memory channel; the segment was created exclusively and
 *   sized, its header is still all zero.
 * - `attach`: this channel end attached to the segment; nothing sent.
 * - `reserve`: ring producer; room was found for message n, nothing of it written.
 * - `copy`: ring producer; message n's header and the first half of its
 *   payload are written, the rest is not.
 * - `publish`: ring producer; message n is written but the write index that
 *   makes it visible is not stored.
 * - `wake`: ring producer; message n is published, the consumer announced
 *   that it sleeps, and it has not been woken.
 *
 * The variable is read once, at load. Unset (always, outside tests), `FAULTS`
 * is a constant `false` and every fault point costs one test of it.
 * @internal
 * @module
 */
export type FaultStage = 'create' | 'attach' | 'reserve' | 'copy' | 'publish' | 'wake';

const STAGES: readonly string[] = ['create', 'attach', 'reserve', 'copy', 'publish', 'wake'];

function parse(spec: string | undefined): { stage: FaultStage; n: number } | null {
  if (spec === undefined || spec === '') return null;
  const [stage = '', n = '0'] = spec.split(':');
  if (!STAGES.includes(stage) || !/^\d+$/.test(n)) {
    throw new Error(`POSIX_IPC_FAULT must be <stage>[:<n>] with a stage among ${STAGES.join(', ')}. Received '${spec}'`);
  }
  return { stage: stage as FaultStage, n: Number(n) };
}

const fault = parse(process.env.POSIX_IPC_FAULT);

/** True only in a process started with POSIX_IPC_FAULT: guards every fault point. */
export const FAULTS: boolean = fault !== null;

/** Whether this process must die at `stage` of message `n`. */
export function faultHere(stage: FaultStage, n = 0): boolean {
  return fault !== null && fault.stage === stage && fault.n === n;
}

/** Kills this process at once, as `kill -9` from outside would: no exit hooks, no unwinding. */
export function die(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL was not delivered');
}

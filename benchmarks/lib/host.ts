/**
 * The host process: forked by the orchestrator (run.ts) once per transport,
 * it is peer A of every cell of that transport (the consumer of a stream, the
 * initiator of ping-pong) and starts peer B for each cell: a child process
 * (`kind: 'process'`) or a worker thread (`kind: 'thread'`), or runs it on its
 * own thread (`kind: 'inline'`: the harness's own row). A fresh host per
 * transport keeps one transport's JIT state from colouring another's.
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { VerificationError } from './payload.js';
import type { PeerInit, PeerMessage } from './peer.js';
import { describeError, runPeerB } from './peer.js';
import { loadTransport, tsxExecArgv } from './registry.js';
import { stat } from './stats.js';
import type { CellResult, Ends, Link, LinkSpec, Transport } from './types.js';
import { type Timing, consumeStream, initiatePingPong } from './workloads.js';

/** One measurement: a transport, a workload, a size, batching on or off. */
export interface CellPlan {
  transport: string;
  workload: 'stream' | 'latency';
  size: number;
  batch: number;
  timing: Timing;
}

export type HostRequest = { type: 'cell'; cell: CellPlan } | { type: 'exit' };
export type HostReply = { type: 'result'; result: CellResult } | { type: 'failure'; error: string };

const PEER_PROCESS = fileURLToPath(new URL('./peer-process.ts', import.meta.url));
const PEER_WORKER = new URL('./peer-worker.mjs', import.meta.url);

interface Peer {
  child?: ChildProcess;
  ready: Promise<void>;
  result: Promise<PeerMessage & { type: 'result' }>;
  /** Rejects when peer B fails or exits before reporting; never resolves. */
  failed: Promise<never>;
  go(): void;
  /** Waits for peer B to exit (killing it after `graceMs`). */
  finish(graceMs: number): Promise<void>;
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

function peerEvents(): {
  ready: ReturnType<typeof deferred<void>>;
  result: ReturnType<typeof deferred<PeerMessage & { type: 'result' }>>;
  failed: ReturnType<typeof deferred<never>>;
  dispatch(m: PeerMessage): void;
  /** Peer B is gone: a failure unless it reported first (A may still be draining). */
  exited(why: string): void;
} {
  const ready = deferred<void>();
  const result = deferred<PeerMessage & { type: 'result' }>();
  const failed = deferred<never>();
  for (const d of [ready, result, failed]) d.promise.catch(() => {});
  let reported = false;
  return {
    ready,
    result,
    failed,
    dispatch(m) {
      if (m.type === 'ready') ready.resolve();
      else if (m.type === 'result') {
        reported = true;
        result.resolve(m);
      } else if (m.type === 'error') failed.reject(new Error(`peer B failed: ${m.error}`));
    },
    exited(why) {
      if (!reported) failed.reject(new Error(`peer B ${why} before reporting`));
    },
  };
}

function startProcessPeer(init: PeerInit, link: Link): Peer {
  const stdio = link.stdio ?? [];
  const child = spawn(process.execPath, [...tsxExecArgv(), PEER_PROCESS, JSON.stringify({ ...init, fdCount: stdio.length })], {
    stdio: ['ignore', 'inherit', 'inherit', 'pipe', ...stdio],
    serialization: link.serialization ?? 'json',
  });
  const ev = peerEvents();
  const control = child.stdio[3] as Socket; // a 'pipe' stdio entry is a UNIX socketpair
  let buffered = '';
  control.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      ev.dispatch(JSON.parse(buffered.slice(0, nl)) as PeerMessage);
      buffered = buffered.slice(nl + 1);
    }
  });
  const exited = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      ev.exited(`exited (code ${code}, signal ${signal})`);
      resolve();
    });
  });
  child.on('error', (err) => ev.failed.reject(err));
  return {
    child,
    ready: ev.ready.promise,
    result: ev.result.promise,
    failed: ev.failed.promise,
    go: () => control.write('{"type":"go"}\n'),
    async finish(graceMs) {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      control.end();
      if (child.exitCode !== 0 && child.exitCode !== null) throw new Error(`peer B exited with code ${child.exitCode}`);
    },
  };
}

function startThreadPeer(init: PeerInit, link: Link): Peer {
  const worker = new Worker(PEER_WORKER, { workerData: init, transferList: link.transfer ?? [] });
  const ev = peerEvents();
  worker.on('message', (m: PeerMessage) => ev.dispatch(m));
  worker.on('error', (err) => ev.failed.reject(err));
  const exited = new Promise<void>((resolve) => {
    worker.on('exit', (code) => {
      ev.exited(`thread exited (code ${code})`);
      resolve();
    });
  });
  return {
    ready: ev.ready.promise,
    result: ev.result.promise,
    failed: ev.failed.promise,
    go: () => worker.postMessage({ type: 'go' }),
    async finish(graceMs) {
      const timer = setTimeout(() => void worker.terminate(), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Peer B on the host's own thread, no process or thread of its own: runPeerB
 * as peer-process.ts runs it, with the control messages as calls. `go`
 * resumes it in a microtask, after runCell has called consume().
 */
function startInlinePeer(init: PeerInit): Peer {
  const ev = peerEvents();
  let goResolve!: () => void;
  const go = new Promise<void>((resolve) => (goResolve = resolve));
  const send = (m: PeerMessage): Promise<void> => {
    ev.dispatch(m);
    return Promise.resolve();
  };
  const done = runPeerB(init, [], { send, go }).then(
    () => ev.exited('finished'),
    (err: unknown) => ev.dispatch({ type: 'error', error: describeError(err) }),
  );
  return {
    ready: ev.ready.promise,
    result: ev.result.promise,
    failed: ev.failed.promise,
    go: goResolve,
    finish: () => done,
  };
}

let counter = 0;

async function runCell(transport: Transport, file: string, cell: CellPlan): Promise<CellResult> {
  const spec: LinkSpec = {
    workload: cell.workload,
    size: cell.size,
    batch: cell.batch,
    duplex: cell.workload === 'latency',
    tag: `pipc-bench-${process.pid}-${counter++}`,
  };
  const link = await transport.setup(spec);
  let peer: Peer | undefined;
  let ends: Ends | undefined;
  const measure = async (): Promise<CellResult> => {
    const init: PeerInit = { transportFile: file, transportName: transport.name, spec, timing: cell.timing, params: link.b };
    peer =
      transport.kind === 'process'
        ? startProcessPeer(init, link)
        : transport.kind === 'thread'
          ? startThreadPeer(init, link)
          : startInlinePeer(init);
    const opened = Promise.resolve(transport.open({ role: 'a', params: link.a, spec, child: peer.child, fds: [] }));
    [ends] = await Promise.race([Promise.all([opened, peer.ready]), peer.failed]);
    peer.go();
    if (cell.workload === 'stream') {
      if (!ends.receiver) throw new Error(`${transport.name}: open() gave peer A no receiver`);
      const mine = await Promise.race([consumeStream(ends.receiver, cell.size, cell.batch, cell.timing), peer.failed]);
      const theirs = (await Promise.race([peer.result, peer.failed])).report;
      if (mine.messages !== theirs.messages || mine.checksum !== theirs.checksum) {
        throw new VerificationError(
          `sent ${theirs.messages} messages (checksum ${theirs.checksum}), received ${mine.messages} (checksum ${mine.checksum})`,
        );
      }
      const mps = mine.reps.map((r) => r.messages / r.seconds);
      return {
        workload: 'stream',
        transport: transport.name,
        size: cell.size,
        batch: cell.batch,
        reps: mine.reps,
        msgsPerSec: stat(mps),
        bytesPerSec: stat(mps.map((x) => x * cell.size)),
        verified: { messages: mine.messages, checksum: mine.checksum >>> 0 },
      };
    }
    const mine = await Promise.race([initiatePingPong(ends, cell.size, cell.timing), peer.failed]);
    const theirs = (await Promise.race([peer.result, peer.failed])).report;
    if (mine.messages !== theirs.messages)
      throw new VerificationError(`${mine.messages} round trips timed, the responder answered ${theirs.messages}`);
    return {
      workload: 'latency',
      transport: transport.name,
      size: cell.size,
      batch: 1,
      reps: mine.reps,
      medianNs: stat(mine.reps.map((r) => r.medianNs)),
      p99Ns: stat(mine.reps.map((r) => r.p99Ns)),
      maxNs: Math.max(...mine.reps.map((r) => r.maxNs)),
      verified: { messages: mine.messages },
    };
  };
  let result: CellResult | undefined;
  let failure: unknown;
  try {
    result = await measure();
  } catch (err) {
    failure = err;
  }
  // Every cleanup step runs; after a failure quietly (the first error is the one to report).
  for (const step of [() => ends?.close?.(), () => peer?.finish(result ? 5000 : 0), () => link.close?.()]) {
    try {
      await step();
    } catch (err) {
      failure ??= err;
    }
  }
  if (failure !== undefined || !result) throw failure;
  return result;
}

// Driven by the orchestrator over the IPC channel, one cell at a time.
if (process.send) {
  const [file, name] = process.argv.slice(2) as [string, string];
  const reply = (m: HostReply): Promise<void> => new Promise((resolve) => process.send!(m, () => resolve()));
  const transport = await loadTransport(file, name);
  // An event-driven receiver may throw from a listener: fail the cell, loudly.
  process.on('uncaughtException', (err) => {
    void reply({ type: 'failure', error: describeError(err) }).then(() => process.exit(1));
  });
  process.on('message', (m: HostRequest) => {
    if (m.type === 'exit') process.exit(0);
    runCell(transport, file, m.cell).then(
      (result) => reply({ type: 'result', result }),
      (err: unknown) => reply({ type: 'failure', error: describeError(err) }),
    );
  });
}

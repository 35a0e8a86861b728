/**
 * Peer B's side of a cell, shared by the child-process and worker-thread
 * entry points: open the transport, say ready, wait for go, run the
 * workload, report what was sent.
 * @module
 */
import { loadTransport } from './registry.js';
import type { LinkSpec } from './types.js';
import { type ProducerReport, type Timing, produceStream, respondPingPong } from './workloads.js';

/** What the host tells peer B (JSON for a process, structured clone for a thread). */
export interface PeerInit {
  transportFile: string;
  transportName: string;
  spec: LinkSpec;
  timing: Timing;
  params: unknown;
}

/** Control messages between the host and peer B. */
export type PeerMessage = { type: 'ready' } | { type: 'result'; report: ProducerReport } | { type: 'error'; error: string };

export interface PeerControl {
  send(msg: PeerMessage): Promise<void>;
  /** Resolves when the host says go. */
  go: Promise<void>;
}

export function describeError(err: unknown): string {
  return err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
}

export async function runPeerB(init: PeerInit, fds: number[], control: PeerControl): Promise<void> {
  const transport = await loadTransport(init.transportFile, init.transportName);
  const ends = await transport.open({ role: 'b', params: init.params, spec: init.spec, fds });
  await control.send({ type: 'ready' });
  await control.go;
  const { spec, timing } = init;
  let report: ProducerReport;
  if (spec.workload === 'stream') {
    if (!ends.sender) throw new Error(`${transport.name}: open() gave peer B no sender`);
    report = await produceStream(ends.sender, spec.size, spec.batch, timing);
  } else {
    report = await respondPingPong(ends, spec.size);
  }
  await ends.close?.();
  await control.send({ type: 'result', report });
}

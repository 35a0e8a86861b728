// Three forked processes over two transports (a shared-memory duplex, UNIX
// sockets) stamp every message through the hook and each write a trace
// file; merged, the trace has the happens-before the protocol implies, no
// causality violation, and exports to a ShiViz log that passes the port of
// ShiViz's checks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { findCausalityViolations, readTrace, toShiViz, Trace } from '../lib/index.js';
import { startFixture, type FixtureProcess } from './support/fixture-process.js';
import { uniqueName, within, zombieChildren } from './support/helpers.js';
import { checkShiVizLog } from './support/shiviz-check.js';

describe('causality across processes', () => {
  it('p1, p2, p3 over shm and UNIX sockets: the merged trace is consistent and ShiViz accepts it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pipc-causal-'));
    const shm = uniqueName('causal');
    const [pathA, pathB] = [join(dir, 'a.sock'), join(dir, 'b.sock')];
    const file = (p: string): string => join(dir, `${p}.trace`);
    const started: FixtureProcess[] = [];
    const start = (role: string): FixtureProcess => {
      const f = startFixture('causal-peer.ts', [role, shm, pathA, pathB, file(role)]);
      started.push(f);
      return f;
    };
    try {
      const p3 = start('p3');
      await p3.waitFor('listening', 20_000);
      const p2 = start('p2');
      await p2.waitFor('ready', 20_000);
      start('p1');
      for (const f of started) {
        const status = await within(30_000, 'a peer exits', f.child.exited);
        expect({ status, out: f.output() }).toEqual({ status: { code: 0, signal: null }, out: expect.stringContaining('wrote') });
      }
      const trace = Trace.merge(...(await Promise.all(['p1', 'p2', 'p3'].map((p) => readTrace(file(p))))));
      expect(trace.processes).toEqual(['p1', 'p2', 'p3']);
      const byLabel = (p: string, kind: string, n = 0) => trace.eventsOf(p).filter((e) => e.kind === kind)[n]!;
      const p1Start = byLabel('p1', 'local');
      const p2Work = byLabel('p2', 'local');
      const p3Got = byLabel('p3', 'local'); // the annotation
      const p1Got = trace.eventsOf('p1').at(-1)!;
      // the chain p1 start -> req -> p2 work -> fwd -> p3 -> done -> p2 -> ack -> p1
      expect(trace.happenedBefore(p1Start, p2Work)).toBe(true);
      expect(trace.happenedBefore(p2Work, p3Got)).toBe(true);
      expect(trace.happenedBefore(p3Got, p1Got)).toBe(true);
      // p1's "note" to p3 and p2's work are concurrent: nothing links them
      const note = trace.eventsOf('p1').find((e) => e.kind === 'send' && e.peer === 'p3')!;
      expect(trace.concurrent(note, p2Work)).toBe(true);
      const messages = [...trace.messages().values()];
      expect(messages).toHaveLength(6);
      for (const m of messages) expect(m.receives).toHaveLength(1);
      expect(findCausalityViolations(trace)).toEqual([]);
      const events = checkShiVizLog(toShiViz(trace));
      expect(events).toHaveLength(trace.events.length);
    } finally {
      for (const f of started) await f.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(zombieChildren()).toEqual([]);
  }, 90_000);
});

// Overlapping groups on a spanning tree (lib/coord/group/tree*.ts): the
// slides' two overlapped groups g1 = {A, B, C, D} and g2 = {C, D, E, F}
// (overlap set {C, D}) as six real processes, multicasting into both groups
// at once through seeded delays, reorders, duplicates and drops; the checkers
// (order 'total' across groups) find nothing; the deliberately broken design
// (each group ordered on its own, nothing across) is caught; kill -9 of an
// inner node ends every other process with ERR_GROUP_TREE_BROKEN, not a hang.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { connect } from '../lib/channels/index.js';
import { checkGroupTraces, describeViolations } from '../lib/coord/group/checkers.js';
import {
  formatSpanningTree,
  GroupError,
  joinOverlappingGroups,
  spanningTree,
  type GroupEvent,
  type OverlappingGroups,
} from '../lib/coord/group/index.js';
import { encodeTreeMessage, UP } from '../lib/coord/group/tree-link.js';
import { decodeFrame, G } from '../lib/coord/group/wire.js';
import type { SiteLink } from '../lib/coord/mesh.js';
import { packr } from '../lib/coord/msgpack.js';
import { TreeCluster } from './support/tree-cluster.js';

const SLIDES = { g1: ['A', 'B', 'C', 'D'], g2: ['C', 'D', 'E', 'F'] };
const SEED = Number(process.env.GROUP_SEED ?? 20261213);
const clusters: TreeCluster[] = [];
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.dispose();
});

function deliveries(trace: readonly GroupEvent[]): GroupEvent[] {
  return trace.filter((e) => e.kind === 'deliver');
}

describe('the spanning tree', () => {
  it("the slides' groups: the overlap set {C, D} on top, a common subtree both groups pass; both ordered at C", () => {
    expect(spanningTree(SLIDES)).toEqual({ C: null, D: 'C', A: 'C', B: 'A', E: 'C', F: 'E' });
    expect(formatSpanningTree(SLIDES)).toBe(
      ['C [g1 g2] orders g1 g2', '├─ A [g1]', '│  └─ B [g1]', '├─ D [g1 g2]', '└─ E [g2]', '   └─ F [g2]'].join('\n'),
    );
    // A given root; and a group below the root is ordered at its members' lowest common ancestor.
    expect(spanningTree(SLIDES, 'D')).toMatchObject({ D: null, C: 'D' });
    const three = { g1: ['A', 'B'], g2: ['B', 'C'], g3: ['D', 'E'] };
    expect(formatSpanningTree(three, { R: null, B: 'R', A: 'B', C: 'B', D: 'R', E: 'D' })).toBe(
      ['R []', '├─ B [g1 g2] orders g1 g2', '│  ├─ A [g1]', '│  └─ C [g2]', '└─ D [g3] orders g3', '   └─ E [g3]'].join('\n'),
    );
  });

  it('bad groups and trees are TypeError / RangeError naming the argument', () => {
    expect(() => spanningTree({})).toThrow(/"groups"/);
    expect(() => spanningTree({ 'g 1': ['A'] })).toThrow(RangeError);
    expect(() => spanningTree({ g1: ['A', 'A'] })).toThrow(/twice/);
    expect(() => spanningTree(SLIDES, 'Z')).toThrow(/"root"/);
    expect(() => formatSpanningTree(SLIDES, { A: null, B: null, C: 'A', D: 'A', E: 'A', F: 'A' })).toThrow(/exactly one root/);
    expect(() => formatSpanningTree(SLIDES, { A: null, B: 'C', C: 'B', D: 'A', E: 'A', F: 'A' })).toThrow(/cycle/);
    expect(() => formatSpanningTree(SLIDES, { A: null, B: 'A', C: 'A', D: 'A', E: 'A' })).toThrow(/does not hold F/);
    expect(() => formatSpanningTree(SLIDES, { A: null, B: 'Z' } as never)).toThrow(/"tree.B"/);
    const addresses = { A: 'unix:/x/a', B: 'unix:/x/b' };
    expect(() => joinOverlappingGroups({ self: 'Q', groups: { g: ['A', 'B'] }, addresses })).toThrow(/"options.self"/);
    expect(() => joinOverlappingGroups({ self: 'A', groups: { g: ['A', 'B'] }, addresses: { A: 'unix:/x/a' } })).toThrow(
      /"options.addresses.B"/,
    );
    expect(() => joinOverlappingGroups({ self: 'A', groups: { g: ['A', 'B'] }, addresses, root: 'A', tree: { A: null, B: 'A' } })).toThrow(
      /exclusive/,
    );
  });
});

describe('the checker across groups', () => {
  const view = (group: string, member: string, members: string[]): GroupEvent => ({ group, member, kind: 'view', view: 1, members });
  const send = (group: string, member: string, seq: number): GroupEvent => ({
    group,
    member,
    kind: 'send',
    view: 1,
    message: `${member}@1:${seq}`,
    sender: member,
    seq,
  });
  const deliver = (group: string, member: string, sender: string, seq: number): GroupEvent => ({
    ...send(group, sender, seq),
    member,
    kind: 'deliver',
  });
  it('finds two members that order a g1 and a g2 message differently, which per-group total order does not see', () => {
    // A sends a1 to g1 = {A, C, D}, F sends f1 to g2 = {C, D, F}; C takes a1 first, D f1 first.
    const traces = [
      [view('g1', 'A', ['A', 'C', 'D']), send('g1', 'A', 1), deliver('g1', 'A', 'A', 1)],
      [view('g1', 'C', ['A', 'C', 'D']), view('g2', 'C', ['C', 'D', 'F']), deliver('g1', 'C', 'A', 1), deliver('g2', 'C', 'F', 1)],
      [view('g1', 'D', ['A', 'C', 'D']), view('g2', 'D', ['C', 'D', 'F']), deliver('g2', 'D', 'F', 1), deliver('g1', 'D', 'A', 1)],
      [view('g2', 'F', ['C', 'D', 'F']), send('g2', 'F', 1), deliver('g2', 'F', 'F', 1)],
    ];
    expect(checkGroupTraces(traces, { order: 'total' })).toEqual([]);
    const v = checkGroupTraces(traces, { order: 'total', acrossGroups: true });
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ property: 'total', member: 'D', message: 'A@1:1' });
    expect(v[0]!.detail).toBe('across groups: D delivered g1/A@1:1 after g2/F@1:1, C before it');
  });
});

describe('nodes in this process', () => {
  const dir = (): string => mkdtempSync(join(tmpdir(), 'pipc-tree-unit-'));

  it('a process configured with other groups is refused (ERR_GROUP_PROTOCOL), one that never starts is ERR_GROUP_JOIN_TIMEOUT', async () => {
    const d = dir();
    try {
      const addresses = { A: `unix:${d}/a`, B: `unix:${d}/b` };
      const a = joinOverlappingGroups({ self: 'A', groups: { g: ['A', 'B'] }, addresses, heartbeatMs: 20, failureTimeoutMs: 400 });
      const b = joinOverlappingGroups({
        self: 'B',
        groups: { g: ['A', 'B'], h: ['B'] },
        addresses,
        heartbeatMs: 20,
        failureTimeoutMs: 400,
      });
      const [ra, rb] = await Promise.allSettled([a, b]);
      for (const r of [ra, rb]) {
        expect(r.status).toBe('rejected');
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(GroupError);
      }
      expect(
        [ra, rb].map((r) => ((r as PromiseRejectedResult).reason as GroupError).code).sort(),
        String((ra as PromiseRejectedResult).reason),
      ).toContain('ERR_GROUP_PROTOCOL');
      await expect(joinOverlappingGroups({ self: 'A', groups: { g: ['A', 'B'] }, addresses, joinTimeoutMs: 300 })).rejects.toMatchObject({
        code: 'ERR_GROUP_JOIN_TIMEOUT',
      });
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("a stranger's frames end only its connection; a neighbour's message that breaks the tree protocol ends the node (ERR_GROUP_PROTOCOL)", async () => {
    const d = dir();
    const addresses = { A: `unix:${d}/a`, B: `unix:${d}/b` };
    const [a, b] = await Promise.all(['A', 'B'].map((self) => joinOverlappingGroups({ self, groups: { g: ['A', 'B'] }, addresses })));
    try {
      const evil = [
        packr.pack([[6, 99, 'x']]), // a heartbeat of node 98: no neighbour
        packr.pack([[1, 0, 0, 1, Buffer.from('x'), null, null]]), // view 0: no node
        packr.pack([[12, 1, 'x', 0, [['x', 'y']], []]]), // an INSTALL on a tree edge
        packr.pack([[1, 2, 1, 1, 'not bytes', null, null]]),
      ];
      for (const bytes of evil) {
        const c = await connect<Uint8Array>(a!.url);
        await c.sender.send(bytes);
        await expect(c.receiver.receive({ timeoutMs: 5000 })).resolves.toBeUndefined(); // dropped by A
        await c.close();
      }
      expect(a!.stats.malformed).toBe(evil.length);
      await b!.multicast('g', Buffer.from('still here'));
      expect(new TextDecoder().decode((await a!.receive({ timeoutMs: 5000 })).payload)).toBe('still here');
      // Forged as B (node 2 on the wire), the next message of B's edge, with a tree header too short: A ends, it does not guess.
      const c = await connect<Uint8Array>(a!.url);
      await c.sender.send(packr.pack([[1, 2, 1, 2, Buffer.from('short'), null, null]]));
      await expect(a!.receive({ timeoutMs: 5000 })).rejects.toMatchObject({ code: 'ERR_GROUP_PROTOCOL', message: /21-byte header/ });
      await c.close();
    } finally {
      await Promise.all([a!.close(), b!.close()]);
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('a neighbour that sends an edge message more than edgeBacklog ahead (to be held back without bound) ends the node (ERR_GROUP_PROTOCOL)', async () => {
    const d = dir();
    const addresses = { A: `unix:${d}/a`, B: `unix:${d}/b` };
    const edgeBacklog = 16;
    const [a, b] = await Promise.all(
      ['A', 'B'].map((self) => joinOverlappingGroups({ self, groups: { g: ['A', 'B'] }, addresses, edgeBacklog })),
    );
    try {
      await b!.multicast('g', Buffer.from('one'));
      await a!.receive({ timeoutMs: 5000 }); // A delivered B's edge message 1
      // Forged as B (node 2, rank 1 on the edge): message 1 + edgeBacklog is held back, as one B may send; A goes on.
      const c = await connect<Uint8Array>(a!.url);
      const forged = (seq: number): Uint8Array => packr.pack([[1, 2, 1, seq, Buffer.alloc(30), null, null]]);
      await c.sender.send(forged(1 + edgeBacklog));
      await b!.multicast('g', Buffer.from('two'));
      expect(new TextDecoder().decode((await a!.receive({ timeoutMs: 5000 })).payload)).toBe('two');
      // 2^48: far past the window. A ends; it does not keep it.
      await c.sender.send(forged(2 ** 48));
      await expect(a!.receive({ timeoutMs: 5000 })).rejects.toMatchObject({
        code: 'ERR_GROUP_PROTOCOL',
        message: /B: edge message 281474976710656 came after 2, more than the window of 16/,
      });
      expect((await b!.receive({ timeoutMs: 5000 })).seq).toBe(1); // B's own two, then A's end notice
      expect((await b!.receive({ timeoutMs: 5000 })).seq).toBe(2);
      await expect(b!.receive({ timeoutMs: 5000 })).rejects.toMatchObject({ code: 'ERR_GROUP_TREE_BROKEN' });
      await c.close();
    } finally {
      await Promise.all([a!.close(), b!.close()]);
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('a relay checks the sequence of what goes up through it too: a gap ends it (ERR_GROUP_PROTOCOL), not only the primary', async () => {
    const d = dir();
    const addresses = { M: `unix:${d}/m`, R: `unix:${d}/r`, S: `unix:${d}/s` };
    const tree = { R: null, M: 'R', S: 'M' }; // g = {R, S} is ordered at R; M relays
    const nodes = await Promise.all(
      ['M', 'R', 'S'].map((self) => joinOverlappingGroups({ self, groups: { g: ['R', 'S'] }, addresses, tree })),
    );
    try {
      const [m] = nodes;
      // Forged as S (index 2: node 3 on the wire, rank 1 on the edge to M), edge message 1: S's message 2 to g, with no 1.
      const c = await connect<Uint8Array>(m!.url);
      const up = encodeTreeMessage({ kind: UP, group: 0, origin: 2, seq: 2, ts: 0 }, Buffer.from('x'));
      await c.sender.send(packr.pack([[1, 3, 1, 1, up, null, null]]));
      await expect(m!.receive({ timeoutMs: 5000 })).rejects.toMatchObject({
        code: 'ERR_GROUP_PROTOCOL',
        message: /M: a tree neighbour broke the protocol: message 2 of S in g going up came after 0/,
      });
      await c.close();
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
      rmSync(d, { recursive: true, force: true });
    }
  });

  it("a slow branch holds the whole structure back (edgeBacklog per edge), instead of its parent keeping every sender's messages", async () => {
    // R orders g; R -> Y loses every frame with DATA while `starve` is on. Without a bound on the edges, R
    // ordered all of S's multicasts and kept them for Y (only S's own branch moved S's window).
    const d = dir();
    const addresses = { R: `unix:${d}/r`, S: `unix:${d}/s`, Y: `unix:${d}/y` };
    let starve = false;
    const onLink = (link: SiteLink): void => {
      if (link.direction !== 'out' || link.peer !== addresses.Y) return;
      link.duplex.sender.intercept({ send: (bytes) => (starve && decodeFrame(bytes).some((m) => m[0] === G.DATA) ? null : bytes) });
    };
    const window = 8;
    const edgeBacklog = 32;
    const nodes: OverlappingGroups[] = [];
    try {
      nodes.push(
        ...(await Promise.all(
          ['R', 'S', 'Y'].map((self) =>
            joinOverlappingGroups({
              self,
              groups: { g: ['R', 'S', 'Y'] },
              addresses,
              tree: { R: null, S: 'R', Y: 'R' },
              window,
              edgeBacklog,
              failureTimeoutMs: 20_000,
              onLink: self === 'R' ? onLink : undefined,
            }),
          ),
        )),
      );
      const [, s, y] = nodes as [OverlappingGroups, OverlappingGroups, OverlappingGroups];
      starve = true;
      const sent = 2000;
      let resolved = 0;
      const casts = Array.from({ length: sent }, (_, i) => s.multicast('g', new Uint8Array(100).fill(i % 256)).then(() => void resolved++));
      await new Promise((r) => setTimeout(r, 1000));
      const stalled = resolved;
      await new Promise((r) => setTimeout(r, 500));
      // R's edge to Y is full at edgeBacklog; R leaves S's messages unacknowledged, S's window fills: S waits.
      expect(resolved, 'no progress while Y gets nothing').toBe(stalled);
      expect(stalled).toBeGreaterThanOrEqual(edgeBacklog);
      expect(stalled).toBeLessThanOrEqual(edgeBacklog + window + 1);
      expect(y.tryReceive()).toBeUndefined();
      // Y's branch heals: everything flows, nothing lost, in order.
      starve = false;
      await Promise.all(casts);
      for (let seq = 1; seq <= sent; seq++) expect((await y.receive({ timeoutMs: 10_000 })).seq).toBe(seq);
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
      rmSync(d, { recursive: true, force: true });
    }
  }, 30_000);

  it('multicast checks its group; close() ends the structure (ERR_GROUP_CLOSED at the others), deliveries stay receivable', async () => {
    const d = dir();
    const nodes: OverlappingGroups[] = [];
    try {
      const addresses = Object.fromEntries(['A', 'B', 'C', 'D', 'E', 'F'].map((x) => [x, `unix:${d}/${x}`]));
      nodes.push(...(await Promise.all(Object.keys(addresses).map((self) => joinOverlappingGroups({ self, groups: SLIDES, addresses })))));
      const [a, , c, , , f] = nodes as [
        OverlappingGroups,
        OverlappingGroups,
        OverlappingGroups,
        OverlappingGroups,
        OverlappingGroups,
        OverlappingGroups,
      ];
      expect(a.tree).toEqual({ root: 'C', parents: { A: 'C', B: 'A', C: null, D: 'C', E: 'C', F: 'E' }, primaries: { g1: 'C', g2: 'C' } });
      expect(c.groups).toEqual(['g1', 'g2']);
      expect(() => a.multicast('g2', new Uint8Array(1))).toThrow(/"group"/);
      expect(() => a.multicast('g1', 'x' as never)).toThrow(TypeError);
      await a.multicast('g1', new TextEncoder().encode('from A'));
      await f.multicast('g2', new TextEncoder().encode('from F'));
      const got = [await c.receive({ timeoutMs: 5000 }), await c.receive({ timeoutMs: 5000 })];
      expect(got.map((m) => `${m.group} ${m.sender} ${new TextDecoder().decode(m.payload)}`).sort()).toEqual([
        'g1 A from A',
        'g2 F from F',
      ]);
      expect(got.map((m) => m.ts).sort()).toEqual([1, 2]);
      const fromA = await a.receive({ timeoutMs: 5000 });
      expect(fromA).toMatchObject({ group: 'g1', id: 'A@1:1', sender: 'A', seq: 1 });
      await f.receive({ timeoutMs: 5000 });
      await a.close();
      // The others end too; what they had not taken yet stays receivable first (B: A's; D: both; E: F's).
      const drain = async (n: OverlappingGroups): Promise<string> => {
        let left = 0;
        for (;;) {
          try {
            await n.receive({ timeoutMs: 5000 });
            left++;
          } catch (err) {
            return `${n.self} ${left} ${(err as GroupError).code}`;
          }
        }
      };
      expect(await Promise.all(nodes.slice(1).map(drain))).toEqual([
        'B 1 ERR_GROUP_CLOSED',
        'C 0 ERR_GROUP_CLOSED',
        'D 2 ERR_GROUP_CLOSED',
        'E 1 ERR_GROUP_CLOSED',
        'F 0 ERR_GROUP_CLOSED',
      ]);
      await expect(c.multicast('g1', new Uint8Array(1))).rejects.toMatchObject({ code: 'ERR_GROUP_CLOSED' });
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe("the slides' overlapped groups as six processes", () => {
  const COUNT = 150;
  const faults = { seed: SEED, delay: 0.2, delayMs: [0, 4] as [number, number], reorder: 0.05, duplicate: 0.05, drop: 0.03 };

  /** Every process multicasts COUNT messages to each of its groups at once: g1 and g2 each get 4 * COUNT. */
  async function run(c: TreeCluster): Promise<GroupEvent[][]> {
    await c.start();
    for (const [g, members] of Object.entries(SLIDES)) for (const id of members) c.send(id, g, COUNT);
    for (const id of c.ids) await c.delivered(id, (id === 'C' || id === 'D' ? 8 : 4) * COUNT);
    await c.stop();
    return c.traces();
  }

  it.each(['unix', 'shm'] as const)(
    '%s: concurrent multicasts into both groups through delays, reorders, duplicates and drops; one order across the overlap',
    async (transport) => {
      const c = new TreeCluster({ groups: SLIDES, transport, faults, env: { TREE_REPORT: '50' } });
      clusters.push(c);
      const traces = await run(c);
      const v = checkGroupTraces(traces, { order: 'total', acrossGroups: true });
      expect(v, `seed ${SEED}\n${describeViolations(v)}`).toEqual([]);
      const byId = new Map(c.ids.map((id, k) => [id, deliveries(traces[k]!)]));
      expect(byId.get('C')).toHaveLength(8 * COUNT);
      expect(byId.get('A')).toHaveLength(4 * COUNT);
      // C and D (the overlap set) deliver all 1200 messages of both groups in the very same order.
      expect(byId.get('D')!.map((e) => `${e.group}/${e.message}`)).toEqual(byId.get('C')!.map((e) => `${e.group}/${e.message}`));
      // And the two groups' messages are interleaved there, not one group after the other (so the order
      // across groups was put to the test). How much depends on scheduling: about 290 switches on a quiet
      // machine, 7 once on a loaded CI run; at least 2 (g1 inside g2 or the other way) is the guard.
      const groups = byId.get('C')!.map((e) => e.group);
      expect(groups.filter((g, k) => k > 0 && g !== groups[k - 1]).length).toBeGreaterThanOrEqual(2);
    },
    40_000,
  );

  it('the broken design (each group ordered by its own root, nothing across groups) is caught: C and D disagree', async () => {
    const c = new TreeCluster({ groups: SLIDES, faults, env: { TREE_REPORT: '50', TREE_MODE: 'per-group' } });
    clusters.push(c);
    await c.start();
    // The two groups' orders disagreeing at C and D is likely in each round, not certain (it is timing):
    // up to 4 rounds, until the checker across groups has something to find.
    let traces: GroupEvent[][] = [];
    let v: ReturnType<typeof checkGroupTraces> = [];
    for (let round = 1; round <= 4 && v.length === 0; round++) {
      for (const [g, members] of Object.entries(SLIDES)) for (const id of members) c.send(id, g, COUNT);
      for (const id of c.ids) await c.delivered(id, (id === 'C' || id === 'D' ? 8 : 4) * COUNT * round);
      traces = c.traces();
      v = checkGroupTraces(traces, { order: 'total', acrossGroups: true });
    }
    await c.stop();
    expect(checkGroupTraces(traces, { order: 'total' }), 'each group on its own is in total order').toEqual([]);
    expect(v.length).toBeGreaterThan(0);
    expect(new Set(v.map((x) => x.property))).toEqual(new Set(['total']));
    expect(new Set(v.flatMap((x) => (x.member === undefined ? [] : [x.member])))).toEqual(new Set(['D'])); // C is compared first: D is where the disagreement shows
  }, 40_000);

  it('kill -9 of A (an inner node: B hangs under it) ends every other process with ERR_GROUP_TREE_BROKEN, and what was delivered is consistent', async () => {
    const c = new TreeCluster({ groups: SLIDES, env: { TREE_REPORT: '10' } });
    clusters.push(c);
    await c.start();
    for (const [g, members] of Object.entries(SLIDES)) for (const id of members) c.send(id, g, 400, 2);
    await c.delivered('A', 100);
    const killedAt = Date.now();
    await c.kill('A');
    const rest = c.ids.filter((id) => id !== 'A');
    await Promise.all(rest.map((id) => c.procs.get(id)!.waitFor(/ended ERR_GROUP_TREE_BROKEN/, 10_000)));
    expect(Date.now() - killedAt).toBeLessThan(5000);
    expect(c.output('C')).toMatch(/tree child A refuses connections|tree child A was not heard from/);
    expect(c.output('B')).toMatch(/tree parent A/);
    expect(c.output('F')).toMatch(/reports that A failed/);
    await c.stop();
    const traces = c.traces();
    const v = checkGroupTraces(traces, { order: 'total', acrossGroups: true, reliable: false, crashed: ['A'] });
    expect(v, describeViolations(v)).toEqual([]);
  }, 40_000);
});

// The slides' two overlapped groups: g1 = {A, B, C, D} and g2 = {C, D, E, F},
// whose overlap set {C, D} is a common subtree of the spanning tree. Each
// process is a tree node with its own listener (UNIX sockets in a temporary
// directory); A, B, D multicast to g1 and C, E, F to g2, all at once. A message
// goes up the tree to its group's primary (here the root, C), which numbers
// it, then down to its group's members; every edge is a reliable FIFO link,
// so C and D, which get both groups' messages, deliver them in one order.
// Prints the tree, each message's route, each process's deliveries, and the
// checkers' verdict on the traces (total order across the groups).
// Run: node --import tsx examples/group-overlap.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { checkGroupTraces, describeViolations } from '../lib/coord/group/checkers.js';
import { formatSpanningTree, joinOverlappingGroups, type OverlapMessage, type OverlapTree } from '../lib/coord/group/index.js';

const groups = { g1: ['A', 'B', 'C', 'D'], g2: ['C', 'D', 'E', 'F'] };
const ids = ['A', 'B', 'C', 'D', 'E', 'F'];
const sends: [string, 'g1' | 'g2', string][] = [
  ['A', 'g1', 'a1'],
  ['B', 'g1', 'b1'],
  ['D', 'g1', 'd1'],
  ['C', 'g2', 'c1'],
  ['E', 'g2', 'e1'],
  ['F', 'g2', 'f1'],
];

/** The route of a message of `group` from `sender`: up to the primary, then down to the members. */
function route(tree: OverlapTree, group: 'g1' | 'g2', sender: string): string {
  const up = [sender];
  const primary = tree.primaries[group]!;
  while (up.at(-1) !== primary) up.push(tree.parents[up.at(-1)!]!);
  const members = new Set(groups[group]);
  const below = (x: string): boolean => members.has(x) || ids.some((c) => tree.parents[c] === x && below(c));
  const down = (x: string): string[] =>
    ids
      .filter((c) => tree.parents[c] === x && below(c))
      .flatMap((c) => {
        const further = down(c);
        return further.length === 0 ? [`${x}→${c}`] : further.map((p) => `${x}→${p}`);
      });
  const head = up.length === 1 ? `ordered at ${primary} (the sender)` : `up ${up.join('→')}, ordered at ${primary}`;
  return `${head}, down ${down(primary).join(', ')}`;
}

const dir = mkdtempSync(join(tmpdir(), 'group-overlap-'));
try {
  const addresses = Object.fromEntries(ids.map((id) => [id, `unix:${join(dir, `${id}.sock`)}`]));
  const nodes = await Promise.all(ids.map((self) => joinOverlappingGroups({ self, groups, addresses, trace: {} })));
  const byId = new Map(nodes.map((n) => [n.self, n]));
  const tree = nodes[0]!.tree;
  console.log('g1 = {A, B, C, D}, g2 = {C, D, E, F}: the overlap set {C, D} is a common subtree');
  console.log(formatSpanningTree(groups));
  console.log();
  for (const [sender, group, text] of sends) console.log(`${text} (${sender} to ${group}): ${route(tree, group, sender)}`);

  await Promise.all(sends.map(([sender, group, text]) => byId.get(sender)!.multicast(group, new TextEncoder().encode(text))));
  const orders = await Promise.all(
    nodes.map(async (n) => {
      const want = n.groups.length * 3; // three senders per group
      const got: OverlapMessage[] = [];
      while (got.length < want) got.push(await n.receive({ timeoutMs: 10_000 }));
      return got.map((m) => `${new TextDecoder().decode(m.payload)}`);
    }),
  );
  console.log();
  ids.forEach((id, k) => console.log(`${id} delivered ${orders[k]!.join(' ')}`));
  const [c, d] = [orders[ids.indexOf('C')]!, orders[ids.indexOf('D')]!];
  console.log(`C and D (the overlap set) delivered both groups' messages in the same order: ${c.join() === d.join() ? 'yes' : 'NO'}`);
  const violations = checkGroupTraces(
    nodes.map((n) => n.trace),
    { order: 'total', acrossGroups: true },
  );
  console.log(`checkers (total order across the groups): ${violations.length === 0 ? 'no violation' : describeViolations(violations)}`);
  await Promise.all(nodes.map((n) => n.close()));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * The spanning tree of a set of overlapping groups (static): which process
 * is whose parent, where each group's messages are ordered (its primary: the
 * lowest common ancestor of its members), and which children a message of a
 * group goes on to. Every process computes the same plan from the same
 * groups and parents; a digest of both lets the processes check they did.
 *
 * The default tree follows the slides' figure: the processes are split into
 * overlap sets (those in exactly the same groups), the sets in the most
 * groups at the top, so that an overlap set shared by two groups is a common
 * subtree that both groups' messages pass through. See docs/group-tree.md.
 * @module
 */
import { createHash } from 'node:crypto';

import { validateObject, validateString } from '../../internal/validators.js';
import { validateProcessId } from '../causality/clocks.js';
import { GROUP_NAME } from './options.js';
import { MAX_ID_LENGTH } from './wire.js';

/** The most processes a spanning tree may hold. */
export const MAX_TREE_NODES = 256;
/** The most groups one spanning tree may carry. */
export const MAX_TREE_GROUPS = 64;

/** Overlapping groups: each group's name and its members (process ids). */
export type OverlapGroups = Readonly<Record<string, readonly string[]>>;

/** A spanning tree as each process's parent (`null` for the root). */
export type TreeParents = Readonly<Record<string, string | null>>;

/**
 * The default spanning tree of `groups`: processes in exactly the same
 * groups form an overlap set; the sets are placed in the order of how many
 * groups they are in (most first, then by name); the first process of each
 * set (its head) hangs under the head of the placed set it shares most
 * groups with, the set's other processes under its head. `root` (a process
 * of the groups) goes first instead. For the slides' g1 = {A, B, C, D} and
 * g2 = {C, D, E, F}: C is the root, D, A and E its children, B under A, F
 * under E; both groups are ordered at C.
 */
export function spanningTree(groups: OverlapGroups, root?: string): Record<string, string | null> {
  const g = checkGroups(groups);
  const sets = new Map<string, { groups: string[]; nodes: string[] }>();
  const of = new Map<string, string[]>();
  for (const name of Object.keys(g).sort()) for (const p of g[name]!) entryOf(of, p).push(name);
  for (const [p, gs] of [...of].sort((a, b) => cmp(a[0], b[0]))) {
    const key = gs.join('\0');
    let s = sets.get(key);
    if (s === undefined) sets.set(key, (s = { groups: gs, nodes: [] }));
    s.nodes.push(p);
  }
  if (root !== undefined && !of.has(validateProcessId(root, 'root')))
    throw new RangeError(`The "root" must be a member of one of the groups. Received '${root}'`);
  const order = [...sets.values()].sort((a, b) => b.groups.length - a.groups.length || cmp(a.groups.join(','), b.groups.join(',')));
  if (root !== undefined) {
    const first = order.findIndex((s) => s.nodes.includes(root));
    const [s] = order.splice(first, 1);
    s!.nodes = [root, ...s!.nodes.filter((p) => p !== root)];
    order.unshift(s!);
  }
  const parents: Record<string, string | null> = {};
  const placed: { groups: string[]; head: string }[] = [];
  for (const s of order) {
    const head = s.nodes[0]!;
    let best = placed[0];
    let shared = -1;
    for (const p of placed) {
      const n = p.groups.filter((x) => s.groups.includes(x)).length;
      if (n > shared) [best, shared] = [p, n];
    }
    parents[head] = best === undefined ? null : best.head;
    for (const p of s.nodes.slice(1)) parents[p] = head;
    placed.push({ groups: s.groups, head });
  }
  return parents;
}

/**
 * The tree drawn as text, one process a line with the groups it is in and
 * the groups ordered at it (`orders g1`), e.g. for the slides' groups:
 * `C [g1 g2] orders g1 g2` with `├─ A [g1]` below it.
 */
export function formatSpanningTree(groups: OverlapGroups, parents?: TreeParents): string {
  const plan = new TreePlan(groups, parents);
  const lines: string[] = [];
  const label = (x: number): string => {
    const ordered = plan.groups.filter((_, k) => plan.primary[k] === x);
    const mine = plan.groups.filter((_, k) => plan.members[k]!.has(x));
    return `${plan.nodes[x]} [${mine.join(' ')}]${ordered.length > 0 ? ` orders ${ordered.join(' ')}` : ''}`;
  };
  const walk = (x: number, prefix: string, last: boolean, top: boolean): void => {
    lines.push(top ? label(x) : `${prefix}${last ? '└─ ' : '├─ '}${label(x)}`);
    const kids = plan.children[x]!;
    kids.forEach((c, i) => walk(c, top ? '' : `${prefix}${last ? '   ' : '│  '}`, i === kids.length - 1, false));
  };
  walk(plan.root, '', true, true);
  return lines.join('\n');
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function entryOf<K, V>(map: Map<K, V[]>, key: K): V[] {
  let v = map.get(key);
  if (v === undefined) map.set(key, (v = []));
  return v;
}

function checkGroups(groups: OverlapGroups): Record<string, string[]> {
  validateObject(groups, 'groups');
  const names = Object.keys(groups);
  if (names.length === 0 || names.length > MAX_TREE_GROUPS) throw new RangeError(`The "groups" must name 1 to ${MAX_TREE_GROUPS} groups`);
  const out: Record<string, string[]> = {};
  for (const name of names) {
    if (!GROUP_NAME.test(name)) throw new RangeError(`The group name "${name}" must be 1 to 64 letters, digits, "_", "-" or "."`);
    const list = groups[name];
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_TREE_NODES)
      throw new TypeError(`The "groups.${name}" must be a list of 1 to ${MAX_TREE_NODES} process ids`);
    const ids = list.map((p, i) => checkId(p, `groups.${name}[${i}]`));
    if (new Set(ids).size !== ids.length) throw new RangeError(`The "groups.${name}" lists a process twice`);
    out[name] = [...ids].sort(cmp);
  }
  return out;
}

function checkId(value: unknown, name: string): string {
  const id = validateProcessId(value, name);
  if (id.length > MAX_ID_LENGTH) throw new RangeError(`The "${name}" must be at most ${MAX_ID_LENGTH} characters`);
  return id;
}

/**
 * The checked tree and everything the protocol asks of it, by index: the
 * processes sorted by id, the groups sorted by name. @internal
 */
export class TreePlan {
  /** Every process of the tree, sorted. */
  readonly nodes: readonly string[];
  /** The group names, sorted. */
  readonly groups: readonly string[];
  readonly root: number;
  /** Each node's parent index (the root: -1). */
  readonly parent: readonly number[];
  readonly children: readonly (readonly number[])[];
  readonly depth: readonly number[];
  /** Per group, its members' indexes. */
  readonly members: readonly ReadonlySet<number>[];
  /** Per group, the node that orders its messages: the lowest common ancestor of its members. */
  readonly primary: readonly number[];
  /** down[node][group]: the children a message of the group goes on to (those with members below). */
  readonly down: readonly (readonly (readonly number[])[])[];
  /** below[node][group]: a member of the group is this node or under it. */
  readonly below: readonly (readonly boolean[])[];
  /** A digest of the groups and the tree: every process of one structure has the same. */
  readonly digest: string;
  readonly #index: ReadonlyMap<string, number>;

  constructor(groups: OverlapGroups, parents?: TreeParents) {
    const g = checkGroups(groups);
    const p = parents === undefined ? spanningTree(g) : checkParents(parents);
    this.nodes = Object.keys(p).sort(cmp);
    if (this.nodes.length > MAX_TREE_NODES) throw new RangeError(`The "tree" must hold at most ${MAX_TREE_NODES} processes`);
    const index = new Map(this.nodes.map((n, i) => [n, i]));
    this.#index = index;
    this.groups = Object.keys(g).sort(cmp);
    for (const name of this.groups)
      for (const m of g[name]!) if (!index.has(m)) throw new RangeError(`The "tree" does not hold ${m}, a member of group ${name}`);
    this.parent = this.nodes.map((n) => (p[n] === null ? -1 : index.get(p[n]!)!));
    const roots = this.parent.flatMap((x, i) => (x < 0 ? [i] : []));
    if (roots.length !== 1)
      throw new RangeError(`The "tree" must have exactly one root (a process whose parent is null); it has ${roots.length}`);
    this.root = roots[0]!;
    const depth = new Array<number>(this.nodes.length).fill(-1);
    const depthOf = (x: number, hops: number): number => {
      if (depth[x]! >= 0) return depth[x]!;
      if (hops > this.nodes.length) throw new RangeError(`The "tree" has a cycle through ${this.nodes[x]}`);
      return (depth[x] = x === this.root ? 0 : depthOf(this.parent[x]!, hops + 1) + 1);
    };
    this.nodes.forEach((_, i) => depthOf(i, 0));
    this.depth = depth;
    this.children = this.nodes.map((_, i) => this.parent.flatMap((x, c) => (x === i ? [c] : [])));
    this.members = this.groups.map((name) => new Set(g[name]!.map((m) => index.get(m)!)));
    this.primary = this.members.map((set) => [...set].reduce((a, b) => this.#lca(a, b)));
    const below = this.nodes.map(() => this.groups.map(() => false));
    this.members.forEach((set, k) => {
      for (let x of set) for (; x >= 0 && !below[x]![k]; x = this.parent[x]!) below[x]![k] = true;
    });
    this.below = below;
    this.down = this.nodes.map((_, i) => this.groups.map((_, k) => this.children[i]!.filter((c) => below[c]![k])));
    const canonical = JSON.stringify([this.groups.map((name) => [name, g[name]]), this.nodes.map((n) => [n, p[n]])]);
    this.digest = createHash('sha256').update(canonical).digest('hex').slice(0, 32);
  }

  /** The index of a process, or -1. */
  indexOf(id: string): number {
    return this.#index.get(id) ?? -1;
  }

  /** The index of a group, or -1. */
  groupIndex(name: string): number {
    return this.groups.indexOf(name);
  }

  /** True when `a` is `x` or one of its ancestors. */
  isAncestor(a: number, x: number): boolean {
    for (; x >= 0; x = this.parent[x]!) if (x === a) return true;
    return false;
  }

  #lca(a: number, b: number): number {
    while (this.depth[a]! > this.depth[b]!) a = this.parent[a]!;
    while (this.depth[b]! > this.depth[a]!) b = this.parent[b]!;
    while (a !== b) [a, b] = [this.parent[a]!, this.parent[b]!];
    return a;
  }
}

function checkParents(parents: TreeParents): Record<string, string | null> {
  validateObject(parents, 'tree');
  const out: Record<string, string | null> = {};
  const ids = Object.keys(parents);
  if (ids.length === 0) throw new RangeError('The "tree" must hold at least one process');
  for (const id of ids) {
    checkId(id, `tree key '${id}'`);
    const up = parents[id];
    if (up !== null) {
      if (up === undefined) throw new TypeError(`The "tree.${id}" must be a process id or null`);
      validateString(up, `tree.${id}`);
      if (!Object.hasOwn(parents, up)) throw new RangeError(`The "tree.${id}" names ${up}, which is not in the tree`);
      if (up === id) throw new RangeError(`The "tree.${id}" names the process itself`);
    }
    out[id] = up ?? null;
  }
  return out;
}

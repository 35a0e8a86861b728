/**
 * Views and view changes (a flush protocol, as in virtual synchrony). The
 * leader is the first member of the view not suspected; it changes the view
 * when a member joins, leaves or is suspected (a heartbeat not heard for
 * `failureTimeoutMs`, or a link that cannot connect: the channels' peer-death
 * signal):
 * 1. PROPOSE(n, members) to the survivors: each stops multicasting and
 *    delivering in the current view and answers FLUSH with every message of
 *    the view it holds (delivered and not yet stable, or held back) and its
 *    deliveries per origin;
 * 2. once every survivor flushed, INSTALL(n, members, completion) to the new
 *    members (and those leaving): each delivers what the completion adds, in
 *    its order's rule, drops the rest of the view, and installs view n.
 * The proposal goes again, at doubling gaps, to survivors that have not
 * flushed (a lost PROPOSE or FLUSH); one that does not flush within
 * `failureTimeoutMs` twice is suspected, and the change starts again with a higher id; a leader that
 * fails mid-change is replaced by the next member, whose proposal (a higher
 * id) supersedes. A member that missed an INSTALL is sent it again when its
 * heartbeat names an older view.
 * @module
 */
import { GroupError } from '../../errors.js';
import type { LinkDown } from '../mesh.js';
import type { FifoEngine } from './engine.js';
import type { GroupSettings } from './options.js';
import { G, type Entry, type Message, type ViewMember } from './wire.js';

/** INSTALLs kept for members that missed some (each holds its view's completion: few are kept). */
const INSTALLS_KEPT = 8;

type Install = Extract<Message, { 0: typeof G.INSTALL }>;

/** What the membership needs of its member. @internal */
export interface MembershipHost {
  readonly settings: GroupSettings;
  readonly url: string;
  send(address: string, m: Message): void;
  view(): { id: number; members: readonly ViewMember[] };
  engine(): FifoEngine | undefined;
  stopForFlush(): void;
  install(id: number, members: ViewMember[], entries: readonly Entry[] | undefined): void;
  completion(reports: readonly (readonly Entry[])[], delivered: readonly (readonly number[])[]): Entry[];
  fail(err: Error): void;
}

interface Change {
  n: number;
  base: number;
  survivors: ViewMember[];
  members: ViewMember[];
  flushes: Map<string, { entries: Entry[]; d: number[] }>;
  started: number;
  attempts: number;
  /** When the proposal went again to the survivors not flushed yet, and the gap before the next time (doubling). */
  resent: number;
  gap: number;
}

/** The view-change protocol of one member. See the module doc. @internal */
export class Membership {
  readonly #h: MembershipHost;
  readonly #self: string;
  readonly #heard = new Map<string, number>();
  readonly #suspects = new Set<string>();
  readonly #joins = new Map<string, string>();
  readonly #leaving = new Set<string>();
  #promised = { n: 0, leader: '' };
  #change: Change | undefined;
  #lastInstall: Install | undefined;
  /** The last INSTALLs, for a member behind by one or more views: each is sent when its base is the member's view. */
  readonly #installs: Install[] = [];
  #lastBeat = 0;
  #lastTick = 0;
  /** The members of the view before this one: an excluded member's heartbeat is answered with the INSTALL it missed. */
  #previous: readonly ViewMember[] = [];
  #attempts = 0;
  #joining: { resolve: () => void; reject: (e: Error) => void; until: number } | undefined;
  #leave: { resolve: () => void; reject: (e: Error) => void; until: number } | undefined;
  #closed = false;

  constructor(host: MembershipHost) {
    this.#h = host;
    this.#self = host.settings.member;
  }

  /** Founds the group, or joins it through the contacts. */
  start(): Promise<void> {
    const s = this.#h.settings;
    if (s.contact.length === 0) {
      this.#install([G.INSTALL, 1, this.#self, 0, [{ id: this.#self, address: this.#h.url }], []], true);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      this.#joining = { resolve, reject, until: Date.now() + s.joinTimeoutMs };
      this.#askToJoin();
    });
  }

  #askToJoin(): void {
    for (const a of this.#h.settings.contact) this.#h.send(a, [G.JOIN, this.#self, this.#h.url]);
  }

  #members(): readonly ViewMember[] {
    return this.#h.view().members;
  }

  #address(id: string): string | undefined {
    return this.#members().find((m) => m.id === id)?.address;
  }

  /** The first member not suspected: it runs view changes. */
  #leader(): ViewMember | undefined {
    return this.#members().find((m) => !this.#suspects.has(m.id));
  }

  heardIndex(i: number): void {
    const m = this.#members()[i];
    if (m !== undefined) this.#heard.set(m.id, Date.now());
  }

  /** The mesh's peer-death signal: a link that cannot connect is a failure; one that closed is probed. */
  linkDown(address: string, why: LinkDown): void {
    const m = this.#members().find((x) => x.address === address && x.id !== this.#self);
    if (m === undefined || this.#closed) return;
    if (why === 'unreachable') this.suspect(m.id);
    else this.#h.send(address, [G.HEARTBEAT, this.#h.view().id, this.#self]);
  }

  suspect(id: string): void {
    if (id === this.#self || this.#suspects.has(id) || this.#address(id) === undefined) return;
    this.#suspects.add(id);
    if (this.#change !== undefined && this.#change.survivors.some((m) => m.id === id)) this.#startChange(); // a survivor failed: start again without it
    this.#nudgeLeader();
  }

  #nudgeLeader(): void {
    const l = this.#leader();
    if (l === undefined) return;
    if (l.id !== this.#self) {
      if (this.#suspects.size > 0) this.#h.send(l.address, [G.SUSPECT, this.#h.view().id, this.#self, [...this.#suspects]]);
      if (this.#leave !== undefined) this.#h.send(l.address, [G.LEAVE, this.#h.view().id, this.#self]);
    } else if (this.#change === undefined && (this.#suspects.size > 0 || this.#joins.size > 0 || this.#leaving.size > 0)) {
      this.#startChange();
    }
  }

  onMessage(m: Message): void {
    if (this.#closed) return;
    const view = this.#h.view();
    switch (m[0]) {
      case G.HEARTBEAT: {
        this.#heard.set(m[2], Date.now());
        const a = this.#address(m[2]) ?? this.#previous.find((x) => x.id === m[2])?.address;
        // A member behind: it missed the INSTALL of this view.
        const missed = a !== undefined && m[1] < view.id ? this.#installAfter(m[1]) : undefined;
        if (missed !== undefined) this.#h.send(a!, missed);
        return;
      }
      case G.JOIN: {
        const [, id, address] = m;
        if (this.#joining !== undefined) return;
        const known = this.#address(id);
        if (known === address) {
          if (this.#lastInstall !== undefined) this.#h.send(address, this.#lastInstall); // it missed its INSTALL
          return;
        }
        const l = this.#leader();
        if (l !== undefined && l.id !== this.#self) return this.#h.send(l.address, m);
        if (known !== undefined) this.#suspects.add(id); // the same id at a new address: its old self died
        this.#joins.set(id, address);
        this.#nudgeLeader();
        return;
      }
      case G.LEAVE: {
        if (m[1] !== view.id || this.#address(m[2]) === undefined) return;
        const l = this.#leader();
        if (l !== undefined && l.id !== this.#self) return this.#h.send(l.address, m);
        this.#leaving.add(m[2]);
        this.#nudgeLeader();
        return;
      }
      case G.SUSPECT:
        if (m[1] === view.id) for (const id of m[3]) this.suspect(id);
        return;
      case G.PROPOSE:
        return this.#onPropose(m);
      case G.FLUSH:
        return this.#onFlush(m);
      case G.INSTALL:
        return this.#install(m, false);
    }
  }

  #onPropose([, n, leader, base, ,]: Extract<Message, { 0: typeof G.PROPOSE }>): void {
    const view = this.#h.view();
    if (this.#joining !== undefined || n <= view.id) return;
    if (n < this.#promised.n || (n === this.#promised.n && leader !== this.#promised.leader)) return;
    const to = this.#address(leader);
    if (to === undefined) return;
    this.#promised = { n, leader };
    const missed = base < view.id ? this.#installAfter(base) : undefined;
    if (missed !== undefined) this.#h.send(to, missed); // the proposer is behind: catch it up first
    const engine = base === view.id ? this.#h.engine() : undefined;
    if (engine !== undefined) this.#h.stopForFlush();
    this.#h.send(to, [G.FLUSH, n, this.#self, view.id, engine?.flush() ?? [], [...(engine?.deliveredCounts ?? [])]]);
  }

  #startChange(): void {
    const view = this.#h.view();
    const n = Math.max(view.id, this.#promised.n, this.#change?.n ?? 0) + 1;
    const survivors = view.members.filter((m) => !this.#suspects.has(m.id));
    const kept = survivors.filter((m) => !this.#leaving.has(m.id));
    const joined = [...this.#joins].filter(([id]) => !kept.some((m) => m.id === id)).map(([id, address]) => ({ id, address }));
    const members = [...kept, ...joined].slice(0, 64);
    this.#change = {
      n,
      base: view.id,
      survivors,
      members,
      flushes: new Map(),
      started: Date.now(),
      attempts: this.#change?.attempts ?? 0,
      resent: Date.now(),
      gap: this.#h.settings.heartbeatMs,
    };
    this.#promised = { n, leader: this.#self };
    for (const m of survivors) this.#h.send(m.address, [G.PROPOSE, n, this.#self, view.id, members]);
  }

  #onFlush([, n, from, base, entries, d]: Extract<Message, { 0: typeof G.FLUSH }>): void {
    const c = this.#change;
    if (c === undefined || n !== c.n) return;
    const m = c.survivors.find((x) => x.id === from);
    if (m === undefined) return;
    if (base !== c.base) {
      const missed = base < c.base ? this.#installAfter(base) : undefined;
      if (missed !== undefined) this.#h.send(m.address, missed);
      return;
    }
    c.flushes.set(from, { entries, d });
    if (c.flushes.size < c.survivors.length) return;
    const reports = [...c.flushes.values()];
    const completion = this.#h.completion(
      reports.map((r) => r.entries),
      reports.map((r) => r.d),
    );
    const install: Install = [G.INSTALL, c.n, this.#self, c.base, c.members, completion];
    this.#change = undefined;
    this.#attempts = 0;
    const to = new Map<string, string>();
    // The suspected too, when they are alive after all: they learn they are out (ERR_GROUP_EXCLUDED).
    for (const x of [...c.members, ...this.#h.view().members]) to.set(x.id, x.address);
    for (const [id, address] of to) if (id !== this.#self) this.#h.send(address, install);
    this.#install(install, false);
  }

  #install(m: Install, founding: boolean): void {
    const [, n, leader, base, members, entries] = m;
    const view = this.#h.view();
    if (n <= view.id) return;
    const inIt = members.some((x) => x.id === this.#self);
    if (this.#joining !== undefined) {
      if (!inIt) return;
      this.#h.install(n, members, undefined);
      const j = this.#joining;
      this.#joining = undefined;
      j.resolve();
    } else if (founding || base === view.id) this.#h.install(n, members, entries);
    else if (!inIt)
      this.#h.install(n, members, undefined); // excluded while behind: it cannot finish its view
    else return; // behind by more than one view: the leader sends the INSTALL it missed when its heartbeat shows it
    this.#lastInstall = m;
    this.#installs.push(m);
    if (this.#installs.length > INSTALLS_KEPT) this.#installs.shift();
    this.#previous = view.members;
    this.#promised = { n, leader };
    if (this.#change !== undefined && this.#change.n <= n) this.#change = undefined;
    const now = Date.now();
    for (const x of members) this.#heard.set(x.id, now);
    for (const id of [...this.#suspects]) if (!members.some((x) => x.id === id)) this.#suspects.delete(id);
    for (const x of members) if (this.#joins.get(x.id) === x.address) this.#joins.delete(x.id);
    for (const id of [...this.#leaving]) if (!members.some((x) => x.id === id)) this.#leaving.delete(id);
    if (!inIt) {
      const left = this.#leave;
      this.#leave = undefined;
      this.#closed = true;
      left?.resolve();
      this.#h.fail(
        left !== undefined
          ? new GroupError('ERR_GROUP_CLOSED', `The member ${this.#self} left the group ${this.#h.settings.group}`)
          : new GroupError(
              'ERR_GROUP_EXCLUDED',
              `The group ${this.#h.settings.group} installed view ${n} without the member ${this.#self}`,
            ),
      );
      return;
    }
    this.#nudgeLeader();
  }

  /** The INSTALL that ended view `base`, if it is among the last kept. */
  #installAfter(base: number): Install | undefined {
    return this.#installs.find((x) => x[3] === base);
  }

  /** Asks the leader for a view without this member; resolves when it is installed. */
  leave(timeoutMs: number): Promise<void> {
    const members = this.#members();
    if (members.length <= 1 || this.#closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#leave = { resolve, reject, until: Date.now() + timeoutMs };
      if (this.#leader()?.id === this.#self) this.#leaving.add(this.#self);
      this.#nudgeLeader();
    });
  }

  tick(now: number): void {
    if (this.#closed) return;
    const s = this.#h.settings;
    if (this.#joining !== undefined) {
      if (now > this.#joining.until) {
        const j = this.#joining;
        this.#joining = undefined;
        j.reject(
          new GroupError(
            'ERR_GROUP_JOIN_TIMEOUT',
            `No member of ${s.group} at ${s.contact.join(', ')} let ${this.#self} join within ${s.joinTimeoutMs} ms`,
          ),
        );
      } else if (now - this.#lastBeat >= Math.max(s.heartbeatMs, 100)) {
        this.#lastBeat = now;
        this.#askToJoin();
      }
      return;
    }
    if (this.#leave !== undefined && now > this.#leave.until) {
      const l = this.#leave;
      this.#leave = undefined;
      l.reject(new GroupError('ERR_GROUP_CLOSED', `The group ${s.group} did not install a view without ${this.#self} in time`));
    }
    const view = this.#h.view();
    // This member did not run for a while (SIGSTOP, a long synchronous call): it heard nobody because it was not
    // listening, which says nothing of the others. It judges them afresh, after reading what arrived meanwhile
    // (an INSTALL without it, say: then it learns it was excluded instead of founding a view of its own).
    const stalled = this.#lastTick > 0 && now - this.#lastTick > s.failureTimeoutMs / 2;
    this.#lastTick = now;
    if (stalled) for (const m of view.members) this.#heard.set(m.id, now);
    if (now - this.#lastBeat >= s.heartbeatMs) {
      this.#lastBeat = now;
      for (const m of view.members) if (m.id !== this.#self) this.#h.send(m.address, [G.HEARTBEAT, view.id, this.#self]);
      this.#nudgeLeader(); // suspicions and leaves again, in case they were lost
      // The proposal again to the survivors not flushed yet, at doubling gaps (a lossy link may have lost it or the
      // FLUSH; each answer carries the view's messages): an alive member is suspected for a change that does not
      // complete, not for one lost frame.
      const p = this.#change;
      if (p !== undefined && now - p.resent >= p.gap) {
        p.resent = now;
        p.gap *= 2;
        for (const m of p.survivors)
          if (m.id !== this.#self && !p.flushes.has(m.id)) this.#h.send(m.address, [G.PROPOSE, p.n, this.#self, p.base, p.members]);
      }
    }
    for (const m of view.members) if (m.id !== this.#self && now - (this.#heard.get(m.id) ?? now) > s.failureTimeoutMs) this.suspect(m.id);
    const c = this.#change;
    if (c !== undefined && now - c.started > s.failureTimeoutMs) {
      // Survivors that did not flush: the first time, ask again (a competing proposal may have held them); then suspect them.
      if (++this.#attempts >= 2) for (const m of c.survivors) if (!c.flushes.has(m.id)) this.#suspects.add(m.id);
      this.#startChange();
    }
  }

  close(): void {
    this.#closed = true;
    const err = new GroupError('ERR_GROUP_CLOSED', `The member ${this.#self} is closed`);
    this.#joining?.reject(err);
    this.#leave?.reject(err);
    this.#joining = this.#leave = undefined;
  }
}

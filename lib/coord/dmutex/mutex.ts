/**
 * What every distributed mutual exclusion algorithm shares: the members'
 * network, the local callers waiting in `acquire()` (one request of the
 * member's at a time, for the first of them), the guard with its fence, the
 * trace annotations (`cs:request`, `cs:enter`, `cs:exit`, `cs:abandon`) and
 * the message counts. The algorithms ({@link CentralMutex},
 * {@link TokenRingMutex}, {@link RicartAgrawalaMutex},
 * {@link SuzukiKasamiMutex}) say how a member asks, is granted and releases.
 * @module
 */
import { closedError, timeoutError } from '../../errors.js';
import { validateAbortSignal, validateOptions, validateTimeout } from '../../internal/validators.js';
import { deadlineAfter, waitInList } from '../../internal/waiting.js';
import { MemberMesh, zeroCounts, type MemberCounts } from '../members.js';
import { Mesh, type LinkDown, type MeshOptions, type MeshSource } from '../mesh.js';
import type { MutexSettings } from './options.js';
import { decodeDmutex, encodeDmutex, KIND_NAMES, type DmutexMessage, type KindName, type KindValue, type TokenState } from './wire.js';

/** Message counts by kind, and what the member did. */
export interface DistributedMutexStats extends MemberCounts<KindName> {
  /** Requests this member made for the critical section. */
  requests: number;
  /** Critical sections this member entered. */
  entries: number;
  /** Trace annotations not recorded (the recorder was full). */
  unrecorded: number;
}

/** The algorithm's messages in a stats record (every kind but ACK and REVOKE): what the theory's counts count. */
export function mutexMessages(counts: Record<KindName, number>): number {
  return counts.REQUEST + counts.REPLY + counts.GRANT + counts.RELEASE + counts.TOKEN;
}

/** Options of {@link DistributedMutex.acquire}. */
export interface DistributedAcquireOptions {
  /** Gives up the wait: the promise rejects with an AbortError. */
  signal?: AbortSignal;
  /** Gives up after this long: an `ETIMEDOUT` error (default: no limit). */
  timeoutMs?: number;
}

/**
 * The holding of a distributed mutex: release it once (again is a no-op),
 * or let `using` do it. Give `fence` to the protected resource with every
 * write: fences rise from one holding to the next, so the resource can
 * refuse a stale holder's writes ({@link FenceGate}).
 */
export class DistributedLockGuard implements Disposable {
  /** This holding's fencing token: higher than every earlier holding's. */
  readonly fence: number;
  readonly #controller = new AbortController();
  readonly #release: () => void;
  #released = false;

  /** @internal */
  constructor(fence: number, release: () => void) {
    this.fence = fence;
    this.#release = release;
  }

  /** Aborts when the lock is no longer this holder's although it did not release it: a lease ran out, or the member closed. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get released(): boolean {
    return this.#released;
  }

  /** Leaves the critical section. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#release();
  }

  /** @internal */
  revoke(why: string): void {
    this.#controller.abort(new Error(why));
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

interface Waiter {
  resolve(guard: DistributedLockGuard): void;
  reject(err: unknown): void;
}

/** One member of a distributed mutex. Made by {@link joinMutex}. */
export abstract class DistributedMutex implements AsyncDisposable {
  /** This member's id. */
  readonly id: number;
  readonly stats: DistributedMutexStats = {
    sent: zeroCounts(KIND_NAMES),
    received: zeroCounts(KIND_NAMES),
    dropped: 0,
    requests: 0,
    entries: 0,
    unrecorded: 0,
  };
  protected readonly settings: MutexSettings;
  readonly #mesh: MemberMesh<KindName, DmutexMessage>;
  readonly #waiters: Waiter[] = [];
  #requesting = false;
  #held: DistributedLockGuard | undefined;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Set by close(): no new requests; messages still go out while the member leaves. */
  #closing = false;
  /** Set once the member has left: nothing goes out. */
  #closed = false;
  #closeDone: Promise<void> | undefined;

  protected constructor(settings: MutexSettings) {
    this.id = settings.id;
    this.settings = settings;
    this.#mesh = new MemberMesh(settings.peers, this.stats);
  }

  /** @internal */
  async open(options: MeshOptions): Promise<void> {
    const recorder = this.settings.recorder;
    const onLink = options.onLink;
    await this.#mesh.open(
      {
        ...options,
        onLink: (link) => {
          recorder?.attach(link.duplex, { label: `dmutex ${link.direction}` }); // first: the faults go after the stamps
          onLink?.(link);
        },
      },
      decodeDmutex,
      { message: (m, source) => this.receive(m, source), peerDown: (id, why) => this.peerDown(id, why) },
    );
    this.start();
  }

  /** Where the peers reach this member. */
  get url(): string {
    return this.#mesh.url;
  }

  /** True from `close()` on. */
  get closed(): boolean {
    return this.#closing;
  }

  /** The algorithm's name. */
  get algorithm(): MutexSettings['algorithm'] {
    return this.settings.algorithm;
  }

  /**
   * Waits for the critical section: resolves with the guard once this member
   * holds the lock. Local callers are served one at a time, in call order,
   * each by its own request of the algorithm. A caller that gives up (signal,
   * timeout) leaves the queue; a request already made for it is released as
   * soon as it is granted. Never blocks the event loop.
   */
  acquire(options: DistributedAcquireOptions = {}): Promise<DistributedLockGuard> {
    validateOptions(options);
    const signal = validateAbortSignal(options.signal, 'options.signal');
    const timeoutMs = validateTimeout(options.timeoutMs, 'options.timeoutMs');
    if (this.#closing) return Promise.reject(closedError('DistributedMutex'));
    const wait = waitInList<DistributedLockGuard, Waiter>(
      this.#waiters,
      (resolve, reject) => ({ resolve, reject }),
      signal,
      deadlineAfter(timeoutMs),
      () => timeoutError('acquire', undefined, `the ${this.algorithm} mutex was not granted to member ${this.id} within ${timeoutMs} ms`),
    );
    this.#ask();
    return wait;
  }

  /** True while a local caller holds the lock. */
  get holding(): boolean {
    return this.#held !== undefined;
  }

  #ask(): void {
    if (this.#closing || this.#held !== undefined || this.#requesting || this.#waiters.length === 0) return;
    this.#requesting = true;
    this.stats.requests++;
    this.note('cs:request');
    this.request();
  }

  /** Records a trace annotation (with the fence) if the member has a recorder. */
  protected note(label: string, fence?: number): void {
    const recorder = this.settings.recorder;
    if (recorder === undefined) return;
    try {
      recorder.annotate(label, fence === undefined ? undefined : { fence });
    } catch {
      this.stats.unrecorded++; // the recorder is full: counted, and the protocol goes on
    }
  }

  /** True while this member has a request outstanding (the algorithm may enter when it can). */
  protected get wanting(): boolean {
    return this.#requesting;
  }

  /** The algorithm: this member may enter now, with `fence`. A grant nobody asked for is given back at once. */
  protected granted(fence: number): void {
    if (this.#closed) return;
    if (this.#closing && this.#requesting) {
      this.#requesting = false;
      this.note('cs:abandon', fence); // the member is leaving: the grant goes back
      return this.release(fence);
    }
    if (!this.#requesting || this.#held !== undefined) return this.release(fence);
    this.#requesting = false;
    const waiter = this.#waiters.shift();
    if (waiter === undefined) {
      this.note('cs:abandon', fence); // every caller gave up meanwhile
      return this.release(fence);
    }
    const guard: DistributedLockGuard = new DistributedLockGuard(fence, () => this.#exit(guard));
    this.#held = guard;
    this.stats.entries++;
    this.note('cs:enter', fence);
    waiter.resolve(guard);
  }

  #exit(guard: DistributedLockGuard): void {
    if (this.#held !== guard) return;
    this.#held = undefined;
    this.note('cs:exit', guard.fence);
    if (!this.#closed) this.release(guard.fence);
    this.#ask();
  }

  /** The algorithm: the holding with `fence` is no longer this member's (a lease ran out). */
  protected revoked(fence: number): void {
    if (this.#held?.fence === fence) this.#held.revoke(`the lock's lease ran out: fence ${fence} is stale`);
  }

  /** Runs `fn` after `ms` unless the member has closed by then (every such timer is cleared by close()). */
  protected after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#closed) fn();
    }, ms);
    this.#timers.add(t);
  }

  /** Sends a message of `kind` to member `to`. */
  protected send(to: number, kind: KindValue, value: number, seq = 0, token?: TokenState): void {
    if (this.#closed) return;
    const m = encodeDmutex(kind, this.id, value, seq, token);
    this.#mesh.send(to, KIND_NAMES[kind - 1]!, m);
  }

  /** Answers on the connection `source` came on. */
  protected reply(source: MeshSource, kind: KindValue, value: number, seq = 0): void {
    if (this.#closed) return;
    this.#mesh.reply(source, KIND_NAMES[kind - 1]!, encodeDmutex(kind, this.id, value, seq));
  }

  /** The peers' ids, ascending. */
  protected get peerIds(): number[] {
    return this.#mesh.peerIds;
  }

  /** The members after this one in id order, wrapping around (a ring's successors, nearest first). */
  protected get successors(): number[] {
    const all = this.settings.members;
    const at = all.indexOf(this.id);
    return [...all.slice(at + 1), ...all.slice(0, at)];
  }

  /** The algorithm: set up once the member listens (hand out the first token, say). */
  protected abstract start(): void;
  /** The algorithm: ask for the critical section; call {@link granted} when this member may enter. */
  protected abstract request(): void;
  /** The algorithm: this member left the critical section it entered with `fence`. */
  protected abstract release(fence: number): void;
  /** The algorithm: one message from a peer. */
  protected abstract receive(m: DmutexMessage, source: MeshSource): void;
  /** The algorithm: the link to `peer` broke or could not connect. */
  protected abstract peerDown(peer: number, why: LinkDown): void;
  /** The algorithm: the member is leaving; hand on what the others need (the token), resolving once it is taken. */
  protected async leave(): Promise<void> {}
  /** The algorithm: clear its own timers. */
  protected closeAlgorithm(): void {}

  /**
   * Leaves the mutex: rejects the waiting callers, releases a holding (its
   * guard's `signal` aborts), hands the token on if this member has it (and
   * waits, bounded, for the next member to take it), then stops the timers
   * and closes every connection. Under Ricart-Agrawala and as the central
   * coordinator, leaving is a crash for the others (see docs/dmutex.md).
   */
  close(): Promise<void> {
    this.#closeDone ??= this.#close();
    return this.#closeDone;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    for (const w of this.#waiters.splice(0)) w.reject(closedError('DistributedMutex'));
    const held = this.#held;
    if (held !== undefined) {
      held.revoke('the distributed mutex was closed');
      this.#exit(held); // RELEASE, the deferred REPLYs, the token passed on
    } else if (this.#requesting) this.note('cs:abandon');
    try {
      await this.leave();
    } finally {
      for (const t of this.#timers) clearTimeout(t);
      this.#timers.clear();
      this.closeAlgorithm();
      await Mesh.turn(); // the channels write this turn's messages before the connections close
      this.#closed = true;
      await this.#mesh.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * The token ring: the members form a ring in id order and one token goes
 * round it. The lowest id makes the token when it joins. A member that
 * wants the critical section waits for the token, enters with it (the
 * fence is the token's count of entries, plus one), and passes it on when
 * it leaves; a member that does not want it passes it on after `idleMs`.
 * A critical section costs from 1 TOKEN (every member waiting) to N (one
 * member alone wants it), and an idle ring keeps sending; nobody starves:
 * a waiter enters within one round.
 * Crashes: a handoff to a member whose link goes down unacknowledged goes
 * to the member after it, so a dead member is skipped. A member that dies
 * holding the token takes it with it: the ring stops, and waiters' `acquire()`
 * times out (a new token needs an election: see docs/dmutex.md).
 * `close()` hands the token on first; a token that reaches a member that
 * is leaving is not acknowledged, so its giver passes it to the next.
 * @module
 */
import type { MeshSource } from '../mesh.js';
import { TokenHandoff } from './handoff.js';
import { DistributedMutex } from './mutex.js';
import type { MutexSettings } from './options.js';
import { Kind, type DmutexMessage } from './wire.js';

/** How long close() waits for the next member to take the token. */
const LEAVE_MS = 2_000;

/** A member of a token-ring mutex. */
export class TokenRingMutex extends DistributedMutex {
  /** The token's fence while this member holds it (undefined: it does not). */
  #token: number | undefined;
  #inCs = false;
  #idle: NodeJS.Timeout | undefined;
  readonly #handoff = new TokenHandoff(
    (to, value, seq) => this.send(to, Kind.TOKEN, value, seq),
    (to, value) => this.#pass(value, to), // skip the member whose link went down
  );

  /** @internal */
  constructor(settings: MutexSettings) {
    super(settings);
  }

  protected start(): void {
    if (this.settings.members[0] === this.id) this.#arrived(0);
  }

  protected request(): void {
    if (this.#token !== undefined && !this.#inCs) this.#enter();
  }

  protected release(): void {
    this.#inCs = false;
    this.#pass(this.#token!);
  }

  protected receive(m: DmutexMessage, source: MeshSource): void {
    if (m.kind === Kind.ACK) return this.#handoff.acked(m.from, m.seq);
    if (m.kind !== Kind.TOKEN || this.closed) return; // leaving: not acknowledged, so the giver tries the next
    this.reply(source, Kind.ACK, 0, m.seq);
    this.#arrived(m.value);
  }

  #arrived(fence: number): void {
    if (this.#token !== undefined) {
      this.#token = Math.max(this.#token, fence); // two tokens (a handoff believed lost was not): merged into one
      return;
    }
    this.#token = fence;
    if (this.wanting) this.#enter();
    else this.#idle = setTimeout(() => ((this.#idle = undefined), this.#pass(this.#token!)), this.settings.idleMs);
  }

  #enter(): void {
    clearTimeout(this.#idle);
    this.#idle = undefined;
    this.#inCs = true;
    this.#token! += 1;
    this.granted(this.#token!);
  }

  /**
   * Passes the token to the next member after `after` (default: this one).
   * With nobody after it (alone, or every other member's link is down) this
   * member keeps the token, idle: `request()` enters with it at once.
   */
  #pass(fence: number, after = this.id): void {
    this.#token = undefined;
    const ring = this.successors;
    const next = after === this.id ? ring[0] : ring[ring.indexOf(after) + 1];
    if (next !== undefined) return this.#handoff.give(next, fence);
    this.#token = fence;
    if (this.wanting) this.#enter();
  }

  protected peerDown(peer: number): void {
    this.#handoff.peerDown(peer);
  }

  protected override async leave(): Promise<void> {
    clearTimeout(this.#idle);
    this.#idle = undefined;
    if (this.#token !== undefined && !this.#inCs) this.#pass(this.#token);
    await this.#handoff.settled(LEAVE_MS);
  }

  protected override closeAlgorithm(): void {
    clearTimeout(this.#idle);
  }
}

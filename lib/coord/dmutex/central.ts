/**
 * The central coordinator: one member (the lowest id unless
 * `options.coordinator` names another) keeps the queue. A member sends it
 * REQUEST, waits for GRANT (with the fence), and sends RELEASE when it
 * leaves: 3 messages per critical section, none for the coordinator's own.
 * The coordinator grants in arrival order, so no member starves.
 * Crashes: a holder whose link to the coordinator goes down (its process
 * died) loses the lock to the next member, with a higher fence; with
 * `leaseMs`, a holder that keeps it longer (stopped, partitioned) loses it
 * too and hears REVOKE. A REQUEST or RELEASE that may have been lost (the
 * member's link to the coordinator went down) is sent again after
 * `retryMs`; the coordinator ignores copies (REQUEST carries the member's
 * request number, RELEASE the fence). A crashed coordinator stops the mutex: the waiting
 * members' `acquire()` times out (a new coordinator needs an election and
 * the queue's state, which this algorithm does not keep anywhere else).
 * @module
 */
import type { MeshSource } from '../mesh.js';
import { DistributedMutex } from './mutex.js';
import type { MutexSettings } from './options.js';
import { Kind, type DmutexMessage } from './wire.js';

/** How often a RELEASE goes again before the member gives up on a coordinator that does not answer. */
const MAX_RESENDS = 20;

/** A member of a central-coordinator mutex. */
export class CentralMutex extends DistributedMutex {
  /** The coordinator's state: the queue of members waiting, the holder and its fence, the last fence given. */
  readonly #queue: number[] = [];
  #holder: number | undefined;
  #holderFence = 0;
  #fence = 0;
  #lease: NodeJS.Timeout | undefined;
  /** The coordinator: each member's last request number seen. */
  readonly #asked = new Map<number, number>();
  /** A member: its request number, and the fence of its last RELEASE (sent again if the link went down). */
  #ask = 0;
  #lastRelease: number | undefined;
  #releaseResends = 0;

  /** @internal */
  constructor(settings: MutexSettings) {
    super(settings);
  }

  get #coordinating(): boolean {
    return this.settings.coordinator === this.id;
  }

  protected start(): void {}

  protected request(): void {
    if (this.#coordinating) this.#enqueue(this.id);
    else this.send(this.settings.coordinator, Kind.REQUEST, 0, ++this.#ask);
  }

  protected release(fence: number): void {
    if (this.#coordinating) return this.#released(this.id, fence);
    this.#lastRelease = fence;
    this.#releaseResends = 0;
    this.send(this.settings.coordinator, Kind.RELEASE, fence);
  }

  protected receive(m: DmutexMessage, _source: MeshSource): void {
    const fromCoordinator = m.from === this.settings.coordinator;
    if (m.kind === Kind.GRANT && fromCoordinator) this.granted(m.value);
    else if (m.kind === Kind.REVOKE && fromCoordinator) this.revoked(m.value);
    else if (m.kind === Kind.REQUEST && this.#coordinating) {
      if (m.seq <= (this.#asked.get(m.from) ?? 0)) return; // a copy sent again
      this.#asked.set(m.from, m.seq);
      this.#enqueue(m.from);
    } else if (m.kind === Kind.RELEASE && this.#coordinating) this.#released(m.from, m.value);
  }

  #enqueue(member: number): void {
    if (member === this.#holder || this.#queue.includes(member)) return; // one request per member at a time
    this.#queue.push(member);
    this.#next();
  }

  #released(member: number, fence: number): void {
    if (member !== this.#holder || fence !== this.#holderFence) return; // a revoked holding's late RELEASE
    this.#free();
    this.#next();
  }

  #free(): void {
    this.#holder = undefined;
    clearTimeout(this.#lease);
    this.#lease = undefined;
  }

  /** Grants the lock to the first member waiting, if it is free. */
  #next(): void {
    if (this.#holder !== undefined || this.closed) return;
    const member = this.#queue.shift();
    if (member === undefined) return;
    this.#holder = member;
    this.#holderFence = ++this.#fence;
    const fence = this.#fence;
    if (this.settings.leaseMs !== undefined) this.#lease = setTimeout(() => this.#expire(member, fence), this.settings.leaseMs);
    if (member === this.id) this.granted(fence);
    else this.send(member, Kind.GRANT, fence);
  }

  #expire(member: number, fence: number): void {
    if (this.#holder !== member || this.#holderFence !== fence) return;
    this.note('cs:revoke', fence);
    this.#free();
    if (member === this.id) this.revoked(fence);
    else this.send(member, Kind.REVOKE, fence);
    this.#next();
  }

  protected peerDown(peer: number): void {
    if (!this.#coordinating) {
      // The link to the coordinator: what it may have missed goes again (if it died, waiters time out).
      this.after(this.settings.retryMs, () => {
        if (this.wanting) this.send(this.settings.coordinator, Kind.REQUEST, 0, this.#ask);
        if (this.#lastRelease !== undefined && this.#releaseResends++ < MAX_RESENDS)
          this.send(this.settings.coordinator, Kind.RELEASE, this.#lastRelease);
      });
      return;
    }
    const at = this.#queue.indexOf(peer);
    if (at >= 0) this.#queue.splice(at, 1);
    if (this.#holder === peer) {
      this.note('cs:revoke', this.#holderFence); // the holder died: its holding ends here
      this.#free();
      this.#next();
    }
  }

  protected override closeAlgorithm(): void {
    clearTimeout(this.#lease);
  }
}

/**
 * The central coordinator: one member (the lowest id unless
 * `options.coordinator` names another) keeps the queue. A member sends it
 * REQUEST, waits for GRANT (with the fence), and sends RELEASE when it
 * leaves: 3 messages per critical section, none for the coordinator's own.
 * The coordinator grants in arrival order, so no member starves.
 * Crashes: a holder whose link to the coordinator goes down (its process
 * died) loses the lock to the next member, with a higher fence; with
 * `leaseMs`, a holder that keeps it longer (stopped, partitioned) loses it
 * too and hears REVOKE. A crashed coordinator stops the mutex: the waiting
 * members' `acquire()` times out (a new coordinator needs an election and
 * the queue's state, which this algorithm does not keep anywhere else).
 * @module
 */
import type { MeshSource } from '../mesh.js';
import { DistributedMutex } from './mutex.js';
import type { MutexSettings } from './options.js';
import { Kind, type DmutexMessage } from './wire.js';

/** A member of a central-coordinator mutex. */
export class CentralMutex extends DistributedMutex {
  /** The coordinator's state: the queue of members waiting, the holder and its fence, the last fence given. */
  readonly #queue: number[] = [];
  #holder: number | undefined;
  #holderFence = 0;
  #fence = 0;
  #lease: NodeJS.Timeout | undefined;

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
    else this.send(this.settings.coordinator, Kind.REQUEST, 0);
  }

  protected release(fence: number): void {
    if (this.#coordinating) this.#released(this.id, fence);
    else this.send(this.settings.coordinator, Kind.RELEASE, fence);
  }

  protected receive(m: DmutexMessage, _source: MeshSource): void {
    const fromCoordinator = m.from === this.settings.coordinator;
    if (m.kind === Kind.GRANT && fromCoordinator) this.granted(m.value);
    else if (m.kind === Kind.REVOKE && fromCoordinator) this.revoked(m.value);
    else if (m.kind === Kind.REQUEST && this.#coordinating) this.#enqueue(m.from);
    else if (m.kind === Kind.RELEASE && this.#coordinating) this.#released(m.from, m.value);
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
    if (!this.#coordinating) return; // the coordinator's link: waiters time out (see the module doc)
    const at = this.#queue.indexOf(peer);
    if (at >= 0) this.#queue.splice(at, 1);
    if (this.#holder === peer) {
      this.note('cs:revoke', this.#holderFence); // the holder died: its holding ends here
      this.#free();
      this.#next();
    }
  }

  protected closeAlgorithm(): void {
    clearTimeout(this.#lease);
  }
}

/**
 * The bully algorithm (Garcia-Molina): a member that suspects the leader
 * sends ELECTION to every higher id; any live higher member answers
 * (ANSWER) and starts its own election; a member that hears no answer
 * within `answerTimeoutMs` is the highest live id and tells every member
 * (COORDINATOR). Worst case (the lowest id starts): n(n-1)/2 ELECTION,
 * as many ANSWER at most, and n-1 COORDINATOR per winner: O(n^2).
 * @module
 */
import type { LinkDown } from '../mesh.js';
import { Election } from './election.js';
import type { ElectionSettings } from './options.js';
import { Kind, type ElectionMessage } from './wire.js';

/** A member of a bully election. */
export class BullyElection extends Election {
  #electing = false;
  #answerTimer: NodeJS.Timeout | undefined;

  /** @internal */
  constructor(settings: ElectionSettings) {
    super(settings);
  }

  protected startElection(): void {
    if (this.settings.broken) {
      // Broken on purpose: no question to the higher ids.
      if (this.leader === undefined) this.#win();
      return;
    }
    const higher = this.peerIds.filter((p) => p > this.id);
    clearTimeout(this.#answerTimer);
    if (higher.length === 0) return this.#win();
    this.#electing = true;
    for (const p of higher) this.send(p, Kind.ELECTION);
    this.#answerTimer = setTimeout(() => this.#win(), this.settings.answerTimeoutMs);
  }

  #win(): void {
    clearTimeout(this.#answerTimer);
    this.#answerTimer = undefined;
    this.#electing = false;
    this.setLeader(this.id);
    for (const p of this.peerIds) this.send(p, Kind.COORDINATOR, this.id);
  }

  protected receive(m: ElectionMessage): void {
    switch (m.kind) {
      case Kind.ELECTION:
        if (m.from > this.id) return; // not the algorithm's: only lower ids ask
        this.send(m.from, Kind.ANSWER);
        if (this.leader === this.id) this.send(m.from, Kind.COORDINATOR, this.id);
        // A known live leader above this member will bully the asker itself (its heartbeats reach it): one election per member at most.
        else if (!this.#electing && !(this.leader !== undefined && this.leader > this.id)) this.elect();
        return;
      case Kind.ANSWER:
        // A higher member lives and takes over: wait for its COORDINATOR (the electionTimeoutMs watch restarts otherwise).
        clearTimeout(this.#answerTimer);
        this.#answerTimer = undefined;
        return;
      case Kind.COORDINATOR:
        if (this.settings.broken) {
          if (this.leader === undefined) this.setLeader(m.value);
          return;
        }
        if (m.value < this.id) {
          if (!this.#electing) this.elect(); // a lower id claims the lead: bully it
          return;
        }
        clearTimeout(this.#answerTimer);
        this.#answerTimer = undefined;
        this.#electing = false;
        this.setLeader(m.value);
        return;
      case Kind.HEARTBEAT:
        if (this.settings.broken || m.from === this.leader) return;
        if (m.from > this.id) {
          // A live leader above: the election this member waits on is over (its COORDINATOR may have been lost).
          if (this.leader === undefined || m.from > this.leader || this.#electing) {
            clearTimeout(this.#answerTimer);
            this.#answerTimer = undefined;
            this.#electing = false;
            this.setLeader(m.from);
          }
        } else if (!this.#electing) this.elect(); // a lower id leads: bully it
        return;
      default:
        return; // ring kinds: not this algorithm's
    }
  }

  protected peerDown(_peer: number, _why: LinkDown): void {
    // The timeouts decide: an unreachable higher id simply never answers.
  }

  protected closeAlgorithm(): void {
    clearTimeout(this.#answerTimer);
  }
}

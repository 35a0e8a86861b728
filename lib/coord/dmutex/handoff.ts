/**
 * Handing a token to another member so that it is never lost to a member
 * that is already gone: the TOKEN carries a handoff number, the receiver
 * acknowledges it on the connection it came on (so the ACK is read before
 * that connection's end), and a handoff whose target's link goes down
 * unacknowledged comes back to the algorithm, which picks the next target.
 * There is no acknowledgement timeout: a target that is alive but slow
 * (stopped, overloaded) keeps the token in flight rather than have two
 * tokens. The token ring and Suzuki-Kasami share it.
 * @module
 */
import type { TokenState } from './wire.js';

interface InFlight {
  readonly to: number;
  readonly seq: number;
  readonly value: number;
  readonly state: TokenState | undefined;
}

/** One member's side of the token handoffs. @internal */
export class TokenHandoff {
  readonly #send: (to: number, value: number, seq: number, state: TokenState | undefined) => void;
  readonly #failed: (to: number, value: number, state: TokenState | undefined) => void;
  #inFlight: InFlight | undefined;
  #seq = 0;
  #settled: (() => void)[] = [];

  /**
   * `send` writes the TOKEN; `failed` gets the token back when its target's
   * link went down before the ACK (the algorithm gives it to another member,
   * or keeps it).
   */
  constructor(
    send: (to: number, value: number, seq: number, state: TokenState | undefined) => void,
    failed: (to: number, value: number, state: TokenState | undefined) => void,
  ) {
    this.#send = send;
    this.#failed = failed;
  }

  /** True while a handoff waits for its ACK (this member no longer holds the token). */
  get inFlight(): boolean {
    return this.#inFlight !== undefined;
  }

  /** Resolves once no handoff waits for its ACK, or after `ms`. */
  async settled(ms: number): Promise<void> {
    if (this.#inFlight === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#settled.push(resolve);
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
  }

  #settle(): void {
    this.#inFlight = undefined;
    for (const resolve of this.#settled.splice(0)) resolve();
  }

  /** Gives the token (its fence `value`, and a Suzuki-Kasami token's state) to member `to`. */
  give(to: number, value: number, state?: TokenState): void {
    this.#seq = this.#seq >= 0xffffffff ? 1 : this.#seq + 1;
    this.#inFlight = { to, seq: this.#seq, value, state };
    this.#send(to, value, this.#seq, state);
  }

  /** An ACK from `from` for handoff `seq`: the token is that member's now. */
  acked(from: number, seq: number): void {
    if (this.#inFlight?.to === from && this.#inFlight.seq === seq) this.#settle();
  }

  /** The link to `peer` went down: a handoff to it still unacknowledged comes back. */
  peerDown(peer: number): void {
    const f = this.#inFlight;
    if (f?.to !== peer) return;
    this.#inFlight = undefined;
    this.#failed(f.to, f.value, f.state); // gives it again, or keeps it
    if (this.#inFlight === undefined) this.#settle();
  }
}

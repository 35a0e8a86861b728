/**
 * A member's messages to its peers, batched: every message for one peer in
 * one event-loop turn goes as one frame (split when large), at the next turn.
 * What the group members and the spanning-tree nodes share.
 * @internal
 * @module
 */
import type { Mesh } from '../mesh.js';
import { encodeFrame, G, type Message } from './wire.js';

export class Outbox {
  readonly #mesh: Mesh;
  readonly #queues = new Map<string, Message[]>();

  constructor(mesh: Mesh) {
    this.#mesh = mesh;
  }

  /** Queues `m` for the peer at `address`; the frames go at the next turn. */
  push(address: string, m: Message): void {
    let q = this.#queues.get(address);
    if (q === undefined) {
      this.#queues.set(address, (q = []));
      if (this.#queues.size === 1) setImmediate(() => this.flush());
    }
    q.push(m);
  }

  /** Sends what is queued now: one frame per peer (split when large). */
  flush(): void {
    const half = this.#mesh.maxMessageSize >> 1;
    for (const [address, q] of this.#queues) {
      let start = 0;
      let bytes = 0;
      for (let i = 0; i < q.length; i++) {
        const m = q[i]!;
        bytes += 32 + (m[0] === G.DATA || m[0] === G.SUBMIT ? m[4].length : 0);
        if (bytes >= half || i === q.length - 1) {
          this.#mesh.send(address, encodeFrame(q.slice(start, i + 1)));
          start = i + 1;
          bytes = 0;
        }
      }
    }
    this.#queues.clear();
  }
}

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

  /** Sends what is queued now: one frame per peer, split so that no frame passes half the mesh's bound. */
  flush(): void {
    const half = this.#mesh.maxMessageSize >> 1;
    const parts = new Map<Message, Uint8Array>(); // a multicast's encoding, made once for every peer's frame
    for (const [address, q] of this.#queues) {
      let start = 0;
      let bytes = 0;
      for (let i = 0; i < q.length; i++) {
        const size = sizeOf(q[i]!);
        // The frame so far goes first when this message would take it past the bound: each message alone is
        // within the bound (a payload is at most maxMessageSize less 1 KiB), and frames stay in order.
        if (i > start && bytes + size >= half) {
          this.#mesh.send(address, encodeFrame(q.slice(start, i), parts));
          start = i;
          bytes = 0;
        }
        bytes += size;
      }
      if (start < q.length) this.#mesh.send(address, encodeFrame(start === 0 ? q : q.slice(start), parts));
    }
    this.#queues.clear();
  }
}

/** A bound on a message's MessagePack size (the data messages, the common case, at once; the rest walked). */
function sizeOf(m: Message): number {
  return m[0] === G.DATA || m[0] === G.SUBMIT ? 64 + 9 * (m[5]?.length ?? 0) + m[4].length : walk(m);
}

function walk(x: unknown): number {
  if (typeof x === 'number') return 9;
  if (typeof x === 'string') return 5 + 3 * x.length;
  if (x instanceof Uint8Array) return 5 + x.length;
  if (x === null || typeof x !== 'object') return 1;
  let n = 5;
  if (Array.isArray(x)) for (const v of x) n += walk(v);
  else for (const [k, v] of Object.entries(x)) n += 5 + k.length + walk(v);
  return n;
}

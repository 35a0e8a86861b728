/**
 * What the spanning-tree nodes send each other. Each tree edge is a reliable
 * FIFO link: the group's reliable base ({@link FifoEngine}) run by the two
 * ends as a view of two (numbered messages, held back until the one before,
 * duplicates dropped, ACKS, retransmission after `retransmitMs`). The edge's
 * messages are the group's DATA and ACKS whose `view` field names the sending
 * node (its index in the tree, plus one), so one listener takes every edge.
 *
 * A tree message is a DATA payload: a 21-byte header (kind, group index,
 * origin index, the origin's seq in that group, the primary's timestamp)
 * then the application's bytes. `up` goes from the origin towards its
 * group's primary, `down` from the primary to the group's members.
 * @internal
 * @module
 */
import { GroupError } from '../../errors.js';
import { FifoEngine, type Net } from './engine.js';
import type { TreePlan } from './tree-topology.js';
import { G, type Entry } from './wire.js';

/** A tree message's direction. */
export const UP = 1;
export const DOWN = 2;
/** The header's size. */
export const HEADER_BYTES = 21;

/** The header of a tree message. */
export interface TreeHeader {
  readonly kind: typeof UP | typeof DOWN;
  readonly group: number;
  readonly origin: number;
  readonly seq: number;
  /** `down`: the primary's count of the messages it ordered, this one included; `up`: 0. */
  readonly ts: number;
}

/** The header and `payload` in one buffer. */
export function encodeTreeMessage(h: TreeHeader, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(HEADER_BYTES + payload.length);
  const v = new DataView(b.buffer);
  v.setUint8(0, h.kind);
  v.setUint16(1, h.group);
  v.setUint16(3, h.origin);
  v.setFloat64(5, h.seq);
  v.setFloat64(13, h.ts);
  b.set(payload, HEADER_BYTES);
  return b;
}

function bad(why: string): never {
  throw new GroupError('ERR_GROUP_PROTOCOL', `Malformed tree message: ${why}`);
}

/** The header of a tree message from a peer, each field bounded by the plan. */
export function decodeTreeHeader(b: Uint8Array, plan: TreePlan): TreeHeader {
  if (b.length < HEADER_BYTES) bad(`${b.length} bytes, less than the ${HEADER_BYTES}-byte header`);
  const v = new DataView(b.buffer, b.byteOffset, HEADER_BYTES);
  const kind = v.getUint8(0);
  const group = v.getUint16(1);
  const origin = v.getUint16(3);
  const seq = v.getFloat64(5);
  const ts = v.getFloat64(13);
  if (kind !== UP && kind !== DOWN) bad(`kind ${kind}`);
  if (group >= plan.groups.length) bad(`group ${group} of ${plan.groups.length}`);
  if (origin >= plan.nodes.length) bad(`origin ${origin} of ${plan.nodes.length}`);
  if (!Number.isSafeInteger(seq) || seq < 1) bad(`seq ${seq}`);
  if (!Number.isSafeInteger(ts) || ts < (kind === DOWN ? 1 : 0) || (kind === UP && ts !== 0)) bad(`timestamp ${ts}`);
  return { kind, group, origin, seq, ts };
}

/** What a link needs of its node. @internal */
export interface LinkHost {
  /**
   * True when the node has room for `bytes`, the next message of the other
   * end in order (it would send it on); false keeps it here, not delivered
   * and not acknowledged, until {@link TreeLink.resume} finds room.
   */
  room(bytes: Uint8Array): boolean;
  /** The other end broke the link's protocol. */
  violation(why: string): void;
}

/**
 * One end of a tree edge: a reliable FIFO link (see the module doc), with a
 * send window: at most `cap` of this end's messages unacknowledged by the
 * other end ({@link TreeLink.full}: the node sends nothing more on it until
 * ACKS come). Its intake is bounded the same way: a message more than `cap`
 * after the last one delivered is one no end keeping to `cap` sends, a
 * protocol violation (its payload would be held back without bound). Kept
 * payloads do not pin the frame they came in (they are copies). @internal
 */
export class TreeLink extends FifoEngine {
  readonly #cap: number;
  readonly #host: LinkHost;
  #copies = false;
  #held = false;

  /** `net.n` is 2; `net.self` is this end's rank (the lower tree index is 0); `cap`: the window, the same at both ends. */
  constructor(net: Net, cap: number, host: LinkHost) {
    super(net);
    this.#cap = cap;
    this.#host = host;
  }

  /** Sends `bytes` to the other end, after everything sent before (own "deliveries" reach `net.deliver` with this end's rank: ignore them). */
  send(bytes: Uint8Array): void {
    this.multicast(bytes);
  }

  /** True while `cap` of this end's messages are not acknowledged by the other end: send nothing more on it. */
  get full(): boolean {
    return this.backlog >= this.#cap;
  }

  /** Delivers what was held back for want of room, while there is room now. */
  resume(): void {
    if (this.#held && !this.closed) this.drain(1 - this.net.self);
  }

  protected override onData(e: Entry, from: number): void {
    const have = this.D[e.o]!;
    if (e.s > have + this.#cap)
      return this.#host.violation(`edge message ${e.s} came after ${have}, more than the window of ${this.#cap} (edgeBacklog) ahead`);
    // What is kept (held back, or sent on and kept until acknowledged) must not pin the frame it came in:
    // wire.ts decodes payloads as copies already; a view into a larger buffer is copied here all the same.
    const kept = e.p.byteLength === e.p.buffer.byteLength ? e : { ...e, p: e.p.slice() };
    if (this.keep(kept)) this.drain(e.o);
    else this.#copies = true; // a copy: the other end missed the ACKS (they are sent again at the next tick)
    void from;
  }

  /** FIFO, as the base, but only while the node has room for the next message. */
  protected override drain(o: number): void {
    const st = this.store[o]!;
    this.#held = false;
    for (let e = st.get(this.D[o]! + 1); e !== undefined && !this.closed; e = st.get(this.D[o]! + 1)) {
      if (!this.#host.room(e.p)) {
        this.#held = true;
        return;
      }
      this.D[o] = e.s;
      this.net.deliver(o, e.s, e.p);
      this.delivered();
    }
  }

  override tick(now: number): void {
    if (this.#copies && !this.closed) {
      this.#copies = false;
      this.sendAll([G.ACKS, this.net.view, this.net.self, this.D.slice()]);
    }
    super.tick(now);
  }
}

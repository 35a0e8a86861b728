/**
 * The delivery rule of a JetStream group (./stream-group.ts), apart from
 * NATS: a pure function of the stream's content, so every member that reads
 * the same stream delivers the same messages in the same order.
 *
 * Each member numbers its multicasts 1, 2, 3... and keeps at most
 * {@link STREAM_PIPELINE} of them in flight. A retry after a lost
 * acknowledgement can land a message in the stream after a later one of the
 * same sender, so the stream alone is not FIFO: a message is delivered at
 * its place in the stream when it is the sender's next, else it is held
 * until the gap below it fills, then delivered right after the one that
 * filled it. A message whose number was delivered already (a retry stored
 * twice, past the stream's duplicate window) is dropped and counted.
 *
 * A member that joins again under the same id resumes its numbering past
 * every number its earlier self could have had in flight, and says so on its
 * first message (`resume`: no number at or below it will come any more):
 * whatever is held below it is delivered then, in order, and its gaps are
 * final.
 *
 * The stream is untrusted: a number beyond the pipeline's reach, a sender
 * outside the group or a malformed id is a protocol error.
 * @module
 */
import { GroupError } from '../../errors.js';

/** Multicasts of one member in flight at once (the holdback bound: a sender can be ahead of its gap by at most this). */
export const STREAM_PIPELINE = 64;

/** One message read from the stream, parsed. @internal */
export interface StreamEntry {
  readonly sender: string;
  readonly seq: number;
  /** The sender's resume mark (its first message after joining again), or 0. */
  readonly resume: number;
  /** Its position in the stream. */
  readonly streamSeq: number;
  readonly payload: Uint8Array;
}

interface SenderState {
  /** The next number to deliver. */
  next: number;
  readonly held: Map<number, StreamEntry>;
}

/** The holdback of one member: feed it the stream in order, deliver what it returns, in that order. @internal */
export class StreamOrder {
  readonly #senders = new Map<string, SenderState>();
  /** Messages dropped because their number was delivered already. */
  duplicates = 0;

  constructor(members: readonly string[]) {
    for (const m of members) this.#senders.set(m, { next: 1, held: new Map() });
  }

  /** Messages held now (waiting for a gap below them to fill). */
  get held(): number {
    let n = 0;
    for (const s of this.#senders.values()) n += s.held.size;
    return n;
  }

  /** The entries deliverable once `e` is read (in delivery order; often just `e`, sometimes none). */
  push(e: StreamEntry): StreamEntry[] {
    const s = this.#senders.get(e.sender);
    if (s === undefined)
      throw new GroupError('ERR_GROUP_PROTOCOL', `Stream message ${e.streamSeq} is from '${e.sender}', not a member of the group`);
    const out: StreamEntry[] = [];
    if (e.resume > 0) {
      // The earlier self's numbers end here: what is held below the mark goes now, in order, gaps and all.
      for (const k of [...s.held.keys()].filter((k) => k <= e.resume).sort((a, b) => a - b)) {
        out.push(s.held.get(k)!);
        s.held.delete(k);
      }
      s.next = Math.max(s.next, e.resume + 1);
    }
    if (e.seq < s.next || s.held.has(e.seq)) {
      this.duplicates++;
      return out;
    }
    if (e.seq >= s.next + 2 * STREAM_PIPELINE)
      throw new GroupError(
        'ERR_GROUP_PROTOCOL',
        `Stream message ${e.streamSeq} of '${e.sender}' is number ${e.seq}, beyond what it can have in flight (next ${s.next})`,
      );
    s.held.set(e.seq, e);
    for (let h = s.held.get(s.next); h !== undefined; h = s.held.get(s.next)) {
      out.push(h);
      s.held.delete(s.next);
      s.next++;
    }
    return out;
  }
}

const ID = /^([A-Za-z0-9_-]{1,64})\.(\d{1,15})$/;

/** Parses a message id `<member>.<seq>` (the stream's `Nats-Msg-Id`): undefined when it is not one. @internal */
export function parseStreamMessageId(id: string | undefined): { member: string; seq: number } | undefined {
  const m = id === undefined ? null : ID.exec(id);
  if (m === null) return undefined;
  const seq = Number(m[2]);
  return seq >= 1 && Number.isSafeInteger(seq) ? { member: m[1]!, seq } : undefined;
}

/**
 * Length-prefixed frames over a byte stream: `[u32 little-endian length][payload]`.
 * The parser hands whole frames to the handler in place (a view into the
 * received chunk, no copy); only a frame split across chunks is reassembled,
 * in one reused buffer.
 * @module
 */
import { VerificationError } from './payload.js';
import type { MessageHandler } from './types.js';

export const FRAME_HEADER = 4;

/** Encodes messages as one buffer of frames (the coalesced write of the batched workload). */
export function encodeFrames(msgs: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (let i = 0; i < msgs.length; i++) total += FRAME_HEADER + msgs[i]!.length;
  const out = Buffer.allocUnsafe(total);
  let off = 0;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i]!;
    out.writeUInt32LE(m.length, off);
    out.set(m, off + FRAME_HEADER);
    off += FRAME_HEADER + m.length;
  }
  return out;
}

/** Encodes one message as a frame. */
export function encodeFrame(msg: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + msg.length);
  out.writeUInt32LE(msg.length, 0);
  out.set(msg, FRAME_HEADER);
  return out;
}

export class FrameParser {
  private pending: Buffer;
  private have = 0; // bytes of the split frame held in `pending`

  constructor(
    private readonly onFrame: MessageHandler,
    private readonly maxFrame: number,
  ) {
    this.pending = Buffer.allocUnsafe(FRAME_HEADER + maxFrame);
  }

  push(chunk: Buffer): void {
    let off = 0;
    const n = chunk.length;
    if (this.have > 0) {
      off = this.completePending(chunk);
      if (this.have > 0) return; // the chunk ended inside the frame
    }
    while (n - off >= FRAME_HEADER) {
      const len = chunk.readUInt32LE(off);
      if (len > this.maxFrame) throw new VerificationError(`frame of ${len} bytes announced, at most ${this.maxFrame} expected`);
      if (n - off - FRAME_HEADER < len) break;
      void this.onFrame(chunk, off + FRAME_HEADER, len);
      off += FRAME_HEADER + len;
    }
    if (off < n) {
      chunk.copy(this.pending, 0, off, n);
      this.have = n - off;
    }
  }

  /** Feeds the split frame; returns how much of the chunk it used. */
  private completePending(chunk: Buffer): number {
    let off = 0;
    if (this.have < FRAME_HEADER) {
      const take = Math.min(FRAME_HEADER - this.have, chunk.length);
      chunk.copy(this.pending, this.have, 0, take);
      this.have += take;
      off = take;
      if (this.have < FRAME_HEADER) return off;
    }
    const len = this.pending.readUInt32LE(0);
    if (len > this.maxFrame) throw new VerificationError(`frame of ${len} bytes announced, at most ${this.maxFrame} expected`);
    const total = FRAME_HEADER + len;
    const take = Math.min(total - this.have, chunk.length - off);
    chunk.copy(this.pending, this.have, off, off + take);
    this.have += take;
    off += take;
    if (this.have === total) {
      this.have = 0;
      void this.onFrame(this.pending, FRAME_HEADER, len);
    }
    return off;
  }

  /** True when no partial frame is pending (a clean end of stream). */
  get idle(): boolean {
    return this.have === 0;
  }
}

/**
 * The rendezvous channel's frames: data `[1, ack kind, seq u32 LE, payload...]`
 * and acknowledgements `[2, kind, seq u32 LE]`; kind 0 asks for no
 * acknowledgement, 1 for 'delivered', 2 for 'taken'.
 * @internal
 * @module
 */
import { ChannelError } from '../channels/index.js';

/** How far a {@link Rendezvous.send} waits: `'sent'`, `'delivered'` or `'taken'` (see rendezvous.ts). */
export type SendUntil = 'sent' | 'delivered' | 'taken';

export const DATA = 1;
export const ACK = 2;
export const HEADER = 6;
export const KIND: Record<SendUntil, number> = { sent: 0, delivered: 1, taken: 2 };
export const MAX_SEQ = 0xffff_ffff;

export function ackFrame(kind: number, seq: number): Uint8Array {
  const frame = new Uint8Array(HEADER);
  frame[0] = ACK;
  frame[1] = kind;
  new DataView(frame.buffer).setUint32(2, seq, true);
  return frame;
}

export function untilOf(value: unknown, fallback: SendUntil): SendUntil {
  if (value === undefined) return fallback;
  if (value !== 'sent' && value !== 'delivered' && value !== 'taken') {
    throw new TypeError(`The "options.until" option must be 'sent', 'delivered' or 'taken'. Received ${String(value)}`);
  }
  return value;
}

export function dataFrame(kind: number, seq: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(HEADER + payload.byteLength);
  frame[0] = DATA;
  frame[1] = kind;
  new DataView(frame.buffer).setUint32(2, seq, true);
  frame.set(payload, HEADER);
  return frame;
}

/** Marks whether the message had left when the send gave up (abort, timeout, failure). */
export function tag(err: unknown, sent: boolean): unknown {
  if (err instanceof Error && !('sent' in err)) Object.assign(err, { sent });
  return err;
}

export function busy(detail: string): ChannelError {
  return new ChannelError('ERR_CHANNEL_BUSY', detail);
}

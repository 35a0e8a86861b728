// Messages that carry their own checksum: [u32 seq][payload][sha256(seq + payload)].
// Both sides of the listener tests send them and check every one they receive.
import { createHash, randomBytes } from 'node:crypto';

import type { Duplex } from '../../lib/channels/types.js';

/** A message numbered `seq` with `size` random payload bytes. */
export function checksummed(seq: number, size: number): Uint8Array {
  const body = Buffer.alloc(4 + size);
  body.writeUInt32LE(seq, 0);
  randomBytes(size).copy(body, 4);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

/** The sequence number of a message whose checksum holds; throws otherwise. */
export function verify(bytes: Uint8Array): number {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 36) throw new Error(`a message of ${b.length} bytes is too short`);
  const body = b.subarray(0, b.length - 32);
  if (
    !createHash('sha256')
      .update(body)
      .digest()
      .equals(b.subarray(b.length - 32))
  )
    throw new Error('a checksum does not match');
  return body.readUInt32LE(0);
}

/** The size of message `seq`: 0 to 64 KiB, varied so that rings wrap and frames span reads. */
export function sizeOf(seq: number): number {
  return (seq * 7919) % 65_536;
}

/**
 * Sends `n` checksummed messages and, at the same time, receives `n` from the
 * peer, checking each checksum and that they come in order. Resolves with
 * how many it received; rejects on a bad message or an early end.
 */
export async function exchangeChecksummed(d: Duplex<Uint8Array>, n: number): Promise<number> {
  const sending = (async () => {
    for (let seq = 0; seq < n; seq++) await d.sender.send(checksummed(seq, sizeOf(seq)));
  })();
  let got = 0;
  try {
    while (got < n) {
      const m = await d.receiver.receive();
      if (m === undefined) throw new Error(`the stream ended after ${got} of ${n} messages`);
      const seq = verify(m);
      if (seq !== got) throw new Error(`message ${got} came as ${seq}`);
      got++;
    }
  } finally {
    await sending;
  }
  return got;
}

/** `n` pseudo-random bytes from `seed` (xorshift32): the same on both sides of a test. */
export function pattern(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A 32-bit rolling sum of `bytes`, to compare what two processes saw. */
export function sum(bytes: Uint8Array): number {
  let s = 0;
  for (const b of bytes) s = (s * 31 + b) >>> 0;
  return s;
}

/**
 * MessagePack as every coordination wire and record uses it, set up once:
 * plain maps and arrays (no records, no extensions), 64-bit integers as
 * numbers, and a bounded decode for bytes from a peer or a file.
 * @internal
 * @module
 */
import { Packr, RESERVE_START_SPACE, RESET_BUFFER_MODE, Unpackr } from 'msgpackr';

const PACK_OPTIONS = { useRecords: false, mapsAsObjects: true, int64AsType: 'number', moreTypes: false } as const;
/** The encoder: maps and arrays only, no records. What it returns stays valid (a view of a buffer it never writes again). */
export const packr = new Packr(PACK_OPTIONS);

const scratch = new Packr(PACK_OPTIONS);
let scratchLarge = false;

/**
 * Packs `value` after `reserve` bytes (0 to 255: room for a header) into a
 * scratch buffer that the next call writes over: copy the result out
 * before then. One buffer, reused, where {@link packr} takes a new 8 KiB one
 * every few kilobytes (an RPC frame of 4 KiB cost 12 KiB of buffers, then a
 * copy). msgpackr keeps its buffer and position in module state, shared
 * by every Packr: the reset only rewinds to where this pack began, so what
 * {@link packr} returned before stays intact. After a value over 1 MiB, or
 * a pack that threw (its buffer may have grown), the next call starts on a
 * small buffer again, so one large message does not keep its size alive;
 * the flag is cleared first, so a pack nested in this one (a getter that
 * encodes) never swaps the buffer under it.
 */
export function packScratch(value: unknown, reserve: number): Uint8Array {
  if (scratchLarge) {
    scratchLarge = false;
    scratch.useBuffer(Buffer.allocUnsafeSlow(8192));
  }
  let b: Uint8Array;
  try {
    b = scratch.pack(value, RESERVE_START_SPACE | RESET_BUFFER_MODE | reserve);
  } catch (err) {
    scratchLarge = true;
    throw err;
  }
  if (b.length > 1 << 20) scratchLarge = true;
  return b;
}
/** The decoder: what it returns never shares memory with its input. */
export const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, copyBuffers: true, int64AsType: 'number' });

/**
 * Walks the MessagePack value in `b[pos..end)` without decoding it, calling
 * `bad(why)` (which throws) when it nests deeper than `maxDepth` or a
 * container announces more items than bytes are left: run it before
 * `unpack` on bytes from a peer, so a hostile message cannot overflow the
 * decoder's stack.
 */
export function checkDepth(b: Uint8Array, pos: number, end: number, maxDepth: number, bad: (why: string) => never): void {
  const pending: number[] = []; // items left in each open container
  let left = 1; // items left at the current level
  const u32 = (at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
  while (pos < end) {
    while (left === 0) {
      if (pending.length === 0) return; // trailing bytes: unpack reports them
      left = pending.pop()!;
    }
    left--;
    const t = b[pos++]!;
    let skip = 0;
    let items = -1;
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) skip = 0;
    else if (t >= 0xa0 && t <= 0xbf) skip = t & 0x1f;
    else if (t >= 0x90 && t <= 0x9f) items = t & 0x0f;
    else if (t >= 0x80 && t <= 0x8f) items = (t & 0x0f) * 2;
    else if (t === 0xc4 || t === 0xd9) skip = 1 + (b[pos] ?? 0);
    else if (t === 0xc5 || t === 0xda) skip = 2 + (((b[pos] ?? 0) << 8) | (b[pos + 1] ?? 0));
    else if (t === 0xc6 || t === 0xdb) skip = 4 + u32(pos);
    else if (t === 0xc7) skip = 2 + (b[pos] ?? 0);
    else if (t === 0xc8) skip = 3 + (((b[pos] ?? 0) << 8) | (b[pos + 1] ?? 0));
    else if (t === 0xc9) skip = 5 + u32(pos);
    else if (t === 0xcc || t === 0xd0) skip = 1;
    else if (t === 0xcd || t === 0xd1) skip = 2;
    else if (t === 0xce || t === 0xd2 || t === 0xca) skip = 4;
    else if (t === 0xcf || t === 0xd3 || t === 0xcb) skip = 8;
    else if (t >= 0xd4 && t <= 0xd8) skip = 1 + (1 << (t - 0xd4));
    else if (t === 0xdc) {
      items = ((b[pos] ?? 0) << 8) | (b[pos + 1] ?? 0);
      pos += 2;
    } else if (t === 0xdd) {
      items = u32(pos);
      pos += 4;
    } else if (t === 0xde) {
      items = 2 * (((b[pos] ?? 0) << 8) | (b[pos + 1] ?? 0));
      pos += 2;
    } else if (t === 0xdf) {
      items = 2 * u32(pos);
      pos += 4;
    } else bad(`byte 0x${t.toString(16)}`);
    if (items >= 0) {
      if (items > end - pos) bad(`a container announces ${items} items in ${end - pos} bytes`);
      if (items > 0) {
        pending.push(left);
        if (pending.length > maxDepth) bad(`nested deeper than ${maxDepth}`);
        left = items;
      }
    } else pos += skip;
  }
}

/**
 * Decodes exactly one MessagePack value from `b`, after {@link checkDepth}
 * with `maxDepth`; any failure is `bad(why)`, which throws.
 */
export function unpackBounded(b: Uint8Array, maxDepth: number, bad: (why: string) => never): unknown {
  checkDepth(b, 0, b.length, maxDepth, bad);
  try {
    return unpackr.unpack(b);
  } catch (err) {
    return bad((err as Error).message);
  }
}

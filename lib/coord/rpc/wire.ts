/**
 * The service RPC's wire: every message is one channel message, a fixed
 * 20-byte little-endian header followed by a MessagePack body (`msgpackr`,
 * bounded: see {@link decodeBody}).
 *
 * | offset | size | field                                              |
 * |-------:|-----:|----------------------------------------------------|
 * | 0      | 1    | frame type ({@link Frame})                         |
 * | 1      | 1    | flags (0)                                          |
 * | 2      | 2    | procedure index                                    |
 * | 4      | 4    | call id (per connection, never 0 for a call)       |
 * | 8      | 4    | sequence number (per client id; 0: not deduplicated) |
 * | 12     | 4    | ack (CALL) or credit (CREDIT)                      |
 * | 16     | 4    | relative deadline in ms (CALL; 0: none)            |
 * @module
 */
import { RPC_ERROR_CODES, RpcError } from '../../errors.js';
import { checkDepth, packScratch, unpackr } from '../msgpack.js';

/** Frame types. */
export const Frame = {
  HELLO: 1,
  WELCOME: 2,
  CALL: 3,
  REPLY: 4,
  ERROR: 5,
  CANCEL: 6,
  ITEM: 7,
  END: 8,
  CREDIT: 9,
} as const;

/** Size of the fixed header. */
export const HEADER_SIZE = 20;
/** Deepest nesting of arrays and maps a body may have. */
export const MAX_BODY_DEPTH = 64;
/** Bodies at most this long are not pre-scanned (they cannot nest deep enough to matter). */
const SCAN_THRESHOLD = 256;

/** A decoded header (a reused object on the hot path: copy what you keep). */
export interface Header {
  type: number;
  proc: number;
  id: number;
  seq: number;
  ack: number;
  timeout: number;
}

/** Encodes one frame: header fields and a body (`undefined`: none). */
export function encodeFrame(type: number, proc: number, id: number, seq: number, ack: number, timeout: number, body?: unknown): Buffer {
  let frame: Buffer;
  if (body === undefined) frame = Buffer.allocUnsafe(HEADER_SIZE);
  else {
    const packed = packScratch(body, HEADER_SIZE); // the header's room, then the body: copied out before the next pack
    frame = Buffer.allocUnsafe(packed.length);
    frame.set(packed);
  }
  frame[0] = type;
  frame[1] = 0;
  frame.writeUInt16LE(proc, 2);
  frame.writeUInt32LE(id >>> 0, 4);
  frame.writeUInt32LE(seq >>> 0, 8);
  frame.writeUInt32LE(ack >>> 0, 12);
  frame.writeUInt32LE(timeout >>> 0, 16);
  return frame;
}

/** Reads the header of `bytes[start..end)` into `into`; false when too short. */
export function readHeader(bytes: Uint8Array, start: number, end: number, into: Header): boolean {
  if (end - start < HEADER_SIZE) return false;
  const b = bytes;
  into.type = b[start]!;
  into.proc = b[start + 2]! | (b[start + 3]! << 8);
  into.id = (b[start + 4]! | (b[start + 5]! << 8) | (b[start + 6]! << 16) | (b[start + 7]! << 24)) >>> 0;
  into.seq = (b[start + 8]! | (b[start + 9]! << 8) | (b[start + 10]! << 16) | (b[start + 11]! << 24)) >>> 0;
  into.ack = (b[start + 12]! | (b[start + 13]! << 8) | (b[start + 14]! << 16) | (b[start + 15]! << 24)) >>> 0;
  into.timeout = (b[start + 16]! | (b[start + 17]! << 8) | (b[start + 18]! << 16) | (b[start + 19]! << 24)) >>> 0;
  return true;
}

/**
 * Decodes the body of the frame `bytes[start..end)` (after its header), or
 * `undefined` when it has none. The result never shares memory with `bytes`.
 * A body that is not exactly one valid MessagePack value, or nests deeper
 * than {@link MAX_BODY_DEPTH}, is an `RpcError` with `code` (declared
 * lengths beyond the frame fail at once: msgpackr checks them against the
 * bytes left before allocating).
 */
export function decodeBody(bytes: Uint8Array, start: number, end: number, code: 'ERR_RPC_PROTOCOL' | 'ERR_RPC_BAD_ARGUMENTS'): unknown {
  const from = start + HEADER_SIZE;
  if (from >= end) return undefined;
  if (end - from > SCAN_THRESHOLD)
    checkDepth(bytes, from, end, MAX_BODY_DEPTH, (why) => {
      throw new RpcError(code, `Malformed message body: ${why}`);
    });
  try {
    return unpackr.unpack(bytes.subarray(from, end));
  } catch (err) {
    throw new RpcError(code, `Malformed message body: ${(err as Error).message}`, { cause: err });
  }
}

/** The body of an ERROR frame. */
export interface ErrorBody {
  c: string;
  m: string;
  d?: unknown;
  lo?: number;
  hi?: number;
}

const CODES: ReadonlySet<string> = new Set(RPC_ERROR_CODES);

/** The ERROR body for `err` (an RpcError keeps its code; anything else is an application error). */
export function errorBody(err: unknown): ErrorBody {
  if (err instanceof RpcError) {
    const body: ErrorBody = { c: err.code, m: err.message };
    if (err.details !== undefined) body.d = err.details;
    if (err.low !== undefined) body.lo = err.low;
    if (err.high !== undefined) body.hi = err.high;
    return body;
  }
  const e = err as { message?: unknown; details?: unknown } | undefined;
  const body: ErrorBody = { c: 'ERR_RPC_APPLICATION', m: typeof e?.message === 'string' ? e.message : String(err) };
  if (e !== null && typeof e === 'object' && e.details !== undefined) body.d = e.details;
  return body;
}

/** The RpcError an ERROR body describes (a malformed one is ERR_RPC_PROTOCOL). */
export function errorFromBody(body: unknown, procedure: string | undefined): RpcError {
  const b = body as Partial<ErrorBody> | undefined;
  if (b === null || typeof b !== 'object' || typeof b.c !== 'string' || !CODES.has(b.c) || typeof b.m !== 'string') {
    return new RpcError('ERR_RPC_PROTOCOL', 'Malformed error reply', { procedure });
  }
  return new RpcError(b.c as RpcError['code'], b.m, {
    procedure,
    details: b.d,
    low: typeof b.lo === 'number' ? b.lo : undefined,
    high: typeof b.hi === 'number' ? b.hi : undefined,
  });
}

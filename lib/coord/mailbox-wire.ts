/**
 * The mailbox's wire format, shared by its owner and its clients. Every
 * connection starts with a hello from the client:
 * `'PMBX', version 1, role (1 producer, 2 consumer), window u32 LE` (10 bytes;
 * the window is the consumer's prefetch, 0 for a producer). Then a producer
 * sends bare payloads; the owner sends a consumer `[1 MSG, flags (bit 0:
 * redelivered), id u32 LE, payload...]` or `[2 END, 0, 0]` (the mailbox closed),
 * and a consumer answers with 6-byte frames `[1 ACK | 2 RETURN | 3 BYE, 0, id u32 LE]`.
 * @internal
 * @module
 */
export const HELLO_SIZE = 10;
export const VERSION = 1;
export const ROLE_PRODUCER = 1;
export const ROLE_CONSUMER = 2;
export const HEADER = 6;

export const MSG = 1;
export const END = 2;
export const FLAG_REDELIVERED = 1;

export const ACK = 1;
export const RETURN = 2;
export const BYE = 3;

/** The largest prefetch window a consumer may ask for. */
export const MAX_WINDOW = 4096;

const MAGIC = [0x50, 0x4d, 0x42, 0x58]; // 'PMBX'

export function hello(role: number, window: number): Uint8Array {
  const b = new Uint8Array(HELLO_SIZE);
  b.set(MAGIC, 0);
  b[4] = VERSION;
  b[5] = role;
  new DataView(b.buffer).setUint32(6, window, true);
  return b;
}

/** The role and window of a valid hello, or a reason why it is not one. */
export function parseHello(b: Uint8Array | undefined): { role: number; window: number } | string {
  if (b === undefined) return 'the client closed before its hello';
  if (b.byteLength !== HELLO_SIZE) return `a hello of ${b.byteLength} bytes`;
  if (MAGIC.some((m, i) => b[i] !== m)) return 'not a mailbox client';
  if (b[4] !== VERSION) return `protocol version ${b[4]}`;
  const role = b[5]!;
  const window = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(6, true);
  if (role === ROLE_PRODUCER && window === 0) return { role, window };
  if (role === ROLE_CONSUMER && window >= 1 && window <= MAX_WINDOW) return { role, window };
  return `role ${role} with window ${window}`;
}

export function frame(type: number, flags: number, id: number, payload?: Uint8Array): Uint8Array {
  const b = new Uint8Array(HEADER + (payload?.byteLength ?? 0));
  b[0] = type;
  b[1] = flags;
  new DataView(b.buffer).setUint32(2, id, true);
  if (payload !== undefined) b.set(payload, HEADER);
  return b;
}

/** `[type, flags, id]` of a frame of at least the header, or undefined. */
export function parseFrame(b: Uint8Array): [number, number, number] | undefined {
  if (b.byteLength < HEADER) return undefined;
  return [b[0]!, b[1]!, new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(2, true)];
}

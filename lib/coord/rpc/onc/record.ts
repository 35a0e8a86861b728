/**
 * ONC RPC record marking (RFC 5531 section 11): over a byte stream (TCP)
 * each message is a record of one or more fragments, each behind a 4-byte
 * header whose top bit says "last fragment" and whose low 31 bits are the
 * fragment's length. The writer sends a record as one fragment; the reader
 * reassembles fragments into records, bounded by a maximum record size: a
 * header that announces more than the bound allows (a hostile 2^31 - 1)
 * is an {@link RpcError} `ERR_RPC_PROTOCOL` before a byte is allocated for it.
 * @module
 */
import { RpcError } from '../../../errors.js';

/** Default bound on one reassembled record (1 MiB: far above what a `.x` interface sends, far below a hostile header). */
export const ONC_DEFAULT_MAX_RECORD = 1 << 20;
/** Bound on the fragments of one record (a peer sending endless empty fragments is refused). */
export const ONC_MAX_FRAGMENTS = 1024;

const LAST = 0x8000_0000;

/** The record-marked bytes of one message: a single last fragment. */
export function frameRecord(message: Uint8Array): Uint8Array {
  if (message.byteLength > 0x7fff_ffff)
    throw new RangeError(`The "message" argument must be under 2 GiB. Received ${message.byteLength} bytes`);
  const out = new Uint8Array(4 + message.byteLength);
  new DataView(out.buffer).setUint32(0, (LAST | message.byteLength) >>> 0);
  out.set(message, 4);
  return out;
}

/**
 * Reassembles records from the chunks of a byte stream. `push` returns the
 * records the chunk completed (copies: the chunk may be reused); after an
 * error the reader stays failed (the stream is out of step and must close).
 */
export class RecordReader {
  readonly #max: number;
  readonly #header = new Uint8Array(4);
  #headerHave = 0;
  #fragLeft = 0;
  #inFragment = false;
  #last = false;
  #fragments = 0;
  #parts: Uint8Array[] = [];
  #size = 0;
  #failed: RpcError | undefined;

  constructor(maxRecord = ONC_DEFAULT_MAX_RECORD) {
    this.#max = maxRecord;
  }

  /** True while a record is partly read (an end of stream now cuts it). */
  get partial(): boolean {
    return this.#headerHave > 0 || this.#inFragment || this.#parts.length > 0;
  }

  /** The records `chunk` completes; throws (and keeps throwing) an `ERR_RPC_PROTOCOL` {@link RpcError} for a record over the bound. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#failed) throw this.#failed;
    const out: Uint8Array[] = [];
    let at = 0;
    while (at < chunk.byteLength) {
      if (!this.#inFragment) {
        const n = Math.min(4 - this.#headerHave, chunk.byteLength - at);
        this.#header.set(chunk.subarray(at, at + n), this.#headerHave);
        this.#headerHave += n;
        at += n;
        if (this.#headerHave < 4) break;
        this.#headerHave = 0;
        const word = new DataView(this.#header.buffer).getUint32(0);
        this.#last = (word & LAST) !== 0;
        this.#fragLeft = word & 0x7fff_ffff;
        if (++this.#fragments > ONC_MAX_FRAGMENTS) this.#fail(`a record of more than ${ONC_MAX_FRAGMENTS} fragments`);
        if (this.#fragLeft > this.#max - this.#size) {
          this.#fail(`a fragment of ${this.#fragLeft} bytes makes the record larger than its bound of ${this.#max} bytes`);
        }
        this.#inFragment = true;
      }
      const n = Math.min(this.#fragLeft, chunk.byteLength - at);
      if (n > 0) {
        this.#parts.push(chunk.slice(at, at + n));
        this.#size += n;
        this.#fragLeft -= n;
        at += n;
      }
      if (this.#fragLeft === 0) {
        this.#inFragment = false;
        if (this.#last) out.push(this.#take());
      }
    }
    return out;
  }

  #take(): Uint8Array {
    const parts = this.#parts;
    const record = parts.length === 1 ? parts[0]! : new Uint8Array(this.#size);
    if (parts.length !== 1) {
      let o = 0;
      for (const p of parts) {
        record.set(p, o);
        o += p.byteLength;
      }
    }
    this.#parts = [];
    this.#size = 0;
    this.#fragments = 0;
    return record;
  }

  #fail(why: string): never {
    this.#parts = [];
    this.#failed = new RpcError('ERR_RPC_PROTOCOL', `ONC record marking: ${why}`);
    throw this.#failed;
  }
}

/**
 * Descriptor passing (SCM_RIGHTS) on a UNIX stream channel: which frame a
 * descriptor travels with, on both sides, and who closes it.
 *
 * Sending: a frame with descriptors is queued with close-on-exec duplicates
 * of them (so the caller may close its own as soon as the send resolves) and
 * a mark at its stream offset; the flush writes up to the mark, then the
 * frame alone with sendmsg(SCM_RIGHTS), so the descriptors ride on its first
 * byte and no other frame shares that sendmsg.
 *
 * Receiving (Linux, checked by test/fd-passing.test.ts): a recvmsg returns
 * the descriptors of one sendmsg at most, and stops inside the bytes of that
 * sendmsg (it may put earlier bytes before them). So they belong to the last
 * frame that starts before the end of that read: the frames are walked from
 * the parse point to find it, and it is remembered by its ordinal (the
 * number of frames consumed before it), which buffer moves do not change.
 *
 * Every descriptor that arrived and that the application does not take (a
 * message dropped by a hook or by `drain`, one that fails to decode, a
 * receiver closed with messages unread, a failed channel) is closed here.
 * @internal
 * @module
 */
import { corruptError, isSystemError, systemError } from '../../errors.js';
import { native } from '../../internal/native.js';
import { MAX_PASSED_FDS, truncatedDetail, validatePassedFds } from '../../socket.js';
import type { Codec } from '../codec.js';
import type { FdMessage } from '../types.js';
import { HEADER, type FrameBuffer } from './framing.js';

const NO_FDS: readonly number[] = Object.freeze([]);

/** The descriptors attached to one encoded message, by the bytes object the codec made for it. */
const attached = new WeakMap<Uint8Array, readonly number[]>();

/** The caller's descriptors of the message `bytes` was encoded from, if any. */
export function attachedFds(bytes: Uint8Array): readonly number[] | undefined {
  return attached.get(bytes);
}

/** Closes descriptors nobody owns any more, quietly (one already gone is no reason to fail). */
export function closeFds(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      native.close(fd);
    } catch {
      // EBADF: nothing left to release
    }
  }
}

/** Close-on-exec duplicates of `fds`, all or none (a failure closes those made). */
export function dupFds(fds: readonly number[]): number[] {
  const out: number[] = [];
  try {
    for (const fd of fds) out.push(native.dupCloexec(fd));
  } catch (err) {
    closeFds(out);
    throw err;
  }
  return out;
}

/** One queued frame with descriptors: its stream offset, its size, and the duplicates it carries. */
export interface FdMark {
  readonly at: number;
  readonly len: number;
  readonly fds: number[];
}

/**
 * The codec of a descriptor-passing end: `{ value, fds }` messages over the
 * value codec. Encoding checks the descriptors and tags the bytes (a fresh
 * view, so one buffer sent twice is two messages); decoding takes the
 * descriptors of the frame just consumed from `inbox`.
 */
export function fdMessageCodec<T>(inner: Codec<T>, inbox: FdInbox | undefined): Codec<FdMessage<T>> {
  return {
    name: `fds+${inner.name}`,
    zeroCopy: inner.zeroCopy,
    encode(message: FdMessage<T>): Uint8Array {
      if (typeof message !== 'object' || message === null || !('value' in message)) {
        throw new TypeError('The "message" argument must be an object { value, fds } on a channel that passes descriptors');
      }
      const fds = message.fds === undefined ? NO_FDS : validatePassedFds(message.fds, 'message.fds');
      const bytes = inner.encode(message.value);
      if (fds.length === 0) return bytes;
      const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      attached.set(view, fds.slice());
      return view;
    },
    decode(bytes: Uint8Array): FdMessage<T> {
      const fds = inbox === undefined ? [] : inbox.take();
      try {
        return { value: inner.decode(bytes), fds };
      } catch (err) {
        closeFds(fds);
        throw err;
      }
    },
  };
}

/** Bytes read at a time when a closed receiver empties the socket of descriptors. */
const DISCARD_CHUNK = 64 * 1024;
/** Reads at most, so that closing is bounded even against a peer that keeps sending. */
const DISCARD_READS = 256;

/** The receiving side's descriptors: those waiting for their frame, and those of the frame just consumed. */
export class FdInbox {
  /** Descriptors by the ordinal of the frame they came with. */
  readonly #pending = new Map<number, number[]>();
  /** The frame just consumed: its descriptors, until the decoder takes them (or they are dropped). */
  #current: number[] | undefined;
  /** Frames consumed so far: the ordinal of the frame at the parse point. */
  #taken = 0;
  #closed = false;

  /** recvmsg into `frames` after its end: the bytes read, or null when nothing is there. */
  read(fd: number, frames: FrameBuffer, dst: Uint8Array): number | null {
    let got: number[] | null;
    try {
      got = native.recvFds(fd, dst, MAX_PASSED_FDS);
    } catch (err) {
      if (!isSystemError(err, 'EMSGSIZE')) throw err;
      throw systemError('EMSGSIZE', 'recvmsg', undefined, truncatedDetail(MAX_PASSED_FDS));
    }
    if (got === null) return null;
    const n = got[0]!;
    if (got.length > 1) this.#arrived(frames, frames.end + n, got.slice(1));
    return n;
  }

  /** Files `fds` under the last frame that starts before `limit` (the end of the read that brought them). */
  #arrived(frames: FrameBuffer, limit: number, fds: number[]): void {
    if (this.#closed) {
      closeFds(fds);
      return;
    }
    const view = new DataView(frames.buf.buffer, frames.buf.byteOffset, frames.buf.byteLength);
    let pos = frames.start;
    let ordinal = this.#taken;
    while (pos + HEADER <= limit) {
      const next = pos + HEADER + view.getUint32(pos, true);
      if (next >= limit) break;
      pos = next;
      ordinal++;
    }
    const before = this.#pending.get(ordinal);
    const all = before === undefined ? fds : before.concat(fds);
    if (all.length > MAX_PASSED_FDS) {
      this.#pending.delete(ordinal);
      closeFds(all);
      throw corruptError(`The peer attached more than ${MAX_PASSED_FDS} descriptors to one message`);
    }
    this.#pending.set(ordinal, all);
  }

  /** The frame at the parse point was consumed: its descriptors become current (the previous ones, untaken, are closed). */
  released(): void {
    this.drop();
    const ord = this.#taken++;
    if (this.#pending.size === 0) return;
    const fds = this.#pending.get(ord);
    if (fds === undefined) return;
    this.#pending.delete(ord);
    this.#current = fds;
  }

  /** The descriptors of the frame just consumed, now the caller's. */
  take(): number[] {
    const fds = this.#current;
    this.#current = undefined;
    return fds ?? [];
  }

  /** Closes the current descriptors if nobody took them (the message was dropped). */
  drop(): void {
    if (this.#current === undefined) return;
    const fds = this.#current;
    this.#current = undefined;
    closeFds(fds);
  }

  /**
   * Closes every descriptor held, then empties the socket of those still in
   * flight, so that a closed receiver keeps no file open (a passed pipe end
   * would otherwise keep its reader from seeing end-of-file while the
   * socket lives on for the sending half). Bounded; quiet.
   */
  close(fd: number): void {
    this.#closed = true;
    this.drop();
    for (const fds of this.#pending.values()) closeFds(fds);
    this.#pending.clear();
    const scratch = new Uint8Array(DISCARD_CHUNK);
    for (let i = 0; i < DISCARD_READS; i++) {
      let got: number[] | null;
      try {
        got = native.recvFds(fd, scratch, MAX_PASSED_FDS);
      } catch {
        continue; // EMSGSIZE closed its own; anything else ends below on the next read
      }
      if (got === null || got[0] === 0) return;
      closeFds(got.slice(1));
    }
  }
}

/** The send side's marks: which queued frames carry descriptors. */
export class FdOutbox {
  readonly marks: FdMark[] = [];

  /** Queues a frame at stream offset `at` with duplicates of `fds`. */
  add(at: number, len: number, fds: readonly number[]): void {
    this.marks.push({ at, len, fds: dupFds(fds) });
  }

  /**
   * Writes from `queued` (the queue's bytes, the first at stream offset
   * `sent`): up to the next mark with write(), or the marked frame alone
   * with sendmsg. The bytes written, or null when the socket is full.
   */
  write(fd: number, queued: Uint8Array, sent: number): number | null {
    const m = this.marks[0]!;
    const ahead = m.at - sent;
    if (ahead > 0) return native.write(fd, queued.subarray(0, ahead));
    const n = native.sendFds(fd, queued.subarray(0, m.len), m.fds);
    if (n !== null) {
      this.marks.shift();
      closeFds(m.fds); // the peer has its own now
    }
    return n;
  }

  /** Closes the duplicates of frames that will never be sent. */
  close(): void {
    for (const m of this.marks.splice(0)) closeFds(m.fds);
  }
}

/**
 * What a transport supplies to the channel ends ({@link ChannelSender},
 * {@link ChannelReceiver}): a small engine of non-blocking steps and waits.
 * The ends implement everything else once: call order, the closed check,
 * the failure latch, encoding and size checks, the zero-copy rule, abort
 * and timeout, hooks and iteration.
 *
 * Engines may throw from any step; the end latches the error, so an engine
 * never needs to remember its own failures (it may, to report them sooner).
 * @internal
 * @module
 */

/** The sending half of a transport. */
export interface SendEngine {
  /** The largest payload the transport carries. */
  readonly maxMessage: number;
  /** What a timed-out wait reports: the system call it waits in, and the object's name. */
  readonly syscall: string;
  readonly path: string | undefined;
  /** Bytes taken but not yet read by the peer (for `queuedBytes`). */
  readonly queuedBytes: number;
  /** The transport's buffer in bytes: the ring's capacity, or a stream's high-water mark. */
  readonly capacity: number;
  /**
   * Takes the whole message if there is room now, or nothing: `false`.
   * Throws when the peer is gone or the channel is corrupt.
   */
  tryWrite(bytes: Uint8Array): boolean;
  /** Takes `list[from]`, `list[from + 1]`, ... while they fit: how many it took (a batch: checks once). */
  tryWriteMany(list: readonly Uint8Array[], from: number): number;
  /** Makes what `tryWrite` took visible to the peer (and wakes it if it sleeps). */
  publish(): void;
  /**
   * A short busy-wait (shared memory: up to 50 us) for room for `len` bytes,
   * before the caller queues: true when there is room. A peer that answers
   * within it costs no Promise and no sleep. Streams answer false at once.
   */
  spinWritable(len: number): boolean;
  /**
   * Resolves when a `tryWrite` of `len` bytes may succeed, or after a
   * liveness slice (the caller just tries again); rejects when the peer is
   * gone. Stops early, resolving, when `signal` aborts.
   */
  waitWritable(len: number, signal: AbortSignal): Promise<void>;
  /** Blocks until a `tryWrite` of `len` bytes may succeed or a slice passed; false once `deadline` passed. */
  waitWritableSync(len: number, deadline: number): boolean;
  /**
   * Present when the transport cannot block the thread (TLS runs on Node's
   * sockets): `sendSync` throws what it returns at once, before it takes
   * anything, so the channel stays usable.
   */
  syncUnsupported?(): Error;
  /** Blocks until everything taken has left this process; false once `deadline` passed. */
  flushSync(deadline: number): boolean;
  /** Delivers what was taken, then releases the transport. Called once. */
  close(): Promise<void>;
}

/** {@link ReceiveEngine.next}: nothing is ready now. */
export const EMPTY = -1;
/** {@link ReceiveEngine.next}: the stream ended cleanly after its last message. */
export const END = -2;

/** The receiving half of a transport. */
export interface ReceiveEngine {
  /** What a timed-out wait reports: the system call it waits in, and the object's name. */
  readonly syscall: string;
  readonly path: string | undefined;
  /** The memory the payload found by `next()` lies in (`bytes[offset, offset + length)`). */
  readonly bytes: Uint8Array;
  /** Where the payload found by `next()` starts in `bytes`. */
  readonly offset: number;
  /**
   * Finds the next payload without consuming it: its length, or
   * {@link EMPTY} / {@link END}. Throws on a torn or corrupt frame, or a
   * frame over `maxMessage`.
   */
  next(): number;
  /**
   * Consumes the payload `next()` found. With `keep`, its bytes must stay
   * valid (and unmoved) until the next {@link publish}: a zero-copy view was
   * handed out.
   */
  release(keep: boolean): void;
  /** Hands consumed space back to the producer; views handed out before may now be overwritten. */
  publish(): void;
  /** The receiving twin of {@link SendEngine.spinWritable}: true when `next()` may find something. */
  spinReadable(): boolean;
  /**
   * Resolves when `next()` may find something, or after a liveness slice.
   * Stops early when `signal` aborts. `spin: false` sleeps without spinning
   * first (a readiness wait, as many at once as `select` has receivers).
   */
  waitReadable(signal: AbortSignal, spin?: boolean): Promise<void>;
  /** Blocks until `next()` may find something or a slice passed; false once `deadline` passed. */
  waitReadableSync(deadline: number): boolean;
  /** As {@link SendEngine.syncUnsupported}: `receiveSync` throws it at once, consuming nothing. */
  syncUnsupported?(): Error;
  /** Releases the transport. Called once. */
  close(): void;
}

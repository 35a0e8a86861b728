/**
 * The transport plug-in interface of the benchmark harness, and the shapes of
 * cells and results. See benchmarks/README.md for how to add a transport.
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import type { Transferable } from 'node:worker_threads';

/** Which C figure a transport is compared with (benchmarks/native/ceiling.c). */
export type CeilingKind = 'pipe' | 'socket' | 'tcp' | 'shm';

/** What one measurement cell asks of a transport. */
export interface CellSpec {
  /** `stream`: one-way B -> A. `latency`: ping-pong, A initiates. */
  workload: 'stream' | 'latency';
  /** Message size in bytes (at least 16). */
  size: number;
  /** Messages handed to `sendMany` at once; 1 = one `send` per message. */
  batch: number;
}

/** What `setup` is told about the cell it prepares a link for. */
export interface LinkSpec extends CellSpec {
  /** True when both directions are needed (latency): B -> A always, A -> B too. */
  duplex: boolean;
  /** A unique tag for names of kernel objects: `pipc-bench-<pid>-<n>`. */
  tag: string;
}

/**
 * What `setup` returns (it runs in the host process, on peer A's thread,
 * before peer B starts).
 */
export interface Link {
  /** Handed to peer A's `open()` as is. */
  a?: unknown;
  /**
   * Handed to peer B's `open()`: serialized as JSON for a process transport,
   * structured-cloned (with `transfer`) for a thread transport, as is for an inline one.
   */
  b?: unknown;
  /**
   * Process transports: extra stdio entries for peer B's process: a
   * descriptor to share, or `'ipc'` for Node's IPC channel. Peer B sees them
   * as descriptors 4, 5, ... (`PeerContext.fds`), in this order.
   */
  stdio?: (number | 'ipc')[];
  /** Process transports with `'ipc'`: the IPC channel's serialization. */
  serialization?: 'json' | 'advanced';
  /** Thread transports: objects inside `b` to transfer (e.g. MessagePorts). */
  transfer?: Transferable[];
  /** Releases what `setup` made; called in the host after both peers are done, also after a failure. */
  close?(): void | Promise<void>;
}

/** What a peer's `open()` receives. */
export interface PeerContext {
  /** `'a'`: the host (consumer of a stream, initiator of ping-pong). `'b'`: the started peer. */
  role: 'a' | 'b';
  /** `link.a` or `link.b`. */
  params: unknown;
  spec: LinkSpec;
  /** Peer A of a process transport: peer B's ChildProcess (its IPC channel, if any). */
  child?: ChildProcess;
  /** Peer B of a process transport: the descriptors of `link.stdio`, in order. */
  fds: number[];
}

/**
 * The sending end as the harness drives it. `send` returns a Promise only
 * when it has to wait (backpressure), so a synchronous transport costs no
 * Promise per message. The harness reuses `msg` after `send` returns: a
 * transport that keeps the bytes must copy them.
 */
export interface BenchSender {
  send(msg: Uint8Array): void | Promise<void>;
  /** Sends several messages at once (the batched workload). Default: `send` each. */
  sendMany?(msgs: readonly Uint8Array[]): void | Promise<void>;
  /** End of stream: the peer's `consume` resolves after the last message. */
  close(): void | Promise<void>;
}

/** Called for each message: `bytes[offset .. offset + length)`, valid only during the call. */
export type MessageHandler = (bytes: Uint8Array, offset: number, length: number) => void | Promise<void>;

/**
 * The receiving end. `consume` runs the transport's own receive loop (pull
 * or events, whichever is natural) and calls `onMessage` for each message
 * until end of stream. When `onMessage` returns a Promise a pull loop awaits
 * it; an event-driven loop may ignore it (only ping-pong returns one, and it
 * never has two messages in flight).
 */
export interface BenchReceiver {
  consume(onMessage: MessageHandler): void | Promise<void>;
}

/** A peer's ends: what the workload needs (sender for B in a stream, both for ping-pong). */
export interface Ends {
  sender?: BenchSender;
  receiver?: BenchReceiver;
  /** Releases this peer's resources after the workload. */
  close?(): void | Promise<void>;
}

/** A transport: one file in benchmarks/transports/ default-exports one (or an array). */
export interface Transport {
  /** Identifier on the command line and in result files, e.g. `net-unix`. */
  readonly name: string;
  /** Row label in tables and charts, e.g. `net UNIX socket`. */
  readonly label: string;
  /**
   * `process`: peer B is a child process. `thread`: peer B is a worker thread.
   * `inline`: peer B runs in the host, on peer A's thread (the harness's own row, lib/harness-row.ts).
   */
  readonly kind: 'process' | 'thread' | 'inline';
  /** The C figure it is compared with; omitted: no percentage shown. */
  readonly ceiling?: CeilingKind;
  /** Sort order in tables (lower first); default 100. */
  readonly order?: number;
  /** True: left out of the quick matrix (close to another transport); runs with --full, --smoke, or when named. */
  readonly fullOnly?: boolean;
  /**
   * True when the transport itself coalesces separate sends into one write
   * (posix-ipc's stream channels do, per event-loop turn): its one-message-per-send
   * figures are then compared with the batched C figure of the same size, where there is one.
   */
  readonly coalesces?: boolean;
  /** Why it cannot run here (e.g. the addon is not built), or `true`. Checked in the orchestrator. */
  available?(): true | string | Promise<true | string>;
  /** False for cells it cannot run (e.g. a message larger than it allows). */
  supports?(cell: CellSpec): boolean;
  /** In the host, before peer B starts: make the kernel objects both ends need. */
  setup(spec: LinkSpec): Link | Promise<Link>;
  /** In each peer: open that peer's ends. */
  open(ctx: PeerContext): Ends | Promise<Ends>;
}

/** One timed repetition of a stream: messages that arrived in `seconds`. */
export interface StreamRep {
  messages: number;
  seconds: number;
}

/** One repetition of ping-pong: round-trip times in nanoseconds. */
export interface LatencyRep {
  count: number;
  medianNs: number;
  p99Ns: number;
  maxNs: number;
  meanNs: number;
}

/** Median and spread of repeated figures. */
export interface Stat {
  median: number;
  min: number;
  max: number;
  /** Quartiles (equal to min/max with fewer than 4 repetitions). */
  q1: number;
  q3: number;
}

/** What both ends agreed arrived. */
export interface Verified {
  messages: number;
  checksum?: number;
}

export interface StreamResult {
  workload: 'stream';
  transport: string;
  size: number;
  batch: number;
  reps: StreamRep[];
  msgsPerSec: Stat;
  bytesPerSec: Stat;
  verified: Verified;
}

export interface LatencyResult {
  workload: 'latency';
  transport: string;
  size: number;
  batch: 1;
  reps: LatencyRep[];
  medianNs: Stat;
  p99Ns: Stat;
  maxNs: number;
  verified: Verified;
}

export interface MemcpyResult {
  workload: 'memcpy';
  transport: 'c-memcpy';
  size: number;
  batch: 1;
  reps: { bytes: number; seconds: number }[];
  bytesPerSec: Stat;
}

export type CellResult = StreamResult | LatencyResult | MemcpyResult;

/** A failed cell: recorded, reported, and the run exits non-zero. */
export interface CellFailure {
  transport: string;
  workload: string;
  size: number;
  batch: number;
  error: string;
}

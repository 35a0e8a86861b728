/**
 * Every error shape posix-ipc throws, made in one place: Node-shaped system
 * errors, AbortError, the closed error and channel failures. Argument checks
 * live in ./internal/validators.ts.
 * @module
 */
import { getSystemErrorMap } from 'node:util';

/** The shape of every operating-system error posix-ipc throws, like Node's own `SystemError`. */
export interface SystemError extends Error {
  /** Error name such as `'EEXIST'`. */
  code: string;
  /** Negative errno, as in Node's own errors (`-17` for `EEXIST`). */
  errno: number;
  /** The system call that failed, such as `'shm_open'`. */
  syscall: string;
  /** The path or object name involved, when there is one. */
  path?: string;
}

/** True when `err` is a system error carrying a `code` (optionally the given one). */
export function isSystemError(err: unknown, code?: string): err is SystemError {
  return (
    err instanceof Error &&
    typeof (err as Partial<SystemError>).code === 'string' &&
    typeof (err as Partial<SystemError>).syscall === 'string' &&
    (code === undefined || (err as SystemError).code === code)
  );
}

/**
 * Builds a Node-shaped system error for a condition detected in TypeScript
 * (a FIFO path that is not a FIFO, a timeout reported as ETIMEDOUT, ...).
 * @internal
 */
export function systemError(code: string, syscall: string, path?: string, detail?: string): SystemError {
  let errno = 0;
  let description = detail ?? code;
  for (const [num, [name, text]] of getSystemErrorMap()) {
    if (name === code) {
      errno = num;
      description = detail ?? text;
      break;
    }
  }
  const message = `${code}: ${description}, ${syscall}${path === undefined ? '' : ` '${path}'`}`;
  const err = new Error(message) as SystemError;
  err.errno = errno;
  err.code = code;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  Error.captureStackTrace(err, systemError);
  return err;
}

/**
 * The error every method of an object throws after its `close()`: code
 * `ERR_POSIX_IPC_CLOSED`.
 */
export class ClosedError extends Error {
  override readonly name = 'ClosedError';
  readonly code = 'ERR_POSIX_IPC_CLOSED';
  constructor(what: string) {
    super(`${what} is closed`);
  }
}

/** @internal */
export function closedError(what: string): ClosedError {
  return new ClosedError(what);
}

/** Rejection reason of an operation cancelled through an AbortSignal, shaped like Node's own `AbortError`. */
export class AbortError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'ABORT_ERR';
  constructor(message = 'The operation was aborted', options?: ErrorOptions) {
    super(message, options);
  }
}

/** @internal */
export function abortError(signal: AbortSignal): AbortError {
  return new AbortError(undefined, { cause: signal.reason });
}

/** Error codes of {@link ChannelError}. */
export type ChannelErrorCode =
  'ERR_CHANNEL_PEER_GONE' | 'ERR_CHANNEL_CORRUPT' | 'ERR_CHANNEL_CLOSED' | 'ERR_CHANNEL_BUSY' | 'ERR_CHANNEL_SYNC_UNSUPPORTED';

/**
 * A channel-level failure. `code` says which:
 * - `ERR_CHANNEL_PEER_GONE`: the peer closed its end, exited, or died in the
 *   middle of a message (`cause` holds the system error behind it: EPIPE,
 *   ECONNRESET);
 * - `ERR_CHANNEL_CORRUPT`: the bytes are not a valid frame, or the shared
 *   ring was found corrupt (by either side);
 * - `ERR_CHANNEL_BUSY`: too many calls are pending on this end (the bound
 *   that keeps un-awaited sends from growing memory without limit);
 * - `ERR_CHANNEL_SYNC_UNSUPPORTED`: a `sendSync`/`receiveSync` on a channel
 *   that cannot block the thread (TLS: the bytes move on Node's event loop).
 *   Thrown at once, before anything is sent or consumed; the channel stays
 *   usable with the async calls and `trySend`/`tryReceive`.
 *
 * A channel that failed with PEER_GONE or CORRUPT stays failed: every later
 * call throws the same error.
 */
export class ChannelError extends Error {
  override readonly name = 'ChannelError';
  readonly code: ChannelErrorCode;
  constructor(code: ChannelErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** @internal */
export function peerGoneError(detail: string, cause?: unknown): ChannelError {
  return new ChannelError('ERR_CHANNEL_PEER_GONE', `The peer ${detail}`, cause === undefined ? undefined : { cause });
}

/** @internal */
export function syncUnsupportedError(transport: string): ChannelError {
  return new ChannelError(
    'ERR_CHANNEL_SYNC_UNSUPPORTED',
    `A ${transport} channel moves its bytes on the event loop and cannot block the thread: use send/receive (or trySend/tryReceive) instead of sendSync/receiveSync`,
  );
}

/** @internal */
export function corruptError(detail: string): ChannelError {
  return new ChannelError('ERR_CHANNEL_CORRUPT', detail);
}

/** An `ETIMEDOUT` system error for a wait that ran out of time. @internal */
export function timeoutError(syscall: string, path: string | undefined, detail: string): SystemError {
  return systemError('ETIMEDOUT', syscall, path, detail);
}

/** Error codes of {@link NameError}. */
export type NameErrorCode = 'ERR_NAME_NOT_FOUND' | 'ERR_NAME_TAKEN' | 'ERR_NAME_SERVER';

/**
 * A name-service failure (lib/coord/names.ts). `code` says which:
 * - `ERR_NAME_NOT_FOUND`: no live registrant has the name (an entry whose
 *   registrant died counts as absent, and is removed);
 * - `ERR_NAME_TAKEN`: another live registrant holds the name (`pid` says
 *   which process, or the name server that holds it for a remote client);
 * - `ERR_NAME_SERVER`: a remote name server refused the request (read-only,
 *   too many registrations on one connection) or answered something that is
 *   not a valid reply; `cause` holds a channel error when the connection failed.
 * `name` is the service name involved.
 */
export class NameError extends Error {
  override readonly name = 'NameError';
  readonly code: NameErrorCode;
  /** The service name the request was about. */
  readonly serviceName: string;
  /** For `ERR_NAME_TAKEN`: the holder's pid, when known. */
  readonly pid: number | undefined;
  constructor(code: NameErrorCode, serviceName: string, message: string, options?: ErrorOptions & { pid?: number }) {
    super(message, options);
    this.code = code;
    this.serviceName = serviceName;
    this.pid = options?.pid;
  }
}

/** Error codes of {@link CausalityError}. */
export type CausalityErrorCode = 'ERR_CAUSALITY_BAD_STAMP' | 'ERR_CAUSALITY_UNKNOWN_MEMBER' | 'ERR_CAUSALITY_BAD_TRACE';

/**
 * A failure of the causality layer (`lib/coord/causality/`). `code` says which:
 * - `ERR_CAUSALITY_BAD_STAMP`: a clock's binary or JSON form from a peer is
 *   malformed or over a bound (a receive hook that throws it consumes the
 *   message and leaves the channel usable);
 * - `ERR_CAUSALITY_UNKNOWN_MEMBER`: a clock of fixed membership met a process
 *   that is not a member;
 * - `ERR_CAUSALITY_BAD_TRACE`: a trace (a file's line, or merged parts) is
 *   malformed or inconsistent (gaps, two different events with one id, a clock
 *   naming a process the trace does not hold).
 */
export class CausalityError extends Error {
  override readonly name = 'CausalityError';
  readonly code: CausalityErrorCode;
  constructor(code: CausalityErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Error codes of {@link XdrError}. */
export type XdrErrorCode = 'ERR_XDR_SHORT' | 'ERR_XDR_LIMIT' | 'ERR_XDR_INVALID' | 'ERR_XDR_RANGE' | 'ERR_XDR_SYNTAX';

/** Where in a `.x` file an {@link XdrError} with code `ERR_XDR_SYNTAX` is. */
export interface XdrSourceLocation {
  /** The file's name as given to the compiler. */
  readonly file: string;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
}

/**
 * XDR data that cannot be encoded or decoded (`lib/coord/rpc/xdr/`). `code` says why:
 * - `ERR_XDR_SHORT`: the bytes end before the item (or a count announces more
 *   items than the bytes left can hold);
 * - `ERR_XDR_LIMIT`: a length, count or nesting depth is over its bound (the
 *   one the type declares, or the reader's);
 * - `ERR_XDR_INVALID`: bytes that no encoder writes: a bool other than 0 or 1,
 *   an enum value or union discriminant the type does not declare, non-zero
 *   padding, a string that is not UTF-8, bytes left over;
 * - `ERR_XDR_RANGE`: a value to encode does not fit its type (an int out of
 *   range, a string over its bound, a missing field);
 * - `ERR_XDR_SYNTAX`: the `.x` compiler refused its input (a syntax error, an
 *   unknown or duplicate name, a bound that is not a constant); the message
 *   starts with `file:line:column:` and `location` holds them.
 */
export class XdrError extends Error {
  override readonly name = 'XdrError';
  readonly code: XdrErrorCode;
  /** For `ERR_XDR_SYNTAX`: where in the `.x` file. */
  readonly location: XdrSourceLocation | undefined;
  constructor(code: XdrErrorCode, message: string, options?: ErrorOptions & { location?: XdrSourceLocation }) {
    super(message, options);
    this.code = code;
    this.location = options?.location;
  }
}

/**
 * Every code an {@link RpcError} can carry: what a peer's in-band error may name.
 * @internal
 */
export const RPC_ERROR_CODES = [
  'ERR_RPC_APPLICATION',
  'ERR_RPC_UNKNOWN_PROCEDURE',
  'ERR_RPC_PROGRAM_UNAVAILABLE',
  'ERR_RPC_VERSION_MISMATCH',
  'ERR_RPC_BAD_ARGUMENTS',
  'ERR_RPC_DEADLINE_EXCEEDED',
  'ERR_RPC_CANCELLED',
  'ERR_RPC_SERVER_GONE',
  'ERR_RPC_UNAUTHORIZED',
  'ERR_RPC_DUPLICATE',
  'ERR_RPC_SYSTEM',
  'ERR_RPC_PROTOCOL',
] as const;

/** Error codes of {@link RpcError}. */
export type RpcErrorCode = (typeof RPC_ERROR_CODES)[number];

/**
 * A remote call that did not return a result (`lib/coord/rpc/`). `code` says why:
 * - `ERR_RPC_APPLICATION`: the handler threw; `details` holds what it gave;
 * - `ERR_RPC_UNKNOWN_PROCEDURE`: the server's program has no such procedure (ONC `PROC_UNAVAIL`);
 * - `ERR_RPC_PROGRAM_UNAVAILABLE`: the server does not serve the program (ONC `PROG_UNAVAIL`), or no binding was found;
 * - `ERR_RPC_VERSION_MISMATCH`: not that version; `low`..`high` are the versions it serves (ONC `PROG_MISMATCH`);
 * - `ERR_RPC_BAD_ARGUMENTS`: the arguments failed the server's schema or could not be decoded (ONC `GARBAGE_ARGS`);
 * - `ERR_RPC_DEADLINE_EXCEEDED`: the call's deadline passed first (on the client, or at the server, which then drops it);
 * - `ERR_RPC_CANCELLED`: the caller aborted it (its `AbortSignal`);
 * - `ERR_RPC_SERVER_GONE`: the connection ended or broke before the reply (the server died or closed);
 * - `ERR_RPC_UNAUTHORIZED`: the server refused the caller's identity or credentials before any handler ran (ONC `AUTH_ERROR`);
 * - `ERR_RPC_DUPLICATE`: a retry of a call whose reply the server no longer holds: refused, never run a second time;
 * - `ERR_RPC_SYSTEM`: the server failed outside the handler (ONC `SYSTEM_ERR`);
 * - `ERR_RPC_PROTOCOL`: a message that breaks the protocol (malformed, wrong RPC version, a reply to no call).
 */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  readonly code: RpcErrorCode;
  /** The procedure called, when known. */
  readonly procedure: string | undefined;
  /** For `ERR_RPC_APPLICATION`: what the handler's error carried (its `details`, or its message). */
  readonly details: unknown;
  /** For `ERR_RPC_VERSION_MISMATCH`: the lowest and highest versions the server has. */
  readonly low: number | undefined;
  readonly high: number | undefined;
  constructor(
    code: RpcErrorCode,
    message: string,
    options?: ErrorOptions & { procedure?: string; details?: unknown; low?: number; high?: number },
  ) {
    super(message, options);
    this.code = code;
    this.procedure = options?.procedure;
    this.details = options?.details;
    this.low = options?.low;
    this.high = options?.high;
  }
}

/** Error codes of {@link TxError}. */
export type TxErrorCode =
  /** The activity log's file holds a corrupt record followed by valid ones, or is not an activity log (wrong header): never opened, never truncated. */
  | 'ERR_TX_LOG_CORRUPT'
  /** The object (an activity log, a transaction manager) was closed. */
  | 'ERR_TX_CLOSED'
  /** The transaction aborted; `reason` says why. */
  | 'ERR_TX_ABORTED'
  /** The outcome is not known to this process yet (the coordinator is unreachable). */
  | 'ERR_TX_IN_DOUBT'
  /** A deadline passed. */
  | 'ERR_TX_TIMEOUT'
  /** A peer sent a message that breaks the protocol (the connection is dropped), or a log record is not a transaction record. */
  | 'ERR_TX_PROTOCOL'
  /** A participant's resource manager refused a request (the message is its error's). */
  | 'ERR_TX_REQUEST';

/**
 * A transaction failure (`lib/coord/activity-log.ts` and the two-phase
 * commit built on it). `code` says which:
 * - `ERR_TX_LOG_CORRUPT`: the activity log holds a corrupt record with valid
 *   records after it (synced data would be lost by cutting there), or its file
 *   does not start with the log's header; the message names the path and the
 *   byte offset. The file is left untouched;
 * - `ERR_TX_CLOSED`: the log (or transaction manager) was closed;
 * - `ERR_TX_ABORTED`: the transaction aborted; `reason` says why;
 * - `ERR_TX_IN_DOUBT`: the outcome is not known to this process yet (the
 *   coordinator is unreachable);
 * - `ERR_TX_TIMEOUT`: a deadline passed;
 * - `ERR_TX_PROTOCOL`: a peer's message breaks the protocol (the connection
 *   is dropped);
 * - `ERR_TX_REQUEST`: a participant's resource manager refused a request
 *   (the message is its error's).
 */
export class TxError extends Error {
  override readonly name = 'TxError';
  readonly code: TxErrorCode;
  /** For `ERR_TX_ABORTED`: why the transaction aborted. */
  readonly reason: string | undefined;
  constructor(code: TxErrorCode, message: string, options?: ErrorOptions & { reason?: string }) {
    super(message, options);
    this.code = code;
    this.reason = options?.reason;
  }
}

/** Error codes of {@link GroupError}. */
export type GroupErrorCode =
  /** The member left or was closed. */
  | 'ERR_GROUP_CLOSED'
  /** The group installed a view without this member (it was suspected, or left): it cannot multicast or deliver there any more. */
  | 'ERR_GROUP_EXCLUDED'
  /** No member answered the join within `joinTimeoutMs`. */
  | 'ERR_GROUP_JOIN_TIMEOUT'
  /** A peer sent a message that breaks the protocol (the connection is dropped). */
  | 'ERR_GROUP_PROTOCOL'
  /** Overlapping groups: a process of their static spanning tree failed, so part of the tree can no longer be reached. */
  | 'ERR_GROUP_TREE_BROKEN'
  /** A JetStream group: its stream exists with another configuration, refused a multicast or did not acknowledge it in time, or its NATS connection closed for good. */
  | 'ERR_GROUP_STREAM';

/**
 * A group communication failure (`lib/coord/group/`). `code` says which:
 * - `ERR_GROUP_CLOSED`: the member left or was closed;
 * - `ERR_GROUP_EXCLUDED`: a view was installed without this member;
 * - `ERR_GROUP_JOIN_TIMEOUT`: no member answered the join in time;
 * - `ERR_GROUP_PROTOCOL`: a peer's message breaks the protocol;
 * - `ERR_GROUP_TREE_BROKEN`: a process of the overlapping groups' spanning tree failed;
 * - `ERR_GROUP_STREAM`: a JetStream group's stream is misconfigured, refused or lost a multicast, or is out of reach.
 */
export class GroupError extends Error {
  override readonly name = 'GroupError';
  readonly code: GroupErrorCode;
  constructor(code: GroupErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Error codes of {@link LockError}. */
export type LockErrorCode =
  /** The lock's protected state was left inconsistent for good: an owner got "owner died" and unlocked without `markConsistent()`. */
  | 'ERR_LOCK_NOT_RECOVERABLE'
  /** An unlock or `markConsistent()` by a caller that does not hold the lock. */
  | 'ERR_LOCK_NOT_OWNER'
  /** The lock's shared memory does not hold a valid lock (bad magic, version, size or words). */
  | 'ERR_LOCK_CORRUPT'
  /** A barrier's generation was broken: a party died while waiting, a wait timed out or was aborted, or `reset()` was called. */
  | 'ERR_BARRIER_BROKEN';

/**
 * A failure of a cross-process lock (`lib/sync/`). `code` says which:
 * - `ERR_LOCK_NOT_RECOVERABLE`: a previous owner died holding the lock, the
 *   next owner was told so and unlocked without marking the state
 *   consistent: every later lock attempt fails with this code (like
 *   `ENOTRECOVERABLE` of a robust pthread mutex);
 * - `ERR_LOCK_NOT_OWNER`: `unlock()` or `markConsistent()` by a caller that
 *   does not hold the lock (like `EPERM` of an error-checking mutex);
 * - `ERR_LOCK_CORRUPT`: the segment does not hold a valid lock;
 * - `ERR_BARRIER_BROKEN`: a barrier's generation was broken (a waiting
 *   party died, timed out or was aborted, or `reset()` was called), like
 *   Java's `BrokenBarrierException`; `reset()` makes it usable again.
 * `name` is the lock's segment name.
 */
export class LockError extends Error {
  override readonly name = 'LockError';
  readonly code: LockErrorCode;
  /** The name of the lock's segment. */
  readonly lockName: string;
  constructor(code: LockErrorCode, lockName: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.lockName = lockName;
  }
}

/**
 * The ONC RPC client: `oncClient(spec, address)` connects and returns an
 * object whose methods are the version's procedures by name
 * (`await client.EXAMPLE(41)`), plus a generic `call`. Many calls may be in
 * flight on one connection, matched by xid; each has a deadline and an
 * optional `AbortSignal`; when the connection ends every pending call fails
 * at once with `ERR_RPC_SERVER_GONE`; error replies become {@link RpcError}s.
 * @module
 */
import { hostname } from 'node:os';

import { RpcError } from '../../../errors.js';
import { validateAbortSignal, validateTimeout } from '../../../internal/validators.js';
import { afterMs } from '../../../internal/waiting.js';
import type { XdrType } from '../xdr/codec.js';
import { XdrReader, XdrWriter } from '../xdr/stream.js';
import { AuthStat, encodeCredential, ONC_MAX_GIDS, ONC_MAX_MACHINE_NAME, type OncCredential, type OpaqueAuth } from './auth.js';
import { decodeMessage, encodeCall, type RpcReplyMessage } from './message.js';
import type { OncProcedureSpec, OncVersionSpec } from './program.js';
import { connectOncTransport, type OncTransport, type OncTransportOptions } from './transport.js';

/** Options of one call. */
export interface OncCallOptions {
  /** Fail with `ERR_RPC_DEADLINE_EXCEEDED` after this long (0: no deadline). Default: the client's `callTimeoutMs`. */
  readonly timeoutMs?: number;
  /** Fail with `ERR_RPC_CANCELLED` when it aborts (the server is not told: ONC has no cancel message). */
  readonly signal?: AbortSignal;
}

/** Options of {@link oncClient}. */
export interface OncClientOptions extends OncTransportOptions {
  /** The credential every call carries: `'sys'` for {@link authSysCredential}'s, or one given. Default `AUTH_NONE`. */
  readonly credential?: 'none' | 'sys' | OncCredential;
  /** Default deadline of each call (0: none; any length: one over 2^31 - 1 ms is re-armed, not clamped). Default 30000 ms. */
  readonly callTimeoutMs?: number;
}

type ArgOf<P> = P extends OncProcedureSpec<infer A, unknown> ? A : never;
type ResOf<P> = P extends OncProcedureSpec<unknown, infer R> ? R : never;

/** The typed methods of a version's procedures: `EXAMPLE(arg, options) -> Promise<result>`. */
export type OncProcedures<S extends OncVersionSpec> = {
  readonly [K in keyof S['procedures']]: (arg: ArgOf<S['procedures'][K]>, options?: OncCallOptions) => Promise<ResOf<S['procedures'][K]>>;
};

/** What every client has besides its procedures. */
export interface OncClientBase {
  readonly spec: OncVersionSpec;
  /** Calls procedure `proc` (its name or number) of the client's version. */
  call(proc: string | number, arg: unknown, options?: OncCallOptions): Promise<unknown>;
  /** Calls the NULL procedure (0): a ping, and how a client learns whether the server has this version. */
  ping(options?: OncCallOptions): Promise<void>;
  /** Calls in flight. */
  readonly pending: number;
  /** True once the connection ended (closed by either side, or broken). */
  readonly closed: boolean;
  /** Closes the connection; pending calls fail with `ERR_RPC_SERVER_GONE`. */
  close(): Promise<void>;
}

/** A client of one program version: its procedures by name, and {@link OncClientBase}. A procedure named like a base member is reachable through `call` only. */
export type OncClient<S extends OncVersionSpec = OncVersionSpec> = OncProcedures<S> & OncClientBase;

/** This process's `AUTH_SYS` credential: its uid, gid, up to 16 groups and the host name (truncated to 255 bytes). */
export function authSysCredential(): OncCredential {
  const groups = (process.getgroups?.() ?? []).slice(0, ONC_MAX_GIDS);
  return {
    flavor: 'sys',
    stamp: Math.floor(Date.now() / 1000) >>> 0,
    machinename: Buffer.from(hostname()).subarray(0, ONC_MAX_MACHINE_NAME).toString('latin1'),
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    gids: groups,
  };
}

interface Pending {
  readonly proc: string;
  readonly res: XdrType<unknown>;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

const AUTH_NAMES = Object.fromEntries(Object.entries(AuthStat).map(([k, v]) => [v, k])) as Record<number, string>;

/** The {@link RpcError} an error reply stands for. */
export function replyError(reply: RpcReplyMessage, proc: string): RpcError {
  const o = { procedure: proc };
  if (!reply.accepted) {
    if (reply.stat === 'RPC_MISMATCH') {
      return new RpcError('ERR_RPC_PROTOCOL', `the server speaks RPC versions ${reply.low}..${reply.high}, not 2`, {
        ...o,
        low: reply.low,
        high: reply.high,
      });
    }
    const name = AUTH_NAMES[reply.auth] ?? `auth_stat ${reply.auth}`;
    return new RpcError('ERR_RPC_UNAUTHORIZED', `${proc}: the server refused the credentials (${name})`, {
      ...o,
      details: { authStat: reply.auth, name },
    });
  }
  switch (reply.stat) {
    case 'PROG_UNAVAIL':
      return new RpcError('ERR_RPC_PROGRAM_UNAVAILABLE', `${proc}: the server does not serve this program (PROG_UNAVAIL)`, o);
    case 'PROG_MISMATCH':
      return new RpcError(
        'ERR_RPC_VERSION_MISMATCH',
        `${proc}: the server serves versions ${reply.low}..${reply.high} only (PROG_MISMATCH)`,
        {
          ...o,
          low: reply.low,
          high: reply.high,
        },
      );
    case 'PROC_UNAVAIL':
      return new RpcError('ERR_RPC_UNKNOWN_PROCEDURE', `${proc}: the server has no such procedure (PROC_UNAVAIL)`, o);
    case 'GARBAGE_ARGS':
      return new RpcError('ERR_RPC_BAD_ARGUMENTS', `${proc}: the server could not decode the arguments (GARBAGE_ARGS)`, o);
    case 'SYSTEM_ERR':
      return new RpcError('ERR_RPC_SYSTEM', `${proc}: the server failed (SYSTEM_ERR)`, o);
    default:
      return new RpcError('ERR_RPC_PROTOCOL', `${proc}: unexpected reply`, o);
  }
}

const NULL_PROC: OncProcedureSpec<void, void> = Object.freeze({
  name: 'NULL',
  number: 0,
  arg: { name: 'void', encode: () => {}, decode: () => undefined },
  res: { name: 'void', encode: () => {}, decode: () => undefined },
});

class Connection implements OncClientBase {
  readonly spec: OncVersionSpec;
  readonly #transport: OncTransport;
  readonly #pending = new Map<number, Pending>();
  readonly #byNumber = new Map<number, OncProcedureSpec>();
  readonly #cred: OpaqueAuth;
  readonly #timeoutMs: number;
  readonly #writer = new XdrWriter(256);
  #xid = (Math.random() * 0x1_0000_0000) >>> 0;
  #closed = false;

  constructor(spec: OncVersionSpec, transport: OncTransport, options: OncClientOptions) {
    this.spec = spec;
    this.#transport = transport;
    for (const p of Object.values(spec.procedures)) this.#byNumber.set(p.number, p);
    const c = options.credential ?? 'none';
    this.#cred = encodeCredential(c === 'none' ? { flavor: 'none' } : c === 'sys' ? authSysCredential() : c);
    this.#timeoutMs = validateTimeout(options.callTimeoutMs ?? 30_000, 'options.callTimeoutMs');
    transport.start({ message: (m) => this.#onMessage(m), end: (err) => this.#onEnd(err) });
  }

  get pending(): number {
    return this.#pending.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #onMessage(bytes: Uint8Array): void {
    let msg;
    try {
      msg = decodeMessage(bytes);
    } catch (err) {
      this.#failAll(
        new RpcError('ERR_RPC_PROTOCOL', `the server sent a message that is not an RPC reply: ${(err as Error).message}`, { cause: err }),
      );
      void this.#transport.close();
      return;
    }
    if (msg.type !== 'reply') return; // a call to the client: ONC callbacks are not served here
    const p = this.#pending.get(msg.xid);
    if (p === undefined) return; // a late reply to a call that timed out or was cancelled
    this.#pending.delete(msg.xid);
    if (!msg.accepted || msg.stat !== 'SUCCESS') {
      p.reject(replyError(msg, p.proc));
      return;
    }
    try {
      const r = new XdrReader(msg.results);
      const v = p.res.decode(r);
      r.done();
      p.resolve(v);
    } catch (err) {
      p.reject(
        new RpcError('ERR_RPC_PROTOCOL', `${p.proc}: the result is not a ${p.res.name}: ${(err as Error).message}`, {
          cause: err,
          procedure: p.proc,
        }),
      );
    }
  }

  #onEnd(err?: Error): void {
    this.#closed = true;
    void this.#transport.close().catch(() => {});
    if (err instanceof RpcError && err.code === 'ERR_RPC_PROTOCOL') {
      this.#failAll(err); // the server broke the framing (a record over the bound): it is not merely gone
      return;
    }
    const why = err ? `: ${err.message}` : '';
    this.#failAll(new RpcError('ERR_RPC_SERVER_GONE', `the connection to the ONC server ended before the reply${why}`, { cause: err }));
  }

  #failAll(error: RpcError): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of all) p.reject(new RpcError(error.code, error.message, { cause: error.cause, procedure: p.proc }));
  }

  #procedure(proc: string | number): OncProcedureSpec {
    if (proc === 0 || proc === 'NULL') return this.#byNumber.get(0) ?? NULL_PROC;
    const p = typeof proc === 'number' ? this.#byNumber.get(proc) : this.spec.procedures[proc];
    if (p === undefined)
      throw new RangeError(`The "proc" argument must name a procedure of ${this.spec.versionName}. Received ${String(proc)}`);
    return p;
  }

  call(proc: string | number, arg: unknown, options: OncCallOptions = {}): Promise<unknown> {
    try {
      return this.#call(proc, arg, options);
    } catch (err) {
      return Promise.reject(err as Error); // bad arguments, a value its XDR type cannot hold: a rejection, like every failure
    }
  }

  #call(proc: string | number, arg: unknown, options: OncCallOptions): Promise<unknown> {
    const p = this.#procedure(proc);
    const timeoutMs = options.timeoutMs === undefined ? this.#timeoutMs : validateTimeout(options.timeoutMs, 'options.timeoutMs');
    const signal = validateAbortSignal(options.signal, 'options.signal');
    if (this.#closed) return Promise.reject(new RpcError('ERR_RPC_SERVER_GONE', 'the ONC client is closed', { procedure: p.name }));
    if (signal?.aborted)
      return Promise.reject(new RpcError('ERR_RPC_CANCELLED', `${p.name}: cancelled before it was sent`, { procedure: p.name }));
    let xid = this.#xid;
    for (let i = 0; this.#pending.has(xid) && i < 16; i++) xid = (xid + 1) >>> 0;
    this.#xid = (xid + 1) >>> 0;
    const bytes = encodeCall(
      { xid, prog: this.spec.program, vers: this.spec.version, proc: p.number, cred: this.#cred },
      (w) => p.arg.encode(w, arg),
      this.#writer,
    );
    return new Promise<unknown>((resolve, reject) => {
      let cancelTimer: (() => void) | undefined;
      const done = (): void => {
        cancelTimer?.();
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        if (this.#pending.delete(xid)) {
          done();
          reject(new RpcError('ERR_RPC_CANCELLED', `${p.name}: cancelled`, { procedure: p.name, cause: signal?.reason }));
        }
      };
      this.#pending.set(xid, {
        proc: p.name,
        res: p.res as XdrType<unknown>,
        resolve: (v) => {
          done();
          resolve(v);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
        // afterMs, not setTimeout: a deadline over 2^31 - 1 ms is re-armed, not clamped to 1 ms
        cancelTimer = afterMs(timeoutMs, () => {
          if (this.#pending.delete(xid)) {
            done();
            reject(new RpcError('ERR_RPC_DEADLINE_EXCEEDED', `${p.name}: no reply within ${timeoutMs} ms`, { procedure: p.name }));
          }
        });
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#transport.send(bytes).catch((err: Error) => {
        const pending = this.#pending.get(xid);
        if (pending) {
          this.#pending.delete(xid);
          pending.reject(
            err instanceof RpcError ? err : new RpcError('ERR_RPC_SERVER_GONE', err.message, { cause: err, procedure: p.name }),
          );
        }
      });
    });
  }

  async ping(options?: OncCallOptions): Promise<void> {
    await this.call(0, undefined, options);
  }

  async close(): Promise<void> {
    await this.#transport.close();
  }
}

/**
 * A client of `spec` (one program version) at `target`: an address
 * (`oncrpc://host:port` for raw ONC TCP, as rpcgen's servers speak; or a
 * channel address, `unix:/path`, `shm:/name`, `tcp://...`, `tls://...`,
 * where the server is an {@link OncServer} on that channel), or a
 * transport already open. Rejects with `ERR_RPC_SERVER_GONE` when it
 * cannot connect. To find a server by program number, see {@link lookupOnc}.
 *
 * @example
 * const kv = await oncClient(KVSTORE_V1, 'oncrpc://127.0.0.1:40123');
 * await kv.EXAMPLE(41); // 42
 */
export async function oncClient<S extends OncVersionSpec>(
  spec: S,
  target: string | OncTransport,
  options: OncClientOptions = {},
): Promise<OncClient<S>> {
  const transport = typeof target === 'string' ? await connectOncTransport(target, options) : target;
  const conn = new Connection(spec, transport, options);
  const client: Record<string, unknown> = {};
  Object.defineProperties(client, {
    spec: { value: spec },
    call: { value: conn.call.bind(conn) },
    ping: { value: conn.ping.bind(conn) },
    close: { value: conn.close.bind(conn) },
    pending: { get: () => conn.pending },
    closed: { get: () => conn.closed },
  });
  for (const p of Object.values(spec.procedures)) {
    if (p.name in client) continue;
    Object.defineProperty(client, p.name, { value: (arg: unknown, o?: OncCallOptions) => conn.call(p.number, arg, o), enumerable: true });
  }
  return client as unknown as OncClient<S>;
}

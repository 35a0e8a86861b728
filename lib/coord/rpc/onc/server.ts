/**
 * The ONC RPC server: one or more program versions served on a listener
 * (raw ONC TCP at `oncrpc://host:port`, or a channel address). It answers
 * the NULL procedure (0) of every version it serves, and what RFC 5531
 * says for the rest: `PROG_UNAVAIL`, `PROG_MISMATCH` (with the lowest and
 * highest version of the program), `PROC_UNAVAIL`, `GARBAGE_ARGS` (the
 * arguments do not decode), `SYSTEM_ERR` (the handler threw), `RPC_MISMATCH`
 * (not RPC version 2), `AUTH_ERROR` (a credential that does not decode, or
 * a per-procedure `authorize` hook that refused: the handler never runs).
 * Connections and calls in flight are bounded.
 * @module
 */

import { validateFunction, validateInteger } from '../../../internal/validators.js';
import { acceptLoop } from '../../accept.js';
import { XdrReader } from '../xdr/stream.js';
import { AuthStat, decodeCredential, type AuthStatValue, type OncCredential } from './auth.js';
import { decodeMessage, encodeReply, ONC_RPC_VERSION, type RpcCallMessage, type RpcReplyInput } from './message.js';
import type { OncProcedureSpec, OncVersionSpec } from './program.js';
import { listenOncTransport, type OncPeer, type OncTransport, type OncTransportListener, type OncTransportOptions } from './transport.js';

/** What a handler (and an `authorize` hook) knows about the call it serves. */
export interface OncCallContext {
  readonly xid: number;
  readonly program: number;
  readonly version: number;
  readonly procedure: number;
  readonly procedureName: string;
  /** The caller's credential as it claims it (`AUTH_SYS`: uid, gid, machinename; nothing proves them). */
  readonly credential: OncCredential;
  /** The transport's identity of the peer (UNIX/shm peer credentials, the TLS certificate, the TCP address), when it has one. */
  readonly peer: OncPeer | undefined;
}

type ArgOf<P> = P extends OncProcedureSpec<infer A, unknown> ? A : never;
type ResOf<P> = P extends OncProcedureSpec<unknown, infer R> ? R : never;

/** Serves one procedure: the decoded argument in, the result out (a throw is a `SYSTEM_ERR` reply). */
export type OncHandler<A = unknown, R = unknown> = (arg: A, ctx: OncCallContext) => R | Promise<R>;

/**
 * Decides whether a call may run: `true` runs it; `false` refuses it with
 * `AUTH_ERROR` `AUTH_TOOWEAK`; an {@link AuthStat} value refuses with that
 * (`AuthStat.AUTH_BADCRED`, ...; `AUTH_OK` runs it); a throw refuses with
 * `AUTH_FAILED`. Runs before the arguments are decoded.
 */
export type OncAuthorize = (ctx: OncCallContext) => boolean | AuthStatValue;

/** One version served: its spec, a handler per procedure, and optional authorization hooks per procedure. */
export interface OncService<S extends OncVersionSpec = OncVersionSpec> {
  readonly spec: S;
  readonly handlers: { readonly [K in keyof S['procedures']]: OncHandler<ArgOf<S['procedures'][K]>, ResOf<S['procedures'][K]>> };
  /** Per procedure name; `'*'` applies to the procedures without their own. The NULL procedure is never authorized: it only pings. */
  readonly authorize?: { readonly [K in keyof S['procedures'] | '*']?: OncAuthorize };
}

/** Options of {@link serveOnc}. */
export interface OncServerOptions extends OncTransportOptions {
  /** Connections served at once; more wait to be accepted. Default 128. */
  readonly maxConnections?: number;
  /** Calls in flight per connection; past it the connection is not read until one finishes. Default 64. */
  readonly maxInFlight?: number;
}

interface Served {
  readonly spec: OncVersionSpec;
  readonly byNumber: Map<number, { proc: OncProcedureSpec; handler: OncHandler; authorize: OncAuthorize | undefined }>;
}

/** An ONC RPC server; make one with {@link serveOnc}. */
export class OncServer {
  /** Where it listens: `oncrpc://host:port` (the actual port) or the channel listener's url. */
  readonly url: string;
  readonly #listener: OncTransportListener;
  readonly #programs = new Map<number, Map<number, Served>>();
  readonly #connections = new Set<OncTransport>();
  readonly #maxConnections: number;
  readonly #maxInFlight: number;
  #slotWaiter: (() => void) | undefined;
  #closed = false;
  #calls = 0;

  /** @internal */
  constructor(listener: OncTransportListener, services: readonly OncService[], options: OncServerOptions) {
    this.url = listener.url;
    this.#listener = listener;
    this.#maxConnections = validateInteger(options.maxConnections ?? 128, 'options.maxConnections', 1, 1 << 16);
    this.#maxInFlight = validateInteger(options.maxInFlight ?? 64, 'options.maxInFlight', 1, 1 << 16);
    for (const s of services) this.#add(s);
    void this.#acceptLoop();
  }

  #add(service: OncService): void {
    const { spec } = service;
    const versions = this.#programs.get(spec.program) ?? new Map<number, Served>();
    if (versions.has(spec.version))
      throw new RangeError(`The "services" argument serves ${spec.programName} version ${spec.version} twice`);
    const byNumber: Served['byNumber'] = new Map();
    const auth = (service.authorize ?? {}) as Record<string, OncAuthorize | undefined>;
    const handlers = service.handlers as Record<string, OncHandler | undefined>;
    for (const proc of Object.values(spec.procedures)) {
      const handler = validateFunction<OncHandler>(handlers[proc.name], `services.handlers.${proc.name}`);
      if (handler === undefined) throw new TypeError(`The "services.handlers.${proc.name}" handler of ${spec.versionName} is missing`);
      const authorize = validateFunction<OncAuthorize>(auth[proc.name] ?? auth['*'], `services.authorize.${proc.name}`);
      byNumber.set(proc.number, { proc, handler, authorize });
    }
    versions.set(spec.version, { spec, byNumber });
    this.#programs.set(spec.program, versions);
  }

  /** Connections open now. */
  get connections(): number {
    return this.#connections.size;
  }

  /** Calls received since the server started (each handled, refused or answered with an error). */
  get calls(): number {
    return this.#calls;
  }

  #acceptLoop(): Promise<void> {
    // A client that failed its handshake (refused peer, TLS failure): the listener goes on.
    return acceptLoop(
      this.#listener,
      (t) => (this.#closed ? void t.close() : this.#serve(t)),
      () => this.#closed,
      {
        gate: () =>
          this.#connections.size >= this.#maxConnections ? new Promise<void>((resolve) => (this.#slotWaiter = resolve)) : undefined,
      },
    );
  }

  #serve(t: OncTransport): void {
    this.#connections.add(t);
    let inFlight = 0;
    let release: (() => void) | undefined;
    let open = true;
    // The reply's promise settles once its bytes are written (or the
    // connection is gone): #dispatch returns it, so a call holds its
    // in-flight slot until then and maxInFlight bounds the replies queued
    // for a peer that does not read, not only the handlers running.
    const reply = (xid: number, r: RpcReplyInput): Promise<void> => {
      if (!open) return Promise.resolve();
      let bytes: Uint8Array;
      try {
        bytes = encodeReply(xid, r);
      } catch {
        bytes = encodeReply(xid, { accepted: true, stat: 'SYSTEM_ERR' });
      }
      return t.send(bytes).catch(() => {}); // the connection is gone: its end() cleans up
    };
    t.start({
      message: (bytes) => {
        let call: RpcCallMessage;
        try {
          const m = decodeMessage(bytes);
          if (m.type !== 'call') return; // a reply to a server: ignored
          call = m;
        } catch {
          open = false;
          void t.close(); // not an RPC message: the stream cannot be trusted any more
          return;
        }
        this.#calls++;
        inFlight++;
        void this.#dispatch(call, t.peer, reply).finally(() => {
          inFlight--;
          const r = release;
          release = undefined;
          r?.();
        });
        if (inFlight >= this.#maxInFlight) return new Promise<void>((resolve) => (release = resolve));
        return undefined;
      },
      end: () => {
        open = false;
        this.#connections.delete(t);
        void t.close();
        const w = this.#slotWaiter;
        this.#slotWaiter = undefined;
        w?.();
      },
    });
  }

  async #dispatch(call: RpcCallMessage, peer: OncPeer | undefined, reply: (xid: number, r: RpcReplyInput) => Promise<void>): Promise<void> {
    const { xid } = call;
    if (call.rpcvers !== ONC_RPC_VERSION)
      return reply(xid, { accepted: false, stat: 'RPC_MISMATCH', low: ONC_RPC_VERSION, high: ONC_RPC_VERSION });
    let credential: OncCredential;
    try {
      credential = decodeCredential(call.cred);
    } catch {
      return reply(xid, { accepted: false, stat: 'AUTH_ERROR', auth: AuthStat.AUTH_BADCRED });
    }
    if (credential.flavor === 'other') return reply(xid, { accepted: false, stat: 'AUTH_ERROR', auth: AuthStat.AUTH_BADCRED });
    const versions = this.#programs.get(call.prog);
    if (versions === undefined) return reply(xid, { accepted: true, stat: 'PROG_UNAVAIL' });
    const served = versions.get(call.vers);
    if (served === undefined) {
      const nums = [...versions.keys()];
      return reply(xid, { accepted: true, stat: 'PROG_MISMATCH', low: Math.min(...nums), high: Math.max(...nums) });
    }
    if (call.proc === 0 && !served.byNumber.has(0)) {
      if (call.args.byteLength !== 0) return reply(xid, { accepted: true, stat: 'GARBAGE_ARGS' });
      return reply(xid, { accepted: true, stat: 'SUCCESS', writeResults: () => {} });
    }
    const entry = served.byNumber.get(call.proc);
    if (entry === undefined) return reply(xid, { accepted: true, stat: 'PROC_UNAVAIL' });
    const ctx: OncCallContext = Object.freeze({
      xid,
      program: call.prog,
      version: call.vers,
      procedure: call.proc,
      procedureName: entry.proc.name,
      credential,
      peer,
    });
    if (entry.authorize) {
      let verdict: boolean | AuthStatValue;
      try {
        verdict = entry.authorize(ctx);
      } catch {
        verdict = AuthStat.AUTH_FAILED;
      }
      if (verdict !== true && verdict !== AuthStat.AUTH_OK) {
        const auth = verdict === false ? AuthStat.AUTH_TOOWEAK : verdict;
        return reply(xid, { accepted: false, stat: 'AUTH_ERROR', auth });
      }
    }
    let arg: unknown;
    try {
      const r = new XdrReader(call.args);
      arg = entry.proc.arg.decode(r);
      r.done();
    } catch {
      return reply(xid, { accepted: true, stat: 'GARBAGE_ARGS' });
    }
    let result: unknown;
    try {
      result = await entry.handler(arg, ctx);
    } catch {
      return reply(xid, { accepted: true, stat: 'SYSTEM_ERR' });
    }
    return reply(xid, { accepted: true, stat: 'SUCCESS', writeResults: (w) => entry.proc.res.encode(w, result) });
  }

  /** Stops listening and closes every connection (calls in flight get no reply). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    const w = this.#slotWaiter;
    this.#slotWaiter = undefined;
    w?.();
    await Promise.all([...this.#connections].map((t) => t.close()));
    this.#connections.clear();
  }
}

/**
 * Serves `services` (one or more program versions, of one or more
 * programs) at `address`: `oncrpc://127.0.0.1:0` for raw ONC TCP with
 * record marking (what rpcgen's clients speak; port 0 picks a free one,
 * `server.url` says which), or a channel address (`unix:`, `shm:`, `tcp:`,
 * `tls:`, with `options.channel` for its options). Rejects with the
 * listener's errors (`EADDRINUSE`, ...), `TypeError` for a missing handler.
 *
 * @example
 * const server = await serveOnc('oncrpc://127.0.0.1:0', [{ spec: KVSTORE_V1, handlers: { EXAMPLE: (n) => n + 1 } }]);
 */
export async function serveOnc<const T extends readonly OncVersionSpec[]>(
  address: string,
  services: { readonly [I in keyof T]: OncService<T[I]> },
  options: OncServerOptions = {},
): Promise<OncServer> {
  if (!Array.isArray(services) || services.length === 0)
    throw new TypeError('The "services" argument must be a non-empty array of { spec, handlers }');
  const listener = await listenOncTransport(address, options);
  try {
    return new OncServer(listener, services as unknown as readonly OncService[], options);
  } catch (err) {
    listener.close();
    throw err;
  }
}

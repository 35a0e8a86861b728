/**
 * The server side of a service: {@link serve} accepts connections on any
 * channel listener and dispatches their calls to the handlers.
 * @module
 */
import { listen, type AddressOptions, type Duplex, type Listener } from '../../channels/index.js';
import { RpcError } from '../../errors.js';
import { acceptLoop } from '../accept.js';
import { validateFunction, validateInteger, validateObject, validateOptions } from '../../internal/validators.js';
import { readFrames, Outbox } from './connection.js';
import { Deadlines } from './deadlines.js';
import { ReplyCache, type ReplyCacheOptions } from './reply-cache.js';
import { ServerCall } from './server-call.js';
import type { CallContext, CompiledProcedure, Handlers, Service } from './service.js';
import { decodeBody, encodeFrame, errorBody, Frame, type Header } from './wire.js';

/** Frames a connection's outbox may hold before the server stops reading it (a client that does not read its replies). */
const OUTBOX_LIMIT = 4096;
/** A connection must say hello within this many milliseconds, or it is closed with `ERR_RPC_PROTOCOL`. */
export const RPC_HELLO_TIMEOUT_MS = 10_000;

/** Options of {@link serve}. */
export interface ServeOptions {
  /** Only peers whose uid is listed (UNIX sockets, shared memory) are served; others get `ERR_RPC_UNAUTHORIZED` and are closed before any handler runs. */
  allowUids?: readonly number[];
  /** Decides each call before its handler runs; `false` (or a throw) answers `ERR_RPC_UNAUTHORIZED`. */
  authorize?: (ctx: CallContext, procedure: string) => boolean | Promise<boolean>;
  /** Bounds (and persistence) of the at-most-once reply cache. */
  replyCache?: ReplyCacheOptions;
  /** Calls one connection may have running; beyond it the server stops reading that connection. Default 1024. */
  maxConcurrent?: number;
  /** Stream items a client may send before the server grants more credit. Default 32. */
  streamWindow?: number;
  /** Options of `listen(address)` when an address is given (TLS keys, ...). */
  listen?: AddressOptions<Uint8Array>;
  /** Told about connections that failed the protocol (default: ignored). */
  onError?: (err: unknown) => void;
}

/** A running service: {@link serve}'s result. */
export class RpcServer {
  readonly #listener: Listener<Uint8Array>;
  readonly #conns = new Set<ServerConnection>();
  readonly #cache: ReplyCache;
  #closed = false;
  /** @internal */
  readonly cfg: ServerConfig;

  /** @internal */
  constructor(listener: Listener<Uint8Array>, cfg: ServerConfig, cache: ReplyCache) {
    this.#listener = listener;
    this.cfg = cfg;
    this.#cache = cache;
    void this.#acceptLoop();
  }

  /** Where clients reach it (the listener's url). */
  get url(): string {
    return this.#listener.url;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#conns.size;
  }

  /** The reply cache (its `stats(clientId)` shows what it holds). */
  get replyCache(): ReplyCache {
    return this.#cache;
  }

  /** Serves one more connection (a duplex from elsewhere, e.g. a pipe). */
  adopt(duplex: Duplex<Uint8Array>): void {
    if (this.#closed) {
      void duplex.close().catch(() => undefined);
      return;
    }
    const conn = new ServerConnection(this, duplex, this.#cache);
    this.#conns.add(conn);
    void conn.run().finally(() => this.#conns.delete(conn));
  }

  #acceptLoop(): Promise<void> {
    return acceptLoop(
      this.#listener,
      (d) => this.adopt(d),
      () => this.#closed,
      { onError: this.cfg.onError },
    );
  }

  /** Stops listening, ends every connection (their handlers' signals abort) and closes the reply cache's file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    await Promise.all([...this.#conns].map((c) => c.end()));
    await this.#cache.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** @internal What every connection of a server shares. */
export interface ServerConfig {
  readonly service: Service;
  readonly handlers: Record<string, (...args: never[]) => unknown>;
  readonly allowUids: ReadonlySet<number> | undefined;
  readonly authorize: ServeOptions['authorize'];
  readonly maxConcurrent: number;
  readonly window: number;
  readonly deadlines: Deadlines;
  readonly onError: ((err: unknown) => void) | undefined;
}

/** @internal One client's connection. */
export class ServerConnection {
  readonly server: RpcServer;
  readonly duplex: Duplex<Uint8Array>;
  readonly out: Outbox;
  readonly cache: ReplyCache;
  readonly calls = new Map<number, ServerCall>();
  readonly peer: unknown;
  clientId: string | undefined;
  /** Client procedure index -> the server's procedure (undefined: unknown). */
  procs: Array<CompiledProcedure | undefined> = [];
  active = 0;
  #hello = false;
  #ended = false;
  #resume: (() => void) | undefined;

  constructor(server: RpcServer, duplex: Duplex<Uint8Array>, cache: ReplyCache) {
    this.server = server;
    this.duplex = duplex;
    this.cache = cache;
    this.peer = (duplex as { peer?: unknown }).peer;
    this.out = new Outbox(duplex, () => void this.end());
  }

  async run(): Promise<void> {
    const uids = this.server.cfg.allowUids;
    if (uids !== undefined) {
      const uid = (this.peer as { uid?: unknown } | undefined)?.uid;
      if (typeof uid !== 'number' || !uids.has(uid))
        return this.refuse(new RpcError('ERR_RPC_UNAUTHORIZED', `Peer uid ${String(uid)} is not allowed`));
    }
    const helloTimer = setTimeout(() => {
      if (!this.#hello) void this.refuse(new RpcError('ERR_RPC_PROTOCOL', `No hello within ${RPC_HELLO_TIMEOUT_MS} ms`));
    }, RPC_HELLO_TIMEOUT_MS);
    helloTimer.unref();
    const err = await readFrames(
      this.duplex,
      (h, b, s, e) => this.#frame(h, b, s, e),
      () => void this.refuse(new RpcError('ERR_RPC_PROTOCOL', 'A frame shorter than the header')),
      () => this.#gate(),
    );
    clearTimeout(helloTimer);
    if (err !== undefined && !this.#ended) this.server.cfg.onError?.(err);
    await this.end();
  }

  /** Pauses reading while the connection has too many calls running or replies unsent. */
  #gate(): Promise<void> | undefined {
    if (this.#ended) return undefined;
    if (this.active >= this.server.cfg.maxConcurrent) return new Promise<void>((r) => (this.#resume = r));
    return this.out.room(OUTBOX_LIMIT);
  }

  /** Sends a connection-level error, then closes. */
  async refuse(err: RpcError): Promise<void> {
    if (this.#ended) return;
    this.out.push(encodeFrame(Frame.ERROR, 0, 0, 0, 0, 0, errorBody(err)));
    await this.out.drained();
    await this.end();
  }

  /** Ends the connection: every call's signal aborts, streams stop. */
  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    for (const call of this.calls.values()) call.gone();
    this.calls.clear();
    this.#resume?.();
    await this.out.drained();
    this.out.kill();
    await this.duplex.close().catch(() => undefined);
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** A call finished: its slot is free again. */
  release(call: ServerCall): void {
    if (this.calls.get(call.id) === call) this.calls.delete(call.id);
    this.active--;
    if (this.#resume !== undefined && this.active < this.server.cfg.maxConcurrent) {
      const r = this.#resume;
      this.#resume = undefined;
      r();
    }
  }

  #frame(h: Header, bytes: Uint8Array, start: number, end: number): boolean {
    if (this.#ended) return false;
    try {
      if (!this.#hello) {
        if (h.type !== Frame.HELLO) throw new RpcError('ERR_RPC_PROTOCOL', 'The first frame must be a hello');
        this.#onHello(decodeBody(bytes, start, end, 'ERR_RPC_PROTOCOL'));
        return !this.#ended;
      }
      switch (h.type) {
        case Frame.CALL: {
          // The same call id twice is a protocol error, unless it is a deduplicated unary call's copy (same procedure
          // and seq: the reply cache answers it). Anything else would run outside `calls`: no CANCEL, CREDIT or end reaches it.
          const proc = this.procs[h.proc];
          const running = this.calls.get(h.id);
          const copy = running !== undefined;
          if (
            h.id === 0 ||
            (running !== undefined &&
              (h.seq === 0 || this.clientId === undefined || proc?.kind !== 'unary' || running.proc !== proc || running.seq !== h.seq))
          )
            throw new RpcError('ERR_RPC_PROTOCOL', `Call id ${h.id} is in use`);
          const call = new ServerCall(this, h, proc);
          this.active++;
          if (proc === undefined) {
            call.fail(new RpcError('ERR_RPC_UNKNOWN_PROCEDURE', `No procedure #${h.proc} in ${this.server.cfg.service.name}`));
            break;
          }
          let args: unknown;
          try {
            args = decodeBody(bytes, start, end, 'ERR_RPC_BAD_ARGUMENTS');
          } catch (err) {
            call.fail(err);
            break;
          }
          if (!copy) this.calls.set(h.id, call);
          call.start(args, h.seq, h.ack, h.timeout);
          break;
        }
        case Frame.CANCEL:
          this.calls.get(h.id)?.cancel();
          break;
        case Frame.CREDIT:
          this.calls.get(h.id)?.credit(h.ack);
          break;
        case Frame.ITEM:
        case Frame.END: {
          const call = this.calls.get(h.id);
          if (call === undefined) break; // the call already finished (its handler returned early): items after it do not matter
          if (h.type === Frame.END) call.endItems();
          else call.item(decodeBody(bytes, start, end, 'ERR_RPC_PROTOCOL'));
          break;
        }
        default:
          throw new RpcError('ERR_RPC_PROTOCOL', `Unknown frame type ${h.type}`);
      }
    } catch (err) {
      void this.refuse(err instanceof RpcError ? err : new RpcError('ERR_RPC_PROTOCOL', String((err as Error).message)));
      return false;
    }
    return this.active < this.server.cfg.maxConcurrent;
  }

  #onHello(body: unknown): void {
    const svc = this.server.cfg.service;
    const b = body as { s?: unknown; v?: unknown; c?: unknown; p?: unknown } | undefined;
    if (
      b === null ||
      typeof b !== 'object' ||
      typeof b.s !== 'string' ||
      typeof b.v !== 'number' ||
      !Array.isArray(b.p) ||
      b.p.length > 65_535
    ) {
      throw new RpcError('ERR_RPC_PROTOCOL', 'Malformed hello');
    }
    if (b.s !== svc.name) {
      void this.refuse(new RpcError('ERR_RPC_PROGRAM_UNAVAILABLE', `This server serves '${svc.name}', not '${b.s}'`));
      return;
    }
    if (b.v !== svc.version) {
      void this.refuse(
        new RpcError('ERR_RPC_VERSION_MISMATCH', `'${svc.name}' version ${b.v} is not served (versions ${svc.version}..${svc.version})`, {
          low: svc.version,
          high: svc.version,
        }),
      );
      return;
    }
    if (b.c !== undefined && b.c !== null) {
      if (!(b.c instanceof Uint8Array) || b.c.length !== 16) throw new RpcError('ERR_RPC_PROTOCOL', 'Malformed client id');
      this.clientId = Buffer.from(b.c.buffer, b.c.byteOffset, 16).toString('hex');
    }
    this.procs = b.p.map((n) => (typeof n === 'string' ? svc.byName.get(n) : undefined));
    this.#hello = true;
    this.out.push(encodeFrame(Frame.WELCOME, 0, 0, 0, 0, 0, { v: [svc.version], w: this.server.cfg.window }));
  }
}

/**
 * Serves `service` with `handlers` on a listener (any transport), or on a
 * new one at `address` (`unix:`, `shm:`, `tcp:`, `tls:`, `name:`: see
 * `listen`). Each connection's calls run concurrently; see docs/rpc.md for
 * the wire, at-most-once, deadlines and errors.
 *
 * @example
 * const server = await serve('unix:/run/kv.sock', KvStore, {
 *   get: ({ key }, ctx) => store.get(key) ?? null,
 *   async *watch({ prefix }, ctx) { for await (const k of changes(prefix, ctx.signal)) yield k; },
 *   async load(items) { let n = 0; for await (const { key, value } of items) { store.set(key, value); n++; } return n; },
 * }, { allowUids: [process.getuid()] });
 */
export async function serve<S extends Service>(
  listenerOrAddress: Listener<Uint8Array> | string,
  service: S,
  handlers: Handlers<S>,
  options?: ServeOptions,
): Promise<RpcServer> {
  validateObject(service, 'service');
  const hs = validateObject(handlers, 'handlers') as Record<string, (...args: never[]) => unknown>;
  for (const p of service.compiled) {
    if (validateFunction(hs[p.name], `handlers.${p.name}`) === undefined) throwMissing(p.name);
  }
  const opts = validateOptions(options);
  const allow =
    opts.allowUids === undefined
      ? undefined
      : new Set((opts.allowUids as unknown[]).map((u, i) => validateInteger(u, `options.allowUids[${i}]`, 0, 0xffff_ffff)));
  const cfg: ServerConfig = {
    service,
    handlers: hs,
    allowUids: allow,
    authorize: validateFunction(opts.authorize, 'options.authorize'),
    maxConcurrent: opts.maxConcurrent === undefined ? 1024 : validateInteger(opts.maxConcurrent, 'options.maxConcurrent', 1, 1 << 20),
    window: opts.streamWindow === undefined ? 32 : validateInteger(opts.streamWindow, 'options.streamWindow', 1, 1 << 16),
    deadlines: new Deadlines(),
    onError: validateFunction(opts.onError, 'options.onError'),
  };
  const cacheOpts = (opts.replyCache ?? {}) as ReplyCacheOptions;
  const cache = new ReplyCache(cacheOpts);
  if (cacheOpts.persistPath !== undefined) await cache.load(cacheOpts.persistPath);
  let listener: Listener<Uint8Array>;
  try {
    listener =
      typeof listenerOrAddress === 'string'
        ? await listen<Uint8Array>(listenerOrAddress, (opts.listen ?? {}) as AddressOptions<Uint8Array>)
        : listenerOrAddress;
  } catch (err) {
    await cache.close(); // its file and sweeper
    throw err;
  }
  return new RpcServer(listener, cfg, cache);
}

function throwMissing(name: string): never {
  throw new TypeError(`The "handlers.${name}" handler is missing`);
}

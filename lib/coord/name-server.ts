/**
 * The name service across machines: a {@link NameServer} answers, over a TCP
 * channel, lookups in its machine's registry (./names.ts), and registers
 * names for remote clients for as long as their connection lives. A
 * {@link NameClient} talks to it.
 *
 * A remote registration is an ordinary local entry held by the server
 * process on the client's behalf (its `remote` field says for whom), so
 * local lookups on the server's machine see it too, and it goes when the
 * client's connection ends: at once when the client process dies (its
 * kernel closes the socket), within the keep-alive bound when its machine or
 * the network goes silent (`tcpKeepAlive(keepAliveMs).boundMs`: 40 s by
 * default), and with the server process itself. See docs/names.md.
 * @module
 */
import { codecs, connectTcp, TcpServer, type TcpDuplex } from '../channels/index.js';
import { closedError, NameError, timeoutError, type NameErrorCode } from '../errors.js';
import {
  validateAbortSignal,
  validateBoolean,
  validateFunction,
  validateInteger,
  validateOptions,
  validateString,
  validateTimeout,
} from '../internal/validators.js';
import type { TcpAddress } from '../tcp.js';
import { TIMER_MAX_MS } from '../internal/waiting.js';
import {
  listNames,
  lookupName,
  registerNameFor,
  validateServiceAddress,
  validateServiceName,
  type NameEntry,
  type NameRegistration,
} from './names.js';

/** The largest request a server takes, in bytes: a name and an address fit many times over. */
const REQUEST_MAX_BYTES = 8 * 1024;
/** The largest reply a client takes (a listing of many names). */
const REPLY_MAX_BYTES = 16 * 1024 * 1024;
/** The most entries a listing returns. */
const LIST_MAX = 4096;
/** Default {@link NameRequestOptions.timeoutMs}. */
export const NAME_REQUEST_TIMEOUT_MS = 30_000;

type Request =
  | { id: number; op: 'lookup'; name: string }
  | { id: number; op: 'list' }
  | { id: number; op: 'register'; name: string; address: string }
  | { id: number; op: 'unregister'; name: string };

type Reply =
  { id: number; ok: true; address?: string; entries?: NameEntry[] } | { id: number; ok: false; code: NameErrorCode; message: string };

/** Options of {@link NameServer.listen}. */
export interface NameServerOptions {
  /** Default `'127.0.0.1'`: only this machine. Use `'::'` or an interface's address to serve others. */
  host?: string;
  /** Default 0: the kernel picks one (see {@link NameServer.port}). */
  port?: number;
  /** Refuse registrations from clients (lookups and listings only). Default `false`. */
  readOnly?: boolean;
  /** Names one connection may hold at a time. Default 64. */
  maxNamesPerClient?: number;
  /** Connections served at once; more are closed at once. Default 256. */
  maxClients?: number;
  /** The dead-client bound: see `tcpKeepAlive`. Default 30 000 (a silent client's names go within 40 s). */
  keepAliveMs?: number;
  /** Called with each client's address: `false` refuses it. */
  verifyPeer?: (peer: TcpAddress) => boolean;
}

/**
 * A TCP server for the name service of this machine.
 *
 * @example
 * await using server = await NameServer.listen({ host: '::', port: 7070 });
 * // on another machine: await resolveName('name://thathost:7070/kvstore')
 */
export class NameServer implements AsyncDisposable {
  /** `tcp://address:port`, where it listens. */
  readonly url: string;
  readonly port: number;
  readonly #server: TcpServer<unknown>;
  readonly #conns = new Set<TcpDuplex<unknown>>();
  readonly #done: Promise<void>;
  readonly #readOnly: boolean;
  readonly #maxNames: number;
  readonly #maxClients: number;

  private constructor(server: TcpServer<unknown>, readOnly: boolean, maxNames: number, maxClients: number) {
    this.#server = server;
    this.port = server.port;
    this.url = `tcp://${server.family === 6 ? `[${server.address}]` : server.address}:${server.port}`;
    this.#readOnly = readOnly;
    this.#maxNames = maxNames;
    this.#maxClients = maxClients;
    this.#done = this.#acceptLoop();
  }

  /** Listens. Throws what `TcpServer.listen` throws (`EADDRINUSE`, ...). */
  static async listen(options?: NameServerOptions): Promise<NameServer> {
    const opts = validateOptions(options);
    const readOnly = opts.readOnly === undefined ? false : validateBoolean(opts.readOnly, 'options.readOnly');
    const maxNames =
      opts.maxNamesPerClient === undefined ? 64 : validateInteger(opts.maxNamesPerClient, 'options.maxNamesPerClient', 0, 65536);
    const maxClients = opts.maxClients === undefined ? 256 : validateInteger(opts.maxClients, 'options.maxClients', 1, 65536);
    const verifyPeer = validateFunction<(peer: TcpAddress) => boolean>(opts.verifyPeer, 'options.verifyPeer');
    const server = await TcpServer.listen<unknown>({
      host: opts.host as string | undefined,
      port: opts.port as number | undefined,
      keepAliveMs: opts.keepAliveMs as number | undefined,
      verifyPeer,
      codec: codecs.json,
      maxMessageSize: REQUEST_MAX_BYTES,
    });
    return new NameServer(server, readOnly, maxNames, maxClients);
  }

  async #acceptLoop(): Promise<void> {
    const serving = new Set<Promise<void>>();
    try {
      for await (const conn of this.#server) {
        if (this.#conns.size >= this.#maxClients) {
          void conn.close().catch(() => {});
          continue;
        }
        this.#conns.add(conn);
        const p = this.#serve(conn).finally(() => {
          this.#conns.delete(conn);
          serving.delete(p);
        });
        serving.add(p);
      }
    } catch {
      // the listener failed: close() reports nothing more
    }
    await Promise.allSettled([...serving]);
  }

  async #serve(conn: TcpDuplex<unknown>): Promise<void> {
    const held = new Map<string, NameRegistration>();
    const remote = `${conn.peer.family === 6 ? `[${conn.peer.address}]` : conn.peer.address}:${conn.peer.port}`;
    try {
      for (;;) {
        const req = await conn.receiver.receive();
        if (req === undefined) break;
        await conn.sender.send(this.#answer(req, held, remote));
      }
    } catch {
      // the client went away (peer gone, a bad frame): its names go with it
    } finally {
      for (const reg of held.values()) reg.unregister();
      held.clear();
      await conn.close().catch(() => {});
    }
  }

  #answer(raw: unknown, held: Map<string, NameRegistration>, remote: string): Reply {
    const req = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    const id = Number.isSafeInteger(req.id) ? (req.id as number) : 0;
    try {
      switch (req.op) {
        case 'lookup':
          return { id, ok: true, address: lookupName(validateServiceName(req.name)) };
        case 'list':
          return { id, ok: true, entries: listNames().slice(0, LIST_MAX) };
        case 'register': {
          if (this.#readOnly) return refuse(id, 'this name server is read-only');
          if (held.size >= this.#maxNames) return refuse(id, `a client may hold at most ${this.#maxNames} names`);
          const name = validateServiceName(req.name);
          const reg = registerNameFor(name, validateServiceAddress(req.address), { remote });
          held.set(name, reg);
          return { id, ok: true, address: reg.address };
        }
        case 'unregister': {
          const name = validateServiceName(req.name);
          held.get(name)?.unregister();
          held.delete(name);
          return { id, ok: true };
        }
        default:
          return refuse(id, `unknown request '${String(req.op)}'`);
      }
    } catch (err) {
      if (err instanceof NameError) return { id, ok: false, code: err.code, message: err.message };
      return refuse(id, err instanceof Error ? err.message : String(err));
    }
  }

  /** Stops listening, ends every client's connection and drops their names. Idempotent. */
  async close(): Promise<void> {
    this.#server.close();
    for (const conn of this.#conns) void conn.close().catch(() => {});
    await this.#done;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function refuse(id: number, message: string): Reply {
  return { id, ok: false, code: 'ERR_NAME_SERVER', message };
}

/** Options of one {@link NameClient} request. */
export interface NameRequestOptions {
  /** Give up after this long (`ETIMEDOUT`). Default {@link NAME_REQUEST_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** Options of {@link NameClient.connect}. */
export interface NameClientOptions extends NameRequestOptions {
  /** The dead-server bound (see `tcpKeepAlive`). Default 30 000. */
  keepAliveMs?: number;
  signal?: AbortSignal;
}

/** Where a name server listens: `tcp://host:port` (also `name://host:port`), or `{ host, port }`. */
export type NameServerAddress = string | { host: string; port: number };

/** Parses a server address. @internal */
export function parseServerAddress(server: unknown): { host: string; port: number } {
  if (typeof server === 'object' && server !== null) {
    const s = server as Record<string, unknown>;
    return { host: validateString(s.host, 'server.host'), port: validateInteger(s.port, 'server.port', 1, 65535) };
  }
  const text = validateString(server, 'server');
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'tcp:' && url.protocol !== 'name:') || !url.hostname || !url.port) {
    throw new RangeError(`The "server" argument must be 'tcp://host:port'. Received '${text}'`);
  }
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port) };
}

interface Pending {
  resolve: (r: Reply) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
}

/**
 * A connection to a {@link NameServer}. Names it registers live as long as
 * this connection: `close()` (or its process dying) removes them.
 */
export class NameClient implements AsyncDisposable {
  readonly #conn: TcpDuplex<unknown>;
  readonly #pending = new Map<number, Pending>();
  readonly #timeoutMs: number;
  #next = 1;
  #failure: unknown;
  #closed = false;

  private constructor(conn: TcpDuplex<unknown>, timeoutMs: number) {
    this.#conn = conn;
    this.#timeoutMs = timeoutMs;
    void this.#readLoop();
  }

  /** Connects to a name server. Throws what `connectTcp` throws (`ECONNREFUSED`, `ETIMEDOUT`, ...). */
  static async connect(server: NameServerAddress, options?: NameClientOptions): Promise<NameClient> {
    const { host, port } = parseServerAddress(server);
    const opts = validateOptions(options);
    const timeoutMs = opts.timeoutMs === undefined ? NAME_REQUEST_TIMEOUT_MS : validateTimeout(opts.timeoutMs);
    const signal = validateAbortSignal(opts.signal, 'options.signal');
    const conn = await connectTcp<unknown>({
      host,
      port,
      timeoutMs,
      signal,
      keepAliveMs: opts.keepAliveMs as number | undefined,
      codec: codecs.json,
      maxMessageSize: REPLY_MAX_BYTES,
    });
    return new NameClient(conn, timeoutMs);
  }

  async #readLoop(): Promise<void> {
    let failure: unknown = new NameError('ERR_NAME_SERVER', '', 'The name server closed the connection');
    try {
      for (;;) {
        const reply = (await this.#conn.receiver.receive()) as Reply | undefined;
        if (reply === undefined) break;
        const p = typeof reply === 'object' && reply !== null ? this.#pending.get(reply.id) : undefined;
        if (!p) {
          failure = new NameError('ERR_NAME_SERVER', '', 'The name server sent a reply to no request');
          break;
        }
        this.#pending.delete(reply.id);
        clearTimeout(p.timer);
        p.resolve(reply);
      }
    } catch (err) {
      failure = new NameError('ERR_NAME_SERVER', '', 'The connection to the name server failed', { cause: err });
    }
    this.#fail(failure);
  }

  #fail(err: unknown): void {
    this.#failure ??= err;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(this.#failure);
    }
    this.#pending.clear();
    void this.#conn.close().catch(() => {});
  }

  async #request(req: Request, name: string, options?: NameRequestOptions): Promise<Reply & { ok: true }> {
    if (this.#closed) throw closedError('NameClient');
    if (this.#failure !== undefined) throw this.#failure;
    const opts = validateOptions(options);
    const timeoutMs = opts.timeoutMs === undefined ? this.#timeoutMs : validateTimeout(opts.timeoutMs);
    const reply = await new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.#pending.delete(req.id);
          reject(timeoutError('name-request', undefined, `the name server did not answer ${req.op} within ${timeoutMs} ms`));
        },
        Math.min(timeoutMs, TIMER_MAX_MS),
      );
      this.#pending.set(req.id, { resolve, reject, timer });
      this.#conn.sender.send(req).catch((err: unknown) => this.#fail(err));
    });
    if (reply.ok) return reply;
    const code: NameErrorCode = reply.code === 'ERR_NAME_NOT_FOUND' || reply.code === 'ERR_NAME_TAKEN' ? reply.code : 'ERR_NAME_SERVER';
    throw new NameError(code, name, `${typeof reply.message === 'string' ? reply.message.slice(0, 1024) : 'refused'} (name server)`);
  }

  /** The address the server's machine has for `name`; `ERR_NAME_NOT_FOUND` when none. */
  async lookup(name: string, options?: NameRequestOptions): Promise<string> {
    validateServiceName(name);
    const reply = await this.#request({ id: this.#next++, op: 'lookup', name }, name, options);
    if (typeof reply.address !== 'string') throw new NameError('ERR_NAME_SERVER', name, 'The name server sent no address');
    return reply.address;
  }

  /** Every live name on the server's machine. */
  async list(options?: NameRequestOptions): Promise<NameEntry[]> {
    const reply = await this.#request({ id: this.#next++, op: 'list' }, '', options);
    if (!Array.isArray(reply.entries)) throw new NameError('ERR_NAME_SERVER', '', 'The name server sent no listing');
    const out: NameEntry[] = [];
    for (const raw of reply.entries.slice(0, LIST_MAX) as unknown[]) {
      const e = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
      if (typeof e.name !== 'string' || typeof e.address !== 'string' || !Number.isSafeInteger(e.pid)) continue;
      const entry: NameEntry = { name: e.name, address: e.address, pid: e.pid as number, since: typeof e.since === 'number' ? e.since : 0 };
      if (typeof e.remote === 'string') entry.remote = e.remote;
      out.push(entry);
    }
    return out;
  }

  /** Registers `name` -> `address` on the server's machine, while this connection lives. `ERR_NAME_TAKEN` when held. */
  async register(name: string, address: string, options?: NameRequestOptions): Promise<void> {
    validateServiceName(name);
    validateServiceAddress(address);
    await this.#request({ id: this.#next++, op: 'register', name, address }, name, options);
  }

  /** Removes a name this client registered (nothing when it holds no such name). */
  async unregister(name: string, options?: NameRequestOptions): Promise<void> {
    validateServiceName(name);
    await this.#request({ id: this.#next++, op: 'unregister', name }, name, options);
  }

  /** Closes the connection: the server drops this client's names. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#fail(closedError('NameClient'));
    await this.#conn.close().catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * The client side of a service: {@link connectService} returns a typed stub
 * whose methods are the service's procedures.
 * @module
 */
import { randomBytes } from 'node:crypto';

import { connect, type AddressOptions, type Duplex } from '../../channels/index.js';
import { NameError, RpcError } from '../../errors.js';
import { validateInteger, validateObject, validateOptions } from '../../internal/validators.js';
import { ClientCall, type CallKind } from './client-call.js';
import { Outbox, readFrames } from './connection.js';
import { Deadlines } from './deadlines.js';
import type { RpcCallOptions, Service, Stub } from './service.js';
import { decodeBody, encodeFrame, errorFromBody, Frame, readHeader, type Header } from './wire.js';
import { TIMER_MAX_MS } from '../../internal/waiting.js';

/** Options of {@link connectService}. */
export interface ConnectServiceOptions {
  /** Deduplicate unary calls (client id + sequence number; the server's reply cache). Default true. */
  atMostOnce?: boolean;
  /** Retries after a lost connection (only with at-most-once, or for idempotent procedures; never with a duplex given). */
  retry?: { attempts?: number; maxMs?: number; baseMs?: number };
  /** Time for connecting and the hello. Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Items of a server stream this client buffers before granting more credit. Default 32. */
  streamWindow?: number;
  /** Options of `connect(address)` (TLS keys, ...). */
  connect?: AddressOptions<Uint8Array>;
}

/** A connected client: the service's typed methods, plus these. */
export interface ClientControl {
  /** Closes the connection; pending calls fail with `ERR_RPC_SERVER_GONE`. */
  close(): Promise<void>;
  /** This client's at-most-once id (32 hex digits), or `undefined` without at-most-once. */
  readonly clientId: string | undefined;
  /** The channel's peer (the server's credentials or certificate), when it has one. */
  readonly peer: unknown;
  /** Calls in flight. */
  readonly pending: number;
}

/** What {@link connectService} resolves to. */
export type ServiceClient<S extends Service> = Stub<S> & ClientControl;

/** @internal The machinery behind a stub. */
export class RpcClient {
  readonly service: Service;
  readonly deadlines = new Deadlines();
  readonly calls = new Map<number, ClientCall>();
  readonly window: number;
  readonly #address: string | undefined;
  readonly #opts: ConnectServiceOptions;
  readonly #idBytes: Buffer | undefined;
  readonly clientId: string | undefined;
  #duplex!: Duplex<Uint8Array>;
  out!: Outbox;
  #nextId = 1;
  #seq = 0;
  #ack = 0;
  readonly #settled = new Set<number>();
  #closed = false;
  #connected = false;
  #reconnecting: Promise<void> | undefined;
  peer: unknown;
  serverWindow = 32;

  constructor(service: Service, address: string | undefined, opts: ConnectServiceOptions) {
    this.service = service;
    this.#address = address;
    this.#opts = opts;
    this.window = opts.streamWindow ?? 32;
    if (opts.atMostOnce !== false) {
      this.#idBytes = randomBytes(16);
      this.clientId = this.#idBytes.toString('hex');
    }
  }

  /** Connects (or adopts `duplex`) and says hello. */
  async open(duplex?: Duplex<Uint8Array>): Promise<void> {
    let d: Duplex<Uint8Array>;
    try {
      d =
        duplex ?? (await connect<Uint8Array>(this.#address!, { timeoutMs: this.#opts.connectTimeoutMs ?? 10_000, ...this.#opts.connect }));
    } catch (err) {
      if (err instanceof NameError && err.code === 'ERR_NAME_NOT_FOUND') {
        throw new RpcError('ERR_RPC_PROGRAM_UNAVAILABLE', `No binding for '${this.#address}': ${err.message}`, { cause: err });
      }
      throw err;
    }
    try {
      await this.#hello(d);
    } catch (err) {
      await d.close().catch(() => undefined);
      throw err;
    }
  }

  async #hello(d: Duplex<Uint8Array>): Promise<void> {
    const svc = this.service;
    const out = new Outbox(d, () => undefined);
    out.push(
      encodeFrame(Frame.HELLO, 0, 0, 0, 0, 0, {
        s: svc.name,
        v: svc.version,
        c: this.#idBytes ?? null,
        p: svc.compiled.map((p) => p.name),
      }),
    );
    const first = await d.receiver.receive({ timeoutMs: this.#opts.connectTimeoutMs ?? 10_000 }).catch((err: unknown) => {
      throw new RpcError('ERR_RPC_SERVER_GONE', `No hello reply: ${(err as Error).message}`, { cause: err });
    });
    if (first === undefined) throw new RpcError('ERR_RPC_SERVER_GONE', 'The server closed the connection at the hello');
    const h: Header = { type: 0, proc: 0, id: 0, seq: 0, ack: 0, timeout: 0 };
    if (!readHeader(first, 0, first.length, h)) throw new RpcError('ERR_RPC_PROTOCOL', 'A short hello reply');
    const body = decodeBody(first, 0, first.length, 'ERR_RPC_PROTOCOL');
    if (h.type === Frame.ERROR) throw errorFromBody(body, undefined);
    if (h.type !== Frame.WELCOME) throw new RpcError('ERR_RPC_PROTOCOL', `Expected a welcome, got frame type ${h.type}`);
    const w = (body as { w?: unknown } | undefined)?.w;
    this.serverWindow = typeof w === 'number' && w >= 1 && w <= 1 << 16 ? w : 1;
    // Closed while this (re)connection was under way: it must not come alive (open() closes `d`).
    if (this.#closed) throw new RpcError('ERR_RPC_SERVER_GONE', 'The client was closed');
    this.#duplex = d;
    this.out = new Outbox(d, () => void d.close().catch(() => undefined));
    this.peer = (d as { peer?: unknown }).peer;
    this.#connected = true;
    void this.#read(d);
  }

  async #read(d: Duplex<Uint8Array>): Promise<void> {
    await readFrames(
      d,
      (h, bytes, start, end) => {
        const call = this.calls.get(h.id);
        if (h.id === 0 && h.type === Frame.ERROR) {
          let body: unknown;
          try {
            body = decodeBody(bytes, start, end, 'ERR_RPC_PROTOCOL');
          } catch {
            body = undefined;
          }
          this.#lost(errorFromBody(body, undefined));
          return false;
        }
        if (call === undefined) return true; // a reply to a call given up (cancelled, timed out): nothing waits for it
        call.frame(h, bytes, start, end);
        return true;
      },
      () => void d.close().catch(() => undefined),
      () => undefined,
    );
    if (this.#duplex === d) this.#lost(new RpcError('ERR_RPC_SERVER_GONE', 'The connection to the server ended'));
  }

  /** The connection is gone: retry what may be retried, fail the rest. */
  #lost(err: RpcError): void {
    if (!this.#connected) return;
    this.#connected = false;
    this.out.kill();
    void this.#duplex.close().catch(() => undefined);
    const retry = this.#opts.retry;
    const retryable: ClientCall[] = [];
    for (const call of [...this.calls.values()]) {
      if (
        !this.#closed &&
        err.code === 'ERR_RPC_SERVER_GONE' &&
        retry !== undefined &&
        this.#address !== undefined &&
        call.retryable(this.clientId !== undefined)
      ) {
        retryable.push(call);
      } else call.settleError(err);
    }
    if (retryable.length > 0) this.#reconnecting = this.#reconnect(retryable);
  }

  async #reconnect(calls: ClientCall[]): Promise<void> {
    const r = this.#opts.retry!;
    const attempts = r.attempts ?? 3;
    const until = performance.now() + (r.maxMs ?? 5000);
    let last: unknown;
    for (let n = 0; n < attempts && performance.now() < until && !this.#closed; n++) {
      await new Promise((res) =>
        setTimeout(res, Math.min((r.baseMs ?? 50) * 2 ** n, Math.max(0, until - performance.now()), TIMER_MAX_MS)),
      );
      try {
        await this.open();
        // The calls retried, and the unary calls started while reconnecting (never sent: safe to send).
        for (const call of [...this.calls.values()]) call.resend(this.#nextId++);
        this.#reconnecting = undefined;
        return;
      } catch (err) {
        last = err;
      }
    }
    this.#reconnecting = undefined;
    const err = new RpcError(
      'ERR_RPC_SERVER_GONE',
      `The server is gone (${attempts} reconnection attempts): ${(last as Error | undefined)?.message ?? 'closed'}`,
    );
    for (const call of [...calls, ...this.calls.values()]) call.settleError(err);
  }

  /** Starts a call. */
  start(
    kind: CallKind,
    procIndex: number,
    args: unknown,
    options: RpcCallOptions | undefined,
    items?: AsyncIterable<unknown> | Iterable<unknown>,
  ): ClientCall {
    const proc = this.service.compiled[procIndex]!;
    const seq = kind === 'unary' && this.clientId !== undefined ? ++this.#seq : 0;
    let call: ClientCall;
    try {
      call = new ClientCall(this, kind, proc, this.#nextId++, seq, options);
    } catch (err) {
      this.#acked(seq); // a bad option: the seq taken is over (never sent), or the ack would stop advancing
      throw err;
    }
    if (this.#closed) {
      call.settleError(new RpcError('ERR_RPC_SERVER_GONE', 'The client is closed', { procedure: proc.name }));
      return call;
    }
    if (this.#nextId > 0xffff_fff0) this.#nextId = 1;
    const ack = kind === 'server' ? this.window : this.#ack;
    call.encode(args, ack);
    if (call.settled) return call;
    this.calls.set(call.id, call);
    if (this.#connected) call.send();
    else if (this.#reconnecting === undefined || kind !== 'unary') {
      call.settleError(new RpcError('ERR_RPC_SERVER_GONE', 'Not connected', { procedure: proc.name }));
    } // else: a unary call, sent when the reconnection succeeds (it was never sent, so that is safe)
    if (items !== undefined && !call.settled) void call.pump(items);
    return call;
  }

  /** A call is over: its slot goes; its seq counts towards the ack. */
  done(call: ClientCall): void {
    if (this.calls.get(call.id) === call) this.calls.delete(call.id);
    this.deadlines.remove(call);
    this.#acked(call.seq);
  }

  /** Sequence number `seq` is over: it counts towards the ack. */
  #acked(seq: number): void {
    if (seq === 0) return;
    if (seq === this.#ack + 1) {
      this.#ack = seq;
      while (this.#settled.delete(this.#ack + 1)) this.#ack++;
    } else this.#settled.add(seq);
  }

  get connected(): boolean {
    return this.#connected;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#connected) {
      await this.out.drained();
      this.#lost(new RpcError('ERR_RPC_SERVER_GONE', 'The client was closed'));
    }
    // Calls still pending (waiting for a reconnection to resend them) fail now, not when the reconnection gives up.
    const err = new RpcError('ERR_RPC_SERVER_GONE', 'The client was closed');
    for (const call of [...this.calls.values()]) call.settleError(err);
  }
}

/**
 * Connects to `service` at `address` (any address `connect` takes,
 * `name:kvstore` included) or over a connected `duplex`, and returns its
 * typed stub. Rejects with `ERR_RPC_PROGRAM_UNAVAILABLE` or
 * `ERR_RPC_VERSION_MISMATCH` (its `low`/`high` say what is served) when the
 * server does not serve this service and version (or a `name:` address is not
 * registered), `ERR_RPC_UNAUTHORIZED`
 * when it refuses this client, `ERR_RPC_SERVER_GONE` when it does not answer
 * the hello, and with the transport's connection errors (`ENOENT`, `ECONNREFUSED`, ...).
 *
 * @example
 * const kv = await connectService('shm:/kv', KvStore);
 * await kv.get({ key: 'a' }, { timeoutMs: 1000 });
 * for await (const key of kv.watch({ prefix: '' })) console.log(key);
 * await kv.close();
 */
export async function connectService<S extends Service>(
  addressOrDuplex: string | Duplex<Uint8Array>,
  service: S,
  options?: ConnectServiceOptions,
): Promise<ServiceClient<S>> {
  validateObject(service, 'service');
  const opts = validateOptions(options) as ConnectServiceOptions;
  if (opts.streamWindow !== undefined) validateInteger(opts.streamWindow, 'options.streamWindow', 1, 1 << 16);
  const address = typeof addressOrDuplex === 'string' ? addressOrDuplex : undefined;
  const client = new RpcClient(service, address, opts);
  await client.open(
    typeof addressOrDuplex === 'string' ? undefined : (validateObject(addressOrDuplex, 'duplex') as unknown as Duplex<Uint8Array>),
  );
  const stub: Record<string | symbol, unknown> = {
    close: () => client.close(),
    [Symbol.asyncDispose]: () => client.close(),
  };
  Object.defineProperties(stub, {
    clientId: { get: () => client.clientId },
    peer: { get: () => client.peer },
    pending: { get: () => client.calls.size },
  });
  for (const p of service.compiled) {
    const i = p.index;
    if (p.kind === 'unary') stub[p.name] = (args: unknown, o?: RpcCallOptions) => client.start('unary', i, args, o).promise;
    else if (p.kind === 'server') stub[p.name] = (args: unknown, o?: RpcCallOptions) => client.start('server', i, args, o).stream();
    else
      stub[p.name] = (items: AsyncIterable<unknown>, args?: unknown, o?: RpcCallOptions) =>
        client.start('client', i, args, o, items).promise;
  }
  return stub as unknown as ServiceClient<S>;
}

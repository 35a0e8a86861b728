/**
 * Ports, as the course defines them: a bounded, bidirectional, buffered
 * FIFO queue referenced by a number, created (and owned) by one process,
 * reachable by any process that knows the number. The owner receives every
 * client's messages from one FIFO queue and may reply to each; clients send
 * and receive the replies. A {@link PortResolver} maps the number to a
 * transport: by default a UNIX socket in the runtime directory
 * (`<runtime>/ports/<n>.sock`, 0700 directory, 0600 socket).
 * @module
 */
import { join } from 'node:path';

import { UnixServer, connectUnix, validateCodec, type CallOptions, type Codec, type Duplex, type Listener } from '../channels/index.js';
import { timeoutError } from '../errors.js';
import { runtimeDir } from '../internal/runtime-dir.js';
import { validateAbortSignal, validateInteger, validateObject, validateOptions, validateTimeout } from '../internal/validators.js';
import { deadlineAfter, waitInList } from '../internal/waiting.js';
import { Gather } from './gather.js';

/** The highest port number. */
export const MAX_PORT = 65535;

/** Maps a port number to a transport: where its owner listens and how a client connects. */
export interface PortResolver {
  listen(port: number): Pick<Listener, 'accept' | 'close'> | Promise<Pick<Listener, 'accept' | 'close'>>;
  connect(port: number): Promise<Duplex<Uint8Array>>;
}

/** The socket path of port `port` with the default resolver: `<runtimeDir>/ports/<port>.sock`. */
export function portPath(port: number): string {
  return join(runtimeDir('ports'), `${validateInteger(port, 'port', 1, MAX_PORT)}.sock`);
}

/** The default resolver: a UNIX socket at {@link portPath} (this machine only). */
export const unixPortResolver: PortResolver = {
  listen: (port) => UnixServer.listen(portPath(port)),
  connect: (port) => connectUnix(portPath(port)),
};

/** Options of {@link openPort} and {@link connectPort}. */
export interface PortOptions<T> {
  /** How messages become bytes. Default `codecs.bytes`. */
  codec?: Codec<T>;
  /** Number to transport. Default {@link unixPortResolver}. */
  resolver?: PortResolver;
}

/** Options of {@link openPort}. */
export interface OpenPortOptions<T> extends PortOptions<T> {
  /** Messages the port buffers before it stops reading clients (their sends wait). Default 1024. */
  capacity?: number;
}

/** One message taken from a port. */
export interface PortMessage<T> {
  readonly message: T;
  /** Which connection sent it (numbered from 1 by this port). */
  readonly client: number;
  /** Sends `reply` to that client; resolves once in its channel (`ERR_CHANNEL_PEER_GONE` if it left). */
  reply(reply: T, options?: CallOptions): Promise<void>;
}

const MAGIC = new Uint8Array([0x50, 0x50, 0x52, 0x54, 1]); // 'PPRT', version 1
const HELLO_MS = 5000;

interface Client {
  readonly id: number;
  readonly d: Duplex<Uint8Array>;
}

/** A port owned by this process. Made by {@link openPort}. */
export class Port<T = Uint8Array> {
  /** This port's number. */
  readonly number: number;
  readonly #listener: Pick<Listener, 'accept' | 'close'>;
  readonly #codec: Codec<T>;
  readonly #gather: Gather<Client>;
  readonly #clients = new Set<Client>();
  readonly #waiters: (() => void)[] = [];
  readonly #stop = new AbortController();
  #nextClient = 1;
  #closed = false;

  /** @internal use {@link openPort} */
  constructor(number: number, listener: Pick<Listener, 'accept' | 'close'>, codec: Codec<T>, capacity: number) {
    this.number = number;
    this.#listener = listener;
    this.#codec = codec;
    this.#gather = new Gather<Client>(
      capacity,
      () => this.#wake(),
      (c) => {
        this.#clients.delete(c);
        c.d.close().catch(() => undefined);
      },
    );
    void this.#accept();
  }

  /** Messages buffered, not yet received (at most the capacity). */
  get queued(): number {
    return this.#gather.length;
  }

  /** Clients connected now. */
  get clients(): number {
    return this.#clients.size;
  }

  /**
   * The oldest message of any client (FIFO across clients, in arrival
   * order). `undefined` once the port closed. Abortable; nothing is
   * consumed by an aborted or timed-out receive.
   */
  async receive(options?: CallOptions): Promise<PortMessage<T> | undefined> {
    const opts = validateOptions(options);
    const signal = validateAbortSignal(opts.signal, 'options.signal');
    const deadline = deadlineAfter(validateTimeout(opts.timeoutMs, 'options.timeoutMs'));
    for (;;) {
      if (this.#closed) return undefined;
      const item = this.#gather.shift();
      if (item !== undefined) return this.#message(item.source, item.bytes);
      await waitInList<void, () => void>(
        this.#waiters,
        (resolve) => () => resolve(),
        signal,
        deadline,
        () => timeoutError('port.receive', undefined, `no message arrived on port ${this.number} in time`),
      );
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<PortMessage<T>> {
    for (;;) {
      const m = await this.receive();
      if (m === undefined) return;
      yield m;
    }
  }

  /**
   * Stops listening (the number is free again), closes every client (their
   * receives end, their sends fail with `ERR_CHANNEL_PEER_GONE`); messages
   * not yet received are dropped, and their number is returned. Idempotent.
   */
  async close(): Promise<number> {
    if (this.#closed) return 0;
    this.#closed = true;
    this.#stop.abort();
    this.#listener.close();
    const dropped = this.#gather.close().length;
    this.#wake();
    await Promise.allSettled([...this.#clients].map((c) => c.d.close()));
    this.#clients.clear();
    return dropped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #message(c: Client, bytes: Uint8Array): PortMessage<T> {
    return {
      message: this.#codec.decode(bytes),
      client: c.id,
      reply: (reply, options) => c.d.sender.send(this.#codec.encode(reply), options),
    };
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  async #accept(): Promise<void> {
    while (!this.#closed) {
      let d: Duplex<Uint8Array>;
      try {
        d = await this.#listener.accept({ signal: this.#stop.signal });
      } catch {
        return;
      }
      void this.#admit(d);
    }
  }

  async #admit(d: Duplex<Uint8Array>): Promise<void> {
    let ok = false;
    try {
      const hello = await d.receiver.receive({ timeoutMs: HELLO_MS, signal: this.#stop.signal });
      ok = hello !== undefined && hello.byteLength === MAGIC.byteLength && MAGIC.every((b, i) => hello[i] === b);
    } catch {
      // no hello in time, or closing
    }
    if (!ok || this.#closed) {
      await d.close().catch(() => undefined);
      return;
    }
    const c: Client = { id: this.#nextClient++, d };
    this.#clients.add(c);
    this.#gather.add(d.receiver, c);
  }
}

/** A connection to a port that another process (or this one) owns. Made by {@link connectPort}. */
export class PortClient<T = Uint8Array> implements AsyncIterable<T> {
  readonly number: number;
  readonly #d: Duplex<Uint8Array>;
  readonly #codec: Codec<T>;

  /** @internal use {@link connectPort} */
  constructor(number: number, d: Duplex<Uint8Array>, codec: Codec<T>) {
    this.number = number;
    this.#d = d;
    this.#codec = codec;
  }

  /** Sends to the port; waits while the port's buffer is full. `ERR_CHANNEL_PEER_GONE` once the owner closed or died. */
  send(message: T, options?: CallOptions): Promise<void> {
    return this.#d.sender.send(this.#codec.encode(message), options);
  }

  /** The next reply from the port's owner; `undefined` once the port closed. */
  async receive(options?: CallOptions): Promise<T | undefined> {
    const b = await this.#d.receiver.receive(options);
    return b === undefined ? undefined : this.#codec.decode(b);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const m = await this.receive();
      if (m === undefined) return;
      yield m;
    }
  }

  /** Sends what is queued and disconnects; the port keeps every message sent before. Idempotent. */
  close(): Promise<void> {
    return this.#d.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function resolverOf(value: unknown): PortResolver {
  if (value === undefined) return unixPortResolver;
  const r = validateObject(value, 'options.resolver');
  if (typeof r.listen !== 'function' || typeof r.connect !== 'function') {
    throw new TypeError('The "options.resolver" option must have listen() and connect()');
  }
  return value as PortResolver;
}

/**
 * Creates port `port` (1 to 65535) owned by this process. `EADDRINUSE` when
 * a live process owns it already (a port left by a killed owner is taken over).
 */
export async function openPort<T = Uint8Array>(port: number, options?: OpenPortOptions<T>): Promise<Port<T>> {
  const n = validateInteger(port, 'port', 1, MAX_PORT);
  const opts = validateOptions(options);
  const codec = validateCodec<T>(opts.codec);
  const resolver = resolverOf(opts.resolver);
  const capacity = opts.capacity === undefined ? 1024 : validateInteger(opts.capacity, 'options.capacity', 1, 1 << 20);
  const listener = await resolver.listen(n);
  return new Port<T>(n, listener, codec, capacity);
}

/** Connects to port `port`. `ENOENT`/`ECONNREFUSED` when nobody owns it. */
export async function connectPort<T = Uint8Array>(port: number, options?: PortOptions<T>): Promise<PortClient<T>> {
  const n = validateInteger(port, 'port', 1, MAX_PORT);
  const opts = validateOptions(options);
  const codec = validateCodec<T>(opts.codec);
  const d = await resolverOf(opts.resolver).connect(n);
  try {
    await d.sender.send(MAGIC);
  } catch (err) {
    await d.close().catch(() => undefined);
    throw err;
  }
  return new PortClient<T>(n, d, codec);
}

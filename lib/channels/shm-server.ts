/**
 * A connection-oriented shared-memory listener: one `ShmServer` at a name
 * serves many clients, each over a duplex ring pair of its own.
 *
 * Rendezvous: the server listens on a UNIX socket `<name>.sock` in the
 * private runtime directory (`runtimeDir('shm')`, 0700, so only this user's
 * processes can reach it), through a {@link UnixServer}: its admission
 * (`allowUids`, `verifyPeer` on the kernel's `SO_PEERCRED`) and its stale
 * socket replacement are this server's. For each admitted client the server
 * creates a fresh ring pair `<name>.<12 random hex>` (`openShmDuplex`,
 * exclusive, 0600) and sends its name; the client attaches (which unlinks
 * the names) and answers; only then is the connection yielded. The
 * rendezvous socket is closed right after: a peer's death is seen by the
 * rings' own liveness check, within `LIVENESS_SLICE_MS`. On any
 * failure each side removes the ring names nobody alive uses; a server
 * killed mid-handshake leaves one pair, which the next `listen()` at that
 * name removes (Linux; elsewhere `removeStaleShmChannel` by name).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

import { abortError, closedError, systemError, corruptError } from '../errors.js';
import { ipcNameMaxBytes, validateIpcName } from '../internal/names.js';
import { runtimeBase, runtimeDir } from '../internal/runtime-dir.js';
import { validateAbortSignal, validateInteger, validateOptions } from '../internal/validators.js';
import { deadlineAfter } from '../internal/waiting.js';
import { MAX_SOCKET_PATH, type PeerCredentials } from '../socket.js';
import { acceptEach } from './call.js';
import { codecs, type Codec } from './codec.js';
import { openShmDuplex, removeStaleShmChannel, resolveShmOptions, type ShmChannelOptions } from './shm.js';
import type { ChannelOptions, Duplex, Listener } from './types.js';
import { connectUnix, UnixServer, type UnixDuplex, type UnixServerOptions } from './unix.js';

/** A shared-memory connection: both directions over a ring pair of its own, and the process at the other end. */
export interface ShmDuplex<Out, In = Out> extends Duplex<Out, In> {
  /**
   * The other process, as the kernel recorded it on the rendezvous socket
   * (`SO_PEERCRED`): on a server, the client that attached; on a client, the server.
   */
  readonly peer: PeerCredentials;
}

/** Options of {@link ShmServer.listen}. */
export interface ShmServerOptions<T> extends ChannelOptions<T>, Pick<UnixServerOptions<T>, 'allowUids' | 'verifyPeer' | 'backlog'> {
  /** Each direction's ring, in bytes: a power of two from 64 bytes to 1 GiB. Default 1 MiB. */
  capacity?: number;
  /** A client that connected must attach its rings within this long, or it is dropped. Default 10 000 ms. */
  handshakeTimeoutMs?: number;
}

/** Options of {@link connectShm}. */
export interface ConnectShmOptions<T> extends ChannelOptions<T> {
  /** Give up after this long (`ETIMEDOUT`): the connection, the server's accept and the attach. Default: no limit. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What the server says: the ring pair's name. What the client answers: attached. */
type Hello = { v: 1; ring: string } | { v: 1; attached: true };

const HELLO_MAX = 1024;
const HANDSHAKE_TIMEOUT_MS = 10_000;
const HEX = 12;
/** `.` + {@link HEX} digits + `.0`. */
const RING_SUFFIX_BYTES = HEX + 3;
const helloCodec = codecs.json as Codec<Hello>;

/** What each ring pair is made with. */
type RingOptions<T> = Pick<ShmChannelOptions<T>, 'codec' | 'capacity' | 'maxMessageSize'>;

/** The listener's name checked (the POSIX shm rules, room for its rings' suffix), and its rendezvous path. */
function rendezvous(name: unknown, argName: string): { name: string; path: () => string } {
  const n = validateIpcName(name, argName, 'shm');
  const max = ipcNameMaxBytes('shm') - RING_SUFFIX_BYTES;
  if (Buffer.byteLength(n) - 1 > max) {
    throw new RangeError(
      `The "${argName}" argument is too long for a shared-memory listener: at most ${max} bytes after the '/' (its rings add ${RING_SUFFIX_BYTES}). Received '${n}'`,
    );
  }
  const file = `${n.slice(1)}.sock`;
  const longest = Buffer.byteLength(join(runtimeBase(), 'shm', file));
  if (longest > MAX_SOCKET_PATH) {
    throw new RangeError(
      `The "${argName}" argument is too long for a shared-memory listener: its socket '${join(runtimeBase(), 'shm', file)}' would have ${longest} bytes, over ${MAX_SOCKET_PATH}. Received '${n}'`,
    );
  }
  return { name: n, path: () => join(runtimeDir('shm'), file) };
}

/** Removes what is left of a ring pair that nobody alive uses (a failed handshake). */
function removeRings(ring: string): void {
  for (const suffix of ['.0', '.1']) {
    try {
      removeStaleShmChannel(ring + suffix);
    } catch {
      // not ours to remove, or gone: nothing else to do
    }
  }
}

/**
 * Removes the ring pairs a killed server of `name` left (Linux: where
 * /dev/shm lists them), those nobody alive uses. Only names of the form
 * `<name>.<12 hex>.0|1` are looked at.
 */
function sweepRings(name: string): void {
  let entries: string[];
  try {
    entries = readdirSync('/dev/shm');
  } catch {
    return; // no listing on this system (macOS): removeStaleShmChannel by name is the way
  }
  const base = name.slice(1);
  for (const entry of entries) {
    if (entry.length !== base.length + RING_SUFFIX_BYTES || !entry.startsWith(`${base}.`)) continue;
    if (!/^\.[0-9a-f]{12}\.[01]$/.test(entry.slice(base.length))) continue;
    try {
      removeStaleShmChannel(`/${entry}`);
    } catch {
      // not ours (another user's, or unreadable): left alone
    }
  }
}

/**
 * A listener at a shared-memory name (`shm:/name`): each client that
 * {@link connectShm}s gets its own duplex ring pair, so one server serves
 * many clients over shared memory. `listen()` replaces a stale rendezvous
 * socket (one a killed server left) but never a live one (`EADDRINUSE`).
 * Reachable by processes of this user only (the runtime directory is 0700),
 * and of those only the ones `allowUids` and `verifyPeer` accept.
 *
 * Handshakes run inside `accept()`, one at a time: a client that connects and
 * never attaches holds up the next ones for `handshakeTimeoutMs` at most
 * (one that dies is dropped at once).
 *
 * @example
 * const server = ShmServer.listen('/kv', { codec: codecs.json });
 * for await (const conn of server) void serve(conn); // conn.peer.pid: the client
 */
export class ShmServer<T = Uint8Array> implements Listener<T> {
  /** The listener's shm name (`'/kv'`). */
  readonly name: string;
  readonly #rendezvous: UnixServer<Hello>;
  readonly #ring: RingOptions<T>;
  readonly #handshakeMs: number;
  /** One per handshake in progress (concurrent accept() calls each run one): close() aborts them. */
  readonly #handshakes = new Set<AbortController>();
  #closed = false;

  private constructor(name: string, rendezvous: UnixServer<Hello>, ring: RingOptions<T>, handshakeMs: number) {
    this.name = name;
    this.#rendezvous = rendezvous;
    this.#ring = ring;
    this.#handshakeMs = handshakeMs;
  }

  /**
   * Listens at `name`. Throws `EADDRINUSE` when a live server has it, `EACCES`
   * when the runtime directory is not private; a `RangeError` for a name
   * that breaks the shm rules or is too long (its rings add 15 bytes, its
   * socket path must fit 107).
   */
  static listen<T = Uint8Array>(name: string, options?: ShmServerOptions<T>): ShmServer<T> {
    const where = rendezvous(name, 'name');
    const opts = validateOptions(options);
    const { codec, capacity, maxMessageSize } = resolveShmOptions<T>({ ...opts, create: true, mode: 0o600 } as ShmChannelOptions<T>);
    const ring = { codec, capacity, maxMessageSize };
    const handshakeMs =
      opts.handshakeTimeoutMs === undefined
        ? HANDSHAKE_TIMEOUT_MS
        : validateInteger(opts.handshakeTimeoutMs, 'options.handshakeTimeoutMs', 1);
    const server = UnixServer.listen<Hello>(where.path(), {
      codec: helloCodec,
      maxMessageSize: HELLO_MAX,
      allowUids: opts.allowUids as number[] | undefined,
      verifyPeer: opts.verifyPeer as ((peer: PeerCredentials) => boolean) | undefined,
      backlog: opts.backlog as number | undefined,
    });
    sweepRings(where.name);
    return new ShmServer<T>(where.name, server, ring, handshakeMs);
  }

  /** Where clients reach it: `shm:/name`. */
  get url(): string {
    return `shm:${this.name}`;
  }

  /**
   * The next client that attached its ring pair (one `allowUids` and
   * `verifyPeer` accept), with its credentials as `peer`. Rejects with the
   * closed error after `close()`, an `AbortError` on `signal`.
   */
  async accept(options?: { signal?: AbortSignal }): Promise<ShmDuplex<T>> {
    const signal = validateAbortSignal(validateOptions(options).signal, 'options.signal');
    for (;;) {
      if (this.#closed) throw closedError('ShmServer');
      if (signal?.aborted) throw abortError(signal);
      let client: UnixDuplex<Hello>;
      try {
        client = await this.#rendezvous.accept({ signal });
      } catch (err) {
        if (this.#closed) throw closedError('ShmServer');
        throw err;
      }
      const stop = new AbortController();
      this.#handshakes.add(stop);
      try {
        const conn = await this.#handshake(client, signal === undefined ? stop.signal : AbortSignal.any([signal, stop.signal]));
        if (conn !== undefined) return conn;
      } finally {
        this.#handshakes.delete(stop);
      }
    }
  }

  /** Gives the client a ring pair; the connection once it attached, undefined when it failed or vanished. */
  async #handshake(client: UnixDuplex<Hello>, signal: AbortSignal): Promise<ShmDuplex<T> | undefined> {
    const ring = `${this.name}.${randomBytes(HEX / 2).toString('hex')}`;
    let rings: Duplex<T> | undefined;
    try {
      rings = await openShmDuplex<T>(ring, { ...this.#ring, create: true, mode: 0o600 });
      await client.sender.send({ v: 1, ring }, { signal, timeoutMs: this.#handshakeMs });
      const answer = await client.receiver.receive({ signal, timeoutMs: this.#handshakeMs });
      if (answer === undefined || answer.v !== 1 || !('attached' in answer) || answer.attached !== true) {
        throw corruptError('the client did not attach');
      }
      return Object.assign(rings, { peer: client.peer });
    } catch (err) {
      await rings?.close().catch(() => undefined);
      removeRings(ring);
      if (this.#closed) throw closedError('ShmServer');
      if (signal.aborted) throw err;
      return undefined; // this client failed (died, timed out, spoke nonsense): the next one
    } finally {
      await client.close().catch(() => undefined);
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<ShmDuplex<T>> {
    return acceptEach(
      () => this.accept(),
      () => this.#closed,
    );
  }

  /** Stops listening and removes the rendezvous socket; a handshake in progress is dropped. Open connections are not affected. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#rendezvous.close();
    for (const stop of this.#handshakes) stop.abort();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The ring pair's name in the server's hello, checked: it must be `<name>.<12 hex>`. */
function ringOf(hello: Hello | undefined, name: string, address: string): string {
  if (hello === undefined) {
    throw systemError(
      'ECONNRESET',
      'connect',
      address,
      'the server closed the connection before the handshake (refused by allowUids or verifyPeer, or closed)',
    );
  }
  const h = (typeof hello === 'object' && hello !== null ? hello : {}) as { v?: unknown; ring?: unknown };
  const ring = h.ring;
  if (h.v !== 1 || typeof ring !== 'string' || !ring.startsWith(`${name}.`) || !/^[0-9a-f]{12}$/.test(ring.slice(name.length + 1))) {
    throw corruptError(`The server at ${address} is not a shared-memory listener (unexpected handshake)`);
  }
  return ring;
}

/**
 * Connects to the {@link ShmServer} at `name`: resolves once the server
 * accepted this client and both attached the client's own ring pair.
 * Throws `ENOENT` (no server at that name), `ECONNREFUSED` (a stale one),
 * `ECONNRESET` (the server refused this client or closed), `ETIMEDOUT`
 * after `timeoutMs`, an `AbortError` on `signal`, `ERR_CHANNEL_CORRUPT` when
 * what answers is not a shared-memory listener. Nothing is left behind on a failure.
 *
 * @example
 * const conn = await connectShm('/kv', { codec: codecs.json, timeoutMs: 5000 });
 * await conn.sender.send({ get: 'x' });
 */
export async function connectShm<T = Uint8Array>(name: string, options?: ConnectShmOptions<T>): Promise<ShmDuplex<T>> {
  const where = rendezvous(name, 'name');
  const opts = validateOptions(options);
  const { codec, maxMessageSize, timeoutMs, signal } = resolveShmOptions<T>(opts as ShmChannelOptions<T>);
  const ring = { codec, maxMessageSize };
  const deadline = deadlineAfter(timeoutMs);
  const left = (): number => Math.max(0, deadline - performance.now());
  const address = `shm:${where.name}`;
  const server = await connectUnix<Hello>(where.path(), { codec: helloCodec, maxMessageSize: HELLO_MAX, timeoutMs, signal });
  let rings: string | undefined;
  try {
    rings = ringOf(await server.receiver.receive({ signal, timeoutMs: left() }), where.name, address);
    const duplex = await openShmDuplex<T>(rings, { ...ring, timeoutMs: left(), signal });
    try {
      await server.sender.send({ v: 1, attached: true }, { signal, timeoutMs: left() });
    } catch (err) {
      await duplex.close().catch(() => undefined);
      throw err;
    }
    return Object.assign(duplex, { peer: server.peer });
  } catch (err) {
    if (rings !== undefined) removeRings(rings);
    throw err;
  } finally {
    await server.close().catch(() => undefined);
  }
}

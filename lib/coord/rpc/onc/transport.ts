/**
 * What carries ONC RPC messages: raw TCP with record marking (the wire
 * every rpcgen program speaks, through `node:net`), or any of the
 * project's message channels (`unix:`, `shm:`, `tcp:`, `tls:`), where one
 * channel message is one RPC message and no record marking is needed.
 * Both are an {@link OncTransport}: messages in and out, the peer's
 * identity where the transport has one.
 *
 * Addresses: `oncrpc://host:port` is raw ONC TCP (port 0 to listen on any
 * free port; IPv6 hosts in brackets); everything else goes to the
 * channels' `connect`/`listen`.
 * @module
 */
import * as net from 'node:net';

import { RpcError } from '../../../errors.js';
import { validateString, validateTimeout } from '../../../internal/validators.js';
import { afterMs } from '../../../internal/waiting.js';
import {
  codecs,
  connect,
  listen,
  type Duplex,
  type Listener,
  type ShmDuplex,
  type TcpDuplex,
  type TlsDuplex,
  type UnixDuplex,
} from '../../../channels/index.js';
import { frameRecord, ONC_DEFAULT_MAX_RECORD, RecordReader } from './record.js';

/** Who is at the other end, as the transport knows it (never what the caller claims in its credential). */
export type OncPeer =
  | { readonly transport: 'oncrpc' | 'tcp'; readonly address: TcpDuplex<Uint8Array>['peer'] }
  | { readonly transport: 'unix'; readonly credentials: UnixDuplex<Uint8Array>['peer'] }
  | { readonly transport: 'shm'; readonly credentials: ShmDuplex<Uint8Array>['peer'] }
  | { readonly transport: 'tls'; readonly tls: TlsDuplex<Uint8Array>['peer'] };

/** Where an {@link OncTransport} delivers what it receives. */
export interface OncSink {
  /** One message (a copy). Returning a promise holds the next message back until it settles (backpressure). */
  message(message: Uint8Array): void | Promise<void>;
  /** The transport ended: cleanly (no error) or broken. Called once. */
  end(error?: Error): void;
}

/** One connection that carries whole RPC messages. */
export interface OncTransport {
  /** The peer's identity, when the transport has one (`undefined` on a client's end of a channel). */
  readonly peer: OncPeer | undefined;
  /** Sends one message; rejects with `ERR_RPC_SERVER_GONE` once the connection is gone. */
  send(message: Uint8Array): Promise<void>;
  /** Starts delivering messages to `sink` (once). */
  start(sink: OncSink): void;
  /** Closes the connection; pending sends may be lost. */
  close(): Promise<void>;
}

/** Options of {@link connectOncTransport} and {@link listenOncTransport}. */
export interface OncTransportOptions {
  /**
   * Bound on one message: a record on raw ONC TCP (default
   * {@link ONC_DEFAULT_MAX_RECORD}), the channel's `maxMessageSize` on a
   * channel (default: the channel's own, e.g. 64 MiB on a stream, the ring's
   * capacity on shm).
   */
  readonly maxMessageSize?: number;
  /** Connecting: give up after this long. Default 10000 ms. */
  readonly timeoutMs?: number;
  /** More options for the channel's `connect`/`listen` (TLS credentials, `allowUids`, ...). */
  readonly channel?: Readonly<Record<string, unknown>>;
}

/** `oncrpc://host:port` taken apart, or `undefined` for another scheme. Throws a `RangeError` for a malformed one. */
export function parseOncAddress(address: string, argName = 'address'): { host: string; port: number } | undefined {
  const text = validateString(address, argName);
  if (!text.startsWith('oncrpc:')) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || !url.hostname || url.pathname || url.search || url.hash || url.username) {
    throw new RangeError(`The "${argName}" argument must be 'oncrpc://host:port' (IPv6 hosts in brackets). Received '${text}'`);
  }
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port === '' ? 0 : Number(url.port) };
}

/** Formats `oncrpc://host:port`. */
export function formatOncAddress(host: string, port: number): string {
  return `oncrpc://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** A `node:net` socket as a message transport: record marking both ways, records bounded by `maxRecord`. */
export function socketTransport(socket: net.Socket, maxRecord = ONC_DEFAULT_MAX_RECORD, peer?: OncPeer): OncTransport {
  const reader = new RecordReader(maxRecord);
  let sink: OncSink | undefined;
  let ended = false;
  let failure: Error | undefined;
  const queue: Uint8Array[] = [];
  let blocked = false;
  const finish = (error?: Error): void => {
    if (ended) return;
    ended = true;
    queue.length = 0;
    sink?.end(error);
  };
  const pump = (): void => {
    while (sink && !blocked && !ended && queue.length > 0) {
      const r = sink.message(queue.shift()!);
      if (r !== undefined) {
        blocked = true;
        socket.pause();
        void r.finally(() => {
          blocked = false;
          if (!ended) socket.resume();
          pump();
        });
      }
    }
  };
  socket.on('data', (chunk: Buffer) => {
    if (ended) return;
    try {
      queue.push(...reader.push(chunk));
    } catch (err) {
      failure = err as Error;
      socket.destroy();
      return;
    }
    pump();
  });
  socket.on('end', () => {
    if (reader.partial) failure ??= new RpcError('ERR_RPC_PROTOCOL', 'ONC record marking: the stream ended inside a record');
    socket.end();
  });
  socket.on('error', (err) => {
    failure ??= err;
  });
  socket.on('close', () => finish(failure));
  return {
    peer,
    send: (message) =>
      new Promise<void>((resolve, reject) => {
        if (socket.destroyed || !socket.writable) {
          reject(new RpcError('ERR_RPC_SERVER_GONE', 'the ONC connection is closed'));
          return;
        }
        // write()'s callback runs once these bytes reached the kernel (after
        // any queued before them), so a peer that does not read keeps this
        // promise pending: the server's in-flight slot waits with it.
        socket.write(frameRecord(message), (err) =>
          err ? reject(new RpcError('ERR_RPC_SERVER_GONE', `the ONC connection broke: ${err.message}`, { cause: err })) : resolve(),
        );
      }),
    start(s) {
      if (sink) throw new Error('OncTransport.start called twice');
      sink = s;
      if (socket.destroyed) finish(failure);
      pump();
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (socket.destroyed) {
          resolve();
          return;
        }
        const timer = setTimeout(() => socket.destroy(), 2000);
        timer.unref();
        socket.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.end();
      }),
  };
}

/** A channel duplex of bytes as a message transport: one channel message is one RPC message. */
export function channelTransport(duplex: Duplex<Uint8Array>, peer?: OncPeer): OncTransport {
  let started = false;
  return {
    peer,
    send: async (message) => {
      try {
        await duplex.sender.send(message);
      } catch (err) {
        throw new RpcError('ERR_RPC_SERVER_GONE', `the channel broke: ${(err as Error).message}`, { cause: err });
      }
    },
    start(sink) {
      if (started) throw new Error('OncTransport.start called twice');
      started = true;
      void (async () => {
        try {
          for (;;) {
            const m = await duplex.receiver.receive();
            if (m === undefined) break;
            const r = sink.message(m);
            if (r !== undefined) await r;
          }
          sink.end();
        } catch (err) {
          sink.end(err as Error);
        }
      })();
    },
    close: () => duplex.close(),
  };
}

function peerOf(scheme: string, duplex: Duplex<Uint8Array>): OncPeer | undefined {
  const peer = (duplex as { peer?: unknown }).peer;
  if (peer === undefined) return undefined;
  if (scheme === 'tcp') return { transport: 'tcp', address: peer as TcpDuplex<Uint8Array>['peer'] };
  if (scheme === 'unix') return { transport: 'unix', credentials: peer as UnixDuplex<Uint8Array>['peer'] };
  if (scheme === 'shm') return { transport: 'shm', credentials: peer as ShmDuplex<Uint8Array>['peer'] };
  if (scheme === 'tls') return { transport: 'tls', tls: peer as TlsDuplex<Uint8Array>['peer'] };
  return undefined;
}

const channelMax = (o: OncTransportOptions): { maxMessageSize?: number } =>
  o.maxMessageSize === undefined ? {} : { maxMessageSize: o.maxMessageSize };

const schemeOf = (address: string): string => address.slice(0, Math.max(0, address.indexOf(':')));

/**
 * Connects to an ONC server: raw TCP with record marking for
 * `oncrpc://host:port`, else the channel at `address`. Rejects with
 * `ERR_RPC_SERVER_GONE` (the cause attached) when the connection cannot be made.
 */
export async function connectOncTransport(address: string, options: OncTransportOptions = {}): Promise<OncTransport> {
  const max = options.maxMessageSize ?? ONC_DEFAULT_MAX_RECORD;
  const timeoutMs = validateTimeout(options.timeoutMs ?? 10_000, 'options.timeoutMs');
  const onc = parseOncAddress(address);
  if (!onc) {
    try {
      const duplex = await connect<Uint8Array>(address, { timeoutMs, ...options.channel, ...channelMax(options), codec: codecs.bytes });
      return channelTransport(duplex, peerOf(schemeOf(address), duplex));
    } catch (err) {
      if (err instanceof RangeError || err instanceof TypeError) throw err;
      throw new RpcError('ERR_RPC_SERVER_GONE', `cannot connect to ${address}: ${(err as Error).message}`, { cause: err });
    }
  }
  if (onc.port === 0) throw new RangeError(`The "address" argument must have a port from 1 to 65535 to connect to. Received '${address}'`);
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: onc.host, port: onc.port, noDelay: true });
    const cancel = afterMs(timeoutMs, () => s.destroy(new Error(`connect timed out after ${timeoutMs} ms`)));
    s.once('connect', () => {
      cancel();
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err) => {
      cancel();
      reject(new RpcError('ERR_RPC_SERVER_GONE', `cannot connect to ${address}: ${err.message}`, { cause: err }));
    });
  });
  return socketTransport(socket, max);
}

/** A server end that accepts {@link OncTransport}s. */
export interface OncTransportListener {
  /** Where it listens: `oncrpc://host:port` with the actual port, or the channel listener's url. */
  readonly url: string;
  /** The next connection; rejects once closed. */
  accept(): Promise<OncTransport>;
  close(): void;
}

/** Listens at `address` (`oncrpc://host:port` or a channel address) for ONC connections. */
export async function listenOncTransport(address: string, options: OncTransportOptions = {}): Promise<OncTransportListener> {
  const max = options.maxMessageSize ?? ONC_DEFAULT_MAX_RECORD;
  const onc = parseOncAddress(address);
  if (!onc) {
    const listener: Listener<Uint8Array> = await listen<Uint8Array>(address, {
      ...options.channel,
      ...channelMax(options),
      codec: codecs.bytes,
    });
    const scheme = schemeOf(listener.url);
    return {
      url: listener.url,
      accept: async () => {
        const d = await listener.accept();
        return channelTransport(d, peerOf(scheme, d));
      },
      close: () => listener.close(),
    };
  }
  const waiting: Array<{ resolve: (t: OncTransport) => void; reject: (e: Error) => void }> = [];
  const ready: net.Socket[] = [];
  let closed = false;
  const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => {
    if (closed) {
      socket.destroy();
      return;
    }
    const w = waiting.shift();
    if (w) w.resolve(wrap(socket));
    else if (ready.length < 64) ready.push(socket);
    else socket.destroy();
  });
  const wrap = (socket: net.Socket): OncTransport => {
    const t = socketTransport(socket, max, {
      transport: 'oncrpc',
      address: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0, family: socket.remoteFamily === 'IPv6' ? 6 : 4 },
    });
    socket.resume();
    return t;
  };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: onc.host, port: onc.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as net.AddressInfo;
  return {
    url: formatOncAddress(onc.host, bound.port),
    accept: () =>
      new Promise<OncTransport>((resolve, reject) => {
        if (closed) reject(new RpcError('ERR_RPC_SERVER_GONE', 'the ONC listener is closed'));
        else if (ready.length > 0) resolve(wrap(ready.shift()!));
        else waiting.push({ resolve, reject });
      }),
    close: () => {
      if (closed) return;
      closed = true;
      server.close();
      for (const s of ready.splice(0)) s.destroy();
      for (const w of waiting.splice(0)) w.reject(new RpcError('ERR_RPC_SERVER_GONE', 'the ONC listener is closed'));
    },
  };
}

// Every transport behind one factory, so each channel test runs on all of them.

import {
  closeSync,
  connectUnix,
  forkNode,
  streamFromFd,
  type Child,
  duplexFromFd,
  openFifoDuplex,
  openFifoReceiver,
  openFifoSender,
  openShmDuplex,
  openShmReceiver,
  openShmSender,
  pipe,
  pipeChannel,
  socketPair,
  UnixServer,
  TcpServer,
  connectTcp,
  TlsServer,
  connectTls,
  ShmServer,
  connectShm,
  type Receiver,
  type Sender,
  type StreamChannelOptions,
  type ChannelOptions,
  isSystemError,
} from '../../lib/index.js';
import { afterAll } from 'vitest';

import { connect, listen, type AddressOptions } from '../../lib/index.js';
import type { Duplex } from '../../lib/channels/types.js';
import { natsUnavailable, startNatsCluster, type NatsCluster } from './nats-cluster.js';
import { removePath, tempPath, uniqueName } from './helpers.js';
import { pkiEnv, testPki } from './tls-certs.js';

export interface Pair<T> {
  sender: Sender<T>;
  receiver: Receiver<T>;
  /** Closes whatever is still open and removes names. */
  cleanup(): Promise<void>;
}

export type TransportName = 'pipe' | 'socketpair' | 'fifo' | 'unix' | 'shm' | 'tcp' | 'tls' | 'nats';
/** Every transport; NATS only where nats-server is installed (`.ci/run` installs it), else the reason is printed once. */
export const TRANSPORTS: TransportName[] = [
  'pipe',
  'socketpair',
  'fifo',
  'unix',
  'shm',
  'tcp',
  'tls',
  ...(natsUnavailable() === undefined ? (['nats'] as const) : []),
];

let cluster: Promise<NatsCluster> | undefined;
/** The NATS cluster of this test file, started on first use and stopped after the file's tests. */
export function natsCluster(): Promise<NatsCluster> {
  cluster ??= startNatsCluster(3);
  return cluster;
}
// Registered while the importing test file is collected: it runs after that file's tests.
afterAll(async () => {
  await (await cluster?.catch(() => undefined))?.stop();
  cluster = undefined;
});
let subjects = 0;

/** A channel over a real 3-node NATS cluster: the listener on one node, the client on another. */
async function natsPair<T>(options?: ChannelOptions<T>): Promise<{ client: Duplex<T>; conn: Duplex<T> }> {
  const c = await natsCluster();
  const subject = `test.${process.pid}.${++subjects}`;
  const server = await listen<T>(`nats://${c.nodes[0]}/${subject}`, options as AddressOptions<T>);
  try {
    const accepted = server.accept();
    accepted.catch(() => undefined); // the connect failed: the close below rejects it
    const client = await connect<T>(`nats://${c.nodes[1]}/${subject}`, { ...options, timeoutMs: 5000 });
    return { client, conn: await accepted };
  } finally {
    server.close();
  }
}
if (natsUnavailable() !== undefined) process.stderr.write(`NATS channel tests skipped: ${natsUnavailable()}\n`);

/** What a transport can do, so that tests adapt in one place instead of naming transports. */
export interface Capabilities {
  /**
   * The `...Sync` calls block the thread. False on TLS (the bytes move on
   * Node's event loop): they throw `ERR_CHANNEL_SYNC_UNSUPPORTED` at once.
   */
  sync: boolean;
  /** `drain()` visits several messages in one piece of memory. False on NATS: the client hands each message in a buffer of its own. */
  contiguous: boolean;
}

export const CAPABILITIES: Record<TransportName, Capabilities> = {
  pipe: { sync: true, contiguous: true },
  socketpair: { sync: true, contiguous: true },
  fifo: { sync: true, contiguous: true },
  unix: { sync: true, contiguous: true },
  shm: { sync: true, contiguous: true },
  tcp: { sync: true, contiguous: true },
  tls: { sync: false, contiguous: true },
  nats: { sync: false, contiguous: false },
};

/** A TLS server's credentials in the tests (a CA-signed certificate for localhost, 127.0.0.1 and ::1). */
function serverTls(): { key: string; cert: string } {
  const { key, cert } = testPki().server;
  return { key, cert };
}

/**
 * A TCP or TLS connection between a server and a client in this process.
 * The client's sending side and the server's receiving side carry the
 * messages. The unused halves are closed at once: TCP cannot tell a peer
 * "nobody reads" while the other direction stays open, so only a fully
 * closed side makes the peer's sends fail (ERR_CHANNEL_PEER_GONE).
 */
async function networkPair<T>(
  transport: 'tcp' | 'tls',
  options?: StreamChannelOptions<T>,
): Promise<{ client: Duplex<T>; conn: Duplex<T> }> {
  const server = transport === 'tcp' ? await TcpServer.listen<T>(options) : await TlsServer.listen<T>({ ...options, ...serverTls() });
  try {
    const accepted = server.accept();
    const client =
      transport === 'tcp'
        ? await connectTcp<T>({ ...options, port: server.port })
        : await connectTls<T>({ ...options, port: server.port, ca: testPki().ca.cert });
    return { client, conn: await accepted };
  } finally {
    server.close();
  }
}
/** Ring capacity used by the tests: small, so wrap-around and full rings happen often. */
export const TEST_RING = 512 * 1024;

async function closeAll<T>(sender: Sender<T>, receiver: Receiver<T>): Promise<void> {
  receiver.close();
  await sender.close().catch(() => undefined);
}

/** One direction of a connection: the client sends, the server's end receives; the unused halves close at once. */
async function oneWay<T>({ client, conn }: { client: Duplex<T>; conn: Duplex<T> }): Promise<Pair<T>> {
  client.receiver.close();
  await conn.sender.close();
  return {
    sender: client.sender,
    receiver: conn.receiver,
    cleanup: async () => {
      await conn.close().catch(() => undefined);
      await client.close().catch(() => undefined);
    },
  };
}

/** Both ends of a channel in this process. */
export async function openPair<T = Uint8Array>(transport: TransportName, options?: StreamChannelOptions<T>): Promise<Pair<T>> {
  switch (transport) {
    case 'pipe': {
      const { sender, receiver } = pipeChannel<T>(options);
      return { sender, receiver, cleanup: () => closeAll(sender, receiver) };
    }
    case 'socketpair': {
      const [a, b] = socketPair();
      const left = duplexFromFd<T>(a, options);
      const right = duplexFromFd<T>(b, options);
      return {
        sender: left.sender,
        receiver: right.receiver,
        cleanup: async () => {
          // The receiving side first, so a sender with bytes still queued
          // fails fast (EPIPE) instead of waiting for a reader.
          await right.close().catch(() => undefined);
          await left.close().catch(() => undefined);
        },
      };
    }
    case 'fifo': {
      const path = tempPath('fifo');
      const receiver = await openFifoReceiver<T>(path, { ...options, create: true });
      const sender = await openFifoSender<T>(path, { ...options, timeoutMs: 5000 });
      return { sender, receiver, cleanup: () => closeAll(sender, receiver) };
    }
    case 'shm': {
      const name = uniqueName('ring');
      const { highWaterMark: _hw, ...rest } = (options ?? {}) as StreamChannelOptions<T>;
      const receiver = await openShmReceiver<T>(name, { capacity: TEST_RING, ...rest, create: true });
      const sender = await openShmSender<T>(name, rest);
      return { sender, receiver, cleanup: () => closeAll(sender, receiver) };
    }
    case 'nats':
      return oneWay(await natsPair<T>(options));
    case 'tcp':
    case 'tls':
      return oneWay(await networkPair<T>(transport, options));
    case 'unix': {
      const path = tempPath('sock');
      const server = UnixServer.listen<T>(path, options);
      const accepted = server.accept();
      const client = await connectUnix<T>(path, options);
      const conn = await accepted;
      server.close();
      return {
        sender: client.sender,
        receiver: conn.receiver,
        cleanup: async () => {
          await conn.close().catch(() => undefined);
          await client.close().catch(() => undefined);
          removePath(path);
        },
      };
    }
  }
}

export type DuplexTransportName = 'socketpair' | 'unix' | 'fifo' | 'shm' | 'shm-listener' | 'tcp' | 'tls' | 'nats';
/**
 * Transports with both directions between two ends: one socket, or two FIFOs, or two rings
 * (`shm`: a pair by name; `shm-listener`: the pair a ShmServer hands its client).
 */
export const DUPLEX_TRANSPORTS: DuplexTransportName[] = [
  'socketpair',
  'unix',
  'fifo',
  'shm',
  'shm-listener',
  'tcp',
  'tls',
  ...(natsUnavailable() === undefined ? (['nats'] as const) : []),
];

export interface DuplexPair<T> {
  /** The end that created the channel (or accepted the connection). */
  a: Duplex<T>;
  /** The end that opened it by name (or connected). */
  b: Duplex<T>;
  /** Closes whatever is still open and removes names. */
  cleanup(): Promise<void>;
}

/** Retries `open` while what it opens does not exist yet (its creator may still be making it). */
async function openOnceCreated<T>(open: () => Promise<T>, ms = 5000): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    try {
      return await open();
    } catch (err) {
      if (!isSystemError(err, 'ENOENT') || performance.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/** Creates on one side and opens on the other at the same time; closes what opened if the other failed. */
async function bothEnds<T>(create: () => Promise<Duplex<T>>, open: () => Promise<Duplex<T>>): Promise<[Duplex<T>, Duplex<T>]> {
  // The opener starts right after the creator was called (its names exist, or are being made).
  const creating = Promise.resolve().then(create);
  const opening = Promise.resolve().then(() => openOnceCreated(open));
  const [a, b] = await Promise.allSettled([creating, opening]);
  if (a.status === 'fulfilled' && b.status === 'fulfilled') return [a.value, b.value];
  if (a.status === 'fulfilled') await a.value.close().catch(() => undefined);
  if (b.status === 'fulfilled') await b.value.close().catch(() => undefined);
  throw a.status === 'rejected' ? a.reason : (b as PromiseRejectedResult).reason;
}

/** Two duplex ends of one channel in this process: what `a.sender` sends, `b.receiver` gets, and back. */
export async function openDuplexPair<T = Uint8Array>(transport: DuplexTransportName, options?: ChannelOptions<T>): Promise<DuplexPair<T>> {
  let a: Duplex<T>;
  let b: Duplex<T>;
  let path = '';
  switch (transport) {
    case 'socketpair': {
      const [x, y] = socketPair();
      a = duplexFromFd<T>(x, options);
      b = duplexFromFd<T>(y, options);
      break;
    }
    case 'unix': {
      path = tempPath('dsock');
      const server = UnixServer.listen<T>(path, options);
      try {
        const accepted = server.accept();
        b = await connectUnix<T>(path, options);
        a = await accepted;
      } finally {
        server.close();
      }
      break;
    }
    case 'tcp':
    case 'tls': {
      const { client, conn } = await networkPair<T>(transport, options);
      [a, b] = [conn, client];
      break;
    }
    case 'nats': {
      const { client, conn } = await natsPair<T>(options);
      [a, b] = [conn, client];
      break;
    }
    case 'shm': {
      const name = uniqueName('dring');
      [a, b] = await bothEnds<T>(
        () => openShmDuplex<T>(name, { ...options, create: true, capacity: TEST_RING }),
        () => openShmDuplex<T>(name, { ...options, timeoutMs: 5000 }),
      );
      break;
    }
    case 'shm-listener': {
      const server = ShmServer.listen<T>(uniqueName('dlsn'), { ...options, capacity: TEST_RING });
      try {
        const accepted = server.accept();
        b = await connectShm<T>(server.name, { ...options, timeoutMs: 5000 });
        a = await accepted;
      } finally {
        server.close();
      }
      break;
    }
    case 'fifo': {
      path = tempPath('dfifo');
      [a, b] = await bothEnds<T>(
        () => openFifoDuplex<T>(path, { ...options, create: true, timeoutMs: 5000 }),
        () => openFifoDuplex<T>(path, { ...options, timeoutMs: 5000 }),
      );
      break;
    }
  }
  return {
    a,
    b,
    cleanup: async () => {
      await b.close().catch(() => undefined);
      await a.close().catch(() => undefined);
      if (path && transport === 'unix') removePath(path);
    },
  };
}

const PEER = new URL('../fixtures/channel-peer.ts', import.meta.url).pathname;

export interface Remote<T> {
  child: Child;
  /** Our end, once the child connected. */
  end: T;
  /** Everything the child wrote to stdout. */
  stdout: () => string;
  exited: Promise<number | null>;
  cleanup(): Promise<void>;
}

/**
 * Starts the fixture peer in its own process with the channel's other end.
 * `local` is 'receiver' when the child sends (role produce/idle), 'sender' otherwise.
 */
export async function openRemote<T extends Sender<Uint8Array> | Receiver<Uint8Array>>(
  transport: TransportName,
  local: 'sender' | 'receiver',
  role: string,
  args: string[] = [],
): Promise<Remote<T>> {
  let fd: number | undefined;
  let mine: number | undefined;
  let path = '';
  let server: UnixServer | TcpServer | TlsServer | undefined;
  let natsServer: { close(): void } | undefined;
  let localEnd: Promise<T> | undefined;
  let closeLocal: (() => Promise<void>) | undefined;
  if (transport === 'pipe') {
    const [r, w] = pipe();
    [mine, fd] = local === 'sender' ? [w, r] : [r, w];
  } else if (transport === 'socketpair') {
    [mine, fd] = socketPair();
  } else if (transport === 'shm') {
    path = uniqueName('rring');
    localEnd = (local === 'sender'
      ? openShmSender(path, { create: true, capacity: TEST_RING })
      : openShmReceiver(path, { create: true, capacity: TEST_RING })) as unknown as Promise<T>;
  } else if (transport === 'fifo') {
    path = tempPath('rfifo');
    localEnd = (local === 'sender'
      ? openFifoSender(path, { create: true, timeoutMs: 10_000 })
      : openFifoReceiver(path, { create: true })) as unknown as Promise<T>;
  } else if (transport === 'nats') {
    const c = await natsCluster();
    const listener = await listen(`nats://${c.nodes[0]}/test.${process.pid}.remote.${++subjects}`);
    natsServer = listener;
    path = `nats://${c.nodes[2]}/${listener.url.slice(listener.url.lastIndexOf('/') + 1)}`; // the child connects through another node
    localEnd = listener.accept().then((d) => {
      closeLocal = () => d.close();
      return (local === 'sender' ? d.sender : d.receiver) as unknown as T;
    });
  } else if (transport === 'tcp' || transport === 'tls') {
    server = transport === 'tcp' ? await TcpServer.listen() : await TlsServer.listen(serverTls());
    path = String(server.port); // the child connects to 127.0.0.1:<port>
    localEnd = server.accept().then((d) => {
      closeLocal = () => d.close();
      return (local === 'sender' ? d.sender : d.receiver) as unknown as T;
    });
  } else {
    path = tempPath('rsock');
    server = UnixServer.listen(path);
    localEnd = server.accept().then((d) => {
      closeLocal = () => d.close();
      return (local === 'sender' ? d.sender : d.receiver) as unknown as T;
    });
  }
  // The child gets the channel's other end as fd 3 (pipe, socket pair) or its
  // name in argv, and its stdout is a pipe back to us.
  const [outRead, outWrite] = pipe();
  const fds: Record<number, number> = { 1: outWrite, 2: 2 };
  if (fd !== undefined) fds[3] = fd;
  let child: Child;
  try {
    const env = transport === 'tls' ? pkiEnv() : process.env;
    child = forkNode(PEER, {
      args: [transport, role, ...args.concat(['0', '1']).slice(0, 2), path],
      fds,
      env,
      execArgv: ['--import', 'tsx'],
    });
  } finally {
    closeSync(outWrite);
    if (fd !== undefined) closeSync(fd);
  }
  const stdout = streamFromFd(outRead, 'r');
  if (mine !== undefined) {
    const d = transport === 'socketpair' ? duplexFromFd(mine) : undefined;
    if (d) closeLocal = () => d.close();
    const { receiverFromFd, senderFromFd } = await import('../../lib/index.js');
    localEnd = Promise.resolve(
      (d ? (local === 'sender' ? d.sender : d.receiver) : local === 'sender' ? senderFromFd(mine) : receiverFromFd(mine)) as unknown as T,
    );
  }
  let out = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  const exited = child.exited.then((status) => status.code);
  const end = await localEnd!;
  server?.close();
  natsServer?.close();
  return {
    child,
    end,
    stdout: () => out,
    exited,
    cleanup: async () => {
      child.kill('SIGKILL');
      await exited;
      stdout.destroy();
      if (closeLocal) await closeLocal().catch(() => undefined);
      else if ('receive' in end) (end as Receiver<Uint8Array>).close();
      else await (end as Sender<Uint8Array>).close().catch(() => undefined);
      if (path && (transport === 'fifo' || transport === 'unix')) removePath(path);
    },
  };
}

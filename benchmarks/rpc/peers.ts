/**
 * The RPC benchmark's peers, each an echo service (the reply is the request's
 * bytes) behind the same client shape, so every system is timed by the same
 * loop: Node's `net` over a UNIX socket with a minimal length-prefixed frame
 * (the JS floor), birpc over a MessagePort to a worker, zeromq REQ/REP (and
 * DEALER/ROUTER for calls in flight: REQ is lockstep by design) and grpc-js
 * over a UNIX socket. Servers run in their own process (birpc: in a worker),
 * started by {@link startServer} with this file's `server` role.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { MessageChannel, Worker } from 'node:worker_threads';
import { createInterface } from 'node:readline';

/** One connection's calls: the reply must be the request's bytes. */
export interface EchoClient {
  call(payload: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** A running server and how to reach it. */
export interface RunningServer {
  address: string;
  stop(): Promise<void>;
}

/** Starts `node --import tsx <script> server <kind> <address>` and waits for its "ready" line. */
export async function startServer(script: string, kind: string, address: string, timeoutMs = 20_000): Promise<RunningServer> {
  let url = address;
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script, 'server', kind, address], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} server: no 'ready' within ${timeoutMs} ms`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('ready')) {
        url = line.slice('ready'.length).trim() || address; // "ready <url>": where it really listens (a port 0 bound)
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${kind} server exited (${code ?? signal}) before it was ready`));
    });
  });
  return {
    address: url,
    async stop() {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

// ---- net over a UNIX socket: [u32 length][u32 id][payload], both ways ----

function netFrames(socket: net.Socket, onFrame: (id: number, body: Buffer) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    let at = 0;
    while (buf.length - at >= 8) {
      const len = buf.readUInt32LE(at);
      if (buf.length - at < 8 + len) break;
      onFrame(buf.readUInt32LE(at + 4), buf.subarray(at + 8, at + 8 + len));
      at += 8 + len;
    }
    buf = at === buf.length ? Buffer.alloc(0) : buf.subarray(at);
  });
}

function netFrame(id: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(8 + body.byteLength);
  out.writeUInt32LE(body.byteLength, 0);
  out.writeUInt32LE(id, 4);
  out.set(body, 8);
  return out;
}

export async function netClient(path: string): Promise<EchoClient> {
  const socket = net.connect(path);
  await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
  socket.setNoDelay(true);
  const pending = new Map<number, (b: Uint8Array) => void>();
  let next = 0;
  netFrames(socket, (id, body) => {
    const done = pending.get(id);
    pending.delete(id);
    done?.(body);
  });
  return {
    call(payload) {
      const id = (next = (next + 1) >>> 0);
      return new Promise((resolve) => {
        pending.set(id, resolve);
        socket.write(netFrame(id, payload));
      });
    },
    async close() {
      socket.end();
      await new Promise<void>((r) => socket.once('close', () => r()));
    },
  };
}

function netServer(path: string): void {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    netFrames(socket, (id, body) => socket.write(netFrame(id, body)));
  });
  server.listen(path, () => process.stdout.write('ready\n'));
}

// ---- birpc over a MessagePort, the server in a worker ----

export async function birpcClient(): Promise<EchoClient> {
  const { createBirpc } = await import('birpc');
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('./birpc-worker.mjs', import.meta.url), { workerData: { port: port2 }, transferList: [port2] });
  await new Promise<void>((r) => port1.once('message', () => r())); // the worker's "ready"
  const rpc = createBirpc<{ echo(b: Uint8Array): Uint8Array }>(
    {},
    {
      post: (d) => port1.postMessage(d),
      on: (fn) => port1.on('message', fn),
      timeout: 60_000,
    },
  );
  return {
    call: (payload) => rpc.echo(payload),
    async close() {
      rpc.$close();
      port1.close();
      await worker.terminate();
    },
  };
}

// ---- zeromq: REQ/REP (lockstep), DEALER/ROUTER (many in flight) ----

export async function zmqClient(endpoint: string, inFlight: boolean): Promise<EchoClient> {
  const zmq = await import('zeromq');
  if (!inFlight) {
    const req = new zmq.Request();
    req.connect(endpoint);
    return {
      async call(payload) {
        await req.send(payload);
        const [reply] = await req.receive();
        return reply!;
      },
      async close() {
        req.close();
      },
    };
  }
  const dealer = new zmq.Dealer();
  dealer.connect(`${endpoint}-router`);
  const pending = new Map<number, (b: Uint8Array) => void>();
  let next = 0;
  let open = true;
  void (async () => {
    try {
      for await (const [id, body] of dealer) {
        const n = id!.readUInt32LE(0);
        const done = pending.get(n);
        pending.delete(n);
        done?.(body!);
      }
    } catch {
      if (open) throw new Error('zeromq dealer failed');
    }
  })();
  const idBuf = Buffer.alloc(4);
  return {
    call(payload) {
      const id = (next = (next + 1) >>> 0);
      return new Promise((resolve, reject) => {
        pending.set(id, resolve);
        idBuf.writeUInt32LE(id, 0);
        dealer.send([Buffer.from(idBuf), payload]).catch(reject);
      });
    },
    async close() {
      open = false;
      dealer.close();
    },
  };
}

async function zmqServer(endpoint: string): Promise<void> {
  const zmq = await import('zeromq');
  const rep = new zmq.Reply();
  await rep.bind(endpoint);
  const router = new zmq.Router();
  await router.bind(`${endpoint}-router`);
  process.stdout.write('ready\n');
  void (async () => {
    for await (const [routing, id, body] of router) await router.send([routing!, id!, body!]);
  })();
  for await (const [msg] of rep) await rep.send(msg!);
}

// ---- grpc-js over a UNIX socket, bytes in and out (no protobuf) ----

const identity = (b: Buffer): Buffer => b;
const grpcDefinition = {
  echo: {
    path: '/bench.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
} as const;

export async function grpcClient(path: string): Promise<EchoClient> {
  const grpc = await import('@grpc/grpc-js');
  const Ctor = grpc.makeGenericClientConstructor(grpcDefinition as never, 'Echo');
  const client = new Ctor(`unix://${path}`, grpc.credentials.createInsecure()) as unknown as {
    echo(b: Buffer, cb: (err: Error | null, r: Buffer) => void): void;
    close(): void;
  };
  return {
    call: (payload) =>
      new Promise((resolve, reject) =>
        client.echo(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), (e, r) => (e ? reject(e) : resolve(r))),
      ),
    async close() {
      client.close();
    },
  };
}

async function grpcServer(path: string): Promise<void> {
  const grpc = await import('@grpc/grpc-js');
  const server = new grpc.Server();
  server.addService(
    grpcDefinition as never,
    {
      echo: (call: { request: Buffer }, cb: (e: null, r: Buffer) => void) => cb(null, call.request),
    } as never,
  );
  server.bindAsync(`unix://${path}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) throw err;
    process.stdout.write('ready\n');
  });
}

/** The peers' server roles, run by {@link startServer} (`kind` is net, zmq or grpc). */
export async function runPeerServer(kind: string, address: string): Promise<boolean> {
  if (kind === 'net') netServer(address);
  else if (kind === 'zmq') await zmqServer(address);
  else if (kind === 'grpc') await grpcServer(address);
  else return false;
  return true;
}

// A model-based soak of the channels: fast-check generates sequences of
// sends of random sizes, receives, clean closes and SIGKILLs of the peer
// (each followed by a reopen), runs them against a real channel to a relay process that echoes
// every message back, and checks each outcome against an in-memory model
// (the queue of messages sent and not yet received). Any loss, duplication,
// reordering or corruption fails the run.
// Shared by the default suite (soak.test.ts) and the heavy one.
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  closeSync,
  duplexFromFd,
  forkNode,
  openFifoReceiver,
  openFifoSender,
  openShmReceiver,
  openShmSender,
  pipe,
  receiverFromFd,
  senderFromFd,
  socketPair,
  streamFromFd,
  TcpServer,
  TlsServer,
  UnixServer,
  type Child,
  type Duplex,
  type Receiver,
  type Sender,
} from '../../lib/index.js';
import { openPair, TRANSPORTS, type Pair, type TransportName } from './channel-transports.js';
import { removePath, tempPath, uniqueName, within } from './helpers.js';
import { pkiEnv, testPki } from './tls-certs.js';

const RELAY = new URL('../fixtures/soak-relay.ts', import.meta.url).pathname;
/** Ring capacity of the shm transport. */
const RING = 256 * 1024;
/**
 * At most this many bytes in flight (sent, not received): below what the two
 * directions and the relay can hold (the ring's capacity for shm), so a send
 * never waits on a receive that the command sequence has not issued yet.
 */
const IN_FLIGHT_LIMIT = 192 * 1024;
export const MAX_MESSAGE = 100_000;
/** The transports test/heavy/soak-rest.test.ts soaks; test/heavy/soak.test.ts takes the others. */
export const SOAK_REST: readonly TransportName[] = ['shm', 'tcp', 'tls'];
/** The transports the soak relay speaks: every local one (NATS has its own suite: test/nats.test.ts). */
export const SOAK_TRANSPORTS: readonly TransportName[] = TRANSPORTS.filter((t) => t !== 'nats');
const STEP_MS = 15_000;

/** One relay process and our two ends: `tx` to it, `rx` from it. */
interface Session {
  child: Child;
  tx: Sender<Uint8Array>;
  rx: Receiver<Uint8Array>;
  stderr: () => string;
  cleanup(): Promise<void>;
}

async function startRelay(
  args: string[],
  fds: Record<number, number> = {},
): Promise<{ child: Child; ready: Promise<void>; stderr: () => string }> {
  const [outR, outW] = pipe();
  const [errR, errW] = pipe();
  const env = args[0] === 'tls' ? pkiEnv() : process.env;
  const child = forkNode(RELAY, { execArgv: ['--import', 'tsx'], args, env, fds: { 1: outW, 2: errW, ...fds } });
  closeSync(outW);
  closeSync(errW);
  let err = '';
  const errStream = streamFromFd(errR, 'r');
  errStream.on('data', (c: Buffer) => (err += c.toString()));
  errStream.on('end', () => errStream.destroy());
  const out = streamFromFd(outR, 'r');
  const ready = new Promise<void>((resolve, reject) => {
    let text = '';
    out.on('data', (c: Buffer) => {
      text += c.toString();
      if (text.includes('ready\n')) resolve();
    });
    out.on('end', () => {
      out.destroy();
      reject(new Error(`the relay ended before it was ready: ${err}`));
    });
  });
  ready.catch(() => undefined);
  return { child, ready: within(20_000, 'relay ready', ready), stderr: () => err };
}

export async function openSession(transport: TransportName): Promise<Session> {
  switch (transport) {
    case 'pipe': {
      const [toR, toW] = pipe();
      const [fromR, fromW] = pipe();
      const relay = await startRelay(['pipe'], { 3: toR, 4: fromW });
      closeSync(toR);
      closeSync(fromW);
      const tx = senderFromFd(toW);
      const rx = receiverFromFd(fromR);
      await relay.ready;
      return { child: relay.child, tx, rx, stderr: relay.stderr, cleanup: async () => {} };
    }
    case 'socketpair': {
      const [mine, theirs] = socketPair();
      const relay = await startRelay(['socketpair'], { 3: theirs });
      closeSync(theirs);
      const d = duplexFromFd(mine);
      await relay.ready;
      return { child: relay.child, tx: d.sender, rx: d.receiver, stderr: relay.stderr, cleanup: async () => {} };
    }
    case 'fifo': {
      const toChild = tempPath('soakto');
      const fromChild = tempPath('soakfrom');
      const rx = await openFifoReceiver(fromChild, { create: true });
      const txOpening = openFifoSender(toChild, { create: true, timeoutMs: 20_000 }); // the FIFO exists once this returns
      txOpening.catch(() => undefined);
      const relay = await startRelay(['fifo', toChild, fromChild]);
      const tx = await txOpening;
      await relay.ready;
      return { child: relay.child, tx, rx, stderr: relay.stderr, cleanup: async () => {} };
    }
    case 'unix': {
      const path = tempPath('soaksock');
      const server = UnixServer.listen(path);
      const accepted = server.accept();
      const relay = await startRelay(['unix', path]);
      const conn = await within(20_000, 'relay connects', accepted);
      server.close();
      await relay.ready;
      return { child: relay.child, tx: conn.sender, rx: conn.receiver, stderr: relay.stderr, cleanup: async () => removePath(path) };
    }
    case 'tcp':
    case 'tls': {
      const server =
        transport === 'tcp' ? await TcpServer.listen() : await TlsServer.listen({ key: testPki().server.key, cert: testPki().server.cert });
      const accepted: Promise<Duplex<Uint8Array>> = server.accept();
      const relay = await startRelay([transport, String(server.port)]);
      const conn = await within(20_000, 'relay connects', accepted).finally(() => server.close());
      await relay.ready;
      return { child: relay.child, tx: conn.sender, rx: conn.receiver, stderr: relay.stderr, cleanup: async () => {} };
    }
    case 'nats':
      throw new Error('the soak relay does not speak NATS');
    case 'shm': {
      const toChild = uniqueName('soakto');
      const fromChild = uniqueName('soakfrom');
      const tx = await openShmSender(toChild, { create: true, capacity: RING });
      const rx = await openShmReceiver(fromChild, { create: true, capacity: RING });
      const relay = await startRelay(['shm', toChild, fromChild]);
      await relay.ready; // the relay attached: both names are unlinked already
      return { child: relay.child, tx, rx, stderr: relay.stderr, cleanup: async () => {} };
    }
  }
}

/** Message `seq`: its number, then bytes derived from it, then a SHA-256 of all before. */
export function makeMessage(seq: number, size: number): Uint8Array {
  const body = Buffer.alloc(Math.max(size, 4 + 32));
  body.writeUInt32LE(seq, 0);
  let x = (seq * 2654435761) >>> 0;
  for (let i = 4; i < body.length - 32; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    body[i] = x >>> 24;
  }
  createHash('sha256')
    .update(body.subarray(0, body.length - 32))
    .digest()
    .copy(body, body.length - 32);
  return body;
}

function describeMessage(m: Uint8Array | undefined): string {
  if (m === undefined) return 'end-of-stream';
  const b = Buffer.from(m.buffer, m.byteOffset, m.byteLength);
  return b.length >= 4 ? `#${b.readUInt32LE(0)} (${b.length} bytes)` : `${b.length} bytes`;
}

/** Fails unless `got` is exactly `want`, naming both. */
function expectSame(got: Uint8Array | undefined, want: Uint8Array | undefined, what: string): void {
  const same = got !== undefined && want !== undefined && Buffer.from(got).equals(Buffer.from(want));
  if (!same) expect.fail(`${what}: received ${describeMessage(got)}, expected ${describeMessage(want)}`);
}

interface Model {
  /** Messages sent and not yet received, in order. */
  pending: Uint8Array[];
  bytes: number;
}

interface Real {
  transport: TransportName;
  session: Session | null;
  seq: number;
  /** Every session started, so the run can reap them all. */
  sessions: Session[];
}

/** Sends a burst of messages (as many as fit in flight; at least the first must). */
class Send implements fc.AsyncCommand<Model, Real> {
  constructor(readonly sizes: number[]) {}
  check(m: Readonly<Model>): boolean {
    return m.bytes + Math.max(this.sizes[0]!, 36) <= IN_FLIGHT_LIMIT;
  }
  async run(m: Model, r: Real): Promise<void> {
    for (const size of this.sizes) {
      if (m.bytes + Math.max(size, 36) > IN_FLIGHT_LIMIT) break;
      const msg = makeMessage(r.seq++, size);
      await within(STEP_MS, `send ${describeMessage(msg)}`, r.session!.tx.send(msg));
      m.pending.push(msg);
      m.bytes += msg.byteLength;
    }
  }
  toString(): string {
    return `send(${this.sizes.join(', ')})`;
  }
}

class Receive implements fc.AsyncCommand<Model, Real> {
  constructor(readonly count: number) {}
  check(m: Readonly<Model>): boolean {
    return m.pending.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const n = Math.min(this.count, m.pending.length);
    for (let i = 0; i < n; i++) {
      const want = m.pending.shift()!;
      m.bytes -= want.byteLength;
      const got = await within(STEP_MS, `receive ${describeMessage(want)}`, r.session!.rx.receive());
      expectSame(got, want, 'receive');
    }
  }
  toString(): string {
    return `receive(${this.count})`;
  }
}

/**
 * A clean close: everything in flight arrives, then end-of-stream, and the
 * relay exits 0. Then a new channel and relay (the reopen).
 */
class CloseReopen implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    await closeCleanly(m, r);
    await reopen(m, r);
  }
  toString(): string {
    return 'close, reopen';
  }
}

async function reopen(m: Model, r: Real): Promise<void> {
  r.session = await openSession(r.transport);
  r.sessions.push(r.session);
  m.pending = [];
  m.bytes = 0;
}

async function closeCleanly(m: Model, r: Real): Promise<void> {
  const s = r.session!;
  await within(STEP_MS, 'close the sender', s.tx.close());
  for (;;) {
    const got = await within(STEP_MS, 'drain after close', s.rx.receive());
    if (got === undefined) break;
    expectSame(got, m.pending.shift(), 'drain after close');
  }
  expect(m.pending.map(describeMessage), 'messages lost at close').toEqual([]);
  s.rx.close();
  expect(await within(STEP_MS, 'relay exit', s.child.exited), s.stderr()).toEqual({ code: 0, signal: null });
  await s.cleanup();
  m.bytes = 0;
  r.session = null;
}

/**
 * SIGKILL of the relay: what arrives is a prefix of what was in flight, in
 * order and intact; then a new channel and relay.
 */
class KillReopen implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const s = r.session!;
    s.child.kill('SIGKILL');
    expect(await within(STEP_MS, 'killed relay', s.child.exited)).toEqual({ code: null, signal: 'SIGKILL' });
    for (;;) {
      let got: Uint8Array | undefined;
      try {
        got = await within(STEP_MS, 'drain after kill', s.rx.receive());
      } catch (err) {
        // A stream cut inside a frame: reported, never delivered torn.
        expect(err).toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' });
        break;
      }
      if (got === undefined) break;
      expect(m.pending.length, `received ${describeMessage(got)} after every message in flight`).toBeGreaterThan(0);
      expectSame(got, m.pending.shift(), 'drain after kill');
    }
    await s.tx.close().catch(() => undefined); // the peer is gone: PEER_GONE is expected
    s.rx.close();
    await s.cleanup();
    await reopen(m, r);
  }
  toString(): string {
    return 'kill -9 peer, reopen';
  }
}

/** Runs the soak on `transport`; resolves with how many messages went through. */
export async function soak(
  transport: TransportName,
  numRuns: number,
  maxCommands: number,
  replay?: { seed: number; path?: string },
): Promise<{ runs: number; messages: number; sessions: number }> {
  const size = fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: 2048 }) },
    { weight: 2, arbitrary: fc.integer({ min: 2049, max: 70_000 }) },
    { weight: 1, arbitrary: fc.constant(MAX_MESSAGE) },
  );
  const send = fc.array(size, { minLength: 1, maxLength: 12 }).map((sizes) => new Send(sizes));
  const receive = fc.integer({ min: 1, max: 16 }).map((n) => new Receive(n));
  // fast-check picks among these uniformly: a close or a kill in about one command of six.
  const commands = fc.commands(
    [send, send, send, send, send, send, receive, receive, receive, receive, fc.constant(new CloseReopen()), fc.constant(new KillReopen())],
    { maxCommands, size: 'max' },
  );
  let messages = 0;
  let sessions = 0;
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(commands, async (cmds) => {
      const real: Real = { transport, session: null, seq: 0, sessions: [] };
      const model: Model = { pending: [], bytes: 0 };
      try {
        real.session = await openSession(transport);
        real.sessions.push(real.session);
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        await closeCleanly(model, real); // whatever is still in flight must arrive
        messages += real.seq;
        runs++;
      } finally {
        for (const s of real.sessions) {
          s.child.kill('SIGKILL');
          await within(STEP_MS, 'relay reaped', s.child.exited);
          s.rx.close();
          await s.tx.close().catch(() => undefined);
          await s.cleanup();
        }
        sessions += real.sessions.length;
      }
    }),
    { numRuns, endOnFailure: true, ...replay },
  );
  return { runs, messages, sessions };
}

/** The soft RLIMIT_NOFILE of this process (Node has no getrlimit). */
function fdLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m === null || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/**
 * Opens `count` channels, the transports in turn, all at once; each carries
 * four messages of varied sizes while all the others do, checked by SHA-256.
 * Everything is closed after, and the descriptor count must be back.
 */
export async function manyChannels(count: number): Promise<{ peakFds: number }> {
  const fds = (): number => readdirSync('/proc/self/fd').length;
  const before = fds();
  // At most 3 descriptors a channel (a UNIX server while it accepts).
  expect(fdLimit(), 'RLIMIT_NOFILE too low for this test').toBeGreaterThan(before + count * 3 + 64);
  const pairs: Pair<Uint8Array>[] = [];
  let peakFds = 0;
  try {
    for (let i = 0; i < count; i++) {
      const transport = SOAK_TRANSPORTS[i % SOAK_TRANSPORTS.length]!;
      // A small ring: a fifth of them at the default 1 MiB would be a lot of /dev/shm.
      pairs.push(await openPair<Uint8Array>(transport, { capacity: 64 * 1024 } as never));
    }
    peakFds = fds() - before;
    const results = await within(
      120_000,
      `${count} channels of traffic`,
      Promise.all(
        pairs.map(async (pair, i) => {
          const messages = Array.from({ length: 4 }, (_, k) => randomBytes(1 + ((i * 7919 + k * 104729) % 30_000)));
          const receiving = (async () => {
            const got: string[] = [];
            for (let k = 0; k < messages.length; k++) got.push(sha((await pair.receiver.receive())!));
            return got;
          })();
          for (const m of messages) await pair.sender.send(m);
          return { sent: messages.map(sha), got: await receiving };
        }),
      ),
    );
    for (const { sent, got } of results) expect(got).toEqual(sent);
  } finally {
    await Promise.all(pairs.map((p) => p.cleanup()));
  }
  // A TLS socket closes on a later loop turn (its close lingers until the peer's end, at most LINGER_MS).
  for (let i = 0; i < 150 && fds() !== before; i++) await new Promise((r) => setTimeout(r, 20));
  expect(fds()).toBe(before);
  return { peakFds };
}

/** The heavy suite's soak: 30 runs of up to 80 commands on each of `transports`, one test each. */
export function heavySoak(transports: readonly TransportName[]): void {
  describe('model-based soak', () => {
    it.each(transports)(
      '%s: no loss, duplication, reordering or corruption',
      async (transport) => {
        const result = await soak(transport, 30, 80);
        console.info(`soak over ${transport}: ${result.runs} runs, ${result.sessions} relay processes, ${result.messages} messages`);
        expect(result.runs).toBe(30);
      },
      900_000,
    );
  });
}

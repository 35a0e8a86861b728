// The NATS transport against a real 3-node nats-server cluster on loopback (started by
// this file; Debian's nats-server, which .ci/run installs): addresses, refusal, the
// channel suites (test/channels.test.ts and the others run on NATS too through
// test/support/channel-transports.ts), and a server node killed mid-stream.
import { spawn } from 'node:child_process';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ChannelError, connect, listen, type Duplex, type Listener, type NatsAuthOptions } from '../lib/index.js';
import { natsUnavailable, startNatsCluster, startNatsNode, type NatsCluster } from './support/nats-cluster.js';
import { operatorSetup } from './support/nats-jwt.js';
import { testPki } from './support/tls-certs.js';

const skip = natsUnavailable();
let cluster: NatsCluster;

beforeAll(async () => {
  if (skip === undefined) cluster = await startNatsCluster(3);
});
afterAll(async () => {
  await cluster?.stop();
});

describe.skipIf(skip !== undefined)(`NATS transport${skip === undefined ? '' : ` (skipped: ${skip})`}`, () => {
  it('refuses bad addresses with a RangeError naming the argument, and a subject nobody listens on with ECONNREFUSED', async () => {
    for (const bad of [
      'nats://127.0.0.1:4222',
      'nats:///x',
      'nats://127.0.0.1:4222/a..b',
      'nats://127.0.0.1:4222/a.*',
      'nats://host/x',
      'nats://127.0.0.1:4222/_PIPC.x',
    ])
      await expect(connect(bad)).rejects.toThrow(/"address"/);
    await expect(connect(`nats://${cluster.nodes[0]}/nobody.here`, { timeoutMs: 2000 })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('a listener on one node serves clients through every node; its url is an address', async () => {
    const server = await listen(`nats://${cluster.nodes[0]}/svc.echo.${process.pid}`);
    try {
      expect(server.url).toBe(`nats://${cluster.nodes[0]}/svc.echo.${process.pid}`);
      const serving = (async () => {
        for (let i = 0; i < 3; i++) {
          const d = await server.accept();
          const m = await d.receiver.receive();
          await d.sender.send(m!);
          await d.close();
        }
      })();
      for (const node of cluster.nodes) {
        const c = await connect(`nats://${node}/svc.echo.${process.pid}`);
        await c.sender.send(new TextEncoder().encode(node));
        expect(new TextDecoder().decode(await c.receiver.receive())).toBe(node);
        await c.close();
      }
      await serving;
    } finally {
      server.close();
    }
  });

  it('connect with a signal: an abort ends a hello nobody answers at once and releases the connection (a process exits then, not at the timeout)', async () => {
    const { connect: natsConnect } = await import('@nats-io/transport-node');
    const nc = await natsConnect({ servers: cluster.nodes[0] });
    const subject = `svc.mute.${process.pid}`;
    nc.subscribe(subject); // takes every hello, answers none
    await nc.flush();
    const address = `nats://${cluster.nodes[0]}/${subject}`;
    try {
      const ac = new AbortController();
      const t0 = performance.now();
      setTimeout(() => ac.abort(), 100);
      await expect(connect(address, { signal: ac.signal, timeoutMs: 10_000 })).rejects.toMatchObject({ name: 'AbortError' });
      expect(performance.now() - t0).toBeLessThan(2000);
      const code = `import { connect } from ${JSON.stringify(new URL('../lib/index.ts', import.meta.url).href)};
        const ac = new AbortController(); setTimeout(() => ac.abort(), 100);
        await connect(process.argv[1], { signal: ac.signal, timeoutMs: 60000 }).catch((e) => console.log(e.name));`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, address], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      const t1 = performance.now();
      const exit = await new Promise<number | null>((r) => child.on('exit', r));
      const ms = performance.now() - t1;
      expect({ exit, out: out.trim() }).toEqual({ exit: 0, out: 'AbortError' });
      expect(ms).toBeLessThan(30_000); // the start and tsx included; 60 s and more when the hello held the connection
    } finally {
      await nc.drain();
    }
  }, 60_000);

  it('a hostile peer: frames past the window, or an END after a gap, fail the channel (ERR_CHANNEL_CORRUPT); that END is not confirmed', async () => {
    const { connect: natsConnect, createInbox } = await import('@nats-io/transport-node');
    const nc = await natsConnect({ servers: cluster.nodes[0] });
    const subject = `svc.hostile.${process.pid}`;
    const server = await listen(`nats://${cluster.nodes[0]}/${subject}`, { highWaterMark: 1024 });
    const data = (seq: number, len: number): Uint8Array => {
      const b = new Uint8Array(5 + len);
      b[0] = 1; // DATA
      new DataView(b.buffer).setUint32(1, seq);
      return b;
    };
    try {
      for (const attack of ['window', 'gap'] as const) {
        const accepted = server.accept();
        const own = createInbox('_PIPC');
        const sub = nc.subscribe(own);
        await nc.flush();
        const answer = await nc.request(subject, new TextEncoder().encode(JSON.stringify({ v: 1, inbox: own, window: 1 << 20 })), {
          timeout: 5000,
        });
        const peer = (JSON.parse(new TextDecoder().decode(answer.data)) as { inbox: string }).inbox;
        const conn = await accepted;
        let endAnswer: Uint8Array | undefined;
        if (attack === 'window')
          for (let i = 1; i <= 5; i++) nc.publish(peer, data(i, 600)); // 3000 bytes into a window of 1024
        else {
          nc.publish(peer, data(1, 10));
          nc.publish(peer, data(2, 10));
          const end = new Uint8Array(5);
          end[0] = 3; // END, claiming 4 messages were sent
          new DataView(end.buffer).setUint32(1, 4);
          endAnswer = (await nc.request(peer, end, { timeout: 5000 })).data;
        }
        await new Promise((r) => setTimeout(r, 200)); // every frame in before anything is read
        const reading = (async () => {
          for await (const _ of conn.receiver);
        })();
        await expect(reading).rejects.toMatchObject({ code: 'ERR_CHANNEL_CORRUPT' });
        if (endAnswer !== undefined) expect(endAnswer.length).toBe(1); // "not everything was read": the sender's close() rejects
        sub.unsubscribe();
        await conn.close().catch(() => undefined);
      }
    } finally {
      server.close();
      await nc.drain();
    }
  });

  it('a server node killed mid-stream: the client fails over, and every message arrives in order or the channel fails (no silent gap)', async () => {
    const subject = `svc.kill.${process.pid}`;
    const server: Listener<Uint8Array> = await listen(`nats://${cluster.nodes[0]}/${subject}`, { peerTimeoutMs: 4000 });
    let conn: Duplex<Uint8Array> | undefined;
    let client: Duplex<Uint8Array> | undefined;
    try {
      const accepted = server.accept();
      client = await connect(`nats://${cluster.nodes[1]}/${subject}`, { peerTimeoutMs: 4000 }); // learns the other nodes from the cluster
      conn = await accepted;
      const N = 3000;
      const got: number[] = [];
      let failure: unknown;
      const reading = (async () => {
        try {
          for await (const m of conn!.receiver) got.push(new DataView(m.buffer, m.byteOffset).getUint32(0));
        } catch (err) {
          failure = err;
        }
      })();
      let sendFailure: unknown;
      for (let i = 0; i < N; i++) {
        const b = new Uint8Array(64);
        new DataView(b.buffer).setUint32(0, i);
        if (i === 1000) cluster.kill(1); // the client's node
        try {
          await client.sender.send(b);
        } catch (err) {
          sendFailure = err;
          break;
        }
        if (i % 100 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      if (sendFailure === undefined) await client.sender.close().catch((err: unknown) => (sendFailure = err)); // an end not confirmed is an error too
      await Promise.race([reading, new Promise((r) => setTimeout(r, 20_000))]);
      expect(got).toEqual(got.map((_, i) => i)); // a prefix, in order: never a gap
      if (got.length < N) expect(failure ?? sendFailure).toBeInstanceOf(ChannelError);
      else expect(failure).toBeUndefined();
      process.stderr.write(`node kill: ${got.length} of ${N} arrived; ${String(failure ?? sendFailure ?? 'no failure')}\n`);
    } finally {
      await client?.close().catch(() => undefined);
      await conn?.close().catch(() => undefined);
      server.close();
    }
  }, 60_000);
});

// Secured servers: a user and password, a user NKey, a JWT .creds file (operator mode), and TLS with the test PKI's server certificate.

/** A listener and a client on `address`, both with `auth`: one message from the client; what the listener's side received. */
async function exchangeOnce(address: string, auth: NatsAuthOptions, bytes: number[]): Promise<number[]> {
  const server = await listen<Uint8Array>(address, { auth });
  try {
    const [client, conn] = await Promise.all([connect<Uint8Array>(address, { auth }), server.accept()]);
    await client.sender.send(new Uint8Array(bytes));
    const got = [...(await conn.receiver.receive())!];
    await client.close();
    await conn.close();
    return got;
  } finally {
    server.close();
  }
}
describe.skipIf(skip !== undefined)('NATS servers that require credentials and TLS', () => {
  it('without the credentials connect fails with EACCES; with them (options.auth) a channel carries messages; bad auth options name the argument', async () => {
    const node = await startNatsNode('authorization { user: pipc, password: s3cret }');
    try {
      const address = `nats://${node.servers}/secured.echo`;
      await expect(listen(address)).rejects.toMatchObject({ code: 'EACCES', syscall: 'connect' });
      await expect(listen(address, { auth: { user: 'pipc', pass: 'wrong' } })).rejects.toMatchObject({ code: 'EACCES' });
      await expect(listen(address, { auth: { user: 'pipc' } } as never)).rejects.toThrow(/options\.auth/);
      const auth = { user: 'pipc', pass: 's3cret' };
      await expect(exchangeOnce(address, auth, [1, 2, 3])).resolves.toEqual([1, 2, 3]);
      // A connection opened with the credentials is shared only with callers that give the same ones.
      const authed = await listen(address, { auth });
      try {
        await expect(listen(address)).rejects.toMatchObject({ code: 'EACCES', syscall: 'connect' });
        await expect(listen(address, { auth: { user: 'pipc', pass: 'wrong' } })).rejects.toMatchObject({ code: 'EACCES' });
      } finally {
        await authed.close();
      }
    } finally {
      await node.stop();
    }
  }, 30_000);

  it("a user NKey (options.auth.nkey): the seed signs the challenge; another user's seed, or none, is EACCES; a malformed seed names the option", async () => {
    const { nkeys } = await import('@nats-io/transport-node');
    const [allowed, other] = [nkeys.createUser(), nkeys.createUser()];
    const seed = (kp: typeof allowed): string => new TextDecoder().decode(kp.getSeed());
    const node = await startNatsNode(`authorization { users = [ { nkey: "${allowed.getPublicKey()}" } ] }`);
    try {
      const address = `nats://${node.servers}/nkey.echo`;
      await expect(listen(address)).rejects.toMatchObject({ code: 'EACCES', syscall: 'connect' });
      await expect(listen(address, { auth: { nkey: seed(other) } })).rejects.toMatchObject({ code: 'EACCES' });
      await expect(listen(address, { auth: { nkey: 'SUnot-a-seed' } })).rejects.toThrow(/"options\.auth\.nkey"/);
      const typo = seed(allowed).slice(0, 20) + (seed(allowed)[20] === 'A' ? 'B' : 'A') + seed(allowed).slice(21); // the shape of a seed, not its checksum
      await expect(listen(address, { auth: { nkey: typo } })).rejects.toThrow(/"options\.auth\.nkey" option is not a valid NKey seed/);
      await expect(listen(address, { auth: { nkey: seed(allowed), token: 'x' } })).rejects.toThrow(
        /one of a user, a token, an nkey or creds/,
      );
      await expect(exchangeOnce(address, { nkey: seed(allowed) }, [4, 5, 6])).resolves.toEqual([4, 5, 6]);
    } finally {
      await node.stop();
    }
  }, 30_000);

  it('a .creds file (options.auth.creds) for a server in operator mode: a user JWT of the trusted account connects; one of another account, or none, is EACCES', async () => {
    const op = operatorSetup();
    const node = await startNatsNode(op.config, op.files);
    try {
      const address = `nats://${node.servers}/creds.echo`;
      await expect(listen(address)).rejects.toMatchObject({ code: 'EACCES', syscall: 'connect' });
      await expect(listen(address, { auth: { creds: op.foreignCreds() } })).rejects.toMatchObject({ code: 'EACCES' });
      await expect(listen(address, { auth: { creds: 'a JWT' } })).rejects.toThrow(/"options\.auth\.creds"/);
      await expect(exchangeOnce(address, { creds: op.creds() }, [7, 8, 9])).resolves.toEqual([7, 8, 9]);
      const crlf = op.creds().replace(/\n/g, '\r\n'); // a file written on Windows
      await expect(exchangeOnce(address, { creds: crlf }, [10])).resolves.toEqual([10]);
    } finally {
      await node.stop();
    }
  }, 30_000);

  it('TLS: the servers verified against options.auth.tls.ca; without TLS options the connection fails', async () => {
    const pki = testPki();
    const node = await startNatsNode('tls { cert_file: "$DIR/server.pem", key_file: "$DIR/server.key" }', {
      'server.pem': pki.server.cert,
      'server.key': pki.server.key,
    });
    try {
      const address = `nats://${node.servers}/tls.echo`;
      await expect(listen(address, { timeoutMs: 3000 })).rejects.toThrow();
      const auth = { tls: { ca: pki.ca.cert } };
      await expect(exchangeOnce(address, auth, [9])).resolves.toEqual([9]);
    } finally {
      await node.stop();
    }
  }, 30_000);
});

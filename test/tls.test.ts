// TLS channels (TlsServer/connectTls) on loopback, with certificates made at
// test time (test/tls-certs.ts): the verified identity on both sides, mutual
// TLS, each bad certificate refused with its own node:tls code (on the
// client, and on the server through onClientError), a plaintext client and a
// TLS client against the wrong kind of server, PSK (TLS 1.3 and 1.2), many
// clients, and a forked child (checksummed both ways, then kill -9). The
// frame, backpressure and end-of-stream rules are the suites' of
// channels.test.ts and channel-api.test.ts, which run over TLS too.
import { createHash, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import {
  closeSync,
  codecs,
  connectTcp,
  connectTls,
  listenTcpSocket,
  TcpServer,
  TlsServer,
  type TcpAddress,
  type TlsDuplex,
  type TlsServerOptions,
} from '../lib/index.js';
import { startFixture } from './support/fixture-process.js';
import { message } from './fixtures/channel-peer.js';
import { sleep, until, within } from './support/helpers.js';
import { pkiEnv, testPki } from './support/tls-certs.js';

const PKI = testPki();
const SERVER = { key: PKI.server.key, cert: PKI.server.cert };

function hasIpv6Loopback(): boolean {
  try {
    closeSync(listenTcpSocket({ host: '::1' }));
    return true;
  } catch {
    return false;
  }
}
const IPV6 = hasIpv6Loopback();

/** A server recording every client that did not become a channel. */
async function server<T = Uint8Array>(
  options: Partial<TlsServerOptions<T>> = {},
): Promise<{ server: TlsServer<T>; refusals: Array<{ code?: string; message: string; remote?: TcpAddress }> }> {
  const refusals: Array<{ code?: string; message: string; remote?: TcpAddress }> = [];
  const s = await TlsServer.listen<T>({
    ...SERVER,
    ...options,
    onClientError: (err, remote) => refusals.push({ code: err.code, message: err.message, remote }),
  });
  return { server: s, refusals };
}

/** The rejection of `p` (fails the test when it fulfils). */
async function rejection(p: Promise<unknown>, what: string): Promise<Error & { code?: string }> {
  const r = await within(
    10_000,
    what,
    p.then(
      (v) => ({ ok: true as const, v }),
      (e: unknown) => ({ ok: false as const, e }),
    ),
  );
  if (r.ok) throw new Error(`${what}: expected a rejection`);
  return r.e as Error & { code?: string };
}

async function exchange(a: TlsDuplex<Uint8Array>, b: TlsDuplex<Uint8Array>): Promise<void> {
  await a.sender.send(new Uint8Array([1, 2, 3]));
  expect(await within(5000, 'receive', b.receiver.receive())).toEqual(new Uint8Array([1, 2, 3]));
  await b.sender.send(new Uint8Array([4]));
  expect(await within(5000, 'receive', a.receiver.receive())).toEqual(new Uint8Array([4]));
}

describe('TLS channel: identities', () => {
  it('the client verifies the server (CA, host) and sees its certificate; the server reports its port', async () => {
    const { server: s } = await server({ port: 0 });
    try {
      expect(s.port).toBeGreaterThan(0);
      expect(s.address).toBe('127.0.0.1');
      const accepted = s.accept();
      const client = await connectTls({ host: 'localhost', port: s.port, ca: PKI.ca.cert });
      const conn = await within(5000, 'accept', accepted);
      const cert = new X509Certificate(PKI.server.cert);
      expect(client.peer).toMatchObject({
        authorized: true,
        subject: { CN: 'localhost' },
        issuer: { CN: 'posix-ipc test CA' },
        fingerprint256: cert.fingerprint256,
        protocol: 'TLSv1.3',
      });
      expect(client.peer.subjectAltName).toContain('DNS:localhost');
      expect(client.peer.address).toEqual({ address: '127.0.0.1', port: s.port, family: 4 });
      expect(conn.peer).toMatchObject({ authorized: false, address: client.local }); // no client certificate asked for
      expect(conn.peer.subject).toBeUndefined();
      await exchange(client, conn);
      await client.close();
      expect(await within(5000, 'end', conn.receiver.receive())).toBeUndefined();
      await conn.close();
    } finally {
      s.close();
    }
  });

  it("mutual TLS: the server sees the client certificate's subject, and verifyPeer can refuse by it", async () => {
    const { server: s } = await server({ ca: PKI.ca.cert, requestCert: true, verifyPeer: (peer) => peer.subject?.CN === 'client-1' });
    try {
      const accepted = s.accept();
      const client = await connectTls({ port: s.port, ca: PKI.ca.cert, key: PKI.client.key, cert: PKI.client.cert });
      const conn = await within(5000, 'accept', accepted);
      expect(conn.peer).toMatchObject({
        authorized: true,
        subject: { CN: 'client-1', O: 'posix-ipc tests' },
        fingerprint256: new X509Certificate(PKI.client.cert).fingerprint256,
      });
      expect(client.peer).toMatchObject({ authorized: true, subject: { CN: 'localhost' } });
      await exchange(client, conn);
      await client.close();
      await conn.close();
    } finally {
      s.close();
    }
    // Refused by verifyPeer: closed at once, never yielded.
    const { server: picky } = await server({
      ca: PKI.ca.cert,
      requestCert: true,
      verifyPeer: (peer) => peer.subject?.CN === 'someone-else',
    });
    try {
      const accepting = picky.accept();
      accepting.catch(() => undefined);
      const client = await connectTls({ port: picky.port, ca: PKI.ca.cert, key: PKI.client.key, cert: PKI.client.cert });
      await expect(
        within(
          5000,
          'the refused client ends',
          client.receiver.receive().catch((e: unknown) => e),
        ),
      ).resolves.not.toBeInstanceOf(Uint8Array);
      await client.close().catch(() => undefined);
      expect(await Promise.race([accepting.then(() => 'yielded'), sleep(100).then(() => 'pending')])).toBe('pending');
    } finally {
      picky.close();
    }
  });

  it.runIf(IPV6)('works over IPv6 (::1): the certificate names the address', async () => {
    const { server: s } = await server({ host: '::1' });
    try {
      expect(s).toMatchObject({ address: '::1', family: 6 });
      const accepted = s.accept();
      const client = await connectTls({ host: '::1', port: s.port, ca: PKI.ca.cert });
      const conn = await within(5000, 'accept', accepted);
      expect(conn.peer.address.family).toBe(6);
      await exchange(client, conn);
      await client.close();
      await conn.close();
    } finally {
      s.close();
    }
  });
  it.skipIf(IPV6)('works over IPv6 (::1) — skipped: this machine has no ::1 (IPv6 turned off)', () => undefined);
});

describe('TLS channel: refused certificates, each with its own code', () => {
  const cases: Array<[string, { key: string; cert: string }, string, string]> = [
    ['an expired server certificate', PKI.expiredServer, 'localhost', 'CERT_HAS_EXPIRED'],
    ['a self-signed server certificate', PKI.selfSigned, 'localhost', 'DEPTH_ZERO_SELF_SIGNED_CERT'],
    ['a server certificate from another CA (leaf only)', PKI.otherServer, 'localhost', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    [
      'a server certificate from another CA (with its root)',
      { key: PKI.otherServer.key, cert: PKI.otherServer.chain },
      'localhost',
      'SELF_SIGNED_CERT_IN_CHAIN',
    ],
    ['a certificate for another host', PKI.wrongHost, 'localhost', 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ];
  it.each(cases)('the client refuses %s', async (_what, creds, host, code) => {
    const s = await TlsServer.listen({ key: creds.key, cert: creds.cert });
    try {
      const accepting = s.accept();
      accepting.catch(() => undefined);
      const err = await rejection(connectTls({ host, port: s.port, ca: PKI.ca.cert, timeoutMs: 5000 }), 'connectTls');
      expect(err.code).toBe(code);
      expect(
        await Promise.race([
          accepting.then(
            () => 'yielded',
            () => 'rejected',
          ),
          sleep(100).then(() => 'pending'),
        ]),
      ).toBe('pending');
    } finally {
      s.close();
    }
  });

  it('rejectUnauthorized: false connects anyway, and peer says why it is not authorized', async () => {
    const s = await TlsServer.listen({ key: PKI.expiredServer.key, cert: PKI.expiredServer.cert });
    try {
      const accepted = s.accept();
      const client = await connectTls({ port: s.port, ca: PKI.ca.cert, rejectUnauthorized: false });
      expect(client.peer).toMatchObject({ authorized: false, authorizationError: 'CERT_HAS_EXPIRED' });
      const conn = await within(5000, 'accept', accepted);
      await exchange(client, conn);
      await client.close();
      await conn.close();
    } finally {
      s.close();
    }
  });

  const clientCases: Array<[string, { key: string; cert: string } | undefined, string]> = [
    ['an expired client certificate', PKI.expiredClient, 'CERT_HAS_EXPIRED'],
    ['a client certificate from another CA', PKI.otherClient, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ['no client certificate', undefined, 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'],
  ];
  it.each(clientCases)(
    "a mutual-TLS server refuses %s, reports its code, never yields it, and the client's channel ends",
    async (_what, creds, code) => {
      const { server: s, refusals } = await server({ ca: PKI.ca.cert, requestCert: true });
      try {
        const accepting = s.accept();
        accepting.catch(() => undefined);
        // TLS 1.3 completes the client's side of the handshake before the server checks.
        const client = await connectTls({ port: s.port, ca: PKI.ca.cert, ...creds }).catch((e: unknown) => e);
        if (client instanceof Error) {
          expect(client).toMatchObject({ code: expect.stringMatching(/^(ECONNRESET|ERR_SSL_)/) });
        } else {
          const d = client as TlsDuplex<Uint8Array>;
          const ended = await within(
            5000,
            'the refused client ends',
            d.receiver.receive().then(
              () => 'end',
              (e: { code?: string }) => e.code,
            ),
          );
          expect(['end', 'ERR_CHANNEL_PEER_GONE']).toContain(ended);
          await d.close().catch(() => undefined);
        }
        await until(() => refusals.length > 0, 'the refusal report');
        expect(refusals[0]).toMatchObject({ code });
        expect(refusals[0]!.remote?.address).toBe('127.0.0.1');
        expect(
          await Promise.race([
            accepting.then(
              () => 'yielded',
              () => 'rejected',
            ),
            sleep(50).then(() => 'pending'),
          ]),
        ).toBe('pending');
      } finally {
        s.close();
      }
    },
  );
});

describe('TLS channel: the wrong kind of peer fails cleanly on both sides', () => {
  it('a plaintext client against a TLS server: the server reports ERR_SSL_WRONG_VERSION_NUMBER, the client sees its channel end', async () => {
    const { server: s, refusals } = await server();
    try {
      const accepting = s.accept();
      accepting.catch(() => undefined);
      const plain = await connectTcp({ port: s.port });
      await plain.sender.send(new Uint8Array(100).fill(1)).catch(() => undefined);
      const ended = await within(
        5000,
        'the plaintext client ends',
        plain.receiver.receive().then(
          (m) => (m === undefined ? 'end' : 'message'),
          (e: { code?: string }) => e.code,
        ),
      );
      expect(['end', 'ERR_CHANNEL_PEER_GONE']).toContain(ended);
      await until(() => refusals.length > 0, 'the refusal report');
      expect(refusals[0]).toMatchObject({ code: 'ERR_SSL_WRONG_VERSION_NUMBER', remote: plain.local });
      await expect(
        within(
          5000,
          'sending to a closed server side',
          (async () => {
            for (let i = 0; i < 200; i++) await plain.sender.send(new Uint8Array(64 * 1024));
          })(),
        ),
      ).rejects.toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' });
      await plain.close().catch(() => undefined);
      expect(
        await Promise.race([
          accepting.then(
            () => 'yielded',
            () => 'rejected',
          ),
          sleep(50).then(() => 'pending'),
        ]),
      ).toBe('pending');
    } finally {
      s.close();
    }
  });

  it("a TLS client against a plaintext server: the server sees a corrupt frame and closes, the client's connect rejects", async () => {
    const plain = await TcpServer.listen({ maxMessageSize: 64 * 1024 });
    try {
      const accepted = plain.accept();
      const connecting = connectTls({ port: plain.port, ca: PKI.ca.cert, handshakeTimeoutMs: 5000 });
      const conn = await within(5000, 'accept', accepted);
      await expect(within(5000, 'the ClientHello read as a frame', conn.receiver.receive())).rejects.toMatchObject({
        code: 'ERR_CHANNEL_CORRUPT',
      });
      await conn.close().catch(() => undefined);
      const err = await rejection(connecting, 'connectTls');
      expect(err.code).toMatch(/^(ECONNRESET|ERR_SSL_WRONG_VERSION_NUMBER)$/);
    } finally {
      plain.close();
    }
  });

  it('a client that never sends a handshake is dropped after handshakeTimeoutMs (ERR_TLS_HANDSHAKE_TIMEOUT) without holding up others', async () => {
    const { server: s, refusals } = await server({ handshakeTimeoutMs: 300 });
    try {
      const accepted = s.accept();
      const silent = await connectTcp({ port: s.port });
      await sleep(20);
      const client = await connectTls({ port: s.port, ca: PKI.ca.cert });
      const conn = await within(5000, 'the second client is accepted while the first stays silent', accepted);
      expect(conn.peer.address).toEqual(client.local);
      await until(() => refusals.length > 0, 'the handshake timeout', 3000);
      expect(refusals[0]).toMatchObject({ code: 'ERR_TLS_HANDSHAKE_TIMEOUT', remote: silent.local });
      expect(await within(5000, 'the silent client is closed', silent.receiver.receive())).toBeUndefined();
      await silent.close().catch(() => undefined);
      await client.close();
      await conn.close();
    } finally {
      s.close();
    }
  });
});

describe('TLS channel: pre-shared keys', () => {
  const key = Buffer.from('9f8e7d6c5b4a39281706f5e4d3c2b1a0', 'hex');
  it.each(['TLSv1.3', 'TLSv1.2'] as const)(
    '%s PSK really connects with no certificate, and the server sees the identity',
    async (version) => {
      const { server: s, refusals } = await TlsServer.listen({
        pskCallback: (identity) => (identity === 'worker-7' ? key : null),
        maxVersion: version,
        codec: codecs.utf8,
      }).then((srv) => ({ server: srv, refusals: [] as unknown[] }));
      try {
        const accepted = s.accept();
        const client = await connectTls({ port: s.port, psk: { identity: 'worker-7', key }, maxVersion: version, codec: codecs.utf8 });
        const conn = await within(5000, 'accept', accepted);
        expect(conn.peer).toMatchObject({ authorized: true, pskIdentity: 'worker-7', protocol: version });
        expect(conn.peer.subject).toBeUndefined();
        expect(client.peer).toMatchObject({ authorized: true, pskIdentity: 'worker-7', protocol: version });
        await client.sender.send('over psk');
        expect(await within(5000, 'receive', conn.receiver.receive())).toBe('over psk');
        await client.close();
        await conn.close();
        expect(refusals).toEqual([]);
      } finally {
        s.close();
      }
    },
  );

  it('a wrong key or an unknown identity is refused on both sides', async () => {
    const refusals: Array<{ code?: string }> = [];
    const s = await TlsServer.listen({
      pskCallback: (identity) => (identity === 'worker-7' ? key : undefined),
      onClientError: (err) => refusals.push({ code: err.code }),
    });
    const accepting = s.accept(); // handshakes run while someone waits for a connection
    accepting.catch(() => undefined);
    try {
      for (const psk of [
        { identity: 'worker-7', key: Buffer.alloc(16, 1) },
        { identity: 'stranger', key },
      ]) {
        const before = refusals.length;
        const err = await rejection(connectTls({ port: s.port, psk }), 'connectTls with a bad PSK');
        expect(err.code).toMatch(/^(ECONNRESET|ERR_SSL_)/);
        await until(() => refusals.length > before, 'the refusal report');
        expect(refusals.at(-1)!.code).toMatch(/^(ECONNRESET|ERR_SSL_)/);
      }
    } finally {
      s.close();
    }
  });
});

describe('TLS channel: one direction closed, the other carries on', () => {
  // OpenSSL drops application data that arrives after its own close_notify: a
  // sender that ended the TLS stream would lose what the peer still sends. The
  // end of a direction is therefore a mark in the stream (docs/tcp-tls.md).
  it('a client that closes its sender while replies are arriving still receives every one, then the end', async () => {
    const { server: s } = await server();
    try {
      const accepted = s.accept();
      const c = await connectTls({ port: s.port, ca: PKI.ca.cert, timeoutMs: 10_000 });
      const conn = await within(10_000, 'accept', accepted);
      const replies = Array.from({ length: 400 }, (_, i) => message(i, 1024));
      const replying = (async () => {
        await Promise.all(replies.map((m) => conn.sender.send(m)));
        expect(await within(5000, 'end of the client', conn.receiver.receive())).toBeUndefined();
        await conn.close();
      })();
      const got: Uint8Array[] = [];
      // The close comes in the turn that delivers the 100th reply, while the TLS
      // layer still holds records of later ones: those must not be lost.
      for (let i = 0; i < 100; i++) got.push((await within(5000, 'reply', c.receiver.receive()))!);
      await c.sender.close();
      for await (const m of c.receiver) got.push(m);
      await within(10_000, 'replies sent', replying);
      expect(got.length).toBe(replies.length);
      expect(got.every((m, i) => Buffer.from(m).equals(replies[i]!))).toBe(true);
      await c.close();
    } finally {
      s.close();
    }
  });

  it('a server whose sender closed first still receives all the client sends, then the end', async () => {
    const { server: s } = await server();
    try {
      const accepted = s.accept();
      const c = await connectTls({ port: s.port, ca: PKI.ca.cert, timeoutMs: 10_000 });
      const conn = await within(10_000, 'accept', accepted);
      await conn.sender.close();
      expect(await within(5000, 'end from the server', c.receiver.receive())).toBeUndefined();
      const sent = createHash('sha256');
      for (let i = 0; i < 16; i++) {
        const m = message(i, 100_000);
        sent.update(m);
        await c.sender.send(m);
      }
      await c.close();
      const got = createHash('sha256');
      let n = 0;
      for await (const m of conn.receiver) {
        got.update(m);
        n++;
      }
      expect(n).toBe(16);
      expect(got.digest('hex')).toBe(sent.digest('hex'));
      await conn.close();
    } finally {
      s.close();
    }
  });
});

describe('TLS channel: load and a real child', () => {
  it('serves many clients at once', async () => {
    const { server: s } = await server();
    const n = 30;
    try {
      const serving = (async () => {
        const done: Promise<void>[] = [];
        for await (const conn of s) {
          done.push(
            (async () => {
              for await (const m of conn.receiver) await conn.sender.send(createHash('sha256').update(m).digest());
              await conn.close();
            })(),
          );
          if (done.length === n) break;
        }
        await Promise.all(done);
      })();
      const results = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const c = await connectTls({ port: s.port, ca: PKI.ca.cert, timeoutMs: 10_000 });
          const m = message(i, 9);
          await c.sender.send(m);
          const got = Buffer.from((await c.receiver.receive())!).toString('hex');
          await c.close();
          return got === createHash('sha256').update(m).digest('hex');
        }),
      );
      await within(20_000, 'serving', serving);
      expect(results.every(Boolean)).toBe(true);
    } finally {
      s.close();
    }
  });

  it('carries a checksummed stream both ways with a forked child over mutual TLS; its kill -9 ends our receive and fails our send', async () => {
    const { server: s } = await server({ ca: PKI.ca.cert, requestCert: true });
    const accepted = s.accept();
    const child = startFixture('net-echo.ts', ['tls', String(s.port), 'mtls'], { env: pkiEnv() });
    try {
      const conn = await within(15_000, 'the child connects', accepted);
      s.close();
      expect(conn.peer.subject).toMatchObject({ CN: 'client-1' });
      const [, pid] = await child.waitFor(/ready (\d+)/);
      expect(Number(pid)).toBe(child.child.pid);
      const out = createHash('sha256');
      const back = createHash('sha256');
      const n = 200;
      const echoing = (async () => {
        for (let i = 0; i < n; i++) back.update((await conn.receiver.receive())!);
      })();
      for (let i = 0; i < n; i++) {
        const m = message(i, 13);
        out.update(m);
        await conn.sender.send(m);
      }
      await within(15_000, 'the echo', echoing);
      expect(back.digest('hex')).toBe(out.digest('hex'));
      const pending = conn.receiver.receive();
      await sleep(20);
      child.child.kill('SIGKILL');
      const ended = await within(
        5000,
        'receive after kill -9',
        pending.then(
          (m) => (m === undefined ? 'end' : 'message'),
          (e: { code?: string }) => e.code,
        ),
      );
      expect(['end', 'ERR_CHANNEL_PEER_GONE']).toContain(ended);
      await expect(
        within(
          5000,
          'send after kill -9',
          (async () => {
            for (let i = 0; i < 1000; i++) await conn.sender.send(new Uint8Array(64 * 1024));
          })(),
        ),
      ).rejects.toMatchObject({ code: 'ERR_CHANNEL_PEER_GONE' });
      await conn.close().catch(() => undefined);
    } finally {
      s.close();
      await child.stop();
    }
  });

  it('close() rejects waiting accepts, drops handshakes in progress, and checks options before listening', async () => {
    const { server: s } = await server();
    const waiting = s.accept();
    const silent = await connectTcp({ port: s.port });
    await sleep(20);
    s.close();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
    expect(await within(5000, 'the client in its handshake is closed', silent.receiver.receive())).toBeUndefined();
    await silent.close().catch(() => undefined);
    await expect(TlsServer.listen({} as never)).rejects.toThrow(TypeError);
    await expect(TlsServer.listen({ key: 'not a key', cert: 'not a cert' })).rejects.toThrow();
    await expect(connectTls({ port: 1, psk: { identity: 'x', key: new Uint8Array(0) } })).rejects.toThrow(TypeError);
  });
});

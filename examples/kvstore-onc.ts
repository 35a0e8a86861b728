// The course's KVSTORE as an ONC RPC program: kvstore/kv_store.x (the seed's
// `program KVSTORE { version KVSTORE_V1 { int EXAMPLE(int) = 1; } = 1; } = 0x20000001;`)
// compiled by `posix-ipc-rpcgen kvstore/kv_store.x -o kvstore/kv_store.ts`, the
// server here (EXAMPLE returns its argument + 1, as the seed's example_1_svc),
// its client in a child process. One address changes the transport:
//   oncrpc://127.0.0.1:0  raw ONC RPC over TCP (record marking): an rpcgen C client can call it
//   unix:/path            a UNIX socket (the server sees the client's uid from the kernel)
//   shm:/name             a shared-memory ring
//   tls://127.0.0.1:0     TLS with a pre-shared key made for this run
// Run: npx tsx examples/kvstore-onc.ts [address]
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { forkNode, oncClient, serveOnc } from '../lib/index.js';
import { KVSTORE_V1_SPEC } from './kvstore/kv_store.js';

const [role, address = `unix:${join(tmpdir(), `kvstore-onc-${process.pid}.sock`)}`] = process.argv.slice(2);
const tls = address.startsWith('tls:');
const psk = Buffer.from(process.env.KVSTORE_PSK ?? randomBytes(32).toString('hex'), 'hex');

if (role === 'client') {
  const channel = tls ? { psk: { identity: 'kvstore-client', key: psk } } : undefined;
  const kv = await oncClient(KVSTORE_V1_SPEC, address, { credential: 'sys', channel });
  console.log(`EXAMPLE(41) = ${await kv.EXAMPLE(41)}`);
  try {
    await kv.EXAMPLE(2 ** 31); // not an XDR int: refused before it is sent
  } catch (err) {
    console.log(`EXAMPLE(2^31): ${(err as { code: string }).code}`);
  }
  await kv.close();
} else {
  const channel = tls ? { server: { pskCallback: (id: string) => (id === 'kvstore-client' ? psk : null) } } : undefined;
  const server = await serveOnc(
    address,
    [
      {
        spec: KVSTORE_V1_SPEC,
        handlers: {
          EXAMPLE: (n, ctx) => {
            const who = ctx.credential.flavor === 'sys' ? `uid ${ctx.credential.uid}` : 'anonymous';
            console.log(`server: EXAMPLE(${n}) from ${who}`);
            return n + 1;
          },
        },
      },
    ],
    { channel },
  );
  const client = forkNode(new URL(import.meta.url), {
    args: ['client', server.url],
    env: { ...process.env, KVSTORE_PSK: psk.toString('hex') },
  });
  const { code } = await client.exited;
  await server.close();
  console.log(`client exited with code ${code}`);
}

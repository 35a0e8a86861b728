// The course's socket client/server, on one address syntax: the server
// listens, accepts a client, reads its message and answers; the client
// (examples/socket-client.ts, forked here) connects, writes, reads the
// answer. The same program runs over plain TCP, then over TLS: the only
// differences are the address's scheme and the credentials beside it (a
// pre-shared key here: TLS without certificates, made fresh for the run).
// Run: node --import tsx examples/socket-server.ts
import { randomBytes } from 'node:crypto';

import { codecs, forkNode, listen, type AddressOptions } from '../lib/index.js';

const psk = randomBytes(32);
const RUNS: { scheme: string; address: string; server: AddressOptions<string> }[] = [
  { scheme: 'tcp', address: 'tcp://127.0.0.1:0', server: {} },
  {
    scheme: 'tls',
    address: 'tls://127.0.0.1:0',
    server: { pskCallback: (identity: string) => (identity === 'course-client' ? psk : null) },
  },
];

for (const { scheme, address, server: credentials } of RUNS) {
  // socket(), bind(), listen(): port 0 lets the kernel pick one; the listener's url says which.
  const server = await listen<string>(address, { codec: codecs.utf8, ...credentials });
  console.log(`[${scheme}] server listening on ${server.url}`);
  const client = forkNode(new URL('./socket-client.ts', import.meta.url), {
    args: [server.url],
    env: { ...process.env, SOCKET_EXAMPLE_PSK: psk.toString('hex') },
  });
  // accept(): one connection, a duplex channel of strings.
  const conn = await server.accept();
  server.close();
  const request = await conn.receiver.receive({ timeoutMs: 10_000 });
  console.log(`[${scheme}] server received: ${request}`);
  await conn.sender.send(`Hello, client! You said: ${request}`);
  await conn.close();
  const status = await client.exited;
  console.log(`[${scheme}] client exited with code ${status.code}`);
}

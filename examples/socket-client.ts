// The client half of examples/socket-server.ts (which forks it): connects to
// the address it is given, writes one message, reads the answer.
// argv: address (tcp://host:port or tls://host:port); SOCKET_EXAMPLE_PSK: the TLS key, in hex.
import { codecs, connect } from '../lib/index.js';

const [address = 'tcp://127.0.0.1:4000'] = process.argv.slice(2);
const scheme = address.slice(0, address.indexOf(':'));
const key = process.env.SOCKET_EXAMPLE_PSK;
const credentials = scheme === 'tls' && key ? { psk: { identity: 'course-client', key: Buffer.from(key, 'hex') } } : {};

// socket(), connect()
const conn = await connect<string>(address, { codec: codecs.utf8, timeoutMs: 10_000, ...credentials });
await conn.sender.send('Hello, server!');
console.log(`[${scheme}] client received: ${await conn.receiver.receive({ timeoutMs: 10_000 })}`);
await conn.close();

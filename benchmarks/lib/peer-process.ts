/**
 * Entry point of peer B as a child process (started by the host with
 * `node --import tsx peer-process.ts <init JSON>`). Control messages travel
 * as JSON lines over descriptor 3; the transport's own descriptors are 4, 5, ...
 * @module
 */
import * as net from 'node:net';

import { type PeerInit, type PeerMessage, describeError, runPeerB } from './peer.js';

const init = JSON.parse(process.argv[2]!) as PeerInit & { fdCount: number };
const control = new net.Socket({ fd: 3, readable: true, writable: true });

let goResolve: () => void;
const go = new Promise<void>((resolve) => (goResolve = resolve));
let buffered = '';
control.on('data', (chunk: Buffer) => {
  buffered += chunk.toString('utf8');
  let nl: number;
  while ((nl = buffered.indexOf('\n')) >= 0) {
    const msg = JSON.parse(buffered.slice(0, nl)) as { type: string };
    buffered = buffered.slice(nl + 1);
    if (msg.type === 'go') goResolve();
  }
});
// The host went away: nobody will read our results.
control.on('end', () => process.exit(3));

const send = (msg: PeerMessage): Promise<void> => new Promise((resolve) => control.write(`${JSON.stringify(msg)}\n`, () => resolve()));
const fds = Array.from({ length: init.fdCount }, (_, i) => 4 + i);

try {
  await runPeerB(init, fds, { send, go });
  control.end(() => process.exit(0));
} catch (err) {
  await send({ type: 'error', error: describeError(err) });
  process.exit(1);
}

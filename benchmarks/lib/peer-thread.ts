/**
 * Entry point of peer B as a worker thread (loaded by peer-worker.mjs).
 * Control messages travel over the worker's parentPort.
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';

import { type PeerInit, type PeerMessage, describeError, runPeerB } from './peer.js';

const port = parentPort!;
const init = workerData as PeerInit;
const go = new Promise<void>((resolve) => {
  const onMessage = (m: { type: string }): void => {
    if (m.type === 'go') {
      port.off('message', onMessage);
      resolve();
    }
  };
  port.on('message', onMessage);
});
const send = (msg: PeerMessage): Promise<void> => {
  port.postMessage(msg);
  return Promise.resolve();
};

try {
  await runPeerB(init, [], { send, go });
} catch (err) {
  port.postMessage({ type: 'error', error: describeError(err) } satisfies PeerMessage);
}

// The birpc echo server as a worker thread: worker threads do not inherit the
// tsx loader in Node 20, and this one needs none: plain JavaScript.
import { workerData } from 'node:worker_threads';
import { createBirpc } from 'birpc';

const { port } = workerData;
createBirpc({ echo: (b) => b }, { post: (d) => port.postMessage(d), on: (fn) => port.on('message', fn) });
port.postMessage('ready');

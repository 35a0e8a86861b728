// Each native primitive once, for `npm run test:valgrind` (memcheck). Plain
// node on the compiled library (dist/, built by the runner) rather than
// vitest or tsx, which would multiply the time valgrind takes. Every step
// checks its result, and the script exits non-zero on any failure.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  closeSync,
  futexWait,
  futexWaitSync,
  futexWake,
  getPipeCapacity,
  mkfifo,
  openFifo,
  openFifoSync,
  openShmReceiver,
  openShmSender,
  pipe,
  pipeChannel,
  readSync,
  Semaphore,
  SharedMemory,
  spawn,
  UnnamedSemaphore,
  writeSync,
} from '../../dist/index.js';

const tag = randomBytes(4).toString('hex');
const steps = [];

async function step(name, fn) {
  if (process.env.SMOKE_TRACE) console.error(`step: ${name}`);
  const t = performance.now();
  await fn();
  steps.push(`${name} ${Math.round(performance.now() - t)} ms`);
}

function roundTrip(r, w, text) {
  assert.equal(writeSync(w, Buffer.from(text)), text.length);
  const buf = Buffer.alloc(text.length);
  assert.equal(readSync(r, buf), text.length);
  assert.equal(buf.toString(), text);
}

await step('pipe', () => {
  const [r, w] = pipe();
  assert.ok(getPipeCapacity(w) >= 4096);
  roundTrip(r, w, 'through a pipe');
  closeSync(r);
  closeSync(w);
});

await step('fifo', async () => {
  const path = join(tmpdir(), `pipc-vg-fifo-${tag}`);
  mkfifo(path);
  try {
    const r = await openFifo(path, 'r'); // non-blocking ends
    const w = openFifoSync(path, 'w', { timeoutMs: 1000, nonBlocking: true });
    roundTrip(r, w, 'through a fifo');
    closeSync(w);
    closeSync(r);
  } finally {
    unlinkSync(path);
  }
});

await step('spawn + wait', async () => {
  // An fd map (the child's stdout is our pipe), then both ways of waiting.
  const [r, w] = pipe();
  const echo = spawn('/bin/echo', ['hello'], { fds: { 1: w } });
  closeSync(w);
  assert.deepEqual(await echo.exited, { code: 0, signal: null });
  const buf = Buffer.alloc(16);
  assert.equal(buf.toString('utf8', 0, readSync(r, buf)), 'hello\n');
  closeSync(r);
  const sleeper = spawn('/bin/sleep', ['10'], { fds: {} });
  assert.equal(sleeper.kill('SIGTERM'), true);
  assert.deepEqual(sleeper.waitSync(), { code: null, signal: 'SIGTERM' });
});

await step('named semaphore', async () => {
  const name = `/pipc-vg-sem-${tag}`;
  const sem = Semaphore.open(name, { create: 'exclusive', initialValue: 1, unlinkOnClose: true });
  try {
    assert.equal(sem.tryWait(), true);
    assert.equal(sem.tryWait(), false);
    assert.equal(sem.waitSync({ timeoutMs: 10 }), false);
    const waiting = sem.wait({ timeoutMs: 5000 }); // on its own thread
    sem.post();
    assert.equal(await waiting, true);
    const aborted = new AbortController();
    const cancelled = sem.wait({ signal: aborted.signal });
    aborted.abort();
    await assert.rejects(cancelled, { name: 'AbortError' });
  } finally {
    sem.close();
  }
});

await step('shm + futex + unnamed semaphore', async () => {
  const name = `/pipc-vg-shm-${tag}`;
  const shm = SharedMemory.open(name, { create: 'exclusive', size: 4096 });
  try {
    const words = new Int32Array(shm.buffer);
    assert.equal(futexWaitSync(shm, 0, 1), 'not-equal');
    assert.equal(futexWaitSync(shm, 0, 0, 10), 'timed-out');
    const woken = futexWait(shm, 0, 0, { timeoutMs: 5000 }); // on its own thread
    // Under valgrind the waiter's thread may not sleep yet when the word changes: then it finds
    // 'not-equal' at once, which is also a correct answer (the wake was not needed).
    await new Promise((r) => setTimeout(r, 500));
    Atomics.store(words, 0, 1);
    futexWake(shm, 0);
    assert.ok(['ok', 'not-equal'].includes(await woken));

    const sem = UnnamedSemaphore.init(shm, 64, 0);
    sem.post();
    assert.equal(sem.value, 1);
    assert.equal(sem.tryWait(), true);
    const acquired = sem.wait({ timeoutMs: 5000 });
    sem.post();
    assert.equal(await acquired, true);
    sem.destroy();

    shm.resize(8192); // a new mapping; the old buffer is detached
    assert.equal(words.length, 0);
    assert.equal(new Int32Array(shm.buffer)[0], 1);
  } finally {
    shm.close();
    SharedMemory.unlink(name);
  }
});

await step('ring channel', async () => {
  const name = `/pipc-vg-ring-${tag}`;
  const rx = await openShmReceiver(name, { create: true, capacity: 4096 });
  const tx = await openShmSender(name); // unlinks the name once both are attached
  const pending = rx.receive(); // sleeps on the futex until the send
  await tx.send(new Uint8Array([1, 2, 3]));
  assert.deepEqual(await pending, new Uint8Array([1, 2, 3]));
  tx.sendSync(new Uint8Array(1000).fill(9));
  assert.deepEqual(rx.receiveSync(), new Uint8Array(1000).fill(9));
  await tx.close();
  assert.equal(await rx.receive(), undefined);
  rx.close();
});

await step('stream channel', async () => {
  const { sender, receiver } = pipeChannel(); // non-blocking fds watched by FdPoller
  const pending = receiver.receive();
  await sender.send(new Uint8Array([4, 5, 6]));
  assert.deepEqual(await pending, new Uint8Array([4, 5, 6]));
  await sender.close();
  assert.equal(await receiver.receive(), undefined);
  receiver.close();
});

console.log(`memcheck smoke: ${steps.join(', ')}`);

// Loads the addon and touches each primitive once. CI runs this file with
// PREBUILDS_ONLY=1 to prove a shipped prebuild works on its own.
import { describe, expect, it } from 'vitest';

import * as ipc from '../lib/index.js';
import { uniqueName } from './support/helpers.js';

describe('smoke', () => {
  it('a pipe round-trips bytes', () => {
    const [r, w] = ipc.pipe();
    ipc.writeSync(w, Buffer.from('ok'));
    const buf = Buffer.alloc(2);
    expect(ipc.readSync(r, buf)).toBe(2);
    expect(buf.toString()).toBe('ok');
    ipc.closeSync(r);
    ipc.closeSync(w);
  });

  it('a child runs and is reaped', async () => {
    expect(await ipc.spawn('/bin/sh', ['-c', 'exit 3']).exited).toEqual({ code: 3, signal: null });
  });

  it('a named semaphore counts', () => {
    const name = uniqueName('smoke-sem');
    const sem = ipc.Semaphore.open(name, { create: 'exclusive', initialValue: 1 });
    expect(sem.tryWait()).toBe(true);
    expect(sem.tryWait()).toBe(false);
    sem.close();
    ipc.Semaphore.unlink(name);
  });

  it('shared memory, a futex word and an unnamed semaphore work', () => {
    const name = uniqueName('smoke-shm');
    const shm = ipc.SharedMemory.open(name, { create: 'exclusive', size: 4096 });
    try {
      const words = new Int32Array(shm.buffer);
      Atomics.store(words, 0, 7);
      expect(ipc.futexWaitSync(shm, 0, 8, 10)).toBe('not-equal');
      expect(ipc.futexWaitSync(shm, 0, 7, 10)).toBe('timed-out');
      expect(ipc.futexWake(shm, 0)).toBe(0);
      const sem = ipc.UnnamedSemaphore.init(shm, 64, 1);
      expect(sem.tryWait()).toBe(true);
      sem.destroy();
    } finally {
      shm.close();
      ipc.SharedMemory.unlink(name);
    }
  });

  it('a shared-memory channel and a pipe channel carry a message', async () => {
    const name = uniqueName('smoke-ring');
    const rx = await ipc.openShmReceiver(name, { create: true, capacity: 4096, codec: ipc.codecs.utf8 });
    const tx = await ipc.openShmSender(name, { codec: ipc.codecs.utf8 });
    await tx.send('ring');
    expect(await rx.receive()).toBe('ring');
    await tx.close();
    rx.close();
    const { sender, receiver } = ipc.pipeChannel({ codec: ipc.codecs.json });
    await sender.send({ pipe: true });
    expect(await receiver.receive()).toEqual({ pipe: true });
    await sender.close();
    receiver.close();
  });
});

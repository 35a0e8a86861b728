// Regression tests for the end driver (lib/channels/sender.ts, receiver.ts),
// from an adversarial review: each failed on the first version of the driver.
import { closeSync, writeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { codecs, openShmReceiver, openShmSender, pipe, pipeChannel, receiverFromFd, type Codec } from '../lib/index.js';
import { sleep, uniqueName } from './support/helpers.js';

const fill = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);

async function shmPair<S, R>(capacity: number, sendCodec?: Codec<S>, receiveCodec?: Codec<R>) {
  const name = uniqueName('drv');
  const rx = await openShmReceiver<R>(name, { create: true, capacity, codec: receiveCodec });
  const tx = await openShmSender<S>(name, { codec: sendCodec });
  return { tx, rx };
}

/** Stream frames as the stream engine writes them: a u32 LE length, then the bytes. */
function frames(...payloads: Uint8Array[]): Buffer {
  return Buffer.concat(
    payloads.flatMap((p) => {
      const h = Buffer.alloc(4);
      h.writeUInt32LE(p.length);
      return [h, Buffer.from(p)];
    }),
  );
}

const settle = (p: Promise<unknown>) =>
  p.then(
    (v) => ({ v }),
    (e: Error & { code?: string }) => ({ e: e.name, code: e.code }),
  );

describe('a message that does not decode, or a receive hook that throws', () => {
  it('rejects the receive() waiting for it (shared memory), and the channel goes on', async () => {
    const { tx, rx } = await shmPair<Uint8Array, string>(4096, codecs.bytes, codecs.utf8);
    const p = settle(rx.receive());
    await sleep(20);
    tx.trySend(new Uint8Array([0xff]));
    const r = await Promise.race([p, sleep(2000).then(() => 'HUNG')]);
    expect(r).toMatchObject({ e: 'TypeError' });
    tx.trySend(Buffer.from('next'));
    expect(await rx.receive({ timeoutMs: 2000 })).toBe('next');
    await tx.close();
    rx.close();
  });

  it('ends a waiting receiveMany() with the messages before it (pipe); the next call reports it', async () => {
    const [r, w] = pipe({ nonBlocking: true });
    const rx = receiverFromFd<string>(r, { codec: codecs.utf8 });
    const p = settle(rx.receiveMany());
    await sleep(20);
    writeSync(w, frames(Buffer.from('ok'), new Uint8Array([0xff]), Buffer.from('after'))); // one read
    const got = await Promise.race([p, sleep(2000).then(() => 'HUNG')]);
    expect(got).toEqual({ v: ['ok'] });
    await expect(rx.receiveMany()).rejects.toThrow(TypeError);
    expect(await rx.receiveMany()).toEqual(['after']);
    rx.close();
    closeSync(w);
  });

  it('rejects the waiting receive() with the hook error (shared memory)', async () => {
    const { tx, rx } = await shmPair<Uint8Array, Uint8Array>(4096);
    const off = rx.intercept({
      receive: () => {
        throw new Error('hook boom');
      },
    });
    const p = rx.receive().then(
      (v) => ({ v }),
      (e: Error) => ({ e: e.message }),
    );
    await sleep(20);
    tx.trySend(fill(8, 1));
    expect(await Promise.race([p, sleep(2000).then(() => 'HUNG')])).toEqual({ e: 'hook boom' });
    off();
    tx.trySend(fill(8, 2));
    expect(await rx.receive({ timeoutMs: 2000 })).toEqual(fill(8, 2));
    await tx.close();
    rx.close();
  });

  it('in the middle of receiveMany keeps the messages before it (fast path)', async () => {
    const { tx, rx } = await shmPair<Uint8Array, string>(4096, codecs.bytes, codecs.utf8);
    for (const m of [Buffer.from('a'), Buffer.from('b'), new Uint8Array([0xff]), Buffer.from('c')]) tx.trySend(m);
    const got: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      try {
        got.push(...(await rx.receiveMany()));
      } catch (e) {
        got.push((e as Error).name);
      }
    }
    expect(got).toEqual(['a', 'b', 'TypeError', 'c']);
    await tx.close();
    rx.close();
  });
});

describe('zero-copy views on shared memory', () => {
  it('from receiveMany stay valid, and their space stays held, until the next receive call', async () => {
    const { tx, rx } = await shmPair<Uint8Array, Uint8Array>(4096, codecs.bytes, codecs.bytesView);
    for (const v of [1, 2, 3]) tx.trySend(fill(1000, v));
    const views = await rx.receiveMany();
    let n = 0;
    while (n < 4 && tx.trySend(fill(1000, 0xee))) n++;
    expect({ n, firsts: views.map((b) => [b[0], b[999]]) }).toEqual({
      n: 1,
      firsts: [
        [1, 1],
        [2, 2],
        [3, 3],
      ],
    });
    await tx.close();
    rx.close();
  });

  it('from the first of two pending receives stays intact while the second waits', async () => {
    const { tx, rx } = await shmPair<Uint8Array, Uint8Array>(4096, codecs.bytes, codecs.bytesView);
    const p1 = rx.receive();
    const p2 = rx.receive();
    await sleep(10);
    tx.trySend(fill(1000, 1));
    const v1 = await p1;
    let n = 0;
    while (n < 5 && tx.trySend(fill(1000, 0xee))) n++;
    expect([v1![0], v1![999]]).toEqual([1, 1]);
    await p2;
    await tx.close();
    rx.close();
  });
});

describe('send hooks that delay', () => {
  it('a timeout that fires while a hook holds the message rejects at its deadline and sends nothing', async () => {
    const { sender: tx, receiver: rx } = pipeChannel<string>({ codec: codecs.utf8 });
    tx.intercept({ send: (b) => sleep(300).then(() => b) });
    const t0 = performance.now();
    const r = await tx.send('x', { timeoutMs: 50 }).then(
      () => 'sent',
      (e: { code?: string }) => e.code,
    );
    expect(r).toBe('ETIMEDOUT');
    expect(performance.now() - t0).toBeLessThan(250);
    await sleep(350); // the hook answers: its bytes must be dropped
    await tx.close();
    expect(await rx.receive({ timeoutMs: 2000 })).toBeUndefined();
    rx.close();
  });

  it('an abort while a hook holds the message rejects at once and sends nothing', async () => {
    const { sender: tx, receiver: rx } = pipeChannel<string>({ codec: codecs.utf8 });
    tx.intercept({ send: (b) => sleep(300).then(() => b) });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    const t0 = performance.now();
    await expect(tx.send('x', { signal: ac.signal })).rejects.toMatchObject({ code: 'ABORT_ERR' });
    expect(performance.now() - t0).toBeLessThan(200);
    await sleep(350);
    await tx.close();
    expect(await rx.receive({ timeoutMs: 2000 })).toBeUndefined();
    rx.close();
  });

  it('a plain send made after the hook was removed does not overtake the delayed one; trySend refuses meanwhile', async () => {
    const { sender: tx, receiver: rx } = pipeChannel<string>({ codec: codecs.utf8 });
    const off = tx.intercept({ send: (b) => sleep(50).then(() => b) });
    const p1 = tx.send('first');
    off();
    expect(tx.trySend('no')).toBe(false);
    expect(() => tx.sendSync('no')).toThrow(TypeError);
    const p2 = tx.send('second');
    await Promise.all([p1, p2]);
    expect([await rx.receive(), await rx.receive()]).toEqual(['first', 'second']);
    await tx.close();
    rx.close();
  });
});

describe('options are checked before anything is sent or consumed', () => {
  it('sendMany with a bad timeout sends nothing', async () => {
    const { tx, rx } = await shmPair<Uint8Array, Uint8Array>(4096);
    const list = [1, 2, 3, 4, 5].map((v) => fill(1000, v));
    await expect(tx.sendMany(list, { timeoutMs: -1 })).rejects.toThrow(RangeError);
    await expect(tx.send(fill(8, 0), { timeoutMs: 'abc' as unknown as number })).rejects.toThrow(TypeError);
    expect(rx.tryReceive()).toBeUndefined();
    await tx.close();
    rx.close();
  });

  it('receive, receiveMany and readable reject (never throw) bad options', async () => {
    const { sender: tx, receiver: rx } = pipeChannel();
    for (const call of [
      () => rx.receive({ timeoutMs: -1 }),
      () => rx.receiveMany(1, { timeoutMs: -1 }),
      () => rx.readable({ timeoutMs: -1 }),
    ]) {
      let p: Promise<unknown> | undefined;
      expect(() => (p = call())).not.toThrow();
      await expect(p).rejects.toThrow(RangeError);
    }
    await tx.close();
    rx.close();
  });

  it('readable() on a closed receiver rejects with the closed error', async () => {
    const { sender: tx, receiver: rx } = pipeChannel();
    rx.close();
    await expect(rx.readable()).rejects.toMatchObject({ code: 'ERR_POSIX_IPC_CLOSED' });
    await tx.close();
  });
});

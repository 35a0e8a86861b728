// The ring's logic in one process: producer and consumer interleaved by hand,
// no sleeping, so every boundary can be reached deterministically.
import { noWake } from './support/helpers.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { ChannelError } from '../lib/index.js';
import { DATA_OFFSET, FRAME_HEADER, initRing, maxPayload, segmentSize } from '../lib/channels/shm/header.js';
import { RingConsumer, RingProducer } from '../lib/channels/shm/ring.js';

function makeRing(capacity: number): { memory: ArrayBuffer; producer: RingProducer; consumer: RingConsumer } {
  const memory = new ArrayBuffer(segmentSize(capacity));
  initRing(memory, capacity, maxPayload(capacity));
  return { memory, producer: new RingProducer(memory, noWake), consumer: new RingConsumer(memory, noWake) };
}

function pattern(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (seed * 7 + i) & 0xff;
  return b;
}

describe('ring', () => {
  it('delivers random sizes in order across every wrap-around, up to exactly the capacity', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(64, 128, 256, 4096),
        fc.array(fc.tuple(fc.nat(), fc.boolean()), { minLength: 1, maxLength: 200 }),
        (capacity, steps) => {
          const { producer, consumer } = makeRing(capacity);
          const max = maxPayload(capacity);
          const inFlight: Uint8Array[] = [];
          let seed = 0;
          const drainOne = (): void => {
            const view = consumer.peek();
            expect(view).not.toBeNull();
            expect(Buffer.compare(view!, inFlight.shift()!)).toBe(0);
            consumer.release();
            consumer.publish();
          };
          for (const [n, preferRead] of steps) {
            // Sizes 0, exactly the maximum, and everything between.
            const size = n % 5 === 0 ? 0 : n % 7 === 0 ? max : n % (max + 1);
            if (preferRead && inFlight.length > 0) {
              drainOne();
              continue;
            }
            const msg = pattern(size, seed++);
            while (!producer.tryWrite(msg)) {
              // Full: publish (a wrap marker may be pending) and make room.
              producer.publish();
              if (inFlight.length > 0) {
                drainOne();
              } else {
                expect(consumer.peek()).toBeNull(); // only the marker: skipped
                consumer.publish();
              }
            }
            producer.publish();
            inFlight.push(msg);
          }
          while (inFlight.length > 0) drainOne();
          expect(consumer.peek()).toBeNull();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('exactly-capacity frames fill the ring, which then refuses more', () => {
    const capacity = 256;
    const { producer, consumer } = makeRing(capacity);
    expect(producer.tryWrite(pattern(capacity - FRAME_HEADER, 1))).toBe(true);
    expect(producer.tryWrite(pattern(0, 2))).toBe(false);
    producer.publish();
    expect(consumer.peek()!.byteLength).toBe(capacity - FRAME_HEADER);
    consumer.release();
    consumer.publish();
    expect(producer.tryWrite(pattern(0, 2))).toBe(true);
  });

  it('a hostile peer writing arbitrary header words gets a message inside the ring or a corruption error, never more', () => {
    const capacity = 1024;
    const interesting = fc.oneof(
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      fc.constantFrom(0, 1, 7, 8, capacity - 8, capacity, capacity + 8, 2 ** 31 - 1, -1, -8, 0x7ffffff8, -0x80000000),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: DATA_OFFSET / 4 - 1 }), interesting), { maxLength: 6 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: capacity / 4 - 1 }), interesting), { maxLength: 6 }),
        fc.nat(20),
        (headerWrites, dataWrites, messages) => {
          const memory = new ArrayBuffer(segmentSize(capacity));
          initRing(memory, capacity, maxPayload(capacity));
          const producer = new RingProducer(memory, noWake);
          for (let i = 0; i < messages; i++) {
            if (!producer.tryWrite(pattern(i * 13, i))) break;
          }
          producer.publish();
          const h = new Int32Array(memory, 0, DATA_OFFSET / 4);
          const d = new Int32Array(memory, DATA_OFFSET, capacity / 4);
          for (const [i, v] of headerWrites) h[i] = v;
          for (const [i, v] of dataWrites) d[i] = v;
          try {
            const consumer = new RingConsumer(memory, noWake);
            for (let k = 0; k < 50; k++) {
              const view = consumer.peek();
              if (view === null) break;
              // The view lies wholly inside the data area.
              expect(view.byteOffset).toBeGreaterThanOrEqual(DATA_OFFSET);
              expect(view.byteOffset + view.byteLength).toBeLessThanOrEqual(DATA_OFFSET + capacity);
              consumer.release();
              consumer.publish();
            }
          } catch (err) {
            expect(err).toBeInstanceOf(ChannelError);
            expect((err as ChannelError).code).toBe('ERR_CHANNEL_CORRUPT');
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('the same holds for 64-bit garbage near 2^32 and 2^53, written through Float64Array and BigInt64Array views', () => {
    const capacity = 1024;
    // Values whose bit patterns land in two 32-bit words: doubles near 2^32
    // and 2^53 (the largest exact integers), NaN, infinities, -0, and
    // 64-bit integers near 2^32, 2^53, 2^63 and 2^64.
    const doubles = fc.oneof(
      fc.constantFrom(
        2 ** 32,
        2 ** 32 - 1,
        2 ** 32 + 1,
        2 ** 53,
        2 ** 53 - 1,
        -(2 ** 53),
        2 ** 31,
        -1,
        -0,
        NaN,
        Infinity,
        -Infinity,
        Number.MIN_VALUE,
        Number.MAX_VALUE,
      ),
      fc.double(),
      fc.integer({ min: 2 ** 32 - 4096, max: 2 ** 32 + 4096 }),
      fc.integer({ min: Number.MAX_SAFE_INTEGER - 4096, max: Number.MAX_SAFE_INTEGER }),
    );
    const bigints = fc.oneof(
      fc.constantFrom(2n ** 32n, 2n ** 32n - 8n, 2n ** 53n, 2n ** 53n + 8n, 2n ** 63n - 1n, -(2n ** 63n), -1n, (2n ** 32n + 1024n) << 32n),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    );
    const write = fc.tuple(fc.boolean(), fc.nat(), doubles, bigints);
    fc.assert(
      fc.property(fc.array(write, { minLength: 1, maxLength: 6 }), fc.nat(20), (writes, messages) => {
        const memory = new ArrayBuffer(segmentSize(capacity));
        initRing(memory, capacity, maxPayload(capacity));
        const producer = new RingProducer(memory, noWake);
        for (let i = 0; i < messages; i++) {
          if (!producer.tryWrite(pattern(i * 13, i))) break;
        }
        producer.publish();
        const f64 = new Float64Array(memory);
        const i64 = new BigInt64Array(memory);
        const slots = f64.length; // 8-byte slots: header and data
        for (const [asDouble, slot, d, b] of writes) {
          // Half the writes aim at the header's 32 slots, where the indices and geometry live.
          const at = slot % 2 === 0 ? (slot >>> 1) % (DATA_OFFSET / 8) : slot % slots;
          if (asDouble) f64[at] = d;
          else i64[at] = BigInt.asIntN(64, b);
        }
        try {
          const consumer = new RingConsumer(memory, noWake);
          for (let k = 0; k < 50; k++) {
            const view = consumer.peek();
            if (view === null) break;
            expect(view.byteOffset).toBeGreaterThanOrEqual(DATA_OFFSET + FRAME_HEADER);
            expect(view.byteOffset + view.byteLength).toBeLessThanOrEqual(DATA_OFFSET + capacity);
            consumer.release();
            consumer.publish();
          }
        } catch (err) {
          expect(err).toBeInstanceOf(ChannelError);
          expect((err as ChannelError).code).toBe('ERR_CHANNEL_CORRUPT');
        }
        // The producer side re-validates the indices the same way.
        try {
          const again = new RingProducer(memory, noWake);
          for (let i = 0; i < 4; i++) again.tryWrite(pattern(i * 29, i));
        } catch (err) {
          expect(err).toBeInstanceOf(ChannelError);
          expect((err as ChannelError).code).toBe('ERR_CHANNEL_CORRUPT');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses a segment whose header is not a ring', () => {
    const memory = new ArrayBuffer(segmentSize(256));
    expect(() => new RingConsumer(memory, noWake)).toThrow(expect.objectContaining({ code: 'ERR_CHANNEL_CORRUPT' }));
    initRing(memory, 256, maxPayload(256));
    new Int32Array(memory)[2] = 100; // capacity not a power of two
    expect(() => new RingProducer(memory, noWake)).toThrow(/capacity/);
    expect(() => new RingConsumer(new ArrayBuffer(100), noWake)).toThrow(/too small/);
  });
});

// A SharedArrayBuffer SPSC ring between two threads: the best plain Node can
// do between threads, and the JavaScript twin of the C shared-memory ring.
import { RingReader, RingWriter, createRing } from '../lib/sab-ring.js';
import { ringCapacity } from '../lib/payload.js';
import type { Ends, Transport } from '../lib/types.js';

interface Rings {
  rx?: SharedArrayBuffer;
  tx?: SharedArrayBuffer;
}

const transport: Transport = {
  name: 'sab-ring',
  label: 'SharedArrayBuffer ring',
  kind: 'thread',
  ceiling: 'shm',
  order: 22,
  setup(spec) {
    const forward = createRing(ringCapacity(spec.size)); // B -> A
    const back = spec.duplex ? createRing(ringCapacity(spec.size)) : undefined; // A -> B
    return { a: { rx: forward, tx: back } satisfies Rings, b: { tx: forward, rx: back } satisfies Rings };
  },
  open(ctx): Ends {
    const { rx, tx } = ctx.params as Rings;
    return { sender: tx && new RingWriter(tx), receiver: rx && new RingReader(rx, ctx.spec.size) };
  },
};

export default transport;

// posix-ipc shared-memory channel: an SPSC ring in a POSIX shared-memory
// segment, opened by name from both processes. Each direction's receiver
// creates its ring (the C ceiling ring's capacity: ringCapacity in lib/payload.ts);
// the other side opens it by name.
import { ringCapacity } from '../lib/payload.js';
import { channelTransport } from '../lib/pipc-channels.js';

interface Names {
  fwd: string; // B -> A
  back?: string; // A -> B
}

export default channelTransport({
  name: 'pipc-shm',
  label: 'posix-ipc shm channel',
  ceiling: 'shm',
  order: 52,
  setup(ipc, spec) {
    const names: Names = { fwd: `/${spec.tag}`, back: spec.duplex ? `/${spec.tag}-back` : undefined };
    return {
      a: names,
      b: names,
      // The second opener unlinks a name; after a failure, remove what nobody uses.
      close: () => {
        for (const n of [names.fwd, names.back]) if (n) ipc.removeStaleShmChannel(n);
      },
    };
  },
  async open(ipc, ctx, _need, view) {
    const { fwd, back } = ctx.params as Names;
    const [rxName, txName] = ctx.role === 'a' ? [fwd, back] : [back, fwd];
    const [receiver, sender] = await Promise.all([
      rxName ? ipc.openShmReceiver(rxName, { ...view, create: true, capacity: ringCapacity(ctx.spec.size) }) : undefined, // each receiver creates its ring
      txName ? ipc.openShmSender(txName, { timeoutMs: 10_000 }) : undefined, // the sender waits for it to appear
    ]);
    return { receiver, sender };
  },
});

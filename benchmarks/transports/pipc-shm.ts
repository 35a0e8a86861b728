// posix-ipc shared-memory channel: an SPSC ring in a POSIX shared-memory
// segment, opened by name from both processes. Each direction's receiver
// creates its ring (the C ceiling ring's capacity: ringCapacity in lib/payload.ts);
// the other side opens it by name. Receiver: codecs.bytesView (zero copy).
import { receiverFromChannel, senderFromChannel } from '../lib/channel-adapter.js';
import { ringCapacity } from '../lib/payload.js';
import { channelsAvailable, loadChannels } from '../lib/pipc-channels.js';
import type { Ends, Transport } from '../lib/types.js';

interface Names {
  fwd: string; // B -> A
  back?: string; // A -> B
}

const transport: Transport = {
  name: 'pipc-shm',
  label: 'posix-ipc shm channel',
  kind: 'process',
  ceiling: 'shm',
  order: 52,
  available: channelsAvailable,
  async setup(spec) {
    const ipc = await loadChannels();
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
  async open(ctx): Promise<Ends> {
    const ipc = await loadChannels();
    const { fwd, back } = ctx.params as Names;
    const create = { create: true, capacity: ringCapacity(ctx.spec.size), codec: ipc.codecs.bytesView };
    const attach = { timeoutMs: 10_000 };
    const [rxName, txName] = ctx.role === 'a' ? [fwd, back] : [back, fwd];
    const [receiver, sender] = await Promise.all([
      rxName ? ipc.openShmReceiver(rxName, create) : undefined, // each receiver creates its ring
      txName ? ipc.openShmSender(txName, attach) : undefined, // the sender waits for it to appear
    ]);
    return {
      receiver: receiver && receiverFromChannel(receiver, ctx.spec),
      sender: sender && senderFromChannel(sender),
      close: () => receiver?.close(),
    };
  },
};

export default transport;

/**
 * The shared-memory channel with every message stamped with a vector clock
 * through the channels' hook (`vectorClockHook` on both ends), the clock
 * sized as in a group of `members` processes: the overhead of stamping
 * against `pipc-shm`. Full runs only (`--full`).
 * @module
 */
import { ringCapacity } from './payload.js';
import { channelTransport } from './pipc-channels.js';
import type { Transport } from './types.js';

interface Names {
  fwd: string; // B -> A
  back?: string; // A -> B
}

export function vectorClockShm(members: number, order: number): Transport {
  return channelTransport({
    name: `pipc-shm-vc${members}`,
    label: `posix-ipc shm channel, vector clock of ${members}`,
    ceiling: 'shm',
    order,
    fullOnly: true,
    setup(ipc, spec) {
      const names: Names = { fwd: `/${spec.tag}`, back: spec.duplex ? `/${spec.tag}-back` : undefined };
      return {
        a: names,
        b: names,
        close: () => {
          for (const n of [names.fwd, names.back]) if (n) ipc.removeStaleShmChannel(n);
        },
      };
    },
    async open(ipc, ctx, _need, view) {
      const { fwd, back } = ctx.params as Names;
      const [rxName, txName] = ctx.role === 'a' ? [fwd, back] : [back, fwd];
      const [receiver, sender] = await Promise.all([
        rxName ? ipc.openShmReceiver(rxName, { ...view, create: true, capacity: ringCapacity(ctx.spec.size) }) : undefined,
        txName ? ipc.openShmSender(txName, { timeoutMs: 10_000 }) : undefined,
      ]);
      // The other members have counted some events already: stamps carry `members` entries.
      const others = Array.from({ length: members - 1 }, (_, i) => [`p${i + 1}`, 1000 + i] as [string, number]);
      const clock = new ipc.VectorClock(ctx.role, { start: ipc.VectorTime.from(others) });
      const hook = ipc.vectorClockHook(clock);
      receiver?.intercept(hook);
      sender?.intercept(hook);
      return { receiver, sender };
    },
  });
}

/**
 * The shared-memory channel with every message stamped with a vector clock
 * through the channels' hook (`vectorClockHook` on both ends), the clock
 * sized as in a group of `members` processes: the overhead of stamping
 * against `pipc-shm`. Full runs only (`--full`).
 * @module
 */
import { channelTransport } from './pipc-channels.js';
import { openShmEnds, shmLink } from './shm-ends.js';
import type { Transport } from './types.js';

export function vectorClockShm(members: number, order: number): Transport {
  return channelTransport({
    name: `pipc-shm-vc${members}`,
    label: `posix-ipc shm channel, vector clock of ${members}`,
    ceiling: 'shm',
    order,
    fullOnly: true,
    setup: (ipc, spec) => shmLink(ipc, spec),
    async open(ipc, ctx, _need, view) {
      const { receiver, sender } = await openShmEnds(ipc, ctx, view);
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

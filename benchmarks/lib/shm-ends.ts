/**
 * The shared-memory channel's ends for a benchmark link, shared by
 * transports/pipc-shm.ts and the vector-clock rows (vclock-shm.ts): one ring
 * per direction, created by its receiver (the C ceiling ring's capacity:
 * ringCapacity in payload.ts) and opened by name by its sender.
 * @module
 */
import type { ChannelLib } from './pipc-channels.js';
import { ringCapacity } from './payload.js';
import type { ChannelReceiver, ChannelSender, Codec } from '../../lib/index.js';
import type { Link, LinkSpec, PeerContext } from './types.js';

interface Names {
  fwd: string; // B -> A
  back?: string; // A -> B
}

/** The host's part: the ring names both peers use. */
export function shmLink(ipc: ChannelLib, spec: LinkSpec): Link {
  const names: Names = { fwd: `/${spec.tag}`, back: spec.duplex ? `/${spec.tag}-back` : undefined };
  return {
    a: names,
    b: names,
    // The second opener unlinks a name; after a failure, remove what nobody uses.
    close: () => {
      for (const n of [names.fwd, names.back]) if (n) ipc.removeStaleShmChannel(n);
    },
  };
}

/** A peer's ends: each receiver creates its ring, the sender waits for the other's to appear. */
export async function openShmEnds(
  ipc: ChannelLib,
  ctx: PeerContext,
  view: { codec: Codec<Uint8Array> },
): Promise<{ receiver?: ChannelReceiver<Uint8Array>; sender?: ChannelSender<Uint8Array> }> {
  const { fwd, back } = ctx.params as Names;
  const [rxName, txName] = ctx.role === 'a' ? [fwd, back] : [back, fwd];
  const [receiver, sender] = await Promise.all([
    rxName ? ipc.openShmReceiver(rxName, { ...view, create: true, capacity: ringCapacity(ctx.spec.size) }) : undefined,
    txName ? ipc.openShmSender(txName, { timeoutMs: 10_000 }) : undefined,
  ]);
  return { receiver, sender };
}

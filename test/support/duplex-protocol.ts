// The request/reply exchange that the duplex tests run on both sides of a
// channel: this process and test/fixtures/duplex-peer.ts.
import type { Duplex } from '../../lib/channels/types.js';

export type Wire = { t: 'req'; id: number; body: string } | { t: 'rep'; id: number; body: string };

/** The reply to a request body. */
export function answer(body: string): string {
  return `re:${[...body].reverse().join('')}`;
}

/**
 * Both roles at once over one duplex: sends `n` requests tagged `me`,
 * answers each of the peer's `peerN` requests, and resolves once it has all
 * `n` replies (in order, each the right answer) and answered them all.
 * Rejects on a wrong reply, or when the stream ends first.
 */
export async function exchange(d: Duplex<Wire>, me: string, n: number, peerN: number): Promise<{ replies: number; served: number }> {
  let replies = 0;
  let served = 0;
  const sending = (async () => {
    for (let id = 0; id < n; id++) await d.sender.send({ t: 'req', id, body: `${me}-${id}` });
  })();
  try {
    while (replies < n || served < peerN) {
      const m = await d.receiver.receive();
      if (m === undefined) throw new Error(`${me}: the stream ended after ${replies} replies and ${served} requests`);
      if (m.t === 'req') {
        await d.sender.send({ t: 'rep', id: m.id, body: answer(m.body) });
        served++;
      } else {
        if (m.id !== replies || m.body !== answer(`${me}-${m.id}`)) throw new Error(`${me}: reply ${replies} was ${JSON.stringify(m)}`);
        replies++;
      }
    }
  } finally {
    await sending;
  }
  return { replies, served };
}

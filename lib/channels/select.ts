/**
 * Receive from whichever of several receivers is ready first, over any mix
 * of transports: the building block of mailboxes, servers and group members.
 * @module
 */
import { AbortError, timeoutError } from '../errors.js';
import { bounded } from '../internal/waiting.js';
import { DONE, kTake, NONE } from './call.js';
import { ChannelReceiver } from './receiver.js';
import { callSettings } from './call.js';
import type { CallOptions, Receiver } from './types.js';

/** When each receiver was last picked by a select (a global count): least recently picked goes first. */
const lastPicked = new WeakMap<Receiver<unknown>, number>();
let picks = 0;

function checkReceivers<T>(receivers: readonly Receiver<T>[]): readonly ChannelReceiver<T>[] {
  if (!Array.isArray(receivers)) throw new TypeError('The "receivers" argument must be an array of receivers');
  receivers.forEach((r, i) => {
    if (!(r instanceof ChannelReceiver)) throw new TypeError(`The "receivers[${i}]" argument must be a receiver made by posix-ipc`);
  });
  return receivers as readonly ChannelReceiver<T>[];
}

/**
 * One look at every receiver, the least recently picked first: the first
 * message found, `undefined` when all have ended, or null (wait).
 */
function pick<T>(list: readonly ChannelReceiver<T>[]): [Receiver<T>, T] | undefined | null {
  const order = list.map((r, i) => [lastPicked.get(r) ?? -1, i] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let live = 0;
  for (const [, i] of order) {
    const r = list[i]!;
    const got = r[kTake]();
    if (got === DONE) continue;
    live++;
    if (got !== NONE) {
      lastPicked.set(r, picks++);
      return [r, got];
    }
  }
  return live === 0 ? undefined : null;
}

/**
 * The next message from whichever of `receivers` has one, as
 * `[receiver, message]`; `undefined` once every receiver has ended. Fair:
 * of the receivers that have a message, the one picked least recently (by
 * any select) wins, so a busy receiver never starves the others.
 *
 * Waits on the receivers' own readiness (no polling loop); an abort or a
 * timeout consumes nothing. Rejects with the error of a receiver that
 * failed (that receiver stays failed: remove it from the list).
 */
export async function select<T>(receivers: readonly Receiver<T>[], options?: CallOptions): Promise<[Receiver<T>, T] | undefined> {
  const list = checkReceivers(receivers);
  const call = callSettings(options);
  for (;;) {
    if (call.signal?.aborted) throw new AbortError(undefined, { cause: call.signal.reason });
    const got = pick(list);
    if (got !== null) return got;
    // One readiness wait per live receiver; the first to answer ends them all.
    const stop = new AbortController();
    const waits = list.filter((r) => !r.ended).map((r) => r.readable({ signal: stop.signal }));
    for (const w of waits) w.catch(() => undefined);
    try {
      await bounded(
        () => Promise.race(waits),
        call.signal,
        call.deadline,
        () => timeoutError('select', undefined, 'no receiver had a message in time; nothing was consumed'),
      );
    } finally {
      stop.abort();
    }
  }
}

/**
 * `for await (const [receiver, message] of selectEach(receivers))`: every
 * message of every receiver, fairly interleaved, until all have ended.
 * `options` apply to each wait (a timeout is per message).
 */
export async function* selectEach<T>(receivers: readonly Receiver<T>[], options?: CallOptions): AsyncGenerator<[Receiver<T>, T]> {
  for (;;) {
    const got = await select(receivers, options);
    if (got === undefined) return;
    yield got;
  }
}

/**
 * The accept loop every coordination server runs (RPC, ONC RPC, the
 * transaction sites), written once.
 * @module
 */

/** What {@link acceptLoop} accepts from: a `Listener`, or anything with the same `accept`. */
export interface Accepting<C> {
  accept(): Promise<C>;
}

/** The pause after a failed accept, so that a lasting failure (`EMFILE`) does not spin the event loop. */
export const ACCEPT_RETRY_MS = 10;

/**
 * Accepts clients from `listener` until `closed()` is true, handing each to
 * `adopt`. A failed accept (a client that died or failed its handshake
 * while connecting, a passing lack of descriptors) goes to `onError` and the
 * loop goes on after {@link ACCEPT_RETRY_MS}; a rejection once `closed()` is
 * true (the listener was closed) ends it. A client accepted after the close
 * is given to `adopt` too (which closes it). `gate()` may return a promise
 * to wait on before the next accept (a connection limit).
 * @internal
 */
export async function acceptLoop<C>(
  listener: Accepting<C>,
  adopt: (client: C) => void,
  closed: () => boolean,
  options: { onError?: (err: unknown) => void; gate?: () => Promise<void> | undefined } = {},
): Promise<void> {
  while (!closed()) {
    const wait = options.gate?.();
    if (wait !== undefined) {
      await wait;
      continue;
    }
    let client: C;
    try {
      client = await listener.accept();
    } catch (err) {
      if (closed()) return;
      options.onError?.(err);
      await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
      continue;
    }
    adopt(client);
  }
}

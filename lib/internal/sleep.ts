/**
 * A synchronous sleep for the blocking (`...Sync`) paths.
 * @internal
 * @module
 */
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the calling thread for `ms` milliseconds. */
export function sleepSync(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

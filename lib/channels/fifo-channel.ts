/**
 * Channels over a named pipe, between unrelated processes that agree on a path.
 * @module
 */
import { isSystemError } from '../errors.js';
import { validateBoolean, validateMode, validateOptions, validateString } from '../internal/validators.js';
import { mkfifo, openFifo, type OpenFifoOptions } from '../fd.js';
import { unlinkSync } from 'node:fs';
import { removeAtExit } from '../internal/cleanup.js';
import { adopt, FdEndpoint } from './fd-endpoint.js';
import { StreamReceiver, StreamSender, validateStreamOptions, type StreamChannelOptions } from './stream-channel.js';

/** Options of {@link openFifoSender} and {@link openFifoReceiver}. */
export interface FifoChannelOptions<T> extends StreamChannelOptions<T>, Omit<OpenFifoOptions, 'nonBlocking'> {
  /**
   * Create the FIFO (exclusively: `EEXIST` if the path exists). The end that
   * created it removes the path when it closes, and at process exit.
   * Default `false`.
   */
  create?: boolean;
  /** Mode of a created FIFO. Default `0o600`. */
  mode?: number;
}

function prepare(path: unknown, options: unknown): { path: string; create: boolean; mode: number; opts: Record<string, unknown> } {
  const p = validateString(path, 'path');
  const opts = validateOptions(options);
  const create = opts.create === undefined ? false : validateBoolean(opts.create, 'options.create');
  const mode = opts.mode === undefined ? 0o600 : validateMode(opts.mode, 'options.mode');
  // Before the FIFO is made or opened: bad options leave nothing behind.
  validateStreamOptions(opts);
  return { path: p, create, mode, opts };
}

function unlinker(path: string): () => void {
  const remove = (): void => {
    try {
      unlinkSync(path);
    } catch (err) {
      if (!isSystemError(err, 'ENOENT')) throw err;
    }
  };
  return removeAtExit(`fifo:${path}`, remove, { kind: 'file', name: path });
}


/**
 * Opens the writing end of a FIFO channel. Waits (on the event loop) for a
 * reader to open the FIFO, up to `timeoutMs` (`ETIMEDOUT`) or until `signal`
 * aborts. The errors of {@link openFifo} and {@link mkfifo} apply.
 */
export async function openFifoSender<T = Uint8Array>(path: string, options?: FifoChannelOptions<T>): Promise<StreamSender<T>> {
  const { path: p, create, mode, opts } = prepare(path, options);
  const remove = create ? (mkfifo(p, mode), unlinker(p)) : undefined;
  try {
    const fd = await openFifo(p, 'w', { timeoutMs: opts.timeoutMs as number | undefined, signal: opts.signal as AbortSignal | undefined });
    return adopt(fd, () => new StreamSender<T>(new FdEndpoint(fd, 1), options, false, remove));
  } catch (err) {
    remove?.();
    throw err;
  }
}

/**
 * Opens the reading end of a FIFO channel. Returns at once; `receive()` waits
 * for a writer, and reports end-of-stream after the last writer closed.
 */
export async function openFifoReceiver<T = Uint8Array>(path: string, options?: FifoChannelOptions<T>): Promise<StreamReceiver<T>> {
  const { path: p, create, mode } = prepare(path, options);
  const remove = create ? (mkfifo(p, mode), unlinker(p)) : undefined;
  try {
    const fd = await openFifo(p, 'r');
    return adopt(fd, () => new StreamReceiver<T>(new FdEndpoint(fd, 1), options, { onClose: remove, awaitWriter: true }));
  } catch (err) {
    remove?.();
    throw err;
  }
}

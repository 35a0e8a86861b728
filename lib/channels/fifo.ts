/**
 * Channels over named pipes, between unrelated processes that agree on a
 * path: one direction per FIFO, or a duplex over two.
 * @module
 */
import { unlinkSync } from 'node:fs';

import { isSystemError } from '../errors.js';
import { mkfifo, openFifo, type OpenFifoOptions } from '../fd.js';
import { removeAtExit } from '../internal/cleanup.js';
import { validateBoolean, validateMode, validateOptions, validateString } from '../internal/validators.js';
import { makeDuplex } from './fd.js';
import type { ChannelReceiver } from './receiver.js';
import type { ChannelSender } from './sender.js';
import { resolveStreamOptions, streamReceiver, streamSender, type StreamChannelOptions, type StreamSettings } from './stream/ends.js';
import { adopt, FdEndpoint } from './stream/fd-endpoint.js';
import type { Duplex } from './types.js';

/** Options of {@link openFifoSender}, {@link openFifoReceiver} and {@link openFifoDuplex}. */
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

interface FifoSettings<T> extends StreamSettings<T> {
  path: string;
  create: boolean;
  mode: number;
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
}

function prepare<T>(path: unknown, options: unknown): FifoSettings<T> {
  const p = validateString(path, 'path');
  const opts = validateOptions(options);
  return {
    // Before the FIFO is made or opened: bad options leave nothing behind.
    ...resolveStreamOptions<T>(opts),
    path: p,
    create: opts.create === undefined ? false : validateBoolean(opts.create, 'options.create'),
    mode: opts.mode === undefined ? 0o600 : validateMode(opts.mode, 'options.mode'),
    timeoutMs: opts.timeoutMs as number | undefined, // checked by openFifo
    signal: opts.signal as AbortSignal | undefined,
  };
}

/** Makes the FIFO when asked; returns its remover (path removed on close and at exit). */
function make(s: { path: string; create: boolean; mode: number }, path = s.path): (() => void) | undefined {
  if (!s.create) return undefined;
  mkfifo(path, s.mode);
  const remove = (): void => {
    try {
      unlinkSync(path);
    } catch (err) {
      if (!isSystemError(err, 'ENOENT')) throw err;
    }
  };
  return removeAtExit(`fifo:${path}`, remove, { kind: 'file', name: path });
}

async function openWriter<T>(s: FifoSettings<T>, path: string, onClose: (() => void) | undefined): Promise<ChannelSender<T>> {
  const fd = await openFifo(path, 'w', { timeoutMs: s.timeoutMs, signal: s.signal });
  return adopt(fd, () => streamSender(new FdEndpoint(fd, 1), s, { shutdown: false, onClose }));
}

async function openReader<T>(s: FifoSettings<T>, path: string, onClose: (() => void) | undefined): Promise<ChannelReceiver<T>> {
  const fd = await openFifo(path, 'r');
  return adopt(fd, () => streamReceiver(new FdEndpoint(fd, 1), s, { shutdown: false, onClose }, true));
}

/**
 * Opens the writing end of a FIFO channel. Waits (on the event loop) for a
 * reader to open the FIFO, up to `timeoutMs` (`ETIMEDOUT`) or until `signal`
 * aborts. The errors of {@link openFifo} and {@link mkfifo} apply.
 */
export async function openFifoSender<T = Uint8Array>(path: string, options?: FifoChannelOptions<T>): Promise<ChannelSender<T>> {
  const s = prepare<T>(path, options);
  const remove = make(s);
  try {
    return await openWriter(s, s.path, remove);
  } catch (err) {
    remove?.();
    throw err;
  }
}

/**
 * Opens the reading end of a FIFO channel. Returns at once; `receive()` waits
 * for a writer, and reports end-of-stream after the last writer closed.
 */
export async function openFifoReceiver<T = Uint8Array>(path: string, options?: FifoChannelOptions<T>): Promise<ChannelReceiver<T>> {
  const s = prepare<T>(path, options);
  const remove = make(s);
  try {
    return await openReader(s, s.path, remove);
  } catch (err) {
    remove?.();
    throw err;
  }
}

/**
 * Both directions between two processes over two FIFOs, `path + '.0'`
 * (the creator sends on it) and `path + '.1'` (the creator receives on it).
 * One side passes `create: true` (it makes both FIFOs, and removes them on
 * close and at exit), the other opens them. Each side opens its reading end
 * first, so the two never wait for each other; the writing end waits for
 * the peer's reader up to `timeoutMs`.
 */
export async function openFifoDuplex<Out = Uint8Array, In = Out>(
  path: string,
  options?: FifoChannelOptions<Out>,
): Promise<Duplex<Out, In>> {
  const s = prepare<Out>(path, options);
  const [mine, theirs] = s.create ? [`${s.path}.0`, `${s.path}.1`] : [`${s.path}.1`, `${s.path}.0`];
  const removeMine = make(s, mine);
  let removeTheirs: (() => void) | undefined;
  let receiver: ChannelReceiver<In> | undefined;
  try {
    removeTheirs = make(s, theirs);
    receiver = await openReader(s as unknown as FifoSettings<In>, theirs, removeTheirs);
    const sender = await openWriter(s, mine, removeMine);
    return makeDuplex(sender, receiver);
  } catch (err) {
    if (receiver) receiver.close();
    else removeTheirs?.();
    removeMine?.();
    throw err;
  }
}

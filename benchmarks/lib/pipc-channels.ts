/**
 * The part of posix-ipc's channel API the channel transports use, declared
 * structurally so they compile, and are skipped with a reason, against a
 * build of the library that has no channels yet.
 * @module
 */
import type { ChannelReceiver, ChannelSender } from './channel-adapter.js';

export interface ClosableReceiver extends ChannelReceiver {
  close(): void;
}

export interface DuplexLike {
  sender: ChannelSender;
  receiver: ClosableReceiver;
  close(): Promise<void>;
}

export interface ChannelLib {
  pipe(): readonly [number, number];
  socketPair(): readonly [number, number];
  closeSync(fd: number): void;
  senderFromFd(fd: number, options?: object): ChannelSender;
  receiverFromFd(fd: number, options?: object): ClosableReceiver;
  duplexFromFd(fd: number, options?: object): DuplexLike;
  mkfifo(path: string, mode?: number): void;
  openFifoSender(path: string, options?: object): Promise<ChannelSender>;
  openFifoReceiver(path: string, options?: object): Promise<ClosableReceiver>;
  UnixServer: { listen(path: string, options?: object): { accept(): Promise<DuplexLike>; close(): void } };
  connectUnix(path: string, options?: object): Promise<DuplexLike>;
  openShmSender(name: string, options?: object): Promise<ChannelSender>;
  openShmReceiver(name: string, options?: object): Promise<ClosableReceiver>;
  removeStaleShmChannel(name: string): boolean;
  codecs: { bytes: unknown; bytesView: unknown };
}

const NEEDED = ['pipe', 'socketPair', 'senderFromFd', 'receiverFromFd', 'duplexFromFd', 'openShmSender', 'openShmReceiver', 'removeStaleShmChannel'];
const NEEDED_PATHS = ['mkfifo', 'openFifoSender', 'openFifoReceiver', 'connectUnix'];

let loaded: Promise<ChannelLib> | undefined;

/** The library, once (it loads the native addon). */
export function loadChannels(): Promise<ChannelLib> {
  loaded ??= import('../../lib/index.js').then((m) => m as unknown as ChannelLib);
  return loaded;
}

/** `true`, or why the channel transports cannot run here. */
export async function channelsAvailable(): Promise<true | string> {
  let lib: Record<string, unknown>;
  try {
    lib = (await loadChannels()) as unknown as Record<string, unknown>;
  } catch (err) {
    return `posix-ipc did not load (${(err as Error).message.split('\n')[0]}); build it with npm run build:native`;
  }
  const missing = [...NEEDED, ...NEEDED_PATHS].filter((n) => typeof lib[n] !== 'function');
  if (typeof (lib.UnixServer as { listen?: unknown } | undefined)?.listen !== 'function') missing.push('UnixServer');
  if (missing.length || typeof lib.codecs !== 'object') return `this build of posix-ipc has no channel API (missing ${missing.join(', ') || 'codecs'})`;
  return true;
}

/**
 * What the posix-ipc channel transports (transports/pipc-*.ts) share: the
 * library, loaded once; whether this build has the channel API; and
 * `channelTransport()`, which turns "make these channel ends" into a
 * Transport. Types come from the library itself (type-only imports: nothing
 * loads the addon until a transport is used).
 * @module
 */
import type { Codec, Duplex, Receiver } from '../../lib/index.js';
import { type ChannelReceiver, type ChannelSender, receiverFromChannel, senderFromChannel } from './channel-adapter.js';
import type { CeilingKind, Ends, Link, LinkSpec, PeerContext, Transport } from './types.js';

export type ChannelLib = typeof import('../../lib/index.js');

const NEEDED = [
  'pipe',
  'socketPair',
  'closeSync',
  'senderFromFd',
  'receiverFromFd',
  'duplexFromFd',
  'openShmSender',
  'openShmReceiver',
  'removeStaleShmChannel',
];
const NEEDED_PATHS = ['mkfifo', 'openFifoSender', 'openFifoReceiver', 'connectUnix'];

let loaded: Promise<ChannelLib> | undefined;

/** The library, once (it loads the native addon). */
export function loadChannels(): Promise<ChannelLib> {
  loaded ??= import('../../lib/index.js');
  return loaded;
}

/** `true`, or why the channel transports cannot run here. */
export async function channelsAvailable(): Promise<true | string> {
  let lib: Record<string, unknown>;
  try {
    lib = (await loadChannels()) as unknown as Record<string, unknown>;
  } catch (err) {
    const why = (err as Error).message.split('\n')[0]!;
    // node-gyp-build's "No native build was found": the addon; anything else is the library's own code.
    return `posix-ipc did not load (${why})${/native build|\.node\b/i.test(why) ? '; build it with npm run build:native' : ''}`;
  }
  const missing = [...NEEDED, ...NEEDED_PATHS].filter((n) => typeof lib[n] !== 'function');
  if (typeof (lib.UnixServer as { listen?: unknown } | undefined)?.listen !== 'function') missing.push('UnixServer');
  if (missing.length || typeof lib.codecs !== 'object')
    return `this build of posix-ipc has no channel API (missing ${missing.join(', ') || 'codecs'})`;
  return true;
}

/** A peer's channel ends, as the library made them. */
export interface ChannelEnds {
  receiver?: ChannelReceiver & Pick<Receiver<Uint8Array>, 'close'>;
  sender?: ChannelSender;
  /** Releases this peer's ends after the workload. Default: closes the receiver (the workload closes the sender). */
  close?(): void | Promise<void>;
}

/** What a posix-ipc channel transport says; channelTransport() does the rest. */
export interface ChannelTransportDef {
  name: string;
  label: string;
  ceiling: CeilingKind;
  order: number;
  /** The channel writes the sends of one event-loop turn at once (the stream channels). */
  coalesces?: boolean;
  fullOnly?: boolean;
  /** More than the channel API this transport needs (a server installed, say): `true`, or why not. */
  available?(): true | string;
  /** In the host, before peer B starts: the kernel objects or names both peers need. */
  setup(ipc: ChannelLib, spec: LinkSpec): Link | Promise<Link>;
  /**
   * In each peer: the ends this peer needs. `need.receive`: peer A always,
   * peer B for ping-pong; `need.send`: peer B always, peer A for ping-pong.
   * Receivers are opened with `view` (codecs.bytesView: zero copy).
   */
  open(
    ipc: ChannelLib,
    ctx: PeerContext,
    need: { receive: boolean; send: boolean },
    view: { codec: Codec<Uint8Array> },
  ): ChannelEnds | Promise<ChannelEnds>;
}

/**
 * A posix-ipc channel transport (a child process, skipped with a reason
 * when the library has no channels): the ends `def.open` makes, through the
 * adapters of channel-adapter.ts (batched cells receive in batches).
 */
export function channelTransport(def: ChannelTransportDef): Transport {
  return {
    name: def.name,
    label: def.label,
    kind: 'process',
    ceiling: def.ceiling,
    order: def.order,
    ...(def.coalesces ? { coalesces: true } : {}),
    ...(def.fullOnly ? { fullOnly: true } : {}),
    available: async () => {
      const own = def.available?.() ?? true;
      return own === true ? channelsAvailable() : own;
    },
    setup: async (spec) => def.setup(await loadChannels(), spec),
    async open(ctx): Promise<Ends> {
      const ipc = await loadChannels();
      const need = { receive: ctx.role === 'a' || ctx.spec.duplex, send: ctx.role === 'b' || ctx.spec.duplex };
      const ch = await def.open(ipc, ctx, need, { codec: ipc.codecs.bytesView });
      const { receiver, sender } = ch;
      return {
        receiver: receiver && receiverFromChannel(receiver, ctx.spec),
        sender: sender && senderFromChannel(sender),
        close: ch.close ?? (() => receiver?.close()),
      };
    },
  };
}

/** Both ends of a duplex channel, as far as this peer needs them; `close` closes the duplex. */
export function duplexEnds(d: Duplex<Uint8Array>, need: { receive: boolean; send: boolean }): ChannelEnds {
  return { receiver: need.receive ? d.receiver : undefined, sender: need.send ? d.sender : undefined, close: () => d.close() };
}

// posix-ipc pipe channel: pipe() + senderFromFd / receiverFromFd, the
// sender's descriptor passed to peer B; a second pipe back for ping-pong.
// The receiver uses codecs.bytesView (a view valid until the next receive).
import { receiverFromChannel, senderFromChannel } from '../lib/channel-adapter.js';
import { channelsAvailable, loadChannels } from '../lib/pipc-channels.js';
import type { Ends, Transport } from '../lib/types.js';

interface HostSide {
  r: number;
  w?: number;
  /** Descriptors for peer B, and which of ours are still open (the channel ends own theirs). */
  toB: number[];
  open: Set<number>;
}

const transport: Transport = {
  name: 'pipc-pipe',
  label: 'posix-ipc pipe channel',
  kind: 'process',
  ceiling: 'pipe',
  coalesces: true, // one write per event-loop turn
  order: 50,
  available: channelsAvailable,
  async setup(spec) {
    const ipc = await loadChannels();
    const fwd = ipc.pipe(); // B -> A
    const back = spec.duplex ? ipc.pipe() : undefined; // A -> B
    const toB = back ? [fwd[1], back[0]] : [fwd[1]]; // peer B: fd 4 sends, fd 5 receives
    const host: HostSide = { r: fwd[0], w: back?.[1], toB, open: new Set([...fwd, ...(back ?? [])]) };
    return {
      a: host,
      stdio: toB,
      close: () => {
        for (const fd of host.open) ipc.closeSync(fd);
        host.open.clear();
      },
    };
  },
  async open(ctx): Promise<Ends> {
    const ipc = await loadChannels();
    const view = { codec: ipc.codecs.bytesView };
    if (ctx.role === 'b') {
      const rx = ctx.spec.duplex ? ipc.receiverFromFd(ctx.fds[1]!, view) : undefined;
      return { sender: senderFromChannel(ipc.senderFromFd(ctx.fds[0]!)), receiver: rx && receiverFromChannel(rx, ctx.spec), close: () => rx?.close() };
    }
    const host = ctx.params as HostSide;
    for (const fd of host.toB) {
      ipc.closeSync(fd); // B has its copies
      host.open.delete(fd);
    }
    const rx = ipc.receiverFromFd(host.r, view);
    host.open.delete(host.r);
    let sender;
    if (host.w !== undefined) {
      sender = senderFromChannel(ipc.senderFromFd(host.w));
      host.open.delete(host.w);
    }
    return { receiver: receiverFromChannel(rx, ctx.spec), sender, close: () => rx.close() };
  },
};

export default transport;

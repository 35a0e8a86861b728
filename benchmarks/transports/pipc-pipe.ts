// posix-ipc pipe channel: pipe() + senderFromFd / receiverFromFd, the
// sender's descriptor passed to peer B; a second pipe back for ping-pong.
import { channelTransport } from '../lib/pipc-channels.js';

interface HostSide {
  r: number;
  w?: number;
  /** Descriptors for peer B, and which of ours are still open (the channel ends own theirs). */
  toB: number[];
  open: Set<number>;
}

export default channelTransport({
  name: 'pipc-pipe',
  label: 'posix-ipc pipe channel',
  ceiling: 'pipe',
  coalesces: true, // one write per event-loop turn
  order: 50,
  setup(ipc, spec) {
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
  open(ipc, ctx, need, view) {
    if (ctx.role === 'b')
      return { sender: ipc.senderFromFd(ctx.fds[0]!), receiver: need.receive ? ipc.receiverFromFd(ctx.fds[1]!, view) : undefined };
    const host = ctx.params as HostSide;
    for (const fd of host.toB) {
      ipc.closeSync(fd); // B has its copies
      host.open.delete(fd);
    }
    const receiver = ipc.receiverFromFd(host.r, view);
    host.open.delete(host.r);
    const w = host.w;
    if (w === undefined) return { receiver };
    host.open.delete(w);
    return { receiver, sender: ipc.senderFromFd(w) };
  },
});

// posix-ipc socket-pair channel: socketPair() + duplexFromFd, one end passed
// to peer B. Duplex, so ping-pong uses the same pair.
import { channelTransport, duplexEnds } from '../lib/pipc-channels.js';

interface HostSide {
  fd: number;
  toB: number;
  open: Set<number>;
}

export default channelTransport({
  name: 'pipc-socketpair',
  label: 'posix-ipc socketpair channel',
  ceiling: 'socket',
  coalesces: true, // one write per event-loop turn
  order: 51,
  setup(ipc) {
    const [a, b] = ipc.socketPair();
    const host: HostSide = { fd: a, toB: b, open: new Set([a, b]) };
    return {
      a: host,
      stdio: [b],
      close: () => {
        for (const fd of host.open) ipc.closeSync(fd);
        host.open.clear();
      },
    };
  },
  open(ipc, ctx, need, view) {
    let fd: number;
    if (ctx.role === 'b') {
      fd = ctx.fds[0]!;
    } else {
      const host = ctx.params as HostSide;
      ipc.closeSync(host.toB); // B has its copy
      host.open.delete(host.toB);
      host.open.delete(host.fd); // the duplex owns it now
      fd = host.fd;
    }
    return duplexEnds(ipc.duplexFromFd(fd, { receive: view }), need);
  },
});

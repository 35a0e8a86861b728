// posix-ipc socket-pair channel: socketPair() + duplexFromFd, one end passed
// to peer B. Duplex, so ping-pong uses the same pair.
import { receiverFromChannel, senderFromChannel } from '../lib/channel-adapter.js';
import { channelsAvailable, loadChannels } from '../lib/pipc-channels.js';
import type { Ends, Transport } from '../lib/types.js';

interface HostSide {
  fd: number;
  toB: number;
  open: Set<number>;
}

const transport: Transport = {
  name: 'pipc-socketpair',
  label: 'posix-ipc socketpair channel',
  kind: 'process',
  ceiling: 'socket',
  coalesces: true, // one write per event-loop turn
  order: 51,
  available: channelsAvailable,
  async setup() {
    const ipc = await loadChannels();
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
  async open(ctx): Promise<Ends> {
    const ipc = await loadChannels();
    const options = { receive: { codec: ipc.codecs.bytesView } };
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
    const d = ipc.duplexFromFd(fd, options);
    const ends: Ends = { close: () => d.close() };
    if (ctx.role === 'b' || ctx.spec.duplex) ends.sender = senderFromChannel(d.sender);
    if (ctx.role === 'a' || ctx.spec.duplex) ends.receiver = receiverFromChannel(d.receiver, ctx.spec);
    return ends;
  },
};

export default transport;

// posix-ipc NATS channel: listen('nats://server/subject') in the host,
// connect() from peer B, through one nats-server on loopback that the host
// starts (lib/nats-server.ts): what leaving shared memory for a broker costs,
// beside nats-core (bare nats.js publish/subscribe through the same server).
import type { Listener } from '../../lib/index.js';
import { natsServerAvailable, sharedNatsServer } from '../lib/nats-server.js';
import { channelTransport, duplexEnds } from '../lib/pipc-channels.js';

interface HostSide {
  server: Listener<Uint8Array>;
}
let cells = 0;

export default channelTransport({
  name: 'pipc-nats',
  label: 'posix-ipc NATS channel',
  ceiling: 'tcp',
  coalesces: true, // one NATS flush per event-loop turn
  order: 57,
  available: natsServerAvailable,
  async setup(ipc) {
    const { servers } = await sharedNatsServer();
    const address = `nats://${servers}/bench.channel.${process.pid}.${cells++}`;
    const server = await ipc.listen(address, { codec: ipc.codecs.bytesView, maxMessageSize: 8 * 1024 * 1024 - 1024 });
    return { a: { server } satisfies HostSide, b: { address }, close: () => server.close() };
  },
  async open(ipc, ctx, need, view) {
    const d =
      ctx.role === 'a'
        ? await (ctx.params as HostSide).server.accept()
        : await ipc.connect((ctx.params as { address: string }).address, {
            ...view,
            maxMessageSize: 8 * 1024 * 1024 - 1024,
            timeoutMs: 10_000,
          });
    return duplexEnds(d, need);
  },
});

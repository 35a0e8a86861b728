// A deliberately broken transport for the harness's own tests
// (test/bench-smoke.test.ts): MessagePort copy that drops the 100th message
// of every stream. The run must fail loudly, never report a figure.
import { portTransport } from '../lib/port-channel.js';
import type { BenchSender, Ends, Transport } from '../lib/types.js';

const base = portTransport(false, 99);

const lossy: Transport = {
  ...base,
  name: 'lossy',
  label: 'lossy (test only)',
  async open(ctx): Promise<Ends> {
    const ends = await base.open(ctx);
    const inner = ends.sender;
    if (!inner || ctx.spec.workload !== 'stream') return ends;
    let n = 0;
    const sender: BenchSender = {
      send: (msg) => (++n === 100 ? undefined : inner.send(msg)),
      sendMany: (msgs) => {
        const kept = msgs.filter(() => ++n !== 100);
        return inner.sendMany!(kept);
      },
      close: () => inner.close(),
    };
    return { ...ends, sender };
  },
};

export default lossy;

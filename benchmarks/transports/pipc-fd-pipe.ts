// posix-ipc's own pipe() and blocking readSync/writeSync (no channel layer
// yet): fixed-size messages over an anonymous pipe, exactly as the C pipe
// ceiling does it, so the percentage is the cost of the binding itself.
// The consumer reads into one reused buffer; a batch is one write.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import type { BenchReceiver, BenchSender, Ends, Link, MessageHandler, Transport } from '../lib/types.js';

// lib/fd.js alone: the descriptor calls, without the channel layer this transport does not use.
type Lib = typeof import('../../lib/fd.js');
const lib = (): Promise<Lib> => import('../../lib/fd.js');

function writeAll(ipc: Lib, fd: number, buf: Uint8Array, len: number): void {
  let off = 0;
  while (off < len) off += ipc.writeSync(fd, buf, off, len - off) ?? 0;
}

function sender(ipc: Lib, fd: number, size: number, batch: number): BenchSender {
  const stage = new Uint8Array(size * batch);
  return {
    send: (msg) => writeAll(ipc, fd, msg, msg.length),
    sendMany(msgs) {
      let off = 0;
      for (const m of msgs) {
        stage.set(m, off);
        off += m.length;
      }
      writeAll(ipc, fd, stage, off);
    },
    close: () => ipc.closeSync(fd),
  };
}

function receiver(ipc: Lib, fd: number, size: number): BenchReceiver {
  return {
    async consume(onMessage: MessageHandler) {
      // Whole messages only, so none straddles the end of the buffer.
      const cap = size >= 65536 ? size : Math.floor(65536 / size) * size;
      const buf = new Uint8Array(cap);
      let fill = 0;
      let done = 0;
      for (;;) {
        const n = ipc.readSync(fd, buf, fill, cap - fill) ?? 0;
        if (n === 0) break;
        fill += n;
        while (fill - done >= size) {
          const r = onMessage(buf, done, size);
          if (r) await r;
          done += size;
        }
        if (fill === cap) fill = done = 0;
      }
      if (fill !== done) throw new Error('end of stream inside a message');
    },
  };
}

interface HostFds {
  /** A reads this (B -> A). */
  r: number;
  /** A writes this (A -> B), duplex only. */
  w?: number;
  /** Descriptors that went to B: closed in A once B has them, so EOF can happen. */
  given: number[];
  /** What the host still has to close. */
  open: Set<number>;
}

function closeIn(ipc: Lib, host: HostFds, fd: number): void {
  if (host.open.delete(fd)) ipc.closeSync(fd);
}

const transport: Transport = {
  name: 'pipc-fd-pipe',
  label: 'posix-ipc pipe, fd I/O',
  kind: 'process',
  ceiling: 'pipe',
  order: 40,
  available() {
    try {
      const root = fileURLToPath(new URL('../../', import.meta.url));
      (createRequire(import.meta.url)('node-gyp-build') as (dir: string) => unknown)(root);
      return true;
    } catch {
      return 'the posix-ipc addon is not built (npm run build:native)';
    }
  },
  async setup(spec): Promise<Link> {
    const ipc = await lib();
    const [r, w] = ipc.pipe();
    const host: HostFds = { r, given: [w], open: new Set([r, w]) };
    if (spec.duplex) {
      const [r2, w2] = ipc.pipe();
      host.w = w2;
      host.given.push(r2);
      host.open.add(r2).add(w2);
    }
    return {
      a: host,
      stdio: host.given, // B: fd 4 writes to A; duplex: fd 5 reads from A
      close: () => {
        for (const fd of [...host.open]) closeIn(ipc, host, fd);
      },
    };
  },
  async open(ctx): Promise<Ends> {
    const ipc = await lib();
    const { size, batch, duplex } = ctx.spec;
    if (ctx.role === 'b') {
      const ends: Ends = { sender: sender(ipc, ctx.fds[0]!, size, batch) };
      if (duplex) ends.receiver = receiver(ipc, ctx.fds[1]!, size);
      return ends;
    }
    const host = ctx.params as HostFds;
    // spawn() has duplicated B's descriptors into it by now.
    for (const fd of host.given) closeIn(ipc, host, fd);
    const ends: Ends = { receiver: receiver(ipc, host.r, size) };
    if (duplex && host.w !== undefined) {
      const w = host.w;
      ends.sender = { ...sender(ipc, w, size, 1), close: () => closeIn(ipc, host, w) };
    }
    return ends;
  },
};

export default transport;

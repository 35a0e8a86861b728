// Mailbox scenario: P producer processes -> one mailbox (owned by this
// process) -> one consumer process, for P in 1, 2, 4, over two paths:
//   shm  - one SPSC ring pair per client, gathered by select (the owner adopts each duplex)
//   unix - one UNIX socket per client through a UnixServer listener
// Every message is stamped (producer, k); the consumer's count and checksum
// must equal the producers' sum, or the run fails. Reports delivered msgs/s.
// Run: node --import tsx benchmarks/scenarios/mailbox.ts [--producers 1,2,4] [--paths shm,unix]
//        [--duration ms] [--size bytes] [--json file] [--smoke]
// Not part of the point-to-point matrix of run.ts: a mailbox is many-to-one.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import {
  UnixServer,
  connectMailboxConsumer,
  connectMailboxProducer,
  connectUnix,
  createMailbox,
  openShmDuplex,
  type Duplex,
} from '../../lib/index.js';

type Path = 'shm' | 'unix';
const self = fileURLToPath(import.meta.url);
const [role] = process.argv.slice(2);

function open(path: Path, target: string): Promise<Duplex<Uint8Array>> {
  return path === 'shm' ? openShmDuplex(target, { timeoutMs: 10_000 }) : connectUnix(target, { timeoutMs: 10_000 });
}

if (role === 'producer' || role === 'consumer') {
  const [, path, target = '', idArg = '0', durationArg = '0', sizeArg = '64'] = process.argv.slice(2) as [string, Path, ...string[]];
  if (role === 'producer') {
    const id = Number(idArg);
    const producer = await connectMailboxProducer(() => open(path, target));
    process.stdout.write('ready\n');
    await new Promise<void>((resolve) => createInterface({ input: process.stdin }).once('line', () => resolve()));
    const msg = new Uint8Array(Number(sizeArg));
    const view = new DataView(msg.buffer);
    const end = performance.now() + Number(durationArg);
    let n = 0;
    let sum = 0;
    while (performance.now() < end) {
      for (let i = 0; i < 256; i++, n++) {
        const stamp = ((id << 24) ^ n) >>> 0;
        view.setUint32(0, stamp, true);
        sum = (sum + stamp) >>> 0;
        if (!producer.trySend(msg)) await producer.send(msg);
      }
    }
    await producer.close();
    process.stdout.write(`produced ${n} ${sum}\n`);
  } else {
    const consumer = await connectMailboxConsumer(() => open(path, target), { prefetch: 256 });
    process.stdout.write('ready\n');
    let n = 0;
    let sum = 0;
    for await (const { message } of consumer) {
      sum = (sum + new DataView(message.buffer, message.byteOffset, 4).getUint32(0, true)) >>> 0;
      n++;
    }
    await consumer.close();
    process.stdout.write(`consumed ${n} ${sum}\n`);
  }
  process.exit(0);
}

interface Child {
  proc: ChildProcess;
  line(re: RegExp): Promise<RegExpExecArray>;
}

function child(args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', self, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  let text = '';
  const waiters: (() => void)[] = [];
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    text += d;
    for (const w of waiters.splice(0)) w();
  });
  return {
    proc,
    line: (re) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`benchmark child: no ${re} within 60 s`)), 60_000);
        const check = (): void => {
          const m = re.exec(text);
          if (m) {
            clearTimeout(timer);
            resolve(m);
          } else waiters.push(check);
        };
        check();
      }),
  };
}

export interface MailboxResult {
  path: Path;
  producers: number;
  size: number;
  messages: number;
  seconds: number;
  msgsPerSec: number;
  verified: boolean;
}

async function cell(path: Path, producers: number, durationMs: number, size: number): Promise<MailboxResult> {
  const mb = createMailbox({ capacity: 4096 });
  const sock = join(tmpdir(), `pipc-bench-mbox-${randomBytes(4).toString('hex')}.sock`);
  if (path === 'unix') mb.serve(UnixServer.listen(sock));
  const start = (args: string[]): Child => {
    if (path === 'unix') return child([args[0]!, path, sock, ...args.slice(1)]);
    const name = `/pipc-bench-mbox-${randomBytes(4).toString('hex')}`;
    void openShmDuplex(name, { create: true, timeoutMs: 10_000 }).then((d) => mb.adopt(d));
    return child([args[0]!, path, name, ...args.slice(1)]);
  };
  try {
    const consumer = start(['consumer']);
    await consumer.line(/^ready$/m);
    const ps = Array.from({ length: producers }, (_, i) => start(['producer', String(i), String(durationMs), String(size)]));
    for (const p of ps) await p.line(/^ready$/m);
    const t0 = performance.now();
    for (const p of ps) p.proc.stdin!.write('go\n');
    let sent = 0;
    let sum = 0;
    for (const p of ps) {
      const m = await p.line(/^produced (\d+) (\d+)$/m);
      sent += Number(m[1]);
      sum = (sum + Number(m[2])) >>> 0;
    }
    for (let i = 0; i < 60_000 && mb.stats.acknowledged < sent; i++) await new Promise((r) => setTimeout(r, 1));
    const seconds = (performance.now() - t0) / 1000;
    await mb.close();
    const got = await consumer.line(/^consumed (\d+) (\d+)$/m);
    const verified = Number(got[1]) === sent && Number(got[2]) === sum;
    if (!verified) throw new Error(`mailbox ${path} x${producers}: consumed ${got[1]} (sum ${got[2]}), produced ${sent} (sum ${sum})`);
    return { path, producers, size, messages: sent, seconds, msgsPerSec: sent / seconds, verified };
  } finally {
    await mb.close();
  }
}

const { values } = parseArgs({
  options: {
    producers: { type: 'string', default: '1,2,4' },
    paths: { type: 'string', default: 'shm,unix' },
    duration: { type: 'string', default: '2000' },
    size: { type: 'string', default: '64' },
    json: { type: 'string' },
    smoke: { type: 'boolean', default: false },
  },
});
const counts = values.producers.split(',').map(Number);
const paths = values.paths.split(',') as Path[];
const duration = values.smoke ? 200 : Number(values.duration);
const results: MailboxResult[] = [];
for (const path of paths) {
  for (const p of counts) {
    const r = await cell(path, p, duration, Number(values.size));
    results.push(r);
    console.log(
      `${path.padEnd(5)} producers=${p}  ${Math.round(r.msgsPerSec).toLocaleString('en')} msgs/s  (${r.messages} in ${r.seconds.toFixed(2)} s, verified)`,
    );
  }
}
if (values.json) writeFileSync(values.json, JSON.stringify({ schema: 'posix-ipc-mailbox-bench/1', results }, null, 2));

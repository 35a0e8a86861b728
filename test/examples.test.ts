// The examples are part of the documentation: each must run and print what
// its C original prints.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

import { compileXdr } from '../lib/index.js';
import { tempPath } from './support/helpers.js';
import { checkShiVizLog } from './support/shiviz-check.js';

const run = promisify(execFile);
const dir = new URL('../examples/', import.meta.url).pathname;

async function example(name: string, ...args: string[]): Promise<string> {
  return exampleWithin(30_000, name, ...args);
}

async function exampleWithin(ms: number, name: string, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', `${dir}${name}.ts`, ...args], { timeout: ms });
  return stdout;
}

describe('examples', () => {
  it('pipe', async () => {
    expect(await example('pipe')).toBe('Sent: Message in a pipe. [20, 20]\nRcvd: Message in a pipe. [20]\n');
  });

  it('fork-pipe', async () => {
    const out = await example('fork-pipe');
    expect(out).toContain('Parent: Greetings from your parent! [27, 27]');
    expect(out).toContain('Child Rcvd: Greetings from your parent! [27]');
    expect(out).toContain('Child exited with code 0');
  });

  it('fifo writer and reader', async () => {
    const path = tempPath('example-fifo');
    const writer = example('fifo-writer', path);
    // The reader may start before the writer created the FIFO: retry briefly.
    let out = '';
    for (let i = 0; i < 100 && out === ''; i++) {
      try {
        out = await example('fifo-reader', path);
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await writer;
    expect(out).toBe('Received message: Hello, Named Pipe!\n');
  });

  it('semaphore-mutex', async () => {
    expect(await example('semaphore-mutex')).toBe('4 processes x 50000 increments = 200000 (expected 200000)\n');
  });

  it('message-mutex-async: a mailbox with one token as the semaphore', async () => {
    const out = await example('message-mutex-async');
    expect(out).toMatch(/^mailbox \S+ holds 1 token; 4 processes: receive = P, send = V$/m);
    expect(out).toContain('4 processes x 200 critical sections = 800 (expected 800); exit codes 0 0 0 0\n');
  }, 60_000); // four processes x 200 sections: past 20 s on a loaded machine

  it('message-mutex-async --no-lock: without the token, updates are lost (the check can fail)', async () => {
    const m = /= (\d+) \(expected 800\)/.exec(await example('message-mutex-async', '--no-lock'));
    expect(Number(m![1])).toBeLessThan(800);
  }, 60_000);

  it('message-mutex-sync: a server grants the critical section over rendezvous sends', async () => {
    const out = await example('message-mutex-sync');
    expect(out).toMatch(/^server at \S+: 4 clients, each send a rendezvous$/m);
    expect(out).toContain('800 grants; 4 processes x 200 critical sections = 800 (expected 800); exit codes 0 0 0 0\n');
  }, 60_000);

  it.each(['central', 'token-ring', 'ricart-agrawala', 'suzuki-kasami'])(
    "distributed-mutex %s: 4 processes, no update lost, fences rise, the theory's message count",
    async (algorithm) => {
      const out = await exampleWithin(60_000, 'distributed-mutex', algorithm);
      expect(out).toContain(`4 processes, ${algorithm}: acquire = entry section, release = exit section\n`);
      expect(out).toContain('4 processes x 25 critical sections = 100 (expected 100); exit codes 0 0 0 0\n');
      expect(out).toContain('fences rose every time: yes\n');
      const perSection = Number(/^messages per critical section: ([\d.]+)/m.exec(out)![1]);
      if (algorithm === 'ricart-agrawala') expect(perSection).toBe(6);
      else if (algorithm === 'central')
        expect(perSection).toBe(2.25); // 3 for each of the 75 sections of the three non-coordinators
      else if (algorithm === 'suzuki-kasami') expect(perSection).toBeLessThanOrEqual(4);
      else expect(perSection).toBeGreaterThanOrEqual(0.99);
    },
    60_000,
  );

  it('shm-producer-consumer', async () => {
    const out = await example('shm-producer-consumer');
    expect(out).toContain('consumer: received 1000 items, sum 500500');
    expect(out).toContain('producer: sent 1000 items, sum 500500');
  });

  it('channels', async () => {
    expect(await example('channels')).toBe(
      "parent got { hello: 'parent', i: 1 }\nparent got { hello: 'parent', i: 2 }\nparent got { hello: 'parent', i: 3 }\n",
    );
  });

  it('process-names', async () => {
    const out = await example('process-names');
    const host = hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(out).toMatch(
      new RegExp(
        [
          'symmetric: receive\\(Q\\) -> "hello 1 from Q"',
          'symmetric: receive\\(Q\\) -> "hello 2 from Q"',
          `asymmetric: receive\\(id\\) -> "hello 1 from S", id = S \\(${host}/\\d+\\)`,
          `asymmetric: receive\\(id\\) -> "hello 2 from S", id = S \\(${host}/\\d+\\)`,
          'Q and S exited with codes 0 0',
          '',
        ].join('\n'),
      ),
    );
  });

  it('two-links', async () => {
    expect(await example('two-links')).toBe(
      'link 1 (shared memory): 3 messages\nlink 2 (pipe): 3 messages\nreply over the duplex: { sum: 10 }\nchild exited with code 0\n',
    );
  });

  it('socket-server and socket-client, over tcp:// and then tls://', async () => {
    const out = await example('socket-server');
    const lines = out.split('\n');
    for (const scheme of ['tcp', 'tls']) {
      expect(lines).toContainEqual(
        expect.stringMatching(new RegExp(`^\\[${scheme}\\] server listening on ${scheme}://127\\.0\\.0\\.1:\\d+$`)),
      );
    }
    expect(out.replace(/:\d+\n/g, ':<port>\n')).toBe(
      ['tcp', 'tls']
        .map((s) =>
          [
            `[${s}] server listening on ${s}://127.0.0.1:<port>`,
            `[${s}] server received: Hello, server!`,
            `[${s}] client received: Hello, client! You said: Hello, server!`,
            `[${s}] client exited with code 0`,
          ].join('\n'),
        )
        .join('\n') + '\n',
    );
  });

  it('kvstore-service (UNIX socket, then shared memory: one address changed)', async () => {
    const expected =
      'get course: distributed systems\nloaded 3\nkeys lab*: lab1 lab2 lab3\nbad call: ERR_RPC_BAD_ARGUMENTS\nclient exited with code 0\n';
    expect(await example('kvstore-service')).toBe(expected);
    expect(await example('kvstore-service', `shm:/pipc-kv-${process.pid}`)).toBe(expected);
  });

  it("kvstore-onc: the seed's kv_store.x over raw ONC TCP, a UNIX socket, shared memory and TLS (one address changed)", async () => {
    const expected = (uid: number): string =>
      `server: EXAMPLE(41) from uid ${uid}\nEXAMPLE(41) = 42\nEXAMPLE(2^31): ERR_XDR_RANGE\nclient exited with code 0\n`;
    const uid = process.getuid?.() ?? 0;
    for (const address of ['oncrpc://127.0.0.1:0', undefined, `shm:/pipc-kvonc-${process.pid}`, 'tls://127.0.0.1:0']) {
      expect(await example('kvstore-onc', ...(address ? [address] : [])), address).toBe(expected(uid));
    }
  }, 60_000);

  it('kvstore/kv_store.ts is what posix-ipc-rpcgen makes of kvstore/kv_store.x today', async () => {
    const x = join(dir, 'kvstore', 'kv_store.x');
    const generated = compileXdr(readFileSync(x, 'utf8'), { file: 'kv_store.x', importFrom: '../../lib/index.js' });
    expect(readFileSync(join(dir, 'kvstore', 'kv_store.ts'), 'utf8')).toBe(generated);
  });

  it('mailbox', async () => {
    const out = await example('mailbox');
    const taken = [...out.matchAll(/^consumer [AB] took (\d+): (.*)$/gm)];
    expect(taken).toHaveLength(2);
    const jobs = taken.flatMap((m) => (m[2] ? m[2].split(', ') : [])).sort(); // a consumer may take none
    expect(jobs).toEqual(['1.1', '1.2', '1.3', '1.4', '1.5', '2.1', '2.2', '2.3', '2.4', '2.5'].map((j) => `job ${j}`));
    expect(out).toContain('2 producers sent 10 jobs; 2 consumers acknowledged 10, redelivered 0\nconsumers exited with codes 0 0\n');
  });

  it("happens-before: the slide's DAG e1..e7, queried, and its ShiViz log", async () => {
    const out = await example('happens-before');
    const [table, log] = out.split('\n\n(?<host>');
    expect(table).toBe(
      [
        'e1 = P1 send    {"P1":1}',
        'e2 = P2 local   {"P2":1}',
        'e3 = P2 receive {"P1":1,"P2":2}',
        'e4 = P1 local   {"P1":2}',
        'e5 = P2 local   {"P1":1,"P2":3}',
        'e6 = P3 send    {"P3":1}',
        'e7 = P1 receive {"P1":3,"P3":1}',
        'e1 -> e4',
        'e4 -> e7',
        'e1 -> e3',
        'e1 -> e5',
        'e6 -> e7',
        'e1 || e6',
        'e2 || e1',
        'e3 || e6',
      ].join('\n'),
    );
    expect(checkShiVizLog('(?<host>' + log!)).toHaveLength(7);
  });

  it('causal-delivery: a violation without hold-back, detected; none with it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pipc-example-causal-'));
    try {
      expect(await example('causal-delivery', dir)).toBe(
        [
          'without hold-back, P3: receive P2#3, deliver P2#3, receive P1#1, deliver P1#1',
          '  violation: P3 delivered P2#3 before P1#1, but P1#1 was sent before P2#3 was',
          'with hold-back, P3: receive P2#3, receive P1#1, deliver P1#1, deliver P2#3',
          '  no causality violation',
          '',
        ].join('\n'),
      );
      for (const name of ['without-hold-back', 'with-hold-back']) checkShiVizLog(readFileSync(join(dir, `${name}.shiviz`), 'utf8'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('kvstore-2pc: transfers across 3 partition processes, one killed and recovered, the total kept (UNIX sockets, then TCP)', async () => {
    const temp = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('kvstore-2pc-'));
    const before = new Set(temp());
    for (const scheme of [undefined, 'tcp']) {
      const out = await exampleWithin(120_000, 'kvstore-2pc', ...(scheme ? [scheme] : []));
      expect(out, out).toContain(`3 partitions over ${scheme ?? 'unix'}, each with its own log\n`);
      expect(out).toContain('alice: p2, bob: p2, erin: p0, grace: p0, mallory: p1, trent: p1\ncreated 6 accounts with 100 each\n');
      expect(out).toContain('killed partition p1 (SIGKILL) after 100 transfers\n');
      // Its two accounts came back from its log (a partition that lost its log would have none).
      expect(out).toMatch(/^restarted p1 on its log: it recovered 2 accounts \(\d+ in doubt\)$/m);
      const [, committed, aborted] = /^200 transfers: (\d+) committed, (\d+) aborted$/m.exec(out) ?? [];
      expect(Number(committed) + Number(aborted)).toBe(200);
      expect(Number(committed)).toBeGreaterThan(0);
      expect(out).toContain('\ntotal 600\npartitions exited with codes 0 0 0\n');
    }
    expect(temp().filter((n) => !before.has(n))).toEqual([]); // the logs' directory is removed
  }, 300_000);

  it("tx-diagram: the slides' two-phase commit, one commit and one abort, drawn from 4 processes' merged traces", async () => {
    const out = mkdtempSync(join(tmpdir(), 'pipc-example-2pc-'));
    try {
      const html = join(out, '2pc.html');
      const text = await exampleWithin(60_000, 'tx-diagram', html);
      expect(text).toMatch(/^tx 1 \(\S+\): committed\ntx 2 \(\S+\): aborted \(p1 voted NO: "k0" changed since it was read\)\n/);
      expect(text).toContain('k0 = v1 changed\nk1 = v1\nk3 = v1\n');
      for (const p of ['p1', 'p2', 'p3']) {
        for (const m of ['VOTE_REQ (tx 1)', 'COMMIT (tx 1)', 'VOTE_REQ (tx 2)', 'ABORT (tx 2)'])
          expect(text).toContain(`  coordinator -> ${p}: ${m}\n`);
        for (const m of ['VOTE YES (tx 1)', 'ACK (tx 1)']) expect(text).toContain(`  ${p} -> coordinator: ${m}\n`);
      }
      expect(text).toContain('  p1 -> coordinator: VOTE NO (tx 2)\n');
      expect(text).toMatch(/^wrote .*2pc\.html: coordinator, p1, p2, p3; \d+ events, \d+ messages$/m);
      const page = readFileSync(html, 'utf8');
      for (const name of ['coordinator', 'p1', 'p2', 'p3', ': VOTE_REQ', ': VOTE YES', ': VOTE NO', ': COMMIT', ': ABORT', ': ACK'])
        expect(page).toContain(name);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);

  it("group-total-order: the slides' two-phase total-order table at g1, m2 held back until m1 commits", async () => {
    const out = mkdtempSync(join(tmpdir(), 'pipc-example-total-'));
    try {
      const text = await exampleWithin(60_000, 'group-total-order', join(out, 'total-order.html'));
      expect(text).toContain('| m1 | 6 | pending | no |\n| m2 | 8 | 8 | no: held back |\n| m3 | 10 | pending | no |');
      expect(text).toContain('| m0 | 2 | 2 | 1 |\n| m1 | 6 | 9 | 3 |\n| m2 | 8 | 8 | 2 |\n| m3 | 10 | pending | no |');
      for (const m of ['s1', 's2', 'g1', 'g2']) expect(text).toContain(`${m} delivered m0, m2, m1, m3\n`);
      expect(readFileSync(join(out, 'total-order.html'), 'utf8')).toContain('ack m1 (6)');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it("group-overlap: the slides' overlapped groups g1, g2 on one spanning tree, the overlap set {C, D} delivers in one order", async () => {
    const text = await exampleWithin(60_000, 'group-overlap');
    expect(text).toContain(['C [g1 g2] orders g1 g2', '├─ A [g1]', '│  └─ B [g1]', '├─ D [g1 g2]', '└─ E [g2]', '   └─ F [g2]'].join('\n'));
    expect(text).toContain('f1 (F to g2): up F→E→C, ordered at C, down C→D, C→E→F\n');
    expect(text).toContain('c1 (C to g2): ordered at C (the sender), down C→D, C→E→F\n');
    const order = (id: string): string[] => new RegExp(`^${id} delivered (.+)$`, 'm').exec(text)![1]!.split(' ');
    expect(order('C').sort()).toEqual(['a1', 'b1', 'c1', 'd1', 'e1', 'f1']);
    expect(order('D')).toEqual(order('C'));
    expect(order('A')).toEqual(order('C').filter((m) => ['a1', 'b1', 'd1'].includes(m)));
    expect(order('F')).toEqual(order('C').filter((m) => ['c1', 'e1', 'f1'].includes(m)));
    expect(text).toContain("C and D (the overlap set) delivered both groups' messages in the same order: yes\n");
    expect(text).toContain('checkers (total order across the groups): no violation\n');
  });
});

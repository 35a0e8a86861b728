// The course's KVSTORE as a TypeScript-defined service: the server here, a
// client in a child process, over any transport by changing one address
// (unix: by default; try shm:/kvstore-example or tcp://127.0.0.1:0).
// Run: npx tsx examples/kvstore-service.ts [address]
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type as T } from '@sinclair/typebox';

import { connectService, defineService, forkNode, RpcError, serve } from '../lib/index.js';

const KvStore = defineService({
  name: 'kvstore',
  version: 1,
  procedures: {
    put: { args: T.Object({ key: T.String(), value: T.String() }), result: T.Boolean() },
    get: { args: T.Object({ key: T.String() }), result: T.Union([T.String(), T.Null()]), idempotent: true },
    keys: { args: T.Object({ prefix: T.String() }), stream: 'server', item: T.String() },
    load: { stream: 'client', item: T.Object({ key: T.String(), value: T.String() }), result: T.Integer() },
  },
});

const [role, address = `unix:${join(tmpdir(), `kvstore-example-${process.pid}.sock`)}`] = process.argv.slice(2);

if (role === 'client') {
  const kv = await connectService(address, KvStore);
  await kv.put({ key: 'course', value: 'distributed systems' });
  console.log(`get course: ${await kv.get({ key: 'course' })}`);
  const loaded = await kv.load([1, 2, 3].map((n) => ({ key: `lab${n}`, value: `lab ${n}` })));
  console.log(`loaded ${loaded}`);
  const labs: string[] = [];
  for await (const key of kv.keys({ prefix: 'lab' })) labs.push(key);
  console.log(`keys lab*: ${labs.join(' ')}`);
  try {
    await kv.get({ key: 42 } as never);
  } catch (err) {
    console.log(`bad call: ${(err as RpcError).code}`);
  }
  await kv.close();
} else {
  const store = new Map<string, string>();
  const server = await serve(address, KvStore, {
    put: ({ key, value }) => (store.set(key, value), true),
    get: ({ key }) => store.get(key) ?? null,
    *keys({ prefix }) {
      for (const k of [...store.keys()].sort()) if (k.startsWith(prefix)) yield k;
    },
    async load(items) {
      let n = 0;
      for await (const { key, value } of items) n += store.set(key, value) ? 1 : 0;
      return n;
    },
  });
  const client = forkNode(new URL(import.meta.url), { args: ['client', server.url] });
  const { code } = await client.exited;
  await server.close();
  console.log(`client exited with code ${code}`);
}

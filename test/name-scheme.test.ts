// The address syntax's name: scheme: listen under a service name, connect by
// it from another process, over shared memory, TCP and NATS, through this machine's
// registry and through a TCP name server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connect, listen, lookupName, NameClient, NameServer, type Listener } from '../lib/index.js';
import { exchangeChecksummed } from './support/checksummed.js';
import { startFixture } from './support/fixture-process.js';
import { natsCluster } from './support/channel-transports.js';
import { uniqueName, within } from './support/helpers.js';
import { natsUnavailable } from './support/nats-cluster.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pipc-namesch-'));
  process.env.POSIX_IPC_RUNTIME_DIR = dir;
});
afterAll(() => {
  delete process.env.POSIX_IPC_RUNTIME_DIR;
  rmSync(dir, { recursive: true, force: true });
});

const service = (): string => uniqueName('svc').replace(/^\//, '').toLowerCase();

/** A child connects to `address` and exchanges 100 checksummed messages each way with what `server` accepts. */
async function exchangeWithChild(server: Listener<Uint8Array>, address: string): Promise<void> {
  const child = startFixture('address-peer.ts', ['exchange', address, '100'], { env: { POSIX_IPC_RUNTIME_DIR: dir } });
  try {
    const conn = await within(20_000, 'the child connects', server.accept());
    expect(await within(30_000, 'the exchange', exchangeChecksummed(conn, 100))).toBe(100);
    await child.waitFor('exchanged 100');
    await conn.close();
    expect(await within(15_000, 'exit', child.child.exited)).toEqual({ code: 0, signal: null });
  } finally {
    await child.stop();
  }
}

describe('name: addresses', () => {
  // NATS where nats-server is installed (.ci/run installs it): the name resolves to a subject on a 3-node cluster.
  it.each(['shm', 'tcp', ...(natsUnavailable() === undefined ? ['nats'] : [])])(
    'listen(name:, { at: %s }) registers the listener; a child connects by the name; close() gives the name up',
    async (scheme) => {
      const name = service();
      const at =
        scheme === 'shm'
          ? `shm:/${name}`
          : scheme === 'nats'
            ? `nats://${(await natsCluster()).nodes[0]}/svc.${name}`
            : 'tcp://127.0.0.1:0';
      const server = await listen(`name:${name}`, { at });
      try {
        expect(server.url).toBe(`name:${name}`);
        const registered = lookupName(name);
        expect(registered.startsWith(`${scheme}:`)).toBe(true);
        expect((server as Listener<Uint8Array> & { at: string }).at).toBe(registered);
        await exchangeWithChild(server, `name:${name}`);
      } finally {
        server.close();
      }
      expect(() => lookupName(name)).toThrow(expect.objectContaining({ code: 'ERR_NAME_NOT_FOUND' }));
    },
    60_000,
  );

  it('through a TCP name server: name://host:port/service, registered while the listener lives', async () => {
    const names = await NameServer.listen({ host: '127.0.0.1', port: 0 });
    const name = service();
    try {
      const remote = `name://127.0.0.1:${names.port}/${name}`;
      const server = await listen(remote, { at: 'tcp://127.0.0.1:0' });
      const client = await NameClient.connect({ host: '127.0.0.1', port: names.port });
      try {
        expect(await client.lookup(name)).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
        await exchangeWithChild(server, remote);
        server.close();
        await within(
          5000,
          'the name goes',
          (async () => {
            for (;;) {
              const gone = await client.lookup(name).then(
                () => false,
                (e: { code?: string }) => e.code === 'ERR_NAME_NOT_FOUND',
              );
              if (gone) return;
              await new Promise((r) => setTimeout(r, 20));
            }
          })(),
        );
      } finally {
        server.close();
        await client.close();
      }
    } finally {
      names.close();
    }
  }, 60_000);

  it('clear errors: no name, no options.at, a name taken', async () => {
    const name = service();
    await expect(connect(`name:${name}`)).rejects.toMatchObject({ code: 'ERR_NAME_NOT_FOUND' });
    await expect(listen(`name:${name}`)).rejects.toThrow(/needs options\.at/);
    const first = await listen(`name:${name}`, { at: 'tcp://127.0.0.1:0' });
    try {
      await expect(listen(`name:${name}`, { at: 'tcp://127.0.0.1:0' })).rejects.toMatchObject({ code: 'ERR_NAME_TAKEN' });
    } finally {
      first.close();
    }
    await expect(listen('name:Bad Name', { at: 'tcp://127.0.0.1:0' })).rejects.toThrow(RangeError);
  });
});

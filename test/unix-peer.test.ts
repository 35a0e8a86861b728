// Peer identity on UNIX socket channels: duplex.peer carries the kernel's
// record of the other process (pid, uid, gid), on both sides, and a server
// refuses clients by uid (allowUids) or by any test (verifyPeer): a refused
// connection is closed at once and never yielded.
import { describe, expect, it } from 'vitest';

import { connectUnix, UnixServer, type UnixDuplex } from '../lib/index.js';
import { startFixture } from './support/fixture-process.js';
import { removePath, sleep, tempPath, within } from './support/helpers.js';

/** Resolves to 'pending' when `p` has not settled within `ms`. */
async function state(p: Promise<unknown>, ms = 50): Promise<string> {
  return Promise.race([
    p.then(
      () => 'yielded',
      () => 'rejected',
    ),
    sleep(ms).then(() => 'pending'),
  ]);
}

describe('UNIX socket channel: peer identity', () => {
  it('each side sees the other process: a forked client as the server sees it, this process as the client sees it', async () => {
    const path = tempPath('peer');
    const server = UnixServer.listen(path);
    const accepted = server.accept();
    const child = startFixture('net-echo.ts', ['unix', path]);
    try {
      const conn = await within(15_000, 'the child connects', accepted);
      expect(conn.peer).toEqual({ pid: child.child.pid, uid: process.getuid!(), gid: process.getgid!() });
      await conn.sender.send(new Uint8Array([7]));
      expect(await within(5000, 'echo', conn.receiver.receive())).toEqual(new Uint8Array([7]));
      const local = server.accept();
      const client = await connectUnix(path);
      const mine = await within(5000, 'accept', local);
      expect(client.peer).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() }); // the listener: this process
      expect(mine.peer.pid).toBe(process.pid);
      await client.close();
      await mine.close();
      await conn.close();
    } finally {
      server.close();
      await child.stop();
      removePath(path);
    }
  });

  it('allowUids refuses a client of another uid at once (it sees end-of-stream) and never yields it', async () => {
    const path = tempPath('uids');
    const uid = process.getuid!();
    const strict = UnixServer.listen(path, { allowUids: [uid + 1] });
    try {
      const accepting = strict.accept();
      accepting.catch(() => undefined);
      const refused = await connectUnix(path);
      expect(await within(5000, 'the refused client ends', refused.receiver.receive())).toBeUndefined();
      await refused.close().catch(() => undefined);
      expect(await state(accepting)).toBe('pending');
    } finally {
      strict.close();
    }
    const open = UnixServer.listen(path, { allowUids: [uid + 1, uid] });
    try {
      const accepted = open.accept();
      const client = await connectUnix(path);
      const conn = await within(5000, 'accept', accepted);
      expect(conn.peer.uid).toBe(uid);
      await client.close();
      await conn.close();
    } finally {
      open.close();
      removePath(path);
    }
  });

  it('verifyPeer refuses by any test (a throw refuses too); the accepted one is the next that passes', async () => {
    const path = tempPath('verify');
    const seen: number[] = [];
    const server = UnixServer.listen(path, {
      verifyPeer: (peer) => {
        seen.push(peer.pid);
        if (seen.length === 1) throw new Error('a verifier that throws refuses');
        return peer.pid !== process.pid; // only another process
      },
    });
    let child: ReturnType<typeof startFixture> | undefined;
    try {
      const accepting = server.accept();
      const refused: UnixDuplex<Uint8Array>[] = [];
      for (let i = 0; i < 2; i++) refused.push(await connectUnix(path));
      for (const r of refused) expect(await within(5000, 'a refused client ends', r.receiver.receive())).toBeUndefined();
      child = startFixture('net-echo.ts', ['unix', path]);
      const childPid = child.child.pid;
      const conn = await within(15_000, 'the child is accepted', accepting);
      expect(conn.peer.pid).toBe(childPid);
      expect(seen.filter((p) => p === process.pid)).toHaveLength(2);
      for (const r of refused) await r.close().catch(() => undefined);
      await conn.close();
    } finally {
      server.close();
      await child?.stop();
      removePath(path);
    }
  });

  it('checks allowUids and verifyPeer before anything is opened', () => {
    const path = tempPath('badopt');
    expect(() => UnixServer.listen(path, { allowUids: 'root' as never })).toThrow(TypeError);
    expect(() => UnixServer.listen(path, { allowUids: [-1] })).toThrow(RangeError);
    expect(() => UnixServer.listen(path, { verifyPeer: 1 as never })).toThrow(TypeError);
  });
});

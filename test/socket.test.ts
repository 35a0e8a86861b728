// UNIX-domain stream sockets as plain descriptors (lib/socket.ts): real
// sockets, files and processes; bytes moved with lib/fd.ts.
import { readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  acceptUnixSocket,
  closeSync,
  connectUnixSocket,
  finishConnectUnixSocket,
  getFdFlags,
  isStaleUnixSocket,
  listenUnixSocket,
  MAX_SOCKET_PATH,
  peerCredentials,
  pipe,
  pollSync,
  readSync,
  removeUnixSocketFile,
  shutdownSocket,
  socketPair,
  writeSync,
} from '../lib/index.js';
import { startFixture } from './support/fixture-process.js';
import { removePath, tempPath, within } from './support/helpers.js';

const errno = osConstants.errno as Readonly<Record<string, number>>;

// test/setup/leak-check.ts watches pipes, FIFOs and shared memory, not
// sockets: this file checks its own, test by test.
function socketFds(): Set<number> {
  const out = new Set<number>();
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`).startsWith('socket:')) out.add(Number(name));
    } catch {
      // the directory's own descriptor
    }
  }
  return out;
}

let socketsBefore: Set<number>;
const paths: string[] = [];
function sockPath(tag: string): string {
  const p = tempPath(`sock-${tag}`);
  paths.push(p);
  return p;
}
beforeEach(() => {
  socketsBefore = socketFds();
});
afterEach(() => {
  for (const p of paths.splice(0)) removePath(p);
  const leaked = [...socketFds()].filter((fd) => !socketsBefore.has(fd));
  expect(leaked, 'socket descriptors left open').toEqual([]);
});

/** Everything readable now, after waiting up to 5 s for the first byte; '' at end-of-file. */
function readText(fd: number): string {
  expect(pollSync(fd, 'r', 5000)).toBe(true);
  const buf = Buffer.alloc(4096);
  const n = readSync(fd, buf);
  expect(n).not.toBeNull();
  return buf.subarray(0, n!).toString();
}

function writeText(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  expect(writeSync(fd, bytes)).toBe(bytes.length);
}

/** A listening socket at `path` with a connected client and the accepted server end. */
function connectedTriple(path: string): { server: number; client: number; conn: number; close(): void } {
  const server = listenUnixSocket(path);
  const { fd: client, inProgress } = connectUnixSocket(path);
  if (inProgress) {
    expect(pollSync(client, 'w', 5000)).toBe(true);
    finishConnectUnixSocket(client);
  }
  expect(pollSync(server, 'r', 5000)).toBe(true);
  const conn = acceptUnixSocket(server);
  expect(conn).not.toBeNull();
  return {
    server,
    client,
    conn: conn!,
    close() {
      closeSync(conn!);
      closeSync(client);
      closeSync(server);
      removeUnixSocketFile(path);
    },
  };
}

function expectSystemError(fn: () => unknown, code: string, syscall: string, path?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(Error);
  const fields: Record<string, unknown> = { code, errno: -errno[code]!, syscall };
  if (path !== undefined) fields.path = path;
  expect(caught).toMatchObject(fields);
  expect((caught as Error).message).toContain(code);
}

describe('listen, accept, connect', () => {
  it('carries bytes both ways, and a write shutdown is end-of-file at the other end', () => {
    const path = sockPath('rt');
    const t = connectedTriple(path);
    try {
      writeText(t.client, 'ping from the client');
      expect(readText(t.conn)).toBe('ping from the client');
      writeText(t.conn, 'pong from the server');
      expect(readText(t.client)).toBe('pong from the server');

      shutdownSocket(t.client); // the write side, by default
      expect(readText(t.conn)).toBe('');
      writeText(t.conn, 'still heard after the peer stopped sending');
      expect(readText(t.client)).toBe('still heard after the peer stopped sending');
    } finally {
      t.close();
    }
  });

  it('gives non-blocking, close-on-exec descriptors; accept is null when nothing is pending', () => {
    const path = sockPath('flags');
    const t = connectedTriple(path);
    try {
      for (const fd of [t.server, t.client, t.conn]) expect(getFdFlags(fd)).toEqual({ nonBlocking: true, cloexec: true });
      expect(acceptUnixSocket(t.server)).toBeNull();
      expect(readSync(t.conn, Buffer.alloc(8))).toBeNull();
    } finally {
      t.close();
    }
  });

  it('replaces a stale socket file (nobody listens), never a live one (EADDRINUSE)', () => {
    const path = sockPath('stale');
    closeSync(listenUnixSocket(path)); // a killed server leaves its file behind
    expect(statSync(path).isSocket()).toBe(true);
    expect(isStaleUnixSocket(path)).toBe(true);
    expectSystemError(() => connectUnixSocket(path), 'ECONNREFUSED', 'connect', path);

    const server = listenUnixSocket(path);
    try {
      expect(isStaleUnixSocket(path)).toBe(false);
      expectSystemError(() => listenUnixSocket(path), 'EADDRINUSE', 'bind', path);
      // isStaleUnixSocket connected once to tell: that connection is pending, then gone.
      expect(pollSync(server, 'r', 5000)).toBe(true);
      const probe = acceptUnixSocket(server);
      if (probe !== null) {
        expect(readText(probe)).toBe('');
        closeSync(probe);
      }
    } finally {
      closeSync(server);
      removeUnixSocketFile(path);
    }
  });

  it('never removes a file that is not a socket: listen is EADDRINUSE, removal ENOTSOCK, and the file stays', () => {
    const path = sockPath('file');
    writeFileSync(path, 'precious');
    expect(isStaleUnixSocket(path)).toBe(false);
    expectSystemError(() => listenUnixSocket(path), 'EADDRINUSE', 'bind', path);
    expectSystemError(() => removeUnixSocketFile(path), 'ENOTSOCK', 'unlink', path);
    expect(readFileSync(path, 'utf8')).toBe('precious');
  });

  it('reports a missing path and a missing directory', () => {
    const path = sockPath('none');
    expectSystemError(() => connectUnixSocket(path), 'ENOENT', 'connect', path);
    expect(isStaleUnixSocket(path)).toBe(false);
    removeUnixSocketFile(path); // nothing there: quiet
    const inMissingDir = join(path, 'sub', 'sock');
    expectSystemError(() => listenUnixSocket(inMissingDir), 'ENOENT', 'bind', inMissingDir);
  });

  it('removeUnixSocketFile removes the path; open descriptors carry on', () => {
    const path = sockPath('rm');
    const t = connectedTriple(path);
    try {
      removeUnixSocketFile(path);
      expect(() => statSync(path)).toThrow(expect.objectContaining({ code: 'ENOENT' }) as Error);
      expectSystemError(() => connectUnixSocket(path), 'ENOENT', 'connect', path);
      writeText(t.client, 'after unlink');
      expect(readText(t.conn)).toBe('after unlink');
    } finally {
      closeSync(t.conn);
      closeSync(t.client);
      closeSync(t.server);
    }
  });

  it('sets exactly the mode asked for, whatever the umask (default 0600)', () => {
    const saved = process.umask(0o000);
    try {
      for (const [mode, expected] of [
        [undefined, 0o600],
        [0o660, 0o660],
        [0o777, 0o777],
      ] as const) {
        const path = sockPath('mode');
        const fd = listenUnixSocket(path, mode === undefined ? undefined : { mode });
        try {
          expect((statSync(path).mode & 0o7777).toString(8)).toBe(expected.toString(8));
        } finally {
          closeSync(fd);
          removeUnixSocketFile(path);
        }
      }
      process.umask(0o077);
      const path = sockPath('mode');
      const fd = listenUnixSocket(path, { mode: 0o666 });
      expect((statSync(path).mode & 0o7777).toString(8)).toBe('666');
      closeSync(fd);
    } finally {
      process.umask(saved);
    }
  });
});

describe('argument checks', () => {
  it('a path too long for sun_path is a RangeError naming the argument, in every call that takes one', () => {
    const long = join('/tmp', 'x'.repeat(MAX_SOCKET_PATH));
    expect(Buffer.byteLength(long)).toBeGreaterThan(MAX_SOCKET_PATH);
    const calls = [
      () => listenUnixSocket(long),
      () => connectUnixSocket(long),
      () => isStaleUnixSocket(long),
      () => removeUnixSocketFile(long),
      () => listenUnixSocket(''),
    ];
    for (const call of calls) expect(call).toThrow(RangeError);
    expect(() => listenUnixSocket(long)).toThrow(/The "path" argument must be 1 to 10[37] bytes long/);
    // Bytes, not characters: 54 two-byte characters are 108 bytes.
    expect(() => connectUnixSocket('/' + 'é'.repeat(54))).toThrow(RangeError);
    expect(MAX_SOCKET_PATH).toBe(process.platform === 'darwin' ? 103 : 107);
  });

  it('other bad arguments are TypeError or RangeError naming them, before any socket exists', () => {
    const path = sockPath('args');
    expect(() => listenUnixSocket(42 as unknown as string)).toThrow(/The "path" argument must be of type string/);
    expect(() => listenUnixSocket('/tmp/a\0b')).toThrow(TypeError);
    expect(() => listenUnixSocket(path, { mode: 0o10000 })).toThrow(/"options.mode"/);
    expect(() => listenUnixSocket(path, { backlog: 0 })).toThrow(/"options.backlog"/);
    expect(() => acceptUnixSocket(-1)).toThrow(/"fd"/);
    expect(() => peerCredentials(1.5)).toThrow(RangeError);
    expect(() => shutdownSocket(0, { read: false, write: false })).toThrow(/at least one side/);
    expect(() => shutdownSocket(0, { read: 'yes' as unknown as boolean })).toThrow(/"options.read"/);
    expect(() => statSync(path)).toThrow(expect.objectContaining({ code: 'ENOENT' }) as Error);
  });
});

describe('socketPair and shutdownSocket', () => {
  it('socketPair gives two connected, blocking, close-on-exec ends', () => {
    const [a, b] = socketPair();
    try {
      expect(getFdFlags(a)).toEqual({ nonBlocking: false, cloexec: true });
      expect(getFdFlags(b)).toEqual({ nonBlocking: false, cloexec: true });
      writeText(a, 'across the pair');
      expect(readText(b)).toBe('across the pair');
      shutdownSocket(b, { read: true, write: true });
      expect(readText(a)).toBe('');
      shutdownSocket(b, { read: true, write: true }); // again: nothing to tell, quiet
    } finally {
      closeSync(a);
      closeSync(b);
    }
  });

  it('is quiet once the peer has gone, but not for a descriptor that is no socket', () => {
    const [a, b] = socketPair();
    closeSync(b);
    shutdownSocket(a);
    closeSync(a);
    const [r, w] = pipe();
    try {
      expectSystemError(() => shutdownSocket(r), 'ENOTSOCK', 'shutdown');
    } finally {
      closeSync(r);
      closeSync(w);
    }
    expectSystemError(() => shutdownSocket(2 ** 31 - 1), 'EBADF', 'shutdown');
  });
});

describe('peerCredentials', () => {
  const me = (pid = process.pid): { pid: number; uid: number; gid: number } => ({ pid, uid: process.getuid!(), gid: process.getgid!() });

  it('of a connection from a real child process: that child, and the child sees us', async () => {
    const path = sockPath('peer');
    const server = listenUnixSocket(path);
    const peer = startFixture('socket-peer.ts', [path]);
    try {
      const [, childPid, itsPeer] = await peer.waitFor(/connected (\d+) (-?\d+)\n/);
      expect(Number(childPid)).toBe(peer.child.pid);
      expect(Number(itsPeer)).toBe(process.pid); // the listener's process, recorded at listen()
      expect(pollSync(server, 'r', 5000)).toBe(true);
      const conn = acceptUnixSocket(server)!;
      try {
        expect(peerCredentials(conn)).toEqual(me(peer.child.pid));
        expect(readText(conn)).toBe(`hello from ${peer.child.pid}`);
        writeText(conn, 'goodbye');
      } finally {
        closeSync(conn);
      }
      await peer.waitFor('received goodbye\n');
      expect(await within(15_000, 'the peer to exit', peer.child.exited)).toEqual({ code: 0, signal: null });
    } finally {
      await peer.stop();
      closeSync(server);
      removeUnixSocketFile(path);
    }
  });

  it('of either end of a socketPair: this process; also after the peer closed (Linux)', () => {
    const [a, b] = socketPair();
    try {
      expect(peerCredentials(a)).toEqual(me());
      expect(peerCredentials(b)).toEqual(me());
    } finally {
      closeSync(b);
    }
    try {
      if (process.platform === 'linux') expect(peerCredentials(a)).toEqual(me());
    } finally {
      closeSync(a);
    }
  });

  it('errors: ENOTCONN for a listening socket, ENOTSOCK for a pipe, EBADF; all syscall getsockopt', () => {
    const path = sockPath('creds');
    const server = listenUnixSocket(path);
    try {
      expectSystemError(() => peerCredentials(server), 'ENOTCONN', 'getsockopt');
    } finally {
      closeSync(server);
      removeUnixSocketFile(path);
    }
    const [r, w] = pipe();
    try {
      expectSystemError(() => peerCredentials(r), 'ENOTSOCK', 'getsockopt');
    } finally {
      closeSync(r);
      closeSync(w);
    }
    expectSystemError(() => peerCredentials(2 ** 31 - 1), 'EBADF', 'getsockopt');
  });
});

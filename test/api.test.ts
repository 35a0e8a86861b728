// Guards the public API: the runtime exports, and their types (checked by
// `npm run typecheck`, which compiles this file).
import { describe, expect, expectTypeOf, it } from 'vitest';

import * as ipc from '../lib/index.js';
import type { Child, ExitStatus, Receiver, Sender, SystemError } from '../lib/index.js';

describe('public API', () => {
  it('exports exactly these names', () => {
    expect(Object.keys(ipc).sort()).toEqual([
      'AbortError',
      'ChannelError',
      'ChannelReceiver',
      'ChannelSender',
      'Child',
      'ClosedError',
      'DEFAULT_HANDSHAKE_TIMEOUT_MS',
      'DEFAULT_RING_CAPACITY',
      'DEFAULT_STREAM_MAX_MESSAGE',
      'DEFAULT_TCP_KEEPALIVE_MS',
      'LIVENESS_SLICE_MS',
      'MAX_PASSED_FDS',
      'MAX_SOCKET_PATH',
      'PENDING_BYTES_LIMIT',
      'PENDING_LIMIT',
      'RECEIVE_MANY_DEFAULT',
      'Semaphore',
      'SharedMemory',
      'TcpServer',
      'TlsServer',
      'UnixServer',
      'UnnamedSemaphore',
      'acceptTcpSocket',
      'acceptUnixSocket',
      'closeSync',
      'codecs',
      'connectTcp',
      'connectTcpSocket',
      'connectTls',
      'connectUnix',
      'connectUnixSocket',
      'defaultExecArgv',
      'defineCodec',
      'dupFd',
      'duplexFromFd',
      'finishConnectTcpSocket',
      'finishConnectUnixSocket',
      'forkNode',
      'futexWait',
      'futexWaitSync',
      'futexWake',
      'getFdFlags',
      'getPipeCapacity',
      'isStaleUnixSocket',
      'isSystemError',
      'listenTcpSocket',
      'listenUnixSocket',
      'lookupTcpHost',
      'mkfifo',
      'openFifo',
      'openFifoDuplex',
      'openFifoReceiver',
      'openFifoSender',
      'openFifoSync',
      'openShmDuplex',
      'openShmReceiver',
      'openShmSender',
      'peerCredentials',
      'pipe',
      'pipeChannel',
      'pollSync',
      'readSync',
      'receiveWithFds',
      'receiverFromFd',
      'removeStaleShmChannel',
      'removeUnixSocketFile',
      'select',
      'selectEach',
      'sendWithFds',
      'senderFromFd',
      'setCloexec',
      'setNonBlocking',
      'setPipeCapacity',
      'setTcpSocketOptions',
      'shutdownSocket',
      'socketPair',
      'spawn',
      'streamFromFd',
      'tcpKeepAlive',
      'tcpPeerAddress',
      'tcpSocketAddress',
      'writeSync',
    ]);
  });

  it('has the documented types', () => {
    expectTypeOf(ipc.pipe).returns.toEqualTypeOf<readonly [readFd: number, writeFd: number]>();
    expectTypeOf(ipc.readSync).returns.toEqualTypeOf<number | null>();
    expectTypeOf(ipc.openFifo).returns.resolves.toBeNumber();
    expectTypeOf(ipc.spawn).returns.toEqualTypeOf<Child>();
    expectTypeOf<Child['exited']>().resolves.toEqualTypeOf<ExitStatus>();
    expectTypeOf<Child['kill']>().returns.toBeBoolean();
    expectTypeOf<ipc.Semaphore['tryWait']>().returns.toBeBoolean();
    expectTypeOf<ipc.Semaphore['wait']>().returns.resolves.toBeBoolean();
    expectTypeOf<ipc.SharedMemory['buffer']>().toEqualTypeOf<ArrayBuffer>();
    expectTypeOf(ipc.futexWaitSync).returns.toEqualTypeOf<'ok' | 'not-equal' | 'timed-out'>();
    expectTypeOf(ipc.openShmSender<string>).returns.resolves.toMatchTypeOf<Sender<string>>();
    expectTypeOf(ipc.openShmReceiver<{ id: number }>).returns.resolves.toMatchTypeOf<Receiver<{ id: number }>>();
    expectTypeOf<Receiver<number>['receive']>().returns.resolves.toEqualTypeOf<number | undefined>();
    expectTypeOf<Sender<number>['send']>().parameter(0).toBeNumber();
    expectTypeOf(ipc.codecs.json).toMatchTypeOf<ipc.Codec<unknown>>();
    expectTypeOf<SystemError>().toHaveProperty('code').toBeString();
    expectTypeOf<SystemError>().toHaveProperty('errno').toBeNumber();
  });
});

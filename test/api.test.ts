// Guards the public API: the runtime exports, and their types (checked by
// `npm run typecheck`, which compiles this file).
import { describe, expect, expectTypeOf, it } from 'vitest';

import * as ipc from '../lib/index.js';
import type { Child, ExitStatus, Receiver, Sender, SystemError } from '../lib/index.js';

describe('public API', () => {
  it('exports exactly these names', () => {
    expect(Object.keys(ipc).sort()).toEqual([
      'AbortError',
      'CausalityError',
      'ChannelError',
      'ChannelReceiver',
      'ChannelSender',
      'Child',
      'ClosedError',
      'DEFAULT_HANDSHAKE_TIMEOUT_MS',
      'DEFAULT_RING_CAPACITY',
      'DEFAULT_STREAM_MAX_MESSAGE',
      'DEFAULT_TCP_KEEPALIVE_MS',
      'FAULT_LOG_LIMIT',
      'FaultInjector',
      'HoldBackQueue',
      'LIVENESS_SLICE_MS',
      'LamportClock',
      'MAX_DATA_LENGTH',
      'MAX_LABEL_LENGTH',
      'MAX_PROCESS_ID_LENGTH',
      'MAX_SOCKET_PATH',
      'MAX_VECTOR_ENTRIES',
      'PENDING_BYTES_LIMIT',
      'PENDING_LIMIT',
      'RECEIVED_KEPT',
      'RECEIVE_MANY_DEFAULT',
      'SHIVIZ_REGEX',
      'SeededRandom',
      'Semaphore',
      'SharedMemory',
      'TcpServer',
      'TlsServer',
      'Trace',
      'TraceRecorder',
      'UnixServer',
      'UnnamedSemaphore',
      'VectorClock',
      'VectorTime',
      'acceptTcpSocket',
      'acceptUnixSocket',
      'closeSync',
      'codecs',
      'compareLamport',
      'concurrent',
      'connectTcp',
      'connectTcpSocket',
      'connectTls',
      'connectUnix',
      'connectUnixSocket',
      'decodeLamportTime',
      'decodeVectorTime',
      'defaultExecArgv',
      'defineCodec',
      'describeEvent',
      'duplexFromFd',
      'encodeLamportTime',
      'encodeVectorTime',
      'eventId',
      'findCausalityViolations',
      'finishConnectTcpSocket',
      'finishConnectUnixSocket',
      'forkNode',
      'futexWait',
      'futexWaitSync',
      'futexWake',
      'getFdFlags',
      'getPipeCapacity',
      'happenedBefore',
      'isStaleUnixSocket',
      'isSystemError',
      'lamportClockHook',
      'listenTcpSocket',
      'listenUnixSocket',
      'lookupTcpHost',
      'messageId',
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
      'readTrace',
      'receiverFromFd',
      'removeStaleShmChannel',
      'removeUnixSocketFile',
      'seedFromEnv',
      'select',
      'selectEach',
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
      'toShiViz',
      'toSpaceTimeHtml',
      'validateProcessId',
      'vectorClockHook',
      'vectorTimeFromJSON',
      'writeSync',
      'writeTrace',
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

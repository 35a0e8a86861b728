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
      'MAX_PORT',
      'MAX_SOCKET_PATH',
      'Mailbox',
      'MailboxConsumer',
      'MailboxProducer',
      'NAME_ADDRESS_MAX_BYTES',
      'NAME_MAX_LENGTH',
      'NAME_REQUEST_TIMEOUT_MS',
      'NameClient',
      'NameError',
      'NameRegistration',
      'NameServer',
      'PENDING_BYTES_LIMIT',
      'PENDING_LIMIT',
      'Port',
      'PortClient',
      'RECEIVE_MANY_DEFAULT',
      'Rendezvous',
      'Semaphore',
      'SharedMemory',
      'ShmServer',
      'TcpServer',
      'TlsServer',
      'UnixServer',
      'UnnamedSemaphore',
      'acceptTcpSocket',
      'acceptUnixSocket',
      'closeSync',
      'codecs',
      'connect',
      'connectMailboxConsumer',
      'connectMailboxProducer',
      'connectPort',
      'connectShm',
      'connectTcp',
      'connectTcpSocket',
      'connectTls',
      'connectUnix',
      'connectUnixSocket',
      'createMailbox',
      'defaultExecArgv',
      'defineCodec',
      'defineScheme',
      'dupFd',
      'duplexFromFd',
      'finishConnectTcpSocket',
      'finishConnectUnixSocket',
      'forkNode',
      'formatAddress',
      'futexWait',
      'futexWaitSync',
      'futexWake',
      'getFdFlags',
      'getPipeCapacity',
      'isStaleUnixSocket',
      'isSystemError',
      'listNames',
      'listen',
      'listenTcpSocket',
      'listenUnixSocket',
      'lookupName',
      'lookupTcpHost',
      'mkfifo',
      'openFifo',
      'openFifoDuplex',
      'openFifoReceiver',
      'openFifoSender',
      'openFifoSync',
      'openPort',
      'openShmDuplex',
      'openShmReceiver',
      'openShmSender',
      'parseAddress',
      'parseNameAddress',
      'peerCredentials',
      'pipe',
      'pipeChannel',
      'pollSync',
      'portPath',
      'readSync',
      'receiveWithFds',
      'receiverFromFd',
      'registerName',
      'removeStaleShmChannel',
      'removeUnixSocketFile',
      'rendezvous',
      'resolveName',
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
      'unixPortResolver',
      'validateCodec',
      'validateServiceName',
      'waitForName',
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
    expectTypeOf(ipc.listen<string>).returns.resolves.toEqualTypeOf<ipc.Listener<string>>();
    expectTypeOf(ipc.connect<string>).returns.resolves.toEqualTypeOf<ipc.Duplex<string>>();
    expectTypeOf(ipc.parseAddress).returns.toEqualTypeOf<ipc.Address>();
    expectTypeOf<ipc.ShmServer<string>>().toMatchTypeOf<ipc.Listener<string>>();
    expectTypeOf<ipc.TcpServer<string>>().toMatchTypeOf<ipc.Listener<string>>();
    expectTypeOf<ipc.TlsServer<string>>().toMatchTypeOf<ipc.Listener<string>>();
    expectTypeOf<ipc.UnixServer<string>>().toMatchTypeOf<ipc.Listener<string>>();
  });
});

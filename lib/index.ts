/**
 * posix-ipc: POSIX inter-process communication for Node.js.
 * @module
 */
export { AbortError, ClosedError, isSystemError, type SystemError } from './errors.js';
export * from './fd.js';
export * from './shm.js';
export * from './futex.js';
export * from './unnamed-semaphore.js';
export * from './process.js';
export * from './semaphore.js';
export * from './sync/index.js';
export {
  MAX_PASSED_FDS,
  MAX_SOCKET_PATH,
  acceptUnixSocket,
  connectUnixSocket,
  dupFd,
  finishConnectUnixSocket,
  isStaleUnixSocket,
  listenUnixSocket,
  peerCredentials,
  receiveWithFds,
  removeUnixSocketFile,
  sendWithFds,
  shutdownSocket,
  socketPair,
  type ListenUnixSocketOptions,
  type PeerCredentials,
  type ReceivedWithFds,
  type ReceiveWithFdsOptions,
  type ShutdownSocketOptions,
  type UnixSocketConnect,
} from './socket.js';
export * from './tcp.js';
export * from './channels/index.js';
export {
  LockError,
  NameError,
  RpcError,
  TxError,
  XdrError,
  type LockErrorCode,
  type NameErrorCode,
  type RpcErrorCode,
  type TxErrorCode,
  type XdrErrorCode,
} from './errors.js';
export * from './coord/index.js';
export * from './coord/causality/index.js';
export * from './coord/rpc/index.js';
export * from './coord/tx/index.js';
export * from './coord/group/index.js';
export * from './coord/election/index.js';
export * from './coord/dmutex/index.js';

/**
 * posix-ipc: POSIX inter-process communication for Node.js.
 * @module
 */
export { AbortError, isSystemError, type SystemError } from './errors.js';
export * from './fd.js';
export * from './shm.js';
export * from './futex.js';
export * from './unnamed-semaphore.js';
export * from './process.js';
export * from './semaphore.js';
// By name: MAX_SOCKET_PATH and socketPair are exported by the channels too
// (until they import them from here), and a name two `export *` give is
// ambiguous. A named export wins.
export {
  MAX_SOCKET_PATH,
  acceptUnixSocket,
  connectUnixSocket,
  finishConnectUnixSocket,
  isStaleUnixSocket,
  listenUnixSocket,
  peerCredentials,
  removeUnixSocketFile,
  shutdownSocket,
  socketPair,
  type ListenUnixSocketOptions,
  type PeerCredentials,
  type ShutdownSocketOptions,
  type UnixSocketConnect,
} from './socket.js';
export * from './channels/index.js';

/**
 * Channels: one typed message API over message passing (pipe, FIFO, UNIX
 * socket, TCP, TLS) and shared memory, and one address syntax
 * (`listen(address)`, `connect(address)`) for all of them. This is the channels' public face: code above
 * this layer imports from here, never from the engines.
 * @module
 */
export {
  ChannelError,
  PENDING_BYTES_LIMIT,
  PENDING_LIMIT,
  type CallOptions,
  type ChannelErrorCode,
  type ChannelHook,
  type ChannelOptions,
  type DrainVisitor,
  type Duplex,
  type FdMessage,
  type Listener,
  type MessageEvent,
  type Receiver,
  type Sender,
  type SyncOptions,
} from './types.js';
export { codecs, defineCodec, validateCodec, type Codec } from './codec.js';
export { ChannelSender } from './sender.js';
export { ChannelReceiver, RECEIVE_MANY_DEFAULT } from './receiver.js';
export { select, selectEach } from './select.js';
export { DEFAULT_STREAM_MAX_MESSAGE, type StreamChannelOptions } from './stream/ends.js';
export { senderFromFd, receiverFromFd, duplexFromFd, pipeChannel, type DuplexFdOptions } from './fd.js';
export { openFifoSender, openFifoReceiver, openFifoDuplex, type FifoChannelOptions } from './fifo.js';
export { UnixServer, connectUnix, type UnixServerOptions, type ConnectUnixOptions, type UnixDuplex } from './unix.js';
export {
  TcpServer,
  connectTcp,
  type TcpServerOptions,
  type ConnectTcpOptions,
  type TcpDuplex,
  type TcpListenOptions,
  type TcpConnectOptions,
} from './tcp.js';
export { TlsServer, connectTls } from './tls.js';
export {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  type TlsServerOptions,
  type ConnectTlsOptions,
  type TlsDuplex,
  type TlsPeer,
  type TlsPsk,
  type TlsCredential,
  type TlsCommonOptions,
} from './tls-options.js';
export {
  openShmSender,
  openShmReceiver,
  openShmDuplex,
  removeStaleShmChannel,
  DEFAULT_RING_CAPACITY,
  LIVENESS_SLICE_MS,
  type ShmChannelOptions,
} from './shm.js';
export { ShmServer, connectShm, type ShmServerOptions, type ConnectShmOptions, type ShmDuplex } from './shm-server.js';
export {
  parseAddress,
  formatAddress,
  type Address,
  type PathAddress,
  type ShmAddress,
  type HostAddress,
  type OpaqueAddress,
} from './address.js';
export { listen, connect, defineScheme, type AddressOptions, type SchemeHandler } from './connect.js';
export { NATS_PACKAGE, openNatsConnection, type NatsAuthOptions, type NatsConnectionHandle } from './nats/client.js';
export { NatsServer, connectNats, parseNatsAddress, type NatsAddress, type NatsChannelOptions } from './nats/server.js';

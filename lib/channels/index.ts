/**
 * Channels: one typed message API over message passing (pipe, FIFO, UNIX
 * socket) and shared memory.
 * @module
 */
export { ChannelError, type ChannelErrorCode, type ChannelOptions, type Receiver, type Sender, type SyncOptions } from './types.js';
export { codecs, defineCodec, type Codec } from './codec.js';
export { StreamSender, StreamReceiver, DEFAULT_STREAM_MAX_MESSAGE, type StreamChannelOptions } from './stream-channel.js';
export { senderFromFd, receiverFromFd, duplexFromFd, socketPair, pipeChannel, type Duplex } from './fd-channel.js';
export * from './fifo-channel.js';
export * from './unix-channel.js';
export * from './shm-channel.js';

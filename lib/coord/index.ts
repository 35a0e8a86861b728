/**
 * Coordination: the course's algorithms on top of the channels' public
 * index. Every export here works over any transport.
 * @module
 */
export {
  Rendezvous,
  rendezvous,
  type RendezvousOptions,
  type RendezvousSendOptions,
  type RendezvousSyncOptions,
  type SendUntil,
} from './rendezvous.js';
export { Mailbox, createMailbox, type MailboxOptions, type MailboxStats } from './mailbox.js';
export {
  MailboxConsumer,
  MailboxProducer,
  connectMailboxConsumer,
  connectMailboxProducer,
  type MailboxConnect,
  type MailboxConsumerOptions,
  type MailboxDelivery,
  type MailboxProducerOptions,
} from './mailbox-client.js';
export {
  MAX_PORT,
  Port,
  PortClient,
  connectPort,
  openPort,
  portPath,
  unixPortResolver,
  type OpenPortOptions,
  type PortMessage,
  type PortOptions,
  type PortResolver,
} from './port.js';

/**
 * Coordination: the course's algorithms on top of the channels. This is
 * the coordination layer's public face, re-exported by lib/index.ts.
 * @module
 */
export {
  NAME_ADDRESS_MAX_BYTES,
  NAME_MAX_LENGTH,
  NameRegistration,
  listNames,
  lookupName,
  registerName,
  validateServiceName,
  waitForName,
  type NameEntry,
  type WaitForNameOptions,
} from './names.js';
export {
  NAME_REQUEST_TIMEOUT_MS,
  NameClient,
  NameServer,
  type NameClientOptions,
  type NameRequestOptions,
  type NameServerAddress,
  type NameServerOptions,
} from './name-server.js';
export { parseNameAddress, resolveName, type NameAddress, type ResolveNameOptions } from './resolve.js';
export {
  Rendezvous,
  rendezvous,
  type RendezvousOptions,
  type RendezvousSendOptions,
  type RendezvousSyncOptions,
  type SendUntil,
} from './rendezvous.js';
export { Mailbox, createMailbox, type MailboxOptions, type MailboxStats } from './mailbox.js';
export { openStreamMailbox, StreamMailbox, type StreamMailboxDelivery, type StreamMailboxOptions } from './stream-mailbox.js';
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
export { ActivityLog, type ActivityLogOptions, type RecoveredLog } from './activity-log.js';
// Defines the address syntax's name: scheme (listen/connect by service name).
import './name-scheme.js';

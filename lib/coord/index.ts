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

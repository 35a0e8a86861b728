/**
 * Remote procedure calls over the channels (docs/rpc.md).
 * @module
 */
// Services
export {
  defineService,
  RPC_MAX_PROCEDURES,
  type CallContext,
  type ClientStreamProcedure,
  type CompiledProcedure,
  type HandlerOf,
  type Handlers,
  type Procedure,
  type RpcCallOptions,
  type ServerStreamProcedure,
  type Service,
  type ServiceSpec,
  type Stub,
  type StubOf,
  type UnaryProcedure,
} from './service.js';
export { serve, RpcServer, RPC_HELLO_TIMEOUT_MS, type ServeOptions } from './server.js';
export { connectService, type ClientControl, type ConnectServiceOptions, type ServiceClient } from './client.js';
export { ReplyCache, type Begin, type ReplyCacheOptions } from './reply-cache.js';
export { HEADER_SIZE as RPC_HEADER_SIZE, MAX_BODY_DEPTH as RPC_MAX_BODY_DEPTH } from './wire.js';

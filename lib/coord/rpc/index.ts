/**
 * Remote procedure calls: the public face of `lib/coord/rpc/`, re-exported
 * by lib/index.ts. Each part keeps its lines grouped under its comment.
 * @module
 */

// ONC RPC
export type { OncProcedureSpec, OncVersionSpec } from './onc/program.js';
export {
  AUTH_NONE,
  AuthFlavor,
  AuthStat,
  ONC_MAX_AUTH_BYTES,
  ONC_MAX_GIDS,
  ONC_MAX_MACHINE_NAME,
  authSys,
  decodeCredential,
  encodeCredential,
  readOpaqueAuth,
  writeOpaqueAuth,
  type AuthStatValue,
  type AuthSysParms,
  type OncCredential,
  type OpaqueAuth,
} from './onc/auth.js';
export {
  AcceptStat,
  MsgType,
  ONC_RPC_VERSION,
  RejectStat,
  ReplyStat,
  decodeMessage,
  encodeCall,
  encodeReply,
  type AcceptedBody,
  type DeniedBody,
  type RpcCallHeader,
  type RpcCallMessage,
  type RpcMessage,
  type RpcReplyInput,
  type RpcReplyMessage,
} from './onc/message.js';
export { ONC_DEFAULT_MAX_RECORD, ONC_MAX_FRAGMENTS, RecordReader, frameRecord } from './onc/record.js';
export {
  channelTransport,
  connectOncTransport,
  formatOncAddress,
  listenOncTransport,
  parseOncAddress,
  socketTransport,
  type OncPeer,
  type OncSink,
  type OncTransport,
  type OncTransportListener,
  type OncTransportOptions,
} from './onc/transport.js';
export {
  authSysCredential,
  oncClient,
  type OncCallOptions,
  type OncClient,
  type OncClientBase,
  type OncClientOptions,
  type OncProcedures,
} from './onc/client.js';
export {
  OncServer,
  serveOnc,
  type OncAuthorize,
  type OncCallContext,
  type OncHandler,
  type OncServerOptions,
  type OncService,
} from './onc/server.js';
export {
  PMAP_IPPROTO,
  PMAP_MAX_DUMP,
  PMAP_PORT,
  PMAP_PROGRAM,
  PMAP_V2,
  pmapDump,
  pmapGetPort,
  pmapSet,
  pmapUnset,
  type PmapMapping,
  type PmapOptions,
} from './onc/portmap.js';
export { connectOnc, lookupOnc, oncServiceName, registerOnc, type OncBindOptions, type OncBindVia, type OncBinding } from './onc/bind.js';

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

// XDR (RFC 4506): the codec and the `.x` interface compiler (lib/coord/rpc/xdr/).
export type { XdrSourceLocation } from '../../errors.js';
export * from './xdr/index.js';
export { compileXdr, type CompileXdrOptions } from './xdr/lang/index.js';

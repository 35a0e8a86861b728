/**
 * Request/reply (remote procedure calls): the public face of lib/coord/rpc/,
 * re-exported by lib/coord/index.ts.
 * @module
 */

// XDR (RFC 4506): the codec and the `.x` interface compiler (lib/coord/rpc/xdr/).
export { XdrError, type XdrErrorCode, type XdrSourceLocation } from '../../errors.js';
export * from './xdr/index.js';
export { compileXdr, type CompileXdrOptions } from './xdr/lang/index.js';
export type { OncProcedureSpec, OncVersionSpec } from './onc/program.js';

/**
 * The `.x` interface compiler: `.x` text in, TypeScript module out
 * (see docs/xdr.md for the dialect).
 * @module
 */
import { generateTypeScript, type GenerateOptions } from './generate.js';
import type { LexOptions } from './lexer.js';
import { parseXdr } from './parser.js';
import { resolveXdr } from './resolve.js';

/** Options of {@link compileXdr}. */
export interface CompileXdrOptions extends GenerateOptions, LexOptions {
  /** The file name errors name. Default `'<input>'`. */
  readonly file?: string;
}

/**
 * Compiles a `.x` file's text (RFC 4506 / RFC 5531 section 12, rpcgen's
 * dialect) to a TypeScript module. An error is an `XdrError` with code
 * `ERR_XDR_SYNTAX` whose message starts with `file:line:column:`.
 */
export function compileXdr(source: string, options: CompileXdrOptions = {}): string {
  const spec = parseXdr(source, options.file ?? '<input>', options);
  return generateTypeScript(resolveXdr(spec, spec.defines), options);
}

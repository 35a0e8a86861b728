/**
 * The syntax tree of a `.x` file (RFC 4506 section 6, RFC 5531 section 12,
 * and rpcgen's dialect). Every node carries where it starts.
 * @module
 */
import { XdrError, type XdrSourceLocation } from '../../../../errors.js';

/** Where a node starts. */
export type Loc = XdrSourceLocation;

/** A syntax error at `loc`: an {@link XdrError} `ERR_XDR_SYNTAX` whose message starts with `file:line:column:`. */
export function syntaxError(loc: Loc, message: string): XdrError {
  return new XdrError('ERR_XDR_SYNTAX', `${loc.file}:${loc.line}:${loc.column}: ${message}`, { location: loc });
}

/** A number or a name that stands for one (a constant or an enumerator). */
export type ValueNode = { kind: 'number'; value: number; loc: Loc } | { kind: 'name'; name: string; loc: Loc };

/** A type specifier: a built-in, a name, or an inline enum/struct/union body. */
export type TypeNode =
  | { kind: 'builtin'; name: BuiltinName; loc: Loc }
  | { kind: 'named'; name: string; tag: 'struct' | 'enum' | 'union' | null; loc: Loc }
  | { kind: 'enum'; body: EnumBody; loc: Loc }
  | { kind: 'struct'; body: StructBody; loc: Loc }
  | { kind: 'union'; body: UnionBody; loc: Loc };

/** The built-in types, after rpcgen's aliases (`unsigned`, `u_int`, `long`, `char`...) are mapped. */
export type BuiltinName = 'int' | 'unsigned int' | 'hyper' | 'unsigned hyper' | 'float' | 'double' | 'bool' | 'void';

/** How a declaration shapes its type. */
export type Shape =
  | { kind: 'plain' }
  | { kind: 'fixed'; size: ValueNode } // T x[n]
  | { kind: 'variable'; max: ValueNode | null } // T x<n>, T x<>
  | { kind: 'optional' }; // T *x

/** `type name`, with its shape; `string` and `opaque` are types that only come shaped. */
export interface Declaration {
  readonly kind: 'declaration';
  readonly type: TypeNode | { kind: 'string'; loc: Loc } | { kind: 'opaque'; loc: Loc };
  readonly name: string;
  readonly shape: Shape;
  readonly loc: Loc;
}

/** `void` where a declaration may be (a union arm). */
export interface VoidDeclaration {
  readonly kind: 'void';
  readonly loc: Loc;
}

export interface EnumBody {
  readonly values: readonly { name: string; value: ValueNode | null; loc: Loc }[];
  readonly loc: Loc;
}

export interface StructBody {
  readonly fields: readonly Declaration[];
  readonly loc: Loc;
}

export interface UnionCase {
  readonly values: readonly ValueNode[];
  readonly arm: Declaration | VoidDeclaration;
  readonly loc: Loc;
}

export interface UnionBody {
  readonly discriminant: Declaration;
  readonly cases: readonly UnionCase[];
  readonly default: Declaration | VoidDeclaration | null;
  readonly loc: Loc;
}

export interface ProcedureNode {
  readonly name: string;
  readonly result: TypeNode | { kind: 'string'; loc: Loc };
  readonly arg: TypeNode | { kind: 'string'; loc: Loc };
  readonly number: ValueNode;
  readonly loc: Loc;
}

export interface VersionNode {
  readonly name: string;
  readonly procedures: readonly ProcedureNode[];
  readonly number: ValueNode;
  readonly loc: Loc;
}

/** One top-level definition. */
export type Definition =
  | { kind: 'const'; name: string; value: ValueNode; loc: Loc }
  | { kind: 'string-const'; name: string; text: string; loc: Loc } // rpcgen: const NAME = "text";
  | { kind: 'typedef'; decl: Declaration; loc: Loc }
  | { kind: 'enum'; name: string; body: EnumBody; loc: Loc }
  | { kind: 'struct'; name: string; body: StructBody; loc: Loc }
  | { kind: 'union'; name: string; body: UnionBody; loc: Loc }
  | { kind: 'program'; name: string; versions: readonly VersionNode[]; number: ValueNode; loc: Loc };

/** A `%` line (C code for rpcgen's output) or a preprocessor line the compiler ignored. */
export interface Passthrough {
  readonly text: string;
  readonly loc: Loc;
}

/** A whole `.x` file. */
export interface Specification {
  readonly file: string;
  readonly definitions: readonly Definition[];
  /** The `%` lines and ignored directives (`#include`, a `#define` that is not a constant), in order. */
  readonly passthrough: readonly Passthrough[];
}

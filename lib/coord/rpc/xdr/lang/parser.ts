/**
 * The `.x` parser: tokens to a {@link Specification}. The grammar is RFC 4506
 * section 6.3 with RFC 5531 section 12.2's programs, plus rpcgen's dialect:
 * `unsigned` alone, `unsigned char/short/long`, `char`, `short`, `long`,
 * `struct T` / `enum T` / `union T` as a type name, enumerators without `=`
 * (numbered as in C), `string` as a procedure's argument or result, names as
 * constants' values.
 * @module
 */
import type {
  BuiltinName,
  Declaration,
  Definition,
  EnumBody,
  Loc,
  ProcedureNode,
  Shape,
  Specification,
  StructBody,
  TypeNode,
  UnionBody,
  UnionCase,
  ValueNode,
  VersionNode,
  VoidDeclaration,
} from './ast.js';
import { syntaxError } from './ast.js';
import { lex, type LexOptions, type Token } from './lexer.js';

/** Words that cannot name anything. */
const KEYWORDS = new Set([
  'bool',
  'case',
  'const',
  'default',
  'double',
  'quadruple',
  'enum',
  'float',
  'hyper',
  'int',
  'opaque',
  'string',
  'struct',
  'switch',
  'typedef',
  'union',
  'unsigned',
  'void',
  'program',
  'version',
]);

const describe = (t: Token): string => (t.kind === 'eof' ? 'the end of the file' : `"${t.text}"`);

class Parser {
  #i = 0;
  constructor(private readonly tokens: readonly Token[]) {}

  peek(k = 0): Token {
    return this.tokens[Math.min(this.#i + k, this.tokens.length - 1)]!;
  }
  next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.#i++;
    return t;
  }
  is(text: string): boolean {
    const t = this.peek();
    return (t.kind === 'punct' || t.kind === 'ident') && t.text === text;
  }
  accept(text: string): boolean {
    if (!this.is(text)) return false;
    this.#i++;
    return true;
  }
  expect(text: string, context: string): Token {
    const t = this.peek();
    if (!this.is(text)) throw syntaxError(t.loc, `expected "${text}" ${context}, got ${describe(t)}`);
    return this.next();
  }
  ident(context: string): Token {
    const t = this.peek();
    if (t.kind !== 'ident' || KEYWORDS.has(t.text)) throw syntaxError(t.loc, `expected a name ${context}, got ${describe(t)}`);
    return this.next();
  }

  /** A constant: `[-]number` or a name. */
  value(context: string): ValueNode {
    const t = this.peek();
    if (this.accept('-')) {
      const n = this.peek();
      if (n.kind !== 'number') throw syntaxError(n.loc, `expected a number after "-" ${context}, got ${describe(n)}`);
      this.next();
      return { kind: 'number', value: -n.value, loc: t.loc };
    }
    if (t.kind === 'number') return (this.next(), { kind: 'number', value: t.value, loc: t.loc });
    if (t.kind === 'ident' && !KEYWORDS.has(t.text)) return (this.next(), { kind: 'name', name: t.text, loc: t.loc });
    throw syntaxError(t.loc, `expected a number or a constant's name ${context}, got ${describe(t)}`);
  }

  specification(file: string, passthrough: Specification['passthrough']): Specification {
    const definitions: Definition[] = [];
    while (this.peek().kind !== 'eof') definitions.push(this.definition());
    return { file, definitions, passthrough };
  }

  definition(): Definition {
    const t = this.peek();
    const loc = t.loc;
    if (this.accept('const')) {
      const name = this.ident('after "const"').text;
      this.expect('=', `after "const ${name}"`);
      if (this.peek().kind === 'string') {
        const text = this.next().text;
        this.expect(';', `after the constant ${name}`);
        return { kind: 'string-const', name, text, loc };
      }
      const value = this.value(`as the value of ${name}`);
      this.expect(';', `after the constant ${name}`);
      return { kind: 'const', name, value, loc };
    }
    if (this.accept('typedef')) {
      const decl = this.declaration('in the typedef');
      this.expect(';', `after "typedef ... ${decl.name}"`);
      return { kind: 'typedef', decl, loc };
    }
    if (this.is('enum') || this.is('struct') || this.is('union')) {
      const kw = this.next().text as 'enum' | 'struct' | 'union';
      const name = this.ident(`after "${kw}"`).text;
      const d = this.typeBody(kw, name, loc);
      this.expect(';', `after the ${kw} ${name}'s body`);
      return d;
    }
    if (this.accept('program')) return this.program(loc);
    throw syntaxError(loc, `expected a definition (const, typedef, enum, struct, union or program), got ${describe(t)}`);
  }

  typeBody(kw: 'enum' | 'struct' | 'union', name: string, loc: Loc): Definition {
    if (kw === 'enum') return { kind: 'enum', name, body: this.enumBody(), loc };
    if (kw === 'struct') return { kind: 'struct', name, body: this.structBody(), loc };
    return { kind: 'union', name, body: this.unionBody(), loc };
  }

  enumBody(): EnumBody {
    const loc = this.expect('{', 'to open the enum').loc;
    const values: EnumBody['values'][number][] = [];
    do {
      const id = this.ident('as an enumerator');
      const value = this.accept('=') ? this.value(`for ${id.text}`) : null;
      values.push({ name: id.text, value, loc: id.loc });
    } while (this.accept(',') && !this.is('}'));
    this.expect('}', 'or "," after an enumerator');
    return { values, loc };
  }

  structBody(): StructBody {
    const loc = this.expect('{', 'to open the struct').loc;
    const fields: Declaration[] = [];
    do {
      const d = this.declaration('as a struct field');
      this.expect(';', `after the field ${d.name}`);
      fields.push(d);
    } while (!this.is('}'));
    this.next();
    return { fields, loc };
  }

  unionBody(): UnionBody {
    const loc = this.expect('switch', 'to start the union').loc;
    this.expect('(', 'after "switch"');
    const discriminant = this.declaration('as the discriminant');
    this.expect(')', 'after the discriminant');
    this.expect('{', 'to open the union');
    const cases: UnionCase[] = [];
    let dflt: Declaration | VoidDeclaration | null = null;
    while (this.is('case')) {
      const cloc = this.peek().loc;
      const values: ValueNode[] = [];
      while (this.accept('case')) {
        values.push(this.value('as a case label'));
        this.expect(':', 'after the case label');
      }
      const arm = this.armDeclaration();
      this.expect(';', 'after the case arm');
      cases.push({ values, arm, loc: cloc });
    }
    if (this.accept('default')) {
      this.expect(':', 'after "default"');
      dflt = this.armDeclaration();
      this.expect(';', 'after the default arm');
    }
    if (cases.length === 0 && dflt === null)
      throw syntaxError(this.peek().loc, `expected "case" in the union, got ${describe(this.peek())}`);
    this.expect('}', 'to close the union (or another "case")');
    return { discriminant, cases, default: dflt, loc };
  }

  armDeclaration(): Declaration | VoidDeclaration {
    const t = this.peek();
    if (this.is('void') && !this.is2('*')) return (this.next(), { kind: 'void', loc: t.loc });
    return this.declaration('as a union arm');
  }

  is2(text: string): boolean {
    const t = this.peek(1);
    return t.kind === 'punct' && t.text === text;
  }

  /** A type specifier (not `string`/`opaque`, which only come with a declaration). */
  typeSpecifier(context: string): TypeNode {
    const t = this.peek();
    const loc = t.loc;
    const builtin = (name: BuiltinName): TypeNode => ({ kind: 'builtin', name, loc });
    if (this.accept('unsigned')) {
      if (this.accept('int') || this.accept('long') || this.accept('short') || this.accept('char')) return builtin('unsigned int');
      if (this.accept('hyper')) return builtin('unsigned hyper');
      return builtin('unsigned int'); // rpcgen: `unsigned` alone
    }
    for (const [word, name] of [
      ['int', 'int'],
      ['hyper', 'hyper'],
      ['float', 'float'],
      ['double', 'double'],
      ['bool', 'bool'],
      ['void', 'void'],
    ] as const) {
      if (this.accept(word)) return builtin(name);
    }
    if (this.is('quadruple')) throw syntaxError(loc, 'quadruple is not supported (JavaScript has no 128-bit float)');
    if (this.is('enum') || this.is('struct') || this.is('union')) {
      const kw = this.next().text as 'enum' | 'struct' | 'union';
      if (this.peek().kind === 'ident' && !KEYWORDS.has(this.peek().text)) {
        return { kind: 'named', name: this.next().text, tag: kw, loc };
      }
      if (kw === 'enum') return { kind: 'enum', body: this.enumBody(), loc };
      if (kw === 'struct') return { kind: 'struct', body: this.structBody(), loc };
      return { kind: 'union', body: this.unionBody(), loc };
    }
    if (t.kind === 'ident' && !KEYWORDS.has(t.text)) return (this.next(), { kind: 'named', name: t.text, tag: null, loc });
    throw syntaxError(loc, `expected a type ${context}, got ${describe(t)}`);
  }

  declaration(context: string): Declaration {
    const t = this.peek();
    const loc = t.loc;
    if (this.is('string') || this.is('opaque')) {
      const kw = this.next().text as 'string' | 'opaque';
      const name = this.ident(`after "${kw}"`).text;
      const shape = this.shape(kw, name);
      if (shape.kind === 'plain' || shape.kind === 'optional' || (kw === 'string' && shape.kind === 'fixed')) {
        throw syntaxError(this.peek().loc, `expected "<" after "${kw} ${name}"${kw === 'opaque' ? ' or "["' : ''}`);
      }
      return { kind: 'declaration', type: { kind: kw, loc }, name, shape, loc };
    }
    const type = this.typeSpecifier(context);
    if (type.kind === 'builtin' && type.name === 'void') throw syntaxError(loc, `void is not allowed ${context}`);
    if (this.accept('*')) {
      const name = this.ident('after "*"').text;
      return { kind: 'declaration', type, name, shape: { kind: 'optional' }, loc };
    }
    const name = this.ident(`after the type ${context}`).text;
    return { kind: 'declaration', type, name, shape: this.shape('type', name), loc };
  }

  shape(_what: string, name: string): Shape {
    if (this.accept('[')) {
      const size = this.value(`as the size of ${name}`);
      this.expect(']', `after the size of ${name}`);
      return { kind: 'fixed', size };
    }
    if (this.accept('<')) {
      const max = this.is('>') ? null : this.value(`as the bound of ${name}`);
      this.expect('>', `after the bound of ${name}`);
      return { kind: 'variable', max };
    }
    return { kind: 'plain' };
  }

  program(loc: Loc): Definition {
    const name = this.ident('after "program"').text;
    this.expect('{', `to open the program ${name}`);
    const versions: VersionNode[] = [];
    do {
      const vloc = this.expect('version', `in the program ${name}`).loc;
      const vname = this.ident('after "version"').text;
      this.expect('{', `to open the version ${vname}`);
      const procedures: ProcedureNode[] = [];
      do procedures.push(this.procedure());
      while (!this.is('}'));
      this.next();
      this.expect('=', `after the version ${vname}'s body`);
      const number = this.value(`as the version number of ${vname}`);
      this.expect(';', `after the version ${vname}`);
      versions.push({ name: vname, procedures, number, loc: vloc });
    } while (!this.is('}'));
    this.next();
    this.expect('=', `after the program ${name}'s body`);
    const number = this.value(`as the program number of ${name}`);
    this.expect(';', `after the program ${name}`);
    return { kind: 'program', name, versions, number, loc };
  }

  procType(context: string): ProcedureNode['arg'] {
    const t = this.peek();
    if (this.accept('string')) return { kind: 'string', loc: t.loc };
    return this.typeSpecifier(context);
  }

  procedure(): ProcedureNode {
    const loc = this.peek().loc;
    const result = this.procType("as a procedure's result");
    const name = this.ident('as the procedure name').text;
    this.expect('(', `after the procedure ${name}`);
    const arg = this.procType(`as the argument of ${name}`);
    if (this.is(',')) throw syntaxError(this.peek().loc, `${name}: several arguments (rpcgen -N) are not supported: expected ")"`);
    this.expect(')', `after the argument of ${name}`);
    this.expect('=', `after the procedure ${name}`);
    const number = this.value(`as the procedure number of ${name}`);
    this.expect(';', `after the procedure ${name}`);
    return { name, result, arg, number, loc };
  }
}

/** Parses a `.x` file's text; a syntax error is an `XdrError` `ERR_XDR_SYNTAX` naming file:line:column. */
export function parseXdr(
  source: string,
  file = '<input>',
  options: LexOptions = {},
): Specification & { defines: ReturnType<typeof lex>['defines'] } {
  const { tokens, passthrough, defines } = lex(source, file, options);
  return { ...new Parser(tokens).specification(file, passthrough), defines };
}

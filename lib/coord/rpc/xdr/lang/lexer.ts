/**
 * The `.x` lexer, with the little of the C preprocessor that real rpcgen
 * files use (rpcgen runs `cpp` first; this compiler does not, so that it does
 * not depend on one being installed):
 * - `#define NAME value` where value is an integer or a name: a constant
 *   (any other `#define` only defines NAME for `#ifdef`);
 * - `#undef`, `#ifdef`, `#ifndef`, `#if` / `#elif` (integers, names,
 *   `defined`, `! && || == != < > <= >=`, parentheses), `#else`, `#endif`;
 * - `#include`, `#pragma`, `#line`, `# 1 "file"`: ignored (kept as passthrough);
 * - `%` lines: passed through (rpcgen copies them into its C output).
 * Macros are not expanded in the text: a name `#define`d as a constant is
 * resolved as any other constant.
 * @module
 */
import { syntaxError, type Loc, type Passthrough } from './ast.js';

/** One token. */
export interface Token {
  readonly kind: 'ident' | 'number' | 'string' | 'punct' | 'eof';
  readonly text: string;
  /** For numbers: the value. */
  readonly value: number;
  readonly loc: Loc;
}

/** A `#define NAME value` that the compiler takes as a constant. */
export interface DefineConstant {
  readonly name: string;
  readonly value: { kind: 'number'; value: number } | { kind: 'name'; name: string };
  readonly loc: Loc;
}

/** What the lexer found. */
export interface LexResult {
  readonly tokens: readonly Token[];
  readonly passthrough: readonly Passthrough[];
  readonly defines: readonly DefineConstant[];
}

const PUNCT = new Set(['{', '}', '[', ']', '<', '>', '(', ')', ';', ',', '=', ':', '*', '-']);
const IDENT_START = /[A-Za-z_]/;
const IDENT = /[A-Za-z0-9_]/;

/** Parses an integer literal the C way: `0x1F`, `017` (octal), `42`; an optional `u`/`l` suffix is allowed. */
function parseInteger(text: string): number | null {
  const t = text.replace(/[uUlL]+$/, '');
  if (/^0[xX][0-9a-fA-F]+$/.test(t)) return parseInt(t.slice(2), 16);
  if (/^0[0-7]*$/.test(t)) return t.length === 1 ? 0 : parseInt(t.slice(1), 8);
  if (/^[1-9][0-9]*$/.test(t)) return parseInt(t, 10);
  return null;
}

/** Evaluates a `#if` expression (C's, restricted to integers and `defined`). */
function evalIf(expr: string, macros: Map<string, string>, loc: Loc): boolean {
  const toks = expr.match(/0[xX][0-9a-fA-F]+|\d+[uUlL]*|[A-Za-z_]\w*|&&|\|\||==|!=|<=|>=|[()!<>]|\S/g) ?? [];
  let i = 0;
  const fail = (what: string): never => {
    throw syntaxError(loc, `#if: ${what} in "${expr.trim()}"`);
  };
  const primary = (): number => {
    const t = toks[i++];
    if (t === undefined) return fail('unexpected end');
    if (t === '(') {
      const v = or();
      if (toks[i++] !== ')') fail('expected )');
      return v;
    }
    if (t === '!') return primary() ? 0 : 1;
    if (t === 'defined') {
      const paren = toks[i] === '(';
      if (paren) i++;
      const name = toks[i++];
      if (name === undefined || !/^[A-Za-z_]\w*$/.test(name)) fail('expected a name after defined');
      if (paren && toks[i++] !== ')') fail('expected )');
      return macros.has(name!) ? 1 : 0;
    }
    const n = parseInteger(t);
    if (n !== null) return n;
    if (/^[A-Za-z_]\w*$/.test(t)) {
      const v = macros.get(t);
      return v === undefined ? 0 : (parseInteger(v.trim()) ?? (v.trim() === '' ? 0 : 1));
    }
    return fail(`unexpected ${t}`);
  };
  const binary = (next: () => number, ops: Record<string, (a: number, b: number) => number>) => (): number => {
    let v = next();
    for (let op = toks[i]; op !== undefined && op in ops; op = toks[i]) {
      i++;
      v = ops[op]!(v, next());
    }
    return v;
  };
  const rel = binary(primary, { '<': (a, b) => +(a < b), '>': (a, b) => +(a > b), '<=': (a, b) => +(a <= b), '>=': (a, b) => +(a >= b) });
  const eq = binary(rel, { '==': (a, b) => +(a === b), '!=': (a, b) => +(a !== b) });
  const and = binary(eq, { '&&': (a, b) => +(a !== 0 && b !== 0) });
  const or = binary(and, { '||': (a, b) => +(a !== 0 || b !== 0) });
  const v = or();
  if (i !== toks.length) fail(`unexpected ${toks[i]}`);
  return v !== 0;
}

/** Options of {@link lex}. */
export interface LexOptions {
  /** Macros defined before the file (`{ RPC_HDR: '1' }`). Default: none. */
  readonly defines?: Readonly<Record<string, string>>;
}

/** Splits `source` into tokens, running the preprocessor subset described above. */
export function lex(source: string, file: string, options: LexOptions = {}): LexResult {
  const tokens: Token[] = [];
  const passthrough: Passthrough[] = [];
  const defines: DefineConstant[] = [];
  const macros = new Map<string, string>(Object.entries(options.defines ?? {}));
  // The conditional stack: each level is [active now, some branch taken, else seen, where].
  const conds: { active: boolean; taken: boolean; sawElse: boolean; loc: Loc }[] = [];
  const active = (): boolean => conds.every((c) => c.active);
  let i = 0;
  let line = 1;
  let col = 1;
  let lineStart = true; // only whitespace so far on this line
  const loc = (): Loc => ({ file, line, column: col });
  const advance = (n: number): void => {
    for (let k = 0; k < n; k++) {
      if (source[i] === '\n') {
        line++;
        col = 1;
        lineStart = true;
      } else col++;
      i++;
    }
  };
  const restOfLine = (): string => {
    let text = '';
    while (i < source.length && source[i] !== '\n') {
      if (source[i] === '\\' && source[i + 1] === '\n') {
        advance(2);
        text += ' ';
        continue;
      }
      text += source[i];
      advance(1);
    }
    return text;
  };

  const directive = (text: string, at: Loc): void => {
    const m = /^#\s*(\w*)\s*(.*)$/s.exec(text.replace(/\/\*.*?\*\/|\/\/.*$/g, ' ').trimEnd());
    const name = m?.[1] ?? '';
    const arg = (m?.[2] ?? '').trim();
    const top = conds[conds.length - 1];
    switch (name) {
      case 'ifdef':
      case 'ifndef':
      case 'if': {
        const on = active() && (name === 'if' ? evalIf(arg, macros, at) : macros.has(arg.split(/\s/)[0]!) === (name === 'ifdef'));
        conds.push({ active: on, taken: on, sawElse: false, loc: at });
        return;
      }
      case 'elif':
      case 'else': {
        if (top === undefined || top.sawElse) throw syntaxError(at, `#${name} without #if`);
        const parentActive = conds.slice(0, -1).every((c) => c.active);
        const on = parentActive && !top.taken && (name === 'else' || evalIf(arg, macros, at));
        top.active = on;
        top.taken ||= on;
        top.sawElse = name === 'else';
        return;
      }
      case 'endif':
        if (conds.pop() === undefined) throw syntaxError(at, '#endif without #if');
        return;
    }
    if (!active()) return;
    switch (name) {
      case 'define': {
        const d = /^([A-Za-z_]\w*)(\(?)\s*(.*)$/s.exec(arg);
        if (d === null) throw syntaxError(at, `#define: expected a name, got "${arg}"`);
        const [, macro, fn, body] = d as unknown as [string, string, string, string];
        macros.set(macro, fn ? '1' : body);
        const v = body
          .trim()
          .replace(/^\((.*)\)$/, '$1')
          .trim();
        const neg = v.startsWith('-');
        const n = parseInteger(neg ? v.slice(1).trim() : v);
        if (!fn && n !== null) defines.push({ name: macro, value: { kind: 'number', value: neg ? -n : n }, loc: at });
        else if (!fn && /^[A-Za-z_]\w*$/.test(v)) defines.push({ name: macro, value: { kind: 'name', name: v }, loc: at });
        else passthrough.push({ text, loc: at });
        return;
      }
      case 'undef':
        macros.delete(arg);
        return;
      case 'include':
      case 'pragma':
      case 'line':
      case 'ident':
      case '':
        passthrough.push({ text, loc: at }); // `# 12 "file"` line markers too
        return;
      case 'error':
        throw syntaxError(at, `#error ${arg}`);
      default:
        if (/^\d/.test(name)) passthrough.push({ text, loc: at });
        else throw syntaxError(at, `unknown preprocessor directive #${name}`);
    }
  };

  while (i < source.length) {
    const c = source[i]!;
    if (c === '\n' || c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      advance(1);
      continue;
    }
    if (c === '/' && source[i + 1] === '*') {
      const at = loc();
      const end = source.indexOf('*/', i + 2);
      if (end < 0) throw syntaxError(at, 'unterminated comment: expected */');
      const wasStart: boolean = lineStart;
      advance(end + 2 - i);
      lineStart = lineStart && wasStart;
      continue;
    }
    if (c === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') advance(1);
      continue;
    }
    const at = loc();
    if (lineStart && (c === '#' || c === '%')) {
      const text = restOfLine();
      if (c === '#') directive(text, at);
      else if (active()) passthrough.push({ text: text.slice(1), loc: at });
      continue;
    }
    lineStart = false;
    if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < source.length && IDENT.test(source[j]!)) j++;
      const text = source.slice(i, j);
      advance(j - i);
      if (active()) tokens.push({ kind: 'ident', text, value: 0, loc: at });
      continue;
    }
    if (c >= '0' && c <= '9') {
      let j = i + 1;
      while (j < source.length && /[0-9A-Za-z_]/.test(source[j]!)) j++;
      const text = source.slice(i, j);
      const value = parseInteger(text);
      if (active()) {
        if (value === null) throw syntaxError(at, `bad number "${text}": expected a decimal, 0x hexadecimal or 0 octal integer`);
        tokens.push({ kind: 'number', text, value, loc: at });
      }
      advance(j - i);
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < source.length && source[j] !== '"' && source[j] !== '\n') j += source[j] === '\\' ? 2 : 1;
      if (source[j] !== '"') throw syntaxError(at, 'unterminated string: expected "');
      const text = source.slice(i + 1, j);
      advance(j + 1 - i);
      if (active()) tokens.push({ kind: 'string', text, value: 0, loc: at });
      continue;
    }
    if (PUNCT.has(c)) {
      advance(1);
      if (active()) tokens.push({ kind: 'punct', text: c, value: 0, loc: at });
      continue;
    }
    if (active()) throw syntaxError(at, `unexpected character ${JSON.stringify(c)}`);
    advance(1);
  }
  const open = conds[conds.length - 1];
  if (open !== undefined) throw syntaxError(open.loc, 'expected #endif before the end of the file for this conditional');
  tokens.push({ kind: 'eof', text: '<end of file>', value: 0, loc: loc() });
  return { tokens, passthrough, defines };
}

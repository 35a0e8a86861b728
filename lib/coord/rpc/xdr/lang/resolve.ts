/**
 * The `.x` resolver: one namespace for constants, enumerators, types,
 * programs, versions and procedures (as in rpcgen's C output), constants
 * evaluated (through names, `#define`s and enumerators), type names checked
 * (forward references allowed), bounds checked, inline types hoisted under a
 * derived name (`parent_field`). Every error names file:line:column.
 * @module
 */
import { syntaxError, type Declaration, type Definition, type Loc, type Specification, type TypeNode, type ValueNode } from './ast.js';
import type { DefineConstant } from './lexer.js';

/** rpcgen's C type names, which its files use as XDR types (`u_int`, `long`, `bool_t`...). */
export const BUILTIN_ALIASES: Readonly<Record<string, 'int' | 'unsigned int' | 'hyper' | 'unsigned hyper' | 'bool' | 'netobj'>> = {
  netobj: 'netobj', // <rpc/xdr.h>: opaque<MAX_NETOBJ_SZ> (1024)
  char: 'int',
  short: 'int',
  long: 'int',
  int32_t: 'int',
  u_char: 'unsigned int',
  u_short: 'unsigned int',
  u_int: 'unsigned int',
  u_long: 'unsigned int',
  uint32_t: 'unsigned int',
  u_int32_t: 'unsigned int',
  int64_t: 'hyper',
  quad_t: 'hyper',
  longlong_t: 'hyper',
  uint64_t: 'unsigned hyper',
  u_int64_t: 'unsigned hyper',
  u_quad_t: 'unsigned hyper',
  u_longlong_t: 'unsigned hyper',
  u_hyper: 'unsigned hyper',
  bool_t: 'bool',
};

/** One named type, in the order the generator emits them. */
export type NamedType =
  | { kind: 'enum'; name: string; values: { name: string; value: number; loc: Loc }[]; loc: Loc }
  | { kind: 'struct'; name: string; fields: readonly Declaration[]; loc: Loc }
  | { kind: 'union'; name: string; body: Extract<Definition, { kind: 'union' }>['body']; loc: Loc }
  | { kind: 'typedef'; name: string; decl: Declaration; loc: Loc };

/** A checked specification. */
export interface Resolved {
  readonly spec: Specification;
  /** Constants and enumerators, by name, in definition order. */
  readonly constants: ReadonlyMap<string, { value: number; loc: Loc; enumerator: boolean }>;
  readonly types: readonly NamedType[];
  readonly typesByName: ReadonlyMap<string, NamedType>;
  /** The name given to each inline enum/struct/union body. */
  readonly inlineNames: ReadonlyMap<TypeNode, string>;
  readonly programs: readonly Extract<Definition, { kind: 'program' }>[];
  /** rpcgen's string constants (`const NAME = "text";`), by name. */
  readonly stringConstants: ReadonlyMap<string, { text: string; loc: Loc }>;
  /** Evaluates a constant (a number or a name). */
  value(v: ValueNode): number;
}

const JS_RESERVED = new Set(
  (
    'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in ' +
    'instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface ' +
    'package private protected public await arguments eval undefined NaN Infinity any unknown never object number boolean symbol bigint ' +
    '__proto__ ' +
    // the globals the generated module uses (generate.ts): a .x name would shadow them
    'Object Uint8Array Promise'
  ).split(' '),
);

/** The suffixes of the names the generator declares for each version `V`: `V_SPEC`, `V_Spec`, `V_Client`, `V_Handlers`. */
export const GENERATED_PER_VERSION = ['_SPEC', '_Spec', '_Client', '_Handlers'] as const;

/** Checks `spec` (with the `#define` constants the lexer found). */
export function resolveXdr(spec: Specification, defines: readonly DefineConstant[] = []): Resolved {
  const names = new Map<string, { what: string; loc: Loc }>();
  const claim = (name: string, what: string, loc: Loc): void => {
    const prev = names.get(name);
    if (prev !== undefined) {
      throw syntaxError(
        loc,
        `${what} ${name} is already defined (as ${prev.what} at ${prev.loc.file}:${prev.loc.line}:${prev.loc.column})`,
      );
    }
    if (JS_RESERVED.has(name) || name.startsWith('xdr_')) {
      throw syntaxError(
        loc,
        `${what} ${name}: the name is reserved in the generated TypeScript (a JavaScript word, a global it uses, or the xdr_ prefix)`,
      );
    }
    names.set(name, { what, loc });
  };
  const constDefs = new Map<string, { v: ValueNode | { kind: 'enumerator'; enumName: string; index: number }; loc: Loc }>();
  const types: NamedType[] = [];
  const typesByName = new Map<string, NamedType>();
  const inlineNames = new Map<TypeNode, string>();
  const programs: Extract<Definition, { kind: 'program' }>[] = [];
  const stringConstants = new Map<string, { text: string; loc: Loc }>();
  const enums = new Map<string, { name: string; value: ValueNode | null; loc: Loc }[]>();

  for (const d of defines) {
    claim(d.name, 'constant', d.loc);
    constDefs.set(d.name, { v: d.value.kind === 'number' ? { ...d.value, loc: d.loc } : { ...d.value, loc: d.loc }, loc: d.loc });
  }
  const addType = (t: NamedType): void => {
    claim(t.name, t.kind === 'typedef' ? 'type' : t.kind, t.loc);
    types.push(t);
    typesByName.set(t.name, t);
  };
  const addEnum = (name: string, values: readonly { name: string; value: ValueNode | null; loc: Loc }[], loc: Loc): void => {
    addType({ kind: 'enum', name, values: [], loc });
    enums.set(name, [...values]);
    values.forEach((e, index) => {
      claim(e.name, 'enumerator', e.loc);
      constDefs.set(e.name, { v: { kind: 'enumerator', enumName: name, index }, loc: e.loc });
    });
  };
  // Hoists the inline bodies in a declaration's type, depth first, before the type that holds them.
  const hoist = (type: Declaration['type'], name: string): void => {
    if (type.kind === 'enum') addEnum(name, type.body.values, type.loc);
    else if (type.kind === 'struct') {
      type.body.fields.forEach((f) => hoist(f.type, `${name}_${f.name}`));
      addType({ kind: 'struct', name, fields: type.body.fields, loc: type.loc });
    } else if (type.kind === 'union') {
      hoistUnion(type.body, name);
      addType({ kind: 'union', name, body: type.body, loc: type.loc });
    } else return;
    inlineNames.set(type, name);
  };
  const hoistUnion = (body: Extract<Definition, { kind: 'union' }>['body'], name: string): void => {
    hoist(body.discriminant.type, `${name}_${body.discriminant.name}`);
    for (const c of body.cases) if (c.arm.kind === 'declaration') hoist(c.arm.type, `${name}_${c.arm.name}`);
    if (body.default?.kind === 'declaration') hoist(body.default.type, `${name}_${body.default.name}`);
  };

  for (const d of spec.definitions) {
    switch (d.kind) {
      case 'const':
        claim(d.name, 'constant', d.loc);
        constDefs.set(d.name, { v: d.value, loc: d.loc });
        break;
      case 'string-const':
        claim(d.name, 'constant', d.loc);
        stringConstants.set(d.name, { text: d.text, loc: d.loc });
        break;
      case 'enum':
        addEnum(d.name, d.body.values, d.loc);
        break;
      case 'struct':
        d.body.fields.forEach((f) => hoist(f.type, `${d.name}_${f.name}`));
        addType({ kind: 'struct', name: d.name, fields: d.body.fields, loc: d.loc });
        break;
      case 'union':
        hoistUnion(d.body, d.name);
        addType({ kind: 'union', name: d.name, body: d.body, loc: d.loc });
        break;
      case 'typedef': {
        const { type, shape, name } = d.decl;
        // `typedef struct T T;` (C's idiom, common in rpcgen files): T already names the type.
        if (shape.kind === 'plain' && type.kind === 'named' && type.name === name) break;
        // `typedef struct { ... } name;` is `struct name { ... };`
        if (shape.kind === 'plain' && (type.kind === 'enum' || type.kind === 'struct' || type.kind === 'union')) hoist(type, name);
        else {
          hoist(type, `${name}_elem`);
          addType({ kind: 'typedef', name, decl: d.decl, loc: d.loc });
        }
        break;
      }
      case 'program':
        programs.push(d);
        break;
    }
  }

  // Constants, evaluated on demand with cycle detection.
  const values = new Map<string, number>();
  const evaluating = new Set<string>();
  const value = (v: ValueNode): number => {
    if (v.kind === 'number') return v.value;
    const known = values.get(v.name);
    if (known !== undefined) return known;
    const def = constDefs.get(v.name);
    if (def === undefined) {
      if (stringConstants.has(v.name)) throw syntaxError(v.loc, `constant ${v.name} is a string: expected a number`);
      if (v.name === 'TRUE') return 1; // rpcgen's C macros
      if (v.name === 'FALSE') return 0;
      throw syntaxError(v.loc, `unknown constant ${v.name}: expected a number, a const, a #define or an enumerator`);
    }
    if (evaluating.has(v.name)) throw syntaxError(v.loc, `constant ${v.name} is defined in terms of itself`);
    evaluating.add(v.name);
    let n: number;
    const d = def.v;
    if (d.kind === 'enumerator') {
      const list = enums.get(d.enumName)!;
      const e = list[d.index]!;
      n = e.value !== null ? value(e.value) : d.index === 0 ? 0 : value({ kind: 'name', name: list[d.index - 1]!.name, loc: e.loc }) + 1;
    } else n = value(d);
    evaluating.delete(v.name);
    values.set(v.name, n);
    return n;
  };
  const constants = new Map<string, { value: number; loc: Loc; enumerator: boolean }>();
  for (const [name, def] of constDefs) {
    const n = value({ kind: 'name', name, loc: def.loc });
    if (!Number.isSafeInteger(n)) throw syntaxError(def.loc, `constant ${name} = ${n} is not a safe integer`);
    constants.set(name, { value: n, loc: def.loc, enumerator: def.v.kind === 'enumerator' });
  }
  for (const t of types) {
    if (t.kind !== 'enum') continue;
    for (const e of enums.get(t.name)!) {
      const n = constants.get(e.name)!.value;
      if (n < -0x8000_0000 || n > 0x7fff_ffff) throw syntaxError(e.loc, `enumerator ${e.name} = ${n} is not a 32-bit int`);
      t.values.push({ name: e.name, value: n, loc: e.loc });
    }
  }

  const resolved: Resolved = { spec, constants, types, typesByName, inlineNames, programs, stringConstants, value };
  check(resolved, claim);
  return resolved;
}

/** The built-in or named type a type node stands for, following typedefs (for a union's discriminant). */
export function baseOf(r: Resolved, type: Declaration['type']): string {
  for (let i = 0; i < 100; i++) {
    if (type.kind === 'builtin') return type.name;
    if (type.kind === 'enum') return 'enum';
    if (type.kind !== 'named') return type.kind;
    const alias = BUILTIN_ALIASES[type.name];
    const t = r.typesByName.get(type.name);
    if (t === undefined) return alias ?? 'unknown';
    if (t.kind !== 'typedef') return t.kind;
    if (t.decl.shape.kind !== 'plain') return t.decl.shape.kind;
    type = t.decl.type;
  }
  return 'unknown';
}

/** The enum a type node stands for, following typedefs, if it is one. */
function enumOf(r: Resolved, type: Declaration['type']): Extract<NamedType, { kind: 'enum' }> | undefined {
  for (let i = 0; i < 100; i++) {
    const name = type.kind === 'named' ? type.name : type.kind === 'enum' ? r.inlineNames.get(type) : undefined;
    const t = name === undefined ? undefined : r.typesByName.get(name);
    if (t?.kind === 'enum') return t;
    if (t?.kind !== 'typedef' || t.decl.shape.kind !== 'plain') return undefined;
    type = t.decl.type;
  }
  return undefined;
}

function check(r: Resolved, claim: (name: string, what: string, loc: Loc) => void): void {
  const bound = (v: ValueNode, what: string): void => {
    const n = r.value(v);
    if (n < 0 || n > 0xffff_ffff) throw syntaxError(v.loc, `${what} ${n} must be between 0 and 4294967295`);
  };
  const type = (t: Declaration['type'] | TypeNode): void => {
    if (t.kind !== 'named') return;
    const found = r.typesByName.get(t.name);
    if (found === undefined) {
      if (t.tag === null && BUILTIN_ALIASES[t.name] !== undefined) return;
      throw syntaxError(t.loc, `unknown type ${t.tag ? `${t.tag} ` : ''}${t.name}`);
    }
    if (t.tag !== null && found.kind !== t.tag) throw syntaxError(t.loc, `${t.name} is a ${found.kind}, not a ${t.tag}`);
  };
  const decl = (d: Declaration): void => {
    // a field `__proto__` would be the object's prototype, not a property (composite.ts refuses it too)
    if (d.name === '__proto__') throw syntaxError(d.loc, `${d.name}: the name is reserved (it is the prototype of a JavaScript object)`);
    type(d.type);
    if (d.shape.kind === 'fixed') bound(d.shape.size, `the size of ${d.name}`);
    if (d.shape.kind === 'variable' && d.shape.max !== null) bound(d.shape.max, `the bound of ${d.name}`);
  };
  for (const t of r.types) {
    if (t.kind === 'struct') {
      const seen = new Set<string>();
      for (const f of t.fields) {
        if (seen.has(f.name)) throw syntaxError(f.loc, `struct ${t.name} has two fields named ${f.name}`);
        seen.add(f.name);
        decl(f);
      }
    } else if (t.kind === 'typedef') decl(t.decl);
    else if (t.kind === 'union') {
      const { discriminant: dd, cases, default: dflt } = t.body;
      decl(dd);
      const base = dd.shape.kind === 'plain' ? baseOf(r, dd.type) : dd.shape.kind;
      if (!['int', 'unsigned int', 'bool', 'enum'].includes(base)) {
        throw syntaxError(dd.loc, `union ${t.name}: the discriminant must be an int, unsigned int, bool or enum, not ${base}`);
      }
      const seen = new Map<number, Loc>();
      const fields = new Set<string>([dd.name]);
      const en = dd.shape.kind === 'plain' ? enumOf(r, dd.type) : undefined;
      for (const c of cases) {
        for (const v of c.values) {
          const n = r.value(v);
          if (seen.has(n)) throw syntaxError(v.loc, `union ${t.name}: case ${n} appears twice`);
          if (en !== undefined && !en.values.some((e) => e.value === n)) {
            throw syntaxError(v.loc, `union ${t.name}: case ${n} is not a value of enum ${en.name}`);
          }
          if (base === 'bool' && n !== 0 && n !== 1)
            throw syntaxError(v.loc, `union ${t.name}: a bool discriminant's case must be TRUE or FALSE`);
          if (base === 'unsigned int' && (n < 0 || n > 0xffff_ffff))
            throw syntaxError(v.loc, `union ${t.name}: case ${n} is not an unsigned int`);
          seen.set(n, v.loc);
        }
      }
      for (const arm of [...cases.map((c) => c.arm), ...(dflt ? [dflt] : [])]) {
        if (arm.kind !== 'declaration') continue;
        if (fields.has(arm.name) && arm.name === dd.name)
          throw syntaxError(arm.loc, `union ${t.name}: arm ${arm.name} has the discriminant's name`);
        fields.add(arm.name);
        decl(arm);
      }
    }
  }
  // A type that holds itself other than through optional data or a variable-length array has no finite value.
  const state = new Map<string, 'open' | 'done'>();
  const visit = (name: string, loc: Loc): void => {
    const t = r.typesByName.get(name);
    if (t === undefined || state.get(name) === 'done') return;
    if (state.get(name) === 'open')
      throw syntaxError(loc, `type ${name} contains itself: only optional data (*) or an array <> can make a type recursive`);
    state.set(name, 'open');
    const inner = (d: Declaration): void => {
      if (d.shape.kind === 'optional' || d.shape.kind === 'variable') return;
      const n = d.type.kind === 'named' ? d.type.name : r.inlineNames.get(d.type as TypeNode);
      if (n !== undefined) visit(n, d.loc);
    };
    if (t.kind === 'struct') t.fields.forEach(inner);
    else if (t.kind === 'typedef') inner(t.decl);
    else if (t.kind === 'union')
      for (const arm of [...t.body.cases.map((c) => c.arm), t.body.default]) if (arm?.kind === 'declaration') inner(arm);
    state.set(name, 'done');
  };
  for (const t of r.types) visit(t.name, t.loc);

  // Programs, versions and procedures: their names are C constants in rpcgen's output.
  const procNumbers = new Map<string, number>();
  const programNumbers = new Map<number, string>();
  for (const p of r.programs) {
    claim(p.name, 'program', p.loc);
    const pn = r.value(p.number);
    if (pn < 0 || pn > 0xffff_ffff) throw syntaxError(p.number.loc, `program number ${pn} is not an unsigned int`);
    if (programNumbers.has(pn)) throw syntaxError(p.number.loc, `program number ${pn} is also ${programNumbers.get(pn)}'s`);
    programNumbers.set(pn, p.name);
    const versionNumbers = new Set<number>();
    for (const v of p.versions) {
      claim(v.name, 'version', v.loc);
      // the names generate.ts declares per version, in the same module: a .x name equal to one is a collision
      for (const suffix of GENERATED_PER_VERSION) claim(`${v.name}${suffix}`, `version ${v.name}'s generated`, v.loc);
      const vn = r.value(v.number);
      if (vn < 0 || vn > 0xffff_ffff) throw syntaxError(v.number.loc, `version number ${vn} is not an unsigned int`);
      if (versionNumbers.has(vn)) throw syntaxError(v.number.loc, `program ${p.name} has two versions numbered ${vn}`);
      versionNumbers.add(vn);
      const inVersion = new Map<number, string>();
      const namesInVersion = new Set<string>();
      for (const proc of v.procedures) {
        const n = r.value(proc.number);
        if (n < 0 || n > 0xffff_ffff) throw syntaxError(proc.number.loc, `procedure number ${n} is not an unsigned int`);
        if (inVersion.has(n))
          throw syntaxError(proc.number.loc, `version ${v.name} has two procedures numbered ${n} (${inVersion.get(n)}, ${proc.name})`);
        if (namesInVersion.has(proc.name)) throw syntaxError(proc.loc, `version ${v.name} has two procedures named ${proc.name}`);
        inVersion.set(n, proc.name);
        namesInVersion.add(proc.name);
        // The same procedure in several versions (same number) is one constant, as in rpcgen's C.
        const prev = procNumbers.get(proc.name);
        if (prev === undefined) {
          claim(proc.name, 'procedure', proc.loc);
          procNumbers.set(proc.name, n);
        } else if (prev !== n) throw syntaxError(proc.loc, `procedure ${proc.name} is ${prev} in another version, ${n} here`);
        for (const t of [proc.arg, proc.result]) {
          if (t.kind === 'enum' || t.kind === 'struct' || t.kind === 'union') {
            throw syntaxError(t.loc, `${proc.name}: an inline ${t.kind} cannot be a procedure's type: name it (typedef or ${t.kind} T)`);
          }
          type(t);
        }
      }
    }
  }
}

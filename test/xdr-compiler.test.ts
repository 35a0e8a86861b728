// The .x compiler: a corpus of .x files (every construct, the seed's
// kv_store.x, copies of two of the system's files and, where present, all of
// /usr/include/rpcsvc/) compiles; the generated TypeScript typechecks (one tsc
// run, with a file that uses the generated types as a client and a server
// would); random values of every type in every file round-trip; broken inputs
// are errors naming file:line:column; the CLI writes the module.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { compileXdr, xdrDecode, xdrEncode, XdrError, type XdrType } from '../lib/index.js';
import type { Declaration, TypeNode } from '../lib/coord/rpc/xdr/lang/ast.js';
import { parseXdr } from '../lib/coord/rpc/xdr/lang/parser.js';
import { BUILTIN_ALIASES, resolveXdr, type Resolved } from '../lib/coord/rpc/xdr/lang/resolve.js';

const run = promisify(execFile);
const root = new URL('../', import.meta.url).pathname;
const fixtures = join(root, 'test/fixtures/xdr');
const SYSTEM = '/usr/include/rpcsvc';
/** The system's files that need more than this compiler does (C headers' constants, #include of another .x). */
const SYSTEM_UNSUPPORTED: Record<string, RegExp> = {
  'key_prot.x': /key_prot\.x:\d+:\d+: unknown constant MAXNETNAMELEN/,
  'nlm_prot.x': /nlm_prot\.x:\d+:\d+: unknown constant LM_MAXSTRLEN/,
  'nis.x': /nis\.x:\d+:\d+: unknown type nis_object/,
  'nis_callback.x': /nis_callback\.x:\d+:\d+: unknown type nis_object/,
};

const corpus: { name: string; path: string }[] = [
  ...readdirSync(fixtures)
    .filter((f) => f.endsWith('.x'))
    .map((f) => ({ name: f.replace(/\.x$/, ''), path: join(fixtures, f) })),
  ...(existsSync(SYSTEM) ? readdirSync(SYSTEM) : [])
    .filter((f) => f.endsWith('.x') && !(f in SYSTEM_UNSUPPORTED))
    .map((f) => ({ name: `sys_${f.replace(/\.x$/, '')}`, path: join(SYSTEM, f) })),
];

const tsdir = mkdtempSync(join(root, 'test/.xdr-tmp-')); // inside the worktree: the modules import ../../lib/index.js
afterAll(() => rmSync(tsdir, { recursive: true, force: true }));

const USAGE = `// Uses the generated types as a client and a server would: a wrong type here fails tsc.
import * as kv from './kv_store.js';
import * as c from './constructs.js';
import { xdrEncode, type OncVersionSpec } from '../../lib/index.js';

const spec: OncVersionSpec = kv.KVSTORE_V1_SPEC;
void spec;
const n: number = kv.KVSTORE_V1_SPEC.procedures.EXAMPLE.arg.decode(undefined as never);
void n;
const client: kv.KVSTORE_V1_Client<{ timeoutMs: number }> = { EXAMPLE: async (x: number) => x + 1 };
void client.EXAMPLE(1, { timeoutMs: 5 });
// @ts-expect-error the argument is an int
void client.EXAMPLE('one');
const handlers: kv.KVSTORE_V1_Handlers<{ uid: number }> = { EXAMPLE: (x, ctx) => x + ctx.uid };
void handlers;
// @ts-expect-error a handler returns the result type
const bad: kv.KVSTORE_V1_Handlers = { EXAMPLE: () => 'no' };
void bad;

const r: c.result = { c: c.RED, code: 1 };
// @ts-expect-error the RED arm carries code, not message
const r2: c.result = { c: c.RED, message: 'x' };
void r2;
if (r.c === c.RED) { const code: number = r.code; void code; }
const e: c.entry_list = { key: 'k', value: new Uint8Array(1), next: null };
xdrEncode(c.xdr_entry_list, e);
const col: c.color = c.color.BLUE;
// @ts-expect-error 2 is not a color
const col2: c.color = 2;
void col; void col2;
const nested: c.nested['scale'] = c.LARGE;
void nested;
const v2: c.CONSTRUCTS_V2_Client = {
  NULLPROC: async () => {},
  DESCRIBE: async (p: c.point) => ({ origin: p } as c.nested),
  MAYBE: async () => ({ present: false }),
  COUNT: async (k: c.color) => BigInt(k),
};
void v2;
const big: bigint = c.CONSTRUCTS_V2_SPEC.procedures.COUNT.res.decode(undefined as never);
void big;
`;

const modules = new Map<string, Record<string, unknown>>();
const models = new Map<string, Resolved>();

beforeAll(async () => {
  for (const { name, path } of corpus) {
    const source = readFileSync(path, 'utf8');
    const ts = compileXdr(source, { file: path, importFrom: '../../lib/index.js' });
    writeFileSync(join(tsdir, `${name}.ts`), ts);
    const spec = parseXdr(source, path);
    models.set(name, resolveXdr(spec, spec.defines));
  }
  writeFileSync(join(tsdir, 'usage.ts'), USAGE);
  writeFileSync(
    join(tsdir, 'tsconfig.json'),
    JSON.stringify({ extends: '../../tsconfig.json', compilerOptions: { noEmit: true, rootDir: '../..' }, include: ['*.ts'] }),
  );
  for (const { name } of corpus) modules.set(name, (await import(join(tsdir, `${name}.ts`))) as Record<string, unknown>);
}, 120_000);

describe('the corpus', () => {
  it('has every fixture and, on this machine, the system files', () => {
    expect(corpus.map((c) => c.name)).toEqual(expect.arrayContaining(['kv_store', 'constructs', 'rstat', 'mount', 'oracle']));
    if (existsSync(SYSTEM)) expect(corpus.filter((c) => c.name.startsWith('sys_')).length).toBeGreaterThanOrEqual(10);
  });

  it('the generated TypeScript typechecks (with a file that uses it)', async () => {
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', join(tsdir, 'tsconfig.json')], { timeout: 300_000 }).catch(
      (err: { stdout?: string }) => ({ stdout: err.stdout ?? String(err) }),
    );
    expect(result.stdout).toBe('');
  }, 320_000);

  it("the seed's kv_store.x: rpcgen's names and the spec", () => {
    const kv = modules.get('kv_store')!;
    expect([kv.KVSTORE, kv.KVSTORE_V1, kv.EXAMPLE]).toEqual([0x20000001, 1, 1]);
    const spec = kv.KVSTORE_V1_SPEC as {
      programName: string;
      program: number;
      version: number;
      procedures: Record<string, { number: number; arg: XdrType<number> }>;
    };
    expect(spec).toMatchObject({ programName: 'KVSTORE', program: 0x20000001, versionName: 'KVSTORE_V1', version: 1 });
    expect(spec.procedures.EXAMPLE!.number).toBe(1);
    expect(Buffer.from(xdrEncode(spec.procedures.EXAMPLE!.arg, -2)).toString('hex')).toBe('fffffffe');
    expect(Object.isFrozen(spec) && Object.isFrozen(spec.procedures)).toBe(true);
  });

  it('constructs.x: constants, the preprocessor, enums, typedefs, unions, programs', () => {
    const c = modules.get('constructs')!;
    expect([c.HEX, c.OCTAL, c.NEGATIVE, c.BIG, c.NAMED, c.DEFINED_MAX, c.NEG_DEFINED, c.ALIAS_OF_CONST]).toEqual([
      31, 15, -42, 0xffffffff, 4, 12, -3, 4,
    ]);
    expect([c.IN_IFDEF, c.IN_IF, 'NOT_HERE' in c]).toEqual([1, 3, false]);
    expect([c.FIRST, c.SECOND, c.THIRD, c.FOURTH]).toEqual([0, 1, 10, 11]);
    expect(c.color).toEqual({ RED: 0, GREEN: 1, BLUE: 5 });
    expect([c.CONSTRUCTS, c.CONSTRUCTS_V1, c.CONSTRUCTS_V2, c.NULLPROC, c.COUNT, c.SECOND_PROGRAM]).toEqual([
      0x20000077, 1, 2, 0, 7, 536871000,
    ]);
    const v1 = c.CONSTRUCTS_V1_SPEC as { procedures: Record<string, { number: number; arg: XdrType<unknown>; res: XdrType<unknown> }> };
    expect(Object.keys(v1.procedures)).toEqual(['NULLPROC', 'GET', 'PUT', 'ECHO', 'LIST']);
    expect(v1.procedures.NULLPROC!.arg.name).toBe('void');
    expect(v1.procedures.ECHO!.res.name).toBe('string<>');
    const hex = (t: string, v: unknown) => Buffer.from(xdrEncode(c[`xdr_${t}`] as XdrType<unknown>, v)).toString('hex');
    expect(hex('result', { c: 5, message: 'hi' })).toBe('00000005' + '000000026869' + '0000');
    expect(hex('int_default_void', { n: 99 })).toBe('00000063');
    expect(hex('uns_switch', { kind: 7, other: Uint8Array.of(1) })).toBe('00000007' + '00000001' + '01000000');
    expect(hex('handle', Uint8Array.of(9))).toBe('0000000109000000');
    expect(hex('implicit', 11)).toBe('0000000b');
    expect(hex('entry_list', { key: 'a', value: new Uint8Array(0), next: { key: 'b', value: new Uint8Array(0), next: null } })).toBe(
      '00000001' + '0000000161000000' + '00000000' + '00000001' + '0000000162000000' + '00000000' + '00000000',
    );
    expect(() => xdrEncode(c.xdr_str_bounded as XdrType<string>, 'abcde')).toThrow(expect.objectContaining({ code: 'ERR_XDR_RANGE' }));
  });
});

// ---- random values of every type in every file, from the compiler's own model ----

function arbitraries(r: Resolved): Map<string, fc.Arbitrary<unknown>> {
  const memo = new Map<string, fc.Arbitrary<unknown>>();
  const ascii = (max: number) =>
    fc.string({ unit: fc.integer({ min: 32, max: 126 }).map((c) => String.fromCharCode(c)), maxLength: Math.min(max, 12) });
  const primitive = (name: string): fc.Arbitrary<unknown> => {
    switch (name) {
      case 'int':
        return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
      case 'unsigned int':
        return fc.integer({ min: 0, max: 2 ** 32 - 1 });
      case 'hyper':
        return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
      case 'unsigned hyper':
        return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
      case 'float':
        return fc.float();
      case 'double':
        return fc.double();
      case 'bool':
        return fc.boolean();
      case 'netobj':
        return fc.uint8Array({ maxLength: 8 });
      default:
        return fc.constant(undefined);
    }
  };
  const base = (t: Declaration['type'] | TypeNode, depth: number): fc.Arbitrary<unknown> => {
    if (t.kind === 'builtin') return primitive(t.name);
    if (t.kind === 'string') return ascii(12);
    const name = t.kind === 'named' ? t.name : r.inlineNames.get(t as TypeNode)!;
    if (!r.typesByName.has(name)) return primitive(BUILTIN_ALIASES[name]!);
    return named(name, depth);
  };
  const decl = (d: Declaration, depth: number): fc.Arbitrary<unknown> => {
    const bound = (v: { kind: string } | null) => (v === null ? 2 ** 32 - 1 : r.value(v as never));
    if (d.type.kind === 'string') return ascii(bound(d.shape.kind === 'variable' ? d.shape.max : null));
    if (d.type.kind === 'opaque') {
      if (d.shape.kind === 'fixed') {
        const n = r.value(d.shape.size);
        return fc.uint8Array({ minLength: n, maxLength: n });
      }
      return fc.uint8Array({ maxLength: Math.min(bound(d.shape.kind === 'variable' ? d.shape.max : null), 12) });
    }
    const deeper = depth + 1;
    switch (d.shape.kind) {
      case 'plain':
        return base(d.type, depth);
      case 'optional':
        return depth > 3 ? fc.constant(null) : fc.option(base(d.type, deeper), { nil: null });
      case 'fixed': {
        const n = r.value(d.shape.size);
        return fc.array(base(d.type, deeper), { minLength: n, maxLength: n });
      }
      case 'variable':
        return depth > 3 ? fc.constant([]) : fc.array(base(d.type, deeper), { maxLength: Math.min(bound(d.shape.max), 3) });
    }
  };
  const named = (name: string, depth: number): fc.Arbitrary<unknown> => {
    const key = `${name}@${Math.min(depth, 5)}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const t = r.typesByName.get(name)!;
    let a: fc.Arbitrary<unknown>;
    if (t.kind === 'enum') a = fc.constantFrom(...t.values.map((v) => v.value));
    else if (t.kind === 'typedef') a = decl(t.decl, depth);
    else if (t.kind === 'struct') {
      a = fc.record(Object.fromEntries(t.fields.map((f) => [f.name, decl(f, depth + 1)])));
    } else {
      const { discriminant: dd, cases, default: dflt } = t.body;
      const isBool = ((): boolean => {
        let x: Declaration['type'] = dd.type;
        for (;;) {
          if (x.kind === 'builtin') return x.name === 'bool';
          if (x.kind !== 'named') return false;
          const y = r.typesByName.get(x.name);
          if (y === undefined) return BUILTIN_ALIASES[x.name] === 'bool';
          if (y.kind !== 'typedef') return false;
          x = y.decl.type;
        }
      })();
      const label = (n: number): unknown => (isBool ? n === 1 : n);
      const withArm = (k: unknown, arm: (typeof cases)[number]['arm']) =>
        arm.kind === 'void' ? fc.constant({ [dd.name]: k }) : decl(arm, depth + 1).map((v) => ({ [dd.name]: k, [arm.name]: v }));
      const options = cases.flatMap((c) => c.values.map((v) => withArm(label(r.value(v)), c.arm)));
      if (dflt !== null) {
        const taken = new Set(cases.flatMap((c) => c.values.map((v) => r.value(v))));
        // The discriminants no case names (for a bool or an enum, those left; for an int, almost any).
        const dt = dd.type.kind === 'named' ? r.typesByName.get(dd.type.name) : undefined;
        const left = isBool
          ? [0, 1].filter((k) => !taken.has(k)).map((k) => k === 1)
          : dt?.kind === 'enum'
            ? dt.values.map((v) => v.value).filter((k) => !taken.has(k))
            : null;
        const free =
          left === null ? decl(dd, depth).filter((k) => !taken.has(k as number)) : left.length > 0 ? fc.constantFrom(...left) : null;
        if (free !== null) options.push(free.chain((k) => withArm(k, dflt)));
      }
      a = fc.oneof(...options);
    }
    memo.set(key, a);
    return a;
  };
  const out = new Map<string, fc.Arbitrary<unknown>>();
  for (const t of r.types) out.set(t.name, named(t.name, 0));
  return out;
}

describe('round trips: random values of every type in every file', () => {
  it.each(corpus.map((c) => c.name))('%s', (name) => {
    const mod = modules.get(name)!;
    const arbs = arbitraries(models.get(name)!);
    for (const [type, arb] of arbs) {
      const codec = mod[`xdr_${type}`] as XdrType<unknown>;
      expect(codec, type).toBeDefined();
      fc.assert(
        fc.property(arb, (v) => {
          const bytes = xdrEncode(codec, v);
          const back = xdrDecode(codec, bytes, { maxDepth: 256 });
          expect(back).toEqual(v);
          expect(Buffer.from(xdrEncode(codec, back)).equals(Buffer.from(bytes))).toBe(true);
        }),
        { numRuns: 25 },
      );
    }
  });
});

// ---- errors ----

const BROKEN: [source: string, error: RegExp][] = [
  ['struct s { int a; }', /^bad\.x:1:20: expected ";" after the struct s's body, got the end of the file$/],
  ['struct s {\n  int a\n};', /^bad\.x:3:1: expected ";" after the field a, got "}"$/],
  ['typedef foo bar;', /^bad\.x:1:9: unknown type foo$/],
  [
    'struct a { int x; };\nunion a switch (int d) { case 1: void; };',
    /^bad\.x:2:1: union a is already defined \(as struct at bad\.x:1:1\)$/,
  ],
  ['const A = 1;\nconst A = 2;', /^bad\.x:2:1: constant A is already defined/],
  ['typedef string s<MAX>;', /^bad\.x:1:18: unknown constant MAX/],
  ['const N = -1;\ntypedef int a<N>;', /^bad\.x:2:15: the bound of a -1 must be between 0 and 4294967295$/],
  ['union u switch (string s<>) { case 1: void; };', /^bad\.x:1:17: union u: the discriminant must be an int, unsigned int, bool or enum/],
  ['union u switch (int d) { case 1: void; case 1: int x; };', /^bad\.x:1:45: union u: case 1 appears twice$/],
  ['struct s { int a; int a; };', /^bad\.x:1:19: struct s has two fields named a$/],
  ['program P { version V { int F(int) = 1; int G(int) = 1; } = 1; } = 1;', /^bad\.x:1:54: version V has two procedures numbered 1/],
  ['program P { version V { int F(int, int) = 1; } = 1; } = 1;', /^bad\.x:1:34: F: several arguments \(rpcgen -N\) are not supported/],
  ['const X = 0x;', /^bad\.x:1:11: bad number "0x"/],
  ['/* never closed', /^bad\.x:1:1: unterminated comment: expected \*\/$/],
  ['#ifdef X\nconst A = 1;', /^bad\.x:1:1: expected #endif before the end of the file/],
  ['#endif', /^bad\.x:1:1: #endif without #if$/],
  ['#frobnicate', /^bad\.x:1:1: unknown preprocessor directive #frobnicate$/],
  ['typedef quadruple q;', /^bad\.x:1:9: quadruple is not supported/],
  ['struct s { struct t x; };\nenum t { A };', /^bad\.x:1:12: t is a enum, not a struct$/],
  ['const A = B;\nconst B = A;', /^bad\.x:\d+:\d+: constant [AB] is defined in terms of itself$/],
  ['struct s { int a; } @', /^bad\.x:1:21: unexpected character "@"$/],
  ['struct delete { int a; };', /^bad\.x:1:1: struct delete: the name is reserved/],
  ['enum e { A = 1, B = 0x100000000 };', /^bad\.x:1:17: enumerator B = 4294967296 is not a 32-bit int$/],
  ['enum e { A = 1 };\nunion u switch (e d) { case A: void; case 2: int x; };', /^bad\.x:2:43: union u: case 2 is not a value of enum e$/],
  ['struct s { int a; s inner; };', /^bad\.x:1:19: type s contains itself: only optional data/],
  ['struct s { t x[2]; };\ntypedef s t;', /^bad\.x:\d+:\d+: type [st] contains itself/],
  ['typedef int a[];', /^bad\.x:1:15: expected a number or a constant's name as the size of a, got "]"$/],
  ['struct s { int __proto__; };', /^bad\.x:1:12: __proto__: the name is reserved \(it is the prototype of a JavaScript object\)$/],
  ['union u switch (int d) { case 1: int __proto__; };', /^bad\.x:1:34: __proto__: the name is reserved/],
  ['union u switch (int d) { case 1: void; default: int __proto__; };', /^bad\.x:1:49: __proto__: the name is reserved/],
  ['typedef int __proto__;', /^bad\.x:1:1: type __proto__: the name is reserved/],
  ['program P { version V { int __proto__(int) = 1; } = 1; } = 1;', /^bad\.x:1:\d+: procedure __proto__: the name is reserved/],
  [
    'const Object = 1;',
    /^bad\.x:1:1: constant Object: the name is reserved in the generated TypeScript \(a JavaScript word, a global it uses/,
  ],
  ['typedef opaque Uint8Array<>;', /^bad\.x:1:1: type Uint8Array: the name is reserved/],
  ['struct Promise { int a; };', /^bad\.x:1:1: struct Promise: the name is reserved/],
  [
    'typedef int KVSTORE_V1_SPEC;\nprogram KVSTORE { version KVSTORE_V1 { int F(int) = 1; } = 1; } = 1;',
    /^bad\.x:2:19: version KVSTORE_V1's generated KVSTORE_V1_SPEC is already defined \(as type at bad\.x:1:1\)$/,
  ],
  [
    'struct P_V_Client { int a; };\nprogram P { version P_V { int F(int) = 1; } = 1; } = 1;',
    /^bad\.x:2:13: version P_V's generated P_V_Client is already/,
  ],
  [
    'program P { version V { int V_Spec(int) = 1; } = 1; } = 1;',
    /^bad\.x:1:\d+: procedure V_Spec is already defined \(as version V's generated/,
  ],
  [
    'program P { version V { int F(int) = 1; } = 1; version V_Handlers { int G(int) = 1; } = 2; } = 1;',
    /^bad\.x:1:\d+: version V_Handlers is already defined/,
  ],
];

describe('errors name file:line:column and what was expected', () => {
  it.each(BROKEN)('%s', (source, error) => {
    let caught: unknown;
    try {
      compileXdr(source, { file: 'bad.x' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(XdrError);
    const e = caught as XdrError;
    expect(e.code).toBe('ERR_XDR_SYNTAX');
    expect(e.message).toMatch(error);
    const [, line, column] = /^bad\.x:(\d+):(\d+):/.exec(e.message)!;
    expect(e.location).toEqual({ file: 'bad.x', line: Number(line), column: Number(column) });
  });

  it("types named O and C are not shadowed by the generated interfaces' type parameters", () => {
    const ts = compileXdr('struct O { int a; };\nstruct C { int b; };\nprogram P { version V { O F(C) = 1; } = 1; } = 1;', {
      file: 'oc.x',
    });
    expect(ts).toContain('F(arg: C, options?: $O): Promise<O>;');
    expect(ts).toContain('F(arg: C, context: $C): O | Promise<O>;');
  });

  it.skipIf(!existsSync(SYSTEM))(
    "the system's files this compiler cannot take (C headers' constants, #include of a .x) fail with their location",
    () => {
      for (const [file, error] of Object.entries(SYSTEM_UNSUPPORTED)) {
        const path = join(SYSTEM, file);
        if (!existsSync(path)) continue;
        expect(() => compileXdr(readFileSync(path, 'utf8'), { file: path })).toThrow(error);
      }
    },
  );
});

describe('posix-ipc-rpcgen', () => {
  const cli = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', join(root, 'lib/coord/rpc/xdr/cli.ts'), ...args], { timeout: 60_000 }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
    );

  it('writes the module (mode 0600, replacing an old one), to -o or stdout, with --import-from and -D', async () => {
    const out = join(tsdir, 'cli-out.ts');
    writeFileSync(out, 'old');
    const a = await cli(join(fixtures, 'kv_store.x'), '-o', out, '--import-from', '@x/y');
    expect(a.code).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text).toContain("import * as $xdr from '@x/y';");
    expect(text).toContain('export const KVSTORE_V1_SPEC');
    const fresh = join(tsdir, 'cli-fresh.ts');
    expect((await cli(join(fixtures, 'kv_store.x'), '-o', fresh)).code).toBe(0);
    expect(statSync(fresh).mode & 0o777).toBe(0o600);
    expect(readFileSync(fresh, 'utf8')).toContain("from 'posix-ipc'");
    const d = join(tsdir, 'defs.x');
    writeFileSync(d, '#ifdef WANT\nconst WANTED = 1;\n#endif\n#if LEVEL == 3\nconst LEVEL3 = 1;\n#endif\n');
    const b = await cli(d, '-o', '-', '-DWANT', '-D', 'LEVEL=3');
    expect(b.stdout).toContain('export const WANTED = 1;');
    expect(b.stdout).toContain('export const LEVEL3 = 1;');
    expect(readdirSync(tsdir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 120_000);

  it('exits 2 with file:line:column for a broken file, and with the usage for bad arguments', async () => {
    const bad = join(tsdir, 'broken.x');
    writeFileSync(bad, 'struct s {\n  int a\n};\n');
    const a = await cli(bad, '-o', '-');
    expect(a.code).toBe(2);
    expect(a.stderr).toBe(`posix-ipc-rpcgen: ${bad}:3:1: expected ";" after the field a, got "}"\n`);
    const b = await cli();
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/^usage: posix-ipc-rpcgen/);
    expect((await cli(bad, '--frob')).code).toBe(2);
  }, 120_000);
});

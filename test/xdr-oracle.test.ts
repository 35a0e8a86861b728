// The XDR bytes posix-ipc writes, checked against an independent
// implementation: the C routines the system's rpcgen (Debian rpcsvc-proto,
// with libtirpc-dev; .ci/run installs both) generates from
// test/fixtures/xdr/oracle.x. For random values of a struct with most XDR
// constructs, the C program decodes our bytes, dumps what it decoded (which
// must be the dump of our value) and encodes it again (which must be our
// bytes, and which we decode back to the value).
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { compileXdr, xdrDecode, xdrEncode, XdrError, type XdrType } from '../lib/index.js';

const run = promisify(execFile);
const root = new URL('../', import.meta.url).pathname;
const fixtures = join(root, 'test/fixtures/xdr');
const cdir = mkdtempSync(join(tmpdir(), 'pipc-xdr-oracle-'));
const tsdir = mkdtempSync(join(root, 'test/.xdr-tmp-')); // inside the worktree: the module imports ../../lib
afterAll(() => {
  rmSync(cdir, { recursive: true, force: true });
  rmSync(tsdir, { recursive: true, force: true });
});

interface Gen {
  xdr_everything: XdrType<Everything>;
  ORACLE: number;
  ORACLE_V1_SPEC: { procedures: { ECHO: { arg: XdrType<Everything> } } };
}
type Node = { v: number; next: Node | null };
type Point = { x: number; y: number };
interface Everything {
  i: number;
  u: number;
  h: bigint;
  uh: bigint;
  b: boolean;
  c: number;
  d: number;
  f: number;
  s: string;
  o: Uint8Array;
  fo: Uint8Array;
  ia: number[];
  fa: number[];
  pp: Point | null;
  list: Node | null;
  sh: { c: 0; r: number } | { c: 1; g: string } | { c: 5 };
  mb: { b: true; h: bigint } | { b: false };
  n: { k: number; d: number } | { k: number; f: number };
  pts: Point[];
  l: number;
  ch: number;
}

let gen: Gen;
let oracle: string;

beforeAll(async () => {
  for (const tool of ['rpcgen', 'cc']) {
    if (!['/usr/bin', '/bin', '/usr/local/bin'].some((d) => existsSync(join(d, tool)))) {
      throw new Error(`${tool} is not installed: apt-get install -y rpcsvc-proto libtirpc-dev gcc (.ci/run does)`);
    }
  }
  if (!existsSync('/usr/include/tirpc/rpc/rpc.h'))
    throw new Error('libtirpc-dev is not installed: apt-get install -y libtirpc-dev (.ci/run does)');
  const x = join(cdir, 'oracle.x');
  writeFileSync(x, readFileSync(join(fixtures, 'oracle.x')));
  await run('rpcgen', ['-h', '-o', join(cdir, 'oracle.h'), x], { cwd: cdir, timeout: 30_000 });
  await run('rpcgen', ['-c', '-o', join(cdir, 'oracle_xdr.c'), x], { cwd: cdir, timeout: 30_000 });
  oracle = join(cdir, 'oracle');
  await run(
    'cc',
    ['-O1', '-o', oracle, join(fixtures, 'oracle-main.c'), join(cdir, 'oracle_xdr.c'), `-I${cdir}`, '-I/usr/include/tirpc', '-ltirpc'],
    { timeout: 120_000 },
  );
  const file = join(tsdir, 'oracle.ts');
  writeFileSync(file, compileXdr(readFileSync(join(fixtures, 'oracle.x'), 'utf8'), { file: 'oracle.x', importFrom: '../../lib/index.js' }));
  gen = (await import(file)) as Gen;
}, 180_000);

/** Runs the C oracle on lines of hex; resolves with its output lines. */
function runOracle(lines: readonly string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(oracle, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`oracle exited ${code ?? signal}`));
      else resolve(out.split('\n').slice(0, -1));
    });
    child.stdin.end(lines.map((l) => `${l}\n`).join(''));
  });
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const ascii = (b: string): string => Buffer.from(b, 'latin1').toString('hex');
function bits64(d: number): string {
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, d);
  return v.getBigUint64(0).toString(16).padStart(16, '0');
}
function bits32(f: number): string {
  const v = new DataView(new ArrayBuffer(4));
  v.setFloat32(0, f);
  return v.getUint32(0).toString(16).padStart(8, '0');
}

/** The C program's dump of a value (oracle-main.c prints the same format). */
function dump(e: Everything): string {
  const list: number[] = [];
  for (let n = e.list; n !== null; n = n.next) list.push(n.v);
  const sh = e.sh.c === 0 ? `${e.sh.r}` : e.sh.c === 1 ? ascii(e.sh.g) : '';
  const n = 'd' in e.n ? bits64(e.n.d) : bits32(e.n.f);
  return [
    `i=${e.i} u=${e.u} h=${e.h} uh=${e.uh} b=${e.b ? 1 : 0} c=${e.c} d=${bits64(e.d)} f=${bits32(e.f)} s=${ascii(e.s)}`,
    `o=${hex(e.o)} fo=${hex(e.fo)} ia=[${e.ia.join(',')}] fa=[${e.fa.join(',')}] pp=${e.pp ? `(${e.pp.x},${e.pp.y})` : 'null'}`,
    `list=[${list.join(',')}] sh=${e.sh.c}:${sh} mb=${e.mb.b ? 1 : 0}:${e.mb.b ? e.mb.h : ''} n=${e.n.k}:${n}`,
    `pts=[${e.pts.map((p) => `(${p.x},${p.y})`).join(',')}] l=${e.l} ch=${e.ch}`,
  ].join(' ');
}

const int = fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff });
const uint = fc.integer({ min: 0, max: 0xffff_ffff });
const asciiString = (max: number) =>
  fc.string({ unit: fc.integer({ min: 1, max: 127 }).map((c) => String.fromCharCode(c)), maxLength: max });
const point = fc.record({ x: int, y: int });
const everything: fc.Arbitrary<Everything> = fc.record({
  i: int,
  u: uint,
  h: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  uh: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  b: fc.boolean(),
  c: fc.constantFrom(0, 1, 5),
  d: fc.double({ noNaN: true }),
  f: fc.float({ noNaN: true }),
  s: asciiString(16),
  o: fc.uint8Array({ maxLength: 16 }),
  fo: fc.uint8Array({ minLength: 5, maxLength: 5 }),
  ia: fc.array(int, { maxLength: 4 }),
  fa: fc.array(uint, { minLength: 3, maxLength: 3 }),
  pp: fc.option(point, { nil: null }),
  list: fc.array(int, { maxLength: 20 }).map((vs) => vs.reduceRight<Node | null>((next, v) => ({ v, next }), null)),
  sh: fc.oneof(
    int.map((r) => ({ c: 0 as const, r })),
    asciiString(8).map((g) => ({ c: 1 as const, g })),
    fc.constant({ c: 5 as const }),
  ),
  mb: fc.oneof(
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((h) => ({ b: true as const, h })),
    fc.constant({ b: false as const }),
  ),
  n: fc.oneof(
    fc.record({ k: fc.constantFrom(1, 2), d: fc.double({ noNaN: true }) }),
    fc.record({ k: uint.filter((k) => k !== 1 && k !== 2), f: fc.float({ noNaN: true }) }),
  ),
  pts: fc.array(point, { maxLength: 3 }),
  l: int,
  ch: fc.integer({ min: -128, max: 127 }),
});

describe('XDR against the C routines rpcgen generates', () => {
  it('random values: C decodes our bytes to the same value and encodes them to the same bytes', async () => {
    const values = fc.sample(everything, { numRuns: 400, seed: Date.now() & 0x7fff_ffff });
    const bytes = values.map((v) => xdrEncode(gen.xdr_everything, v));
    const out = await runOracle(bytes.map(hex));
    expect(out).toHaveLength(values.length * 2);
    values.forEach((v, k) => {
      expect(out[2 * k], `value ${k}`).toBe(dump(v));
      expect(out[2 * k + 1], `value ${k}`).toBe(hex(bytes[k]!));
      const back = xdrDecode(gen.xdr_everything, Buffer.from(out[2 * k + 1]!, 'hex'));
      expect(dump(back)).toBe(dump(v));
      expect(back).toEqual(v);
    });
  }, 120_000);

  it('the spec names the generated codec; -0, NaN and the extremes too', async () => {
    expect(gen.ORACLE).toBe(0x20000099);
    expect(gen.ORACLE_V1_SPEC.procedures.ECHO.arg).toBe(gen.xdr_everything);
    const base = fc.sample(everything, { numRuns: 1, seed: 1 })[0]!;
    const edge: Everything[] = [
      { ...base, d: -0, f: -0, i: -0x8000_0000, u: 0xffff_ffff, h: -(2n ** 63n), uh: 2n ** 64n - 1n },
      { ...base, d: NaN, f: Infinity, n: { k: 0, f: -Infinity } },
      {
        ...base,
        s: 'x'.repeat(16),
        o: new Uint8Array(16).fill(255),
        ia: [1, 2, 3, 4],
        pts: [base.pts[0] ?? { x: 1, y: 2 }, { x: 3, y: 4 }, { x: 5, y: 6 }],
      },
    ];
    const bytes = edge.map((v) => xdrEncode(gen.xdr_everything, v));
    const out = await runOracle(bytes.map(hex));
    edge.forEach((v, k) => {
      expect(out[2 * k]).toBe(dump(v));
      expect(out[2 * k + 1]).toBe(hex(bytes[k]!));
    });
  }, 60_000);

  it('bytes C refuses, we refuse (a string and an opaque over their bounds, short data); an undeclared enum value or a bool of 2 only we refuse', async () => {
    const v = fc.sample(everything, { numRuns: 1, seed: 2 })[0]!;
    const good = xdrEncode(gen.xdr_everything, { ...v, s: 'abcd', o: new Uint8Array(0) });
    // Offsets in `good`: i 0, u 4, h 8, uh 16, b 24, c 28, d 32, f 40, s 44 (length 4, 'abcd'), o 52 (length 0).
    const patch = (at: number, word: number): Uint8Array => {
      const b = good.slice();
      new DataView(b.buffer).setUint32(at, word);
      return b;
    };
    const hostile = [
      patch(44, 17), // s: 17 bytes over name<16>
      patch(52, 17), // o: 17 bytes over opaque<16>
      good.subarray(0, good.length - 4), // the last field missing
      patch(28, 2), // c: not a color (rpcgen's xdr_enum does not check)
      patch(24, 2), // b: not a bool (libtirpc's xdr_bool takes any non-zero as TRUE)
    ];
    const out = await runOracle(hostile.map(hex));
    for (const [k, b] of hostile.entries()) {
      expect(out[2 * k] === 'ERR', `hostile ${k}`).toBe(k < 3);
      expect(() => xdrDecode(gen.xdr_everything, b), `hostile ${k}`).toThrow(XdrError);
    }
    expect(() => xdrDecode(gen.xdr_everything, hostile[3]!)).toThrow(expect.objectContaining({ code: 'ERR_XDR_INVALID' }));
  }, 60_000);
});

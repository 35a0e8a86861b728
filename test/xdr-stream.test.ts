// XdrWriter / XdrReader: RFC 4506's primitive items, big-endian and padded,
// every length and count bounded by its declared bound and by the bytes left.
import { describe, expect, it } from 'vitest';

import { XDR_DEFAULT_MAX_DEPTH, XDR_WRITER_MAX_DEPTH, XdrReader, XdrWriter } from '../lib/index.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const code = (c: string) => expect.objectContaining({ name: 'XdrError', code: c });

describe('XdrWriter', () => {
  it('writes each primitive big-endian', () => {
    const w = new XdrWriter(16);
    w.int(-2).uint(0xdeadbeef).hyper(-1n).uhyper(0x0102030405060708n).bool(true).float(1.5).double(-2);
    expect(Buffer.from(w.finish()).toString('hex')).toBe(
      'fffffffe' + 'deadbeef' + 'ffffffffffffffff' + '0102030405060708' + '00000001' + '3fc00000' + 'c000000000000000',
    );
  });

  it('grows past its initial size without losing bytes (every primitive across a growth)', () => {
    for (let pre = 0; pre < 40; pre += 4) {
      const w = new XdrWriter(16);
      for (let i = 0; i < pre / 4; i++) w.int(i);
      w.hyper(0x1122334455667788n).double(1).int(7).raw(new Uint8Array(24).fill(9)).string('abcdefghijklmnopq');
      const r = new XdrReader(w.finish());
      for (let i = 0; i < pre / 4; i++) expect(r.int()).toBe(i);
      expect(r.hyper()).toBe(0x1122334455667788n);
      expect(r.double()).toBe(1);
      expect(r.int()).toBe(7);
      expect([...r.opaqueFixed(24)]).toEqual(new Array(24).fill(9));
      expect(r.string()).toBe('abcdefghijklmnopq');
      r.done();
    }
  });

  it('pads opaque data and strings with zeros to a multiple of four', () => {
    const w = new XdrWriter();
    w.opaque(bytes(1, 2, 3, 4, 5))
      .string('ab')
      .opaqueFixed(bytes(7), 1);
    expect(Buffer.from(w.finish()).toString('hex')).toBe('00000005' + '0102030405000000' + '00000002' + '61620000' + '07000000');
  });

  it('refuses values out of range and over their bounds (ERR_XDR_RANGE)', () => {
    const w = new XdrWriter();
    expect(() => w.int(2 ** 31)).toThrow(code('ERR_XDR_RANGE'));
    expect(() => w.int(1.5)).toThrow(code('ERR_XDR_RANGE'));
    expect(() => w.uint(-1)).toThrow(code('ERR_XDR_RANGE'));
    expect(() => w.hyper(2n ** 63n)).toThrow(code('ERR_XDR_RANGE'));
    expect(() => w.uhyper(-1n)).toThrow(code('ERR_XDR_RANGE'));
    expect(() => w.string('abcdef', 5)).toThrow(code('ERR_XDR_RANGE'));
    expect(() => w.opaqueFixed(bytes(1, 2), 3)).toThrow(code('ERR_XDR_RANGE'));
    expect(() => w.raw(bytes(1, 2))).toThrow(code('ERR_XDR_RANGE'));
    expect(w.length).toBe(0);
  });

  it('bounds nesting (a cycle in a value is an error, not a stack overflow)', () => {
    const w = new XdrWriter();
    for (let i = 0; i < XDR_WRITER_MAX_DEPTH; i++) w.enter();
    expect(() => w.enter()).toThrow(code('ERR_XDR_RANGE'));
    w.reset();
    w.enter();
  });
});

describe('XdrReader', () => {
  it('reads what the writer wrote', () => {
    const w = new XdrWriter();
    w.int(-5)
      .uint(5)
      .hyper(-(2n ** 63n))
      .uhyper(2n ** 64n - 1n)
      .bool(false)
      .float(0.25)
      .double(Math.PI)
      .string('héllo', 10)
      .opaque(bytes(9));
    const r = new XdrReader(w.finish());
    expect([r.int(), r.uint(), r.hyper(), r.uhyper(), r.bool(), r.float(), r.double(), r.string(10), [...r.opaque()]]).toEqual([
      -5,
      5,
      -(2n ** 63n),
      2n ** 64n - 1n,
      false,
      0.25,
      Math.PI,
      'héllo',
      [9],
    ]);
    r.done();
  });

  it('refuses short data (ERR_XDR_SHORT), at every cut of a message', () => {
    const w = new XdrWriter();
    w.int(1).hyper(2n).string('abcde');
    const all = w.finish();
    for (let n = 0; n < all.length; n++) {
      const r = new XdrReader(all.subarray(0, n));
      expect(() => {
        r.int();
        r.hyper();
        r.string();
      }).toThrow(code('ERR_XDR_SHORT'));
    }
  });

  it('refuses non-canonical bytes (ERR_XDR_INVALID): a bool of 2, non-zero padding, bad UTF-8, trailing bytes', () => {
    expect(() => new XdrReader(bytes(0, 0, 0, 2)).bool()).toThrow(code('ERR_XDR_INVALID'));
    expect(() => new XdrReader(bytes(0, 0, 0, 1, 7, 0, 0, 1)).opaque()).toThrow(code('ERR_XDR_INVALID'));
    expect(() => new XdrReader(bytes(0, 0, 0, 2, 0xc3, 0x28, 0, 0)).string()).toThrow(code('ERR_XDR_INVALID'));
    const r = new XdrReader(bytes(0, 0, 0, 1, 0, 0, 0, 0));
    r.int();
    expect(() => r.done()).toThrow(code('ERR_XDR_INVALID'));
  });

  it('hostile lengths and counts: over the bound is ERR_XDR_LIMIT, over the bytes left ERR_XDR_SHORT, before any allocation', () => {
    const huge = bytes(0xff, 0xff, 0xff, 0xff);
    expect(() => new XdrReader(huge).opaque(1024)).toThrow(code('ERR_XDR_LIMIT'));
    expect(() => new XdrReader(huge).string(255)).toThrow(code('ERR_XDR_LIMIT'));
    expect(() => new XdrReader(huge).opaque()).toThrow(code('ERR_XDR_SHORT'));
    expect(() => new XdrReader(huge).count()).toThrow(code('ERR_XDR_SHORT'));
    expect(() => new XdrReader(huge).count(10)).toThrow(code('ERR_XDR_LIMIT'));
    // 3 elements of at least 8 bytes cannot fit in the 20 bytes left.
    expect(() => new XdrReader(new Uint8Array([0, 0, 0, 3, ...new Array(20).fill(0)])).count(100, 8)).toThrow(code('ERR_XDR_SHORT'));
    expect(new XdrReader(new Uint8Array([0, 0, 0, 3, ...new Array(24).fill(0)])).count(100, 8)).toBe(3);
  });

  it('bounds nesting at maxDepth', () => {
    const r = new XdrReader(new Uint8Array(0));
    for (let i = 0; i < XDR_DEFAULT_MAX_DEPTH; i++) r.enter();
    expect(() => r.enter()).toThrow(code('ERR_XDR_LIMIT'));
    const shallow = new XdrReader(new Uint8Array(0), { maxDepth: 2 });
    shallow.enter();
    shallow.enter();
    expect(() => shallow.enter()).toThrow(code('ERR_XDR_LIMIT'));
  });

  it('reads opaque data as a view of the message, from any offset of a larger buffer', () => {
    const backing = new Uint8Array(64);
    backing.set([0, 0, 0, 3, 1, 2, 3, 0], 12);
    const r = new XdrReader(backing.subarray(12, 20));
    const v = r.opaque();
    expect([...v]).toEqual([1, 2, 3]);
    expect(v.buffer).toBe(backing.buffer);
    r.done();
  });
});

/**
 * A small seeded pseudo-random generator for fault injection: sfc32 (Chris
 * Doty-Humphrey's Small Fast Counter), seeded through splitmix32 from a
 * 32-bit seed and a stream name. Written here rather than taken from a
 * package so that a seed replays the same faults forever: the sequence is
 * part of the replay contract, and no dependency update can change it.
 * Not for cryptography.
 * @module
 */
import { randomInt } from 'node:crypto';

import { validateInteger, validateString } from '../../internal/validators.js';

/** FNV-1a over the UTF-16 code units of `s`. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A deterministic stream of numbers from `(seed, stream)`: the same pair gives the same numbers on every platform. */
export class SeededRandom {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number, stream = '') {
    validateInteger(seed, 'seed', 0, 0xffffffff);
    validateString(stream, 'stream');
    let x = (seed ^ hash(stream)) >>> 0;
    const split = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = split();
    this.#b = split();
    this.#c = split();
    this.#d = split();
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** The next 32-bit unsigned integer. */
  uint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A number in [0, 1). */
  float(): number {
    return this.uint32() / 4294967296;
  }

  /** An integer in [min, max] (both included). */
  int(min: number, max: number): number {
    return min + Math.floor(this.float() * (max - min + 1));
  }
}

/**
 * The seed to use: `process.env[name]` when set (to replay a failing run),
 * else a fresh random one. Print it with the failure so the run can be replayed.
 */
export function seedFromEnv(name = 'POSIX_IPC_FAULT_SEED'): number {
  const text = process.env[name];
  if (text === undefined || text === '') return randomInt(0, 0xffffffff);
  const seed = Number(text);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new RangeError(`The ${name} variable must be an integer 0 to 4294967295. Received ${text}`);
  return seed;
}

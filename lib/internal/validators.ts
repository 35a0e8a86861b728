/**
 * Argument validation shared by every module: each check throws a
 * `TypeError` or `RangeError` naming the argument, like Node's own
 * validators, and returns the value typed.
 * @internal
 * @module
 */

/** @internal */
export function validateInteger(value: unknown, name: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number') {
    throw new TypeError(`The "${name}" argument must be of type number. Received ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`The value of "${name}" is out of range. It must be an integer >= ${min} and <= ${max}. Received ${value}`);
  }
  return value;
}

/** @internal */
export function validateFd(value: unknown, name = 'fd'): number {
  return validateInteger(value, name, 0, 2 ** 31 - 1);
}

/** @internal */
export function validateString(value: unknown, name: string): string {
  if (typeof value !== 'string') {
    throw new TypeError(`The "${name}" argument must be of type string. Received ${describe(value)}`);
  }
  if (value.includes('\0')) throw new TypeError(`The "${name}" argument must not contain null bytes`);
  return value;
}

/** @internal */
export function validateBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') {
    throw new TypeError(`The "${name}" argument must be of type boolean. Received ${describe(value)}`);
  }
  return value;
}

/** @internal */
export function validateObject(value: unknown, name: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`The "${name}" argument must be of type object. Received ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

/** Validates an optional options object; `undefined` becomes `{}`. @internal */
export function validateOptions(value: unknown, name = 'options'): Record<string, unknown> {
  return value === undefined ? {} : validateObject(value, name);
}

/** A timeout in milliseconds: a finite number >= 0, or Infinity / undefined for none. @internal */
export function validateTimeout(value: unknown, name = 'timeoutMs'): number {
  if (value === undefined) return Infinity;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`The "${name}" option must be of type number. Received ${describe(value)}`);
  }
  if (value < 0) throw new RangeError(`The value of "${name}" is out of range. It must be >= 0. Received ${value}`);
  return value;
}

/** @internal */
export function validateMode(value: unknown, name = 'mode'): number {
  return validateInteger(value, name, 0, 0o7777);
}

/** @internal */
export function validateAbortSignal(value: unknown, name = 'signal'): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) {
    throw new TypeError(`The "${name}" option must be an AbortSignal. Received ${describe(value)}`);
  }
  return value;
}

/** An optional callback: a function, or undefined. @internal */
export function validateFunction<F extends (...args: never[]) => unknown>(value: unknown, name: string): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new TypeError(`The "${name}" option must be a function. Received ${describe(value)}`);
  return value as F;
}

/** @internal */
export function validateBytes(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`The "${name}" argument must be a Uint8Array or Buffer. Received ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${(value as { name?: string }).name ?? ''}`;
  if (typeof value === 'object') return `an instance of ${(value as object).constructor?.name ?? 'Object'}`;
  if (typeof value === 'string') return `type string ('${value.length > 28 ? value.slice(0, 25) + '...' : value}')`;
  return `type ${typeof value} (${String(value)})`;
}

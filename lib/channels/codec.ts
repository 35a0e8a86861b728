/**
 * Codecs turn messages into bytes and back.
 * @module
 */
import { deserialize, serialize } from 'node:v8';

/**
 * How a channel turns a message of type `T` into bytes and back.
 * `decode` receives a view that is only valid during the call: copy what you
 * keep (the built-in codecs do, except {@link codecs.bytesView}).
 */
export interface Codec<T> {
  readonly name: string;
  /**
   * True when `decode` keeps a view of the bytes instead of copying them (as
   * {@link codecs.bytesView} does): the channel then keeps a received
   * message's memory valid until the next receive call on that receiver.
   */
  readonly zeroCopy?: boolean;
  encode(message: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

function expectBytes(message: unknown): Uint8Array {
  if (!(message instanceof Uint8Array)) {
    throw new TypeError(`The "message" argument must be a Uint8Array or Buffer for the bytes codec`);
  }
  return message;
}

/** The built-in codecs. */
export const codecs = {
  /** Raw bytes; each received message is a fresh copy. */
  bytes: {
    name: 'bytes',
    encode: expectBytes,
    decode: (bytes: Uint8Array): Uint8Array => bytes.slice(),
  } satisfies Codec<Uint8Array> as Codec<Uint8Array>,
  /**
   * Raw bytes, zero-copy: a received message is a view into the channel's own
   * memory, valid only until the next receive on that receiver. Copy it to
   * keep it. No allocation per message beyond the view object.
   */
  bytesView: {
    name: 'bytesView',
    zeroCopy: true,
    encode: expectBytes,
    decode: (bytes: Uint8Array): Uint8Array => bytes,
  } satisfies Codec<Uint8Array> as Codec<Uint8Array>,
  /** UTF-8 strings. An invalid sequence received is a `TypeError`. */
  utf8: {
    name: 'utf8',
    encode: (message: string): Uint8Array => {
      if (typeof message !== 'string') throw new TypeError('The "message" argument must be a string for the utf8 codec');
      return Buffer.from(message, 'utf8');
    },
    decode: (bytes: Uint8Array): string => utf8Decoder.decode(bytes),
  } satisfies Codec<string> as Codec<string>,
  /** JSON values (`JSON.stringify`/`JSON.parse`). */
  json: {
    name: 'json',
    encode: (message: unknown): Uint8Array => {
      const text = JSON.stringify(message);
      if (text === undefined) throw new TypeError('The "message" argument is not representable as JSON');
      return Buffer.from(text, 'utf8');
    },
    decode: (bytes: Uint8Array): unknown => JSON.parse(utf8Decoder.decode(bytes)),
  } satisfies Codec<unknown> as Codec<unknown>,
  /** Anything the structured clone algorithm takes (Maps, Dates, typed arrays, ...), via `node:v8`. */
  structuredClone: {
    name: 'structuredClone',
    encode: (message: unknown): Uint8Array => serialize(message),
    decode: (bytes: Uint8Array): unknown => deserialize(bytes),
  } satisfies Codec<unknown> as Codec<unknown>,
};

/** Makes a codec from two functions, checking them once. */
export function defineCodec<T>(name: string, encode: (message: T) => Uint8Array, decode: (bytes: Uint8Array) => T): Codec<T> {
  if (typeof name !== 'string') throw new TypeError('The "name" argument must be of type string');
  if (typeof encode !== 'function') throw new TypeError('The "encode" argument must be a function');
  if (typeof decode !== 'function') throw new TypeError('The "decode" argument must be a function');
  return {
    name,
    encode(message: T): Uint8Array {
      const bytes = encode(message);
      if (!(bytes instanceof Uint8Array)) throw new TypeError(`Codec "${name}" encode() must return a Uint8Array`);
      return bytes;
    },
    decode,
  };
}

/**
 * Checks a `codec` option for code above the channels: `undefined` is
 * {@link codecs.bytes}; anything without `encode` and `decode` is a `TypeError`.
 */
export function validateCodec<T>(value: unknown): Codec<T> {
  if (value === undefined) return codecs.bytes as unknown as Codec<T>;
  const c = value as Partial<Codec<T>>;
  if (value === null || typeof value !== 'object' || typeof c.encode !== 'function' || typeof c.decode !== 'function') {
    throw new TypeError('The "options.codec" option must be a codec: an object with encode() and decode()');
  }
  return value as Codec<T>;
}

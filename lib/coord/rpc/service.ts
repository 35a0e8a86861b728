/**
 * A service defined once in TypeScript: its procedures' schemas
 * (`@sinclair/typebox`), from which the client stub's and the handlers'
 * types are inferred and the server's validators compiled.
 * @module
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';

import { validateInteger, validateObject, validateString } from '../../internal/validators.js';

/** A unary procedure: one argument object in, one result out. */
export interface UnaryProcedure<A extends TSchema = TSchema, R extends TSchema = TSchema> {
  readonly args: A;
  readonly result: R;
  /** Running it twice does no harm: the client may retry it after a reconnect even without at-most-once. */
  readonly idempotent?: boolean;
  readonly stream?: undefined;
}

/** A server-streaming procedure: one argument object in, a stream of `item`s out. */
export interface ServerStreamProcedure<A extends TSchema = TSchema, I extends TSchema = TSchema> {
  readonly args: A;
  readonly stream: 'server';
  readonly item: I;
  readonly idempotent?: boolean;
}

/** A client-streaming procedure: arguments, then a stream of `item`s in, one result out. */
export interface ClientStreamProcedure<A extends TSchema = TSchema, I extends TSchema = TSchema, R extends TSchema = TSchema> {
  /** Optional: the arguments sent with the call, before the items (default: none, `undefined`). */
  readonly args?: A;
  readonly stream: 'client';
  readonly item: I;
  readonly result: R;
  readonly idempotent?: boolean;
}

/** Any procedure of a service. */
export type Procedure = UnaryProcedure | ServerStreamProcedure | ClientStreamProcedure;

/** What {@link defineService} takes. */
export interface ServiceSpec<P extends Record<string, Procedure>> {
  /** The service's name (what the hello names): 1 to 255 bytes. */
  readonly name: string;
  /** Its version, a positive integer (up to 2^32 - 1). */
  readonly version: number;
  readonly procedures: P;
}

/** A compiled procedure: its index on the wire and its validators. */
export interface CompiledProcedure {
  readonly name: string;
  readonly index: number;
  readonly kind: 'unary' | 'server' | 'client';
  readonly idempotent: boolean;
  readonly args: TypeCheck<TSchema> | undefined;
  readonly item: TypeCheck<TSchema> | undefined;
  readonly result: TypeCheck<TSchema> | undefined;
}

/** A service: the spec, plus its procedures compiled (validators built once, indexes by sorted name). */
export interface Service<P extends Record<string, Procedure> = Record<string, Procedure>> extends ServiceSpec<P> {
  /** The procedures by wire index (sorted by name, so both sides agree on the same definition). */
  readonly compiled: readonly CompiledProcedure[];
  readonly byName: ReadonlyMap<string, CompiledProcedure>;
}

/** The largest procedure count of a service (its index travels in 16 bits). */
export const RPC_MAX_PROCEDURES = 65_535;

type ArgsOf<P> = P extends { args: infer A extends TSchema } ? Static<A> : undefined;

/** What a handler sees besides its arguments. */
export interface CallContext<Peer = unknown> {
  /** The procedure called. */
  readonly procedure: string;
  /** Aborted when the client cancels, its deadline passes, or its connection is gone. */
  readonly signal: AbortSignal;
  /** The deadline as this host's `Date.now()` milliseconds, or `undefined` for none. */
  readonly deadline: number | undefined;
  /**
   * The authenticated peer, as the channel gave it: `{ pid, uid, gid }`
   * over UNIX sockets and shared memory, a `TlsPeer` over TLS, an address
   * (not authenticated) over TCP; `undefined` over a duplex without one.
   */
  readonly peer: Peer;
  /** The client's at-most-once id (32 hex digits), or `undefined` when it does not deduplicate. */
  readonly clientId: string | undefined;
}

/** The handler of one procedure, typed by its schemas. */
export type HandlerOf<P> = P extends { stream: 'server'; item: infer I extends TSchema }
  ? (args: ArgsOf<P>, ctx: CallContext) => AsyncIterable<Static<I>> | Iterable<Static<I>>
  : P extends { stream: 'client'; item: infer I extends TSchema; result: infer R extends TSchema }
    ? (items: AsyncIterable<Static<I>>, args: ArgsOf<P>, ctx: CallContext) => Static<R> | Promise<Static<R>>
    : P extends { result: infer R extends TSchema }
      ? (args: ArgsOf<P>, ctx: CallContext) => Static<R> | Promise<Static<R>>
      : never;

/** The handlers of every procedure of a service. */
export type Handlers<S extends Service> = { [K in keyof S['procedures']]: HandlerOf<S['procedures'][K]> };

/** Options of one call on a client stub. */
export interface RpcCallOptions {
  /** Cancels the call: the server's handler sees `ctx.signal` aborted; the call rejects `ERR_RPC_CANCELLED`. */
  signal?: AbortSignal;
  /** The call's deadline, in milliseconds from now (it travels relative, so clocks need not agree). */
  timeoutMs?: number;
}

/** The client stub's method for one procedure, typed by its schemas. */
export type StubOf<P> = P extends { stream: 'server'; item: infer I extends TSchema }
  ? (args: ArgsOf<P>, options?: RpcCallOptions) => AsyncIterable<Static<I>>
  : P extends { stream: 'client'; item: infer I extends TSchema; result: infer R extends TSchema }
    ? (items: AsyncIterable<Static<I>> | Iterable<Static<I>>, args?: ArgsOf<P>, options?: RpcCallOptions) => Promise<Static<R>>
    : P extends { result: infer R extends TSchema }
      ? (args: ArgsOf<P>, options?: RpcCallOptions) => Promise<Static<R>>
      : never;

/** The typed methods of a client of service `S`. */
export type Stub<S extends Service> = { [K in keyof S['procedures']]: StubOf<S['procedures'][K]> };

/**
 * Defines a service: its name, version and procedures. Validators are
 * compiled here, once. Throws a `TypeError` for a malformed spec.
 *
 * @example
 * const KvStore = defineService({
 *   name: 'kvstore',
 *   version: 1,
 *   procedures: {
 *     get: { args: T.Object({ key: T.String() }), result: T.Union([T.String(), T.Null()]), idempotent: true },
 *     watch: { args: T.Object({ prefix: T.String() }), stream: 'server', item: T.String() },
 *     load: { stream: 'client', item: T.Object({ key: T.String(), value: T.String() }), result: T.Integer() },
 *   },
 * });
 */
export function defineService<const P extends Record<string, Procedure>>(spec: ServiceSpec<P>): Service<P> {
  const s = validateObject(spec, 'spec');
  const name = validateString(s.name, 'spec.name');
  if (name.length === 0 || Buffer.byteLength(name) > 255) throw new RangeError(`The "spec.name" must be 1 to 255 bytes`);
  const version = validateInteger(s.version, 'spec.version', 1, 0xffff_ffff);
  const procs = validateObject(s.procedures, 'spec.procedures');
  const names = Object.keys(procs).sort();
  if (names.length > RPC_MAX_PROCEDURES) throw new RangeError(`A service has at most ${RPC_MAX_PROCEDURES} procedures`);
  const compiled = names.map((n, index): CompiledProcedure => {
    const p = validateObject(procs[n], `spec.procedures.${n}`) as unknown as Procedure;
    const kind = p.stream === undefined ? 'unary' : p.stream;
    if (kind !== 'unary' && kind !== 'server' && kind !== 'client') {
      throw new TypeError(`The "spec.procedures.${n}.stream" must be 'server', 'client' or undefined`);
    }
    const need = (key: 'args' | 'item' | 'result', required: boolean): TypeCheck<TSchema> | undefined => {
      const schema = (p as unknown as Record<string, unknown>)[key];
      if (schema === undefined) {
        if (required) throw new TypeError(`The "spec.procedures.${n}.${key}" schema is required`);
        return undefined;
      }
      validateObject(schema, `spec.procedures.${n}.${key}`);
      return TypeCompiler.Compile(schema as TSchema);
    };
    return {
      name: n,
      index,
      kind,
      idempotent: p.idempotent === true,
      args: need('args', kind !== 'client'),
      item: need('item', kind !== 'unary'),
      result: need('result', kind !== 'server'),
    };
  });
  return { name, version, procedures: spec.procedures, compiled, byName: new Map(compiled.map((c) => [c.name, c])) };
}

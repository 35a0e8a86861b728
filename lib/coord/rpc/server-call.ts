/**
 * One call on the server: its context (what the handler sees as `ctx`), its
 * deadline, its at-most-once bookkeeping and its streams' credit.
 * @module
 */
import { RpcError } from '../../errors.js';
import type { Timed } from './deadlines.js';
import type { ServerConnection } from './server.js';
import type { CallContext, CompiledProcedure } from './service.js';
import { encodeFrame, errorBody, Frame, type Header } from './wire.js';

type AnyHandler = (...args: unknown[]) => unknown;

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

/** @internal */
export class ServerCall implements CallContext, Timed {
  readonly id: number;
  readonly procIndex: number;
  readonly proc: CompiledProcedure | undefined;
  readonly conn: ServerConnection;
  /** The header's sequence number (0: not deduplicated). */
  readonly seq: number;
  deadlineAt = 0;
  heapIndex = -1;
  deadline: number | undefined;
  #seq = 0;
  #ac: AbortController | undefined;
  #reason: RpcError | undefined;
  #silent = false;
  #released = false;
  #credit = 0;
  #creditWake: (() => void) | undefined;
  #items: unknown[] | undefined;
  #itemsEnded = false;
  #itemWake: (() => void) | undefined;
  #allowance = 0;
  #consumed = 0;

  constructor(conn: ServerConnection, h: Header, proc: CompiledProcedure | undefined) {
    this.conn = conn;
    this.id = h.id;
    this.procIndex = h.proc;
    this.seq = h.seq;
    this.proc = proc;
  }

  get procedure(): string {
    return this.proc?.name ?? `#${this.procIndex}`;
  }

  get signal(): AbortSignal {
    if (this.#ac === undefined) {
      this.#ac = new AbortController();
      if (this.#reason !== undefined) this.#ac.abort(this.#reason);
    }
    return this.#ac.signal;
  }

  get peer(): unknown {
    return this.conn.peer;
  }

  get clientId(): string | undefined {
    return this.conn.clientId;
  }

  /** Runs the call (arguments decoded): authorization, validation, deduplication, the handler. */
  start(args: unknown, seq: number, ack: number, timeout: number): void {
    const cfg = this.conn.server.cfg;
    if (timeout > 0) {
      this.deadlineAt = performance.now() + timeout;
      this.deadline = Date.now() + timeout;
      cfg.deadlines.add(this);
    }
    const proc = this.proc!;
    if (proc.kind === 'server') this.#credit = Math.min(ack, 1 << 16);
    if (proc.kind === 'client') {
      this.#items = [];
      this.#allowance = cfg.window;
    }
    if (cfg.authorize === undefined) return this.#validated(args, seq, ack);
    let ok: boolean | Promise<boolean>;
    try {
      ok = cfg.authorize(this, proc.name);
    } catch {
      ok = false;
    }
    void Promise.resolve(ok).then(
      (yes) =>
        yes === true
          ? this.#validated(args, seq, ack)
          : this.fail(new RpcError('ERR_RPC_UNAUTHORIZED', `Not authorized to call '${proc.name}'`)),
      () => this.fail(new RpcError('ERR_RPC_UNAUTHORIZED', `Not authorized to call '${proc.name}'`)),
    );
  }

  #validated(args: unknown, seq: number, ack: number): void {
    if (this.#silent) return this.#release();
    const proc = this.proc!;
    if (proc.args !== undefined && !proc.args.Check(args)) {
      const e = proc.args.Errors(args).First();
      return this.fail(
        new RpcError('ERR_RPC_BAD_ARGUMENTS', `Bad arguments to '${proc.name}': ${e ? `${e.path || '/'} ${e.message}` : 'invalid'}`),
      );
    }
    const id = this.conn.clientId;
    if (proc.kind !== 'unary' || seq === 0 || id === undefined) return this.#run(args);
    const cache = this.conn.cache;
    const b = cache.begin(id, seq, ack);
    this.#seq = seq;
    switch (b.kind) {
      case 'run':
        if (!cache.persistent) return this.#run(args);
        void cache.durable().then(
          () => this.#run(args),
          (err: unknown) => this.#persistFailed(err),
        );
        return;
      case 'full':
        this.#seq = 0;
        return this.fail(new RpcError('ERR_RPC_SYSTEM', 'The reply cache is full of clients that may still retry: try again later'));
      case 'duplicate':
        this.#seq = 0;
        return this.fail(new RpcError('ERR_RPC_DUPLICATE', `Call ${seq} of this client was already handled and its reply is gone`));
      case 'replay':
        this.#seq = 0;
        return this.#sendDurable(this.#patched(b.frame));
      case 'wait':
        this.#seq = 0;
        void b.done.then((f) =>
          f === undefined
            ? this.fail(new RpcError('ERR_RPC_DUPLICATE', `Call ${seq}'s reply is gone`))
            : this.#sendDurable(this.#patched(f)),
        );
    }
  }

  /** A duplicate's recorded reply: sent once it is on disk, as the original's is (if the file fails, both get ERR_RPC_SYSTEM). */
  #sendDurable(frame: Buffer): void {
    const cache = this.conn.cache;
    if (!cache.persistent) return this.#send(frame);
    void cache.durable().then(
      () => this.#send(frame),
      (err: unknown) => this.#persistFailed(err),
    );
  }

  #patched(frame: Buffer): Buffer {
    const copy = Buffer.from(frame);
    copy.writeUInt32LE(this.id, 4);
    return copy;
  }

  #run(args: unknown): void {
    const proc = this.proc!;
    const handler = this.conn.server.cfg.handlers[proc.name] as AnyHandler;
    let r: unknown;
    try {
      r = proc.kind === 'client' ? handler(this.#iterable(), args, this) : handler(args, this);
    } catch (err) {
      return this.#outcome(Frame.ERROR, errorBody(err));
    }
    if (proc.kind === 'server') {
      void this.#produce(r);
      return;
    }
    if (isThenable(r)) {
      r.then(
        (v) => this.#outcome(Frame.REPLY, v),
        (err) => this.#outcome(Frame.ERROR, errorBody(err)),
      );
    } else this.#outcome(Frame.REPLY, r);
  }

  /** The handler's outcome: recorded (at-most-once), then sent unless the call is silent. */
  #outcome(type: number, body: unknown): void {
    let frame: Buffer;
    try {
      frame = encodeFrame(type, this.procIndex, this.id, 0, 0, 0, body);
    } catch (err) {
      frame = encodeFrame(
        Frame.ERROR,
        this.procIndex,
        this.id,
        0,
        0,
        0,
        errorBody(new RpcError('ERR_RPC_SYSTEM', `Cannot encode the reply: ${(err as Error).message}`)),
      );
    }
    const seq = this.#seq;
    if (seq !== 0) {
      const cache = this.conn.cache;
      cache.finish(this.conn.clientId!, seq, frame);
      if (cache.persistent) {
        void cache.durable().then(
          () => this.#send(frame),
          (err: unknown) => this.#persistFailed(err),
        );
        return;
      }
    }
    this.#send(frame);
  }

  /** The reply cache's file failed: the call is answered ERR_RPC_SYSTEM (it is not recorded). */
  #persistFailed(err: unknown): void {
    const why = new RpcError('ERR_RPC_SYSTEM', `The reply cache cannot be written: ${(err as Error).message}`);
    const frame = encodeFrame(Frame.ERROR, this.procIndex, this.id, 0, 0, 0, errorBody(why));
    if (this.#seq !== 0) this.conn.cache.finish(this.conn.clientId!, this.#seq, frame);
    this.#seq = 0;
    this.#send(frame);
  }

  #send(frame: Buffer): void {
    if (!this.#silent && !this.conn.ended) this.conn.out.push(frame);
    this.#release();
  }

  /** Answers with an error (not recorded for at-most-once unless the handler ran). */
  fail(err: unknown): void {
    if (this.#seq !== 0) return this.#outcome(Frame.ERROR, errorBody(err));
    this.#send(encodeFrame(Frame.ERROR, this.procIndex, this.id, 0, 0, 0, errorBody(err)));
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.conn.server.cfg.deadlines.remove(this);
    this.conn.release(this);
  }

  #abort(reason: RpcError): void {
    if (this.#reason !== undefined) return;
    this.#silent = true;
    this.#reason = reason;
    this.#ac?.abort(reason);
    this.#creditWake?.();
    this.#itemWake?.();
    this.conn.server.cfg.deadlines.remove(this);
  }

  /** The client cancelled: the handler's signal aborts; no reply. */
  cancel(): void {
    this.#abort(new RpcError('ERR_RPC_CANCELLED', `The client cancelled '${this.procedure}'`));
  }

  /** The deadline passed: the handler's signal aborts; no reply (the client has given up). */
  expire(): void {
    this.#abort(new RpcError('ERR_RPC_DEADLINE_EXCEEDED', `'${this.procedure}' passed its deadline`));
  }

  /** The connection is gone. */
  gone(): void {
    this.#abort(new RpcError('ERR_RPC_CANCELLED', `The client of '${this.procedure}' is gone`));
  }

  /** Server stream: the client granted `n` more items. */
  credit(n: number): void {
    this.#credit = Math.min(this.#credit + n, 1 << 20);
    const w = this.#creditWake;
    this.#creditWake = undefined;
    w?.();
  }

  async #produce(iterable: unknown): Promise<void> {
    const proc = this.proc!;
    try {
      if (iterable === null || typeof iterable !== 'object' || !(Symbol.asyncIterator in iterable || Symbol.iterator in iterable)) {
        throw new RpcError('ERR_RPC_SYSTEM', `The '${proc.name}' handler did not return an iterable`);
      }
      for await (const item of iterable as AsyncIterable<unknown>) {
        while (this.#credit === 0 && !this.#silent) await new Promise<void>((r) => (this.#creditWake = r));
        if (this.#silent) break;
        this.#credit--;
        this.conn.out.push(encodeFrame(Frame.ITEM, this.procIndex, this.id, 0, 0, 0, item));
      }
      if (!this.#silent) this.conn.out.push(encodeFrame(Frame.END, this.procIndex, this.id, 0, 0, 0));
      this.#release();
    } catch (err) {
      this.#send(encodeFrame(Frame.ERROR, this.procIndex, this.id, 0, 0, 0, errorBody(err)));
    }
  }

  /** Client stream: one item arrived. */
  item(value: unknown): void {
    if (this.#items === undefined || this.#itemsEnded) throw new RpcError('ERR_RPC_PROTOCOL', 'A stream item for a call that takes none');
    if (--this.#allowance < 0) throw new RpcError('ERR_RPC_PROTOCOL', 'A stream item beyond the credit granted');
    this.#items.push(value);
    const w = this.#itemWake;
    this.#itemWake = undefined;
    w?.();
  }

  /** Client stream: the client sent its last item. */
  endItems(): void {
    this.#itemsEnded = true;
    const w = this.#itemWake;
    this.#itemWake = undefined;
    w?.();
  }

  /** What a client-streaming handler iterates (validating each item). */
  #iterable(): AsyncIterable<unknown> {
    const next = async (): Promise<IteratorResult<unknown>> => {
      const items = this.#items!;
      while (items.length === 0 && !this.#itemsEnded && !this.#silent) await new Promise<void>((r) => (this.#itemWake = r));
      if (this.#silent) throw this.#reason!;
      if (items.length === 0) return { done: true, value: undefined };
      const value = items.shift();
      const check = this.proc!.item!;
      if (!check.Check(value)) throw new RpcError('ERR_RPC_BAD_ARGUMENTS', `A bad stream item for '${this.procedure}'`);
      const window = this.conn.server.cfg.window;
      if (++this.#consumed >= Math.max(1, window >> 1)) {
        this.#allowance += this.#consumed;
        this.conn.out.push(encodeFrame(Frame.CREDIT, this.procIndex, this.id, 0, this.#consumed, 0));
        this.#consumed = 0;
      }
      return { done: false, value };
    };
    return { [Symbol.asyncIterator]: () => ({ next, return: async () => ({ done: true, value: undefined }) }) };
  }
}

/**
 * One call on the client: its promise (or stream), deadline, cancellation
 * and stream credit.
 * @module
 */
import { RpcError } from '../../errors.js';
import { validateAbortSignal, validateTimeout } from '../../internal/validators.js';
import type { RpcClient } from './client.js';
import type { Timed } from './deadlines.js';
import type { CompiledProcedure, RpcCallOptions } from './service.js';
import { decodeBody, encodeFrame, errorFromBody, Frame, type Header } from './wire.js';

/** @internal */
export type CallKind = 'unary' | 'server' | 'client';

/** @internal */
export class ClientCall implements Timed {
  readonly client: RpcClient;
  readonly kind: CallKind;
  readonly proc: CompiledProcedure;
  readonly seq: number;
  id: number;
  deadlineAt = 0;
  heapIndex = -1;
  settled = false;
  readonly promise: Promise<unknown>;
  #resolve!: (v: unknown) => void;
  #reject!: (e: unknown) => void;
  #frame: Buffer | undefined;
  #timeout = 0;
  readonly #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;
  #error: RpcError | undefined;
  readonly #items: unknown[] = [];
  #ended = false;
  #wake: (() => void) | undefined;
  #consumed = 0;
  #credit = 0;

  constructor(client: RpcClient, kind: CallKind, proc: CompiledProcedure, id: number, seq: number, options: RpcCallOptions | undefined) {
    this.client = client;
    this.kind = kind;
    this.proc = proc;
    this.id = id;
    this.seq = seq;
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    if (kind === 'server') this.promise.catch(() => undefined); // a stream reports through its iterator
    this.#credit = client.serverWindow;
    if (options === undefined) return;
    const signal = validateAbortSignal(options.signal, 'options.signal');
    if (options.timeoutMs !== undefined) {
      this.#timeout = Math.max(1, Math.ceil(validateTimeout(options.timeoutMs, 'options.timeoutMs')));
      if (this.#timeout > 0xffff_ffff) throw new RangeError('The "options.timeoutMs" is too large');
      this.deadlineAt = performance.now() + this.#timeout;
      client.deadlines.add(this);
    }
    if (signal !== undefined) {
      this.#signal = signal;
      if (signal.aborted) {
        this.settleError(new RpcError('ERR_RPC_CANCELLED', `'${proc.name}' was cancelled`, { procedure: proc.name, cause: signal.reason }));
        return;
      }
      this.#onAbort = () =>
        this.#cancel(new RpcError('ERR_RPC_CANCELLED', `'${proc.name}' was cancelled`, { procedure: proc.name, cause: signal.reason }));
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** Encodes the CALL frame (a value msgpack cannot encode fails the call). */
  encode(args: unknown, ack: number): void {
    if (this.settled) return;
    try {
      this.#frame = encodeFrame(Frame.CALL, this.proc.index, this.id, this.seq, ack, this.#timeout, args);
    } catch (err) {
      this.settleError(
        new RpcError('ERR_RPC_BAD_ARGUMENTS', `Cannot encode the arguments: ${(err as Error).message}`, { procedure: this.proc.name }),
      );
    }
  }

  send(): void {
    this.client.out.push(this.#frame!);
  }

  /** After a reconnection: the same frame (same seq) under a new call id. */
  resend(id: number): void {
    this.client.calls.delete(this.id);
    this.id = id;
    this.#frame!.writeUInt32LE(id, 4);
    this.client.calls.set(id, this);
    this.send();
  }

  /** May this call be sent again after a lost connection? */
  retryable(atMostOnce: boolean): boolean {
    return this.kind === 'unary' && (this.proc.idempotent || (atMostOnce && this.seq !== 0));
  }

  /** A frame for this call arrived. */
  frame(h: Header, bytes: Uint8Array, start: number, end: number): void {
    let body: unknown;
    try {
      body = decodeBody(bytes, start, end, 'ERR_RPC_PROTOCOL');
    } catch (err) {
      return this.settleError(err as RpcError);
    }
    switch (h.type) {
      case Frame.REPLY:
        if (this.kind === 'server')
          return this.settleError(new RpcError('ERR_RPC_PROTOCOL', 'A reply to a stream call', { procedure: this.proc.name }));
        return this.#settle(body);
      case Frame.ERROR:
        return this.settleError(errorFromBody(body, this.proc.name));
      case Frame.ITEM:
        if (this.kind !== 'server' || this.#items.length >= this.client.window) {
          return this.#cancel(new RpcError('ERR_RPC_PROTOCOL', 'A stream item beyond the credit granted', { procedure: this.proc.name }));
        }
        this.#items.push(body);
        return this.#wakeUp();
      case Frame.END:
        this.#ended = true;
        this.#settle(undefined);
        return this.#wakeUp();
      case Frame.CREDIT:
        this.#credit = Math.min(this.#credit + h.ack, 1 << 20);
        return this.#wakeUp();
    }
  }

  /** The deadline passed. */
  expire(): void {
    this.#cancel(
      new RpcError('ERR_RPC_DEADLINE_EXCEEDED', `'${this.proc.name}' passed its deadline (${this.#timeout} ms)`, {
        procedure: this.proc.name,
      }),
    );
  }

  #cancel(err: RpcError): void {
    if (this.settled) return;
    if (this.client.connected && this.#frame !== undefined)
      this.client.out.push(encodeFrame(Frame.CANCEL, this.proc.index, this.id, 0, 0, 0));
    this.settleError(err);
  }

  #settle(v: unknown): void {
    if (this.settled) return;
    this.#finish();
    this.#resolve(v);
    this.#wakeUp(); // a client-stream pump waiting for credit stops (the server answered early)
  }

  settleError(err: RpcError): void {
    if (this.settled) return;
    this.#error = err;
    this.#finish();
    this.#reject(err);
    this.#wakeUp();
  }

  #finish(): void {
    this.settled = true;
    if (this.#onAbort !== undefined) this.#signal!.removeEventListener('abort', this.#onAbort);
    this.client.done(this);
  }

  #wakeUp(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** Client stream: sends `items` as credit allows, then the end. */
  async pump(items: AsyncIterable<unknown> | Iterable<unknown>): Promise<void> {
    try {
      for await (const item of items) {
        while (this.#credit === 0 && !this.settled) await new Promise<void>((r) => (this.#wake = r));
        if (this.settled) return;
        this.#credit--;
        this.client.out.push(encodeFrame(Frame.ITEM, this.proc.index, this.id, 0, 0, 0, item));
      }
      if (!this.settled) this.client.out.push(encodeFrame(Frame.END, this.proc.index, this.id, 0, 0, 0));
    } catch (err) {
      this.#cancel(
        err instanceof RpcError
          ? err
          : new RpcError('ERR_RPC_BAD_ARGUMENTS', `The item source failed: ${(err as Error).message}`, {
              procedure: this.proc.name,
              cause: err,
            }),
      );
    }
  }

  /** Server stream: the items, granting credit as they are consumed. Breaking out cancels the call. */
  stream(): AsyncIterable<unknown> {
    const next = async (): Promise<IteratorResult<unknown>> => {
      while (this.#items.length === 0 && !this.#ended && this.#error === undefined) await new Promise<void>((r) => (this.#wake = r));
      if (this.#items.length > 0) {
        const value = this.#items.shift();
        if (++this.#consumed >= Math.max(1, this.client.window >> 1) && !this.settled && this.client.connected) {
          this.client.out.push(encodeFrame(Frame.CREDIT, this.proc.index, this.id, 0, this.#consumed, 0));
          this.#consumed = 0;
        }
        return { done: false, value };
      }
      if (this.#error !== undefined) throw this.#error;
      return { done: true, value: undefined };
    };
    const stop = async (): Promise<IteratorResult<unknown>> => {
      this.#cancel(new RpcError('ERR_RPC_CANCELLED', `The '${this.proc.name}' stream was closed`, { procedure: this.proc.name }));
      this.#items.length = 0;
      this.#error = undefined;
      this.#ended = true;
      return { done: true, value: undefined };
    };
    return { [Symbol.asyncIterator]: () => ({ next, return: stop }) };
  }
}

/**
 * The observation point of every channel end: a chain of {@link ChannelHook}s
 * that see each message as bytes. The ends keep `undefined` while no hook is
 * attached, so the hot path pays one field check and nothing else.
 * @internal
 * @module
 */
import type { ChannelHook, MessageEvent } from './types.js';

type Out = Uint8Array | null | readonly Uint8Array[];

/** A chain of hooks on one end, with its own message count. */
export class HookChain {
  readonly #hooks: ChannelHook[] = [];
  #seq = 0;

  get empty(): boolean {
    return this.#hooks.length === 0;
  }

  add(hook: ChannelHook): () => void {
    if (hook === null || typeof hook !== 'object')
      throw new TypeError('The "hook" argument must be an object with send() and/or receive()');
    for (const key of ['send', 'receive'] as const) {
      if (hook[key] !== undefined && typeof hook[key] !== 'function') throw new TypeError(`The "hook.${key}" property must be a function`);
    }
    this.#hooks.push(hook);
    return () => {
      const i = this.#hooks.indexOf(hook);
      if (i >= 0) this.#hooks.splice(i, 1);
    };
  }

  #event(direction: 'send' | 'receive', size: number): MessageEvent {
    return { direction, seq: this.#seq++, size, time: performance.timeOrigin + performance.now() };
  }

  /**
   * Runs the send hooks in attach order: the messages to send instead of
   * `bytes` (none: dropped), synchronously when every hook answered at once,
   * else as a Promise.
   */
  send(bytes: Uint8Array): Uint8Array[] | Promise<Uint8Array[]> {
    const event = this.#event('send', bytes.byteLength);
    return this.#sendFrom(0, [bytes], event);
  }

  #sendFrom(index: number, list: Uint8Array[], event: MessageEvent): Uint8Array[] | Promise<Uint8Array[]> {
    for (let i = index; i < this.#hooks.length; i++) {
      const fn = this.#hooks[i]!.send;
      if (fn === undefined) continue;
      const next: Uint8Array[] = [];
      let pending: Promise<void>[] | undefined;
      for (const b of list) {
        const out = fn.call(this.#hooks[i], b, event);
        if (isThenable(out)) {
          (pending ??= []).push(Promise.resolve(out).then((o) => void collect(o, next)));
        } else {
          collect(out, next);
        }
      }
      if (pending !== undefined) return Promise.all(pending).then(() => this.#sendFrom(i + 1, next, event));
      list = next;
    }
    return list;
  }

  /** Runs the receive hooks, last attached first: the bytes to decode, or null (dropped). */
  receive(bytes: Uint8Array): Uint8Array | null {
    const event = this.#event('receive', bytes.byteLength);
    let b: Uint8Array | null = bytes;
    for (let i = this.#hooks.length - 1; i >= 0 && b !== null; i--) {
      const fn = this.#hooks[i]!.receive;
      if (fn === undefined) continue;
      const out: unknown = fn.call(this.#hooks[i], b, event);
      if (out !== null && !(out instanceof Uint8Array)) {
        throw new TypeError('A receive hook must return a Uint8Array or null');
      }
      b = out;
    }
    return b;
  }
}

/**
 * `end.intercept(hook)` for both ends: attaches `hook` to the end's chain
 * (made on first use, through `set`) and returns the remover, which drops
 * the chain again once it is empty, so an end without hooks pays nothing.
 */
export function intercept(get: () => HookChain | undefined, set: (chain: HookChain | undefined) => void, hook: ChannelHook): () => void {
  let chain = get();
  if (chain === undefined) set((chain = new HookChain()));
  const remove = chain.add(hook);
  const mine = chain;
  return () => {
    remove();
    if (mine.empty && get() === mine) set(undefined);
  };
}

function isThenable(value: unknown): value is PromiseLike<Out> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function';
}

function collect(out: unknown, into: Uint8Array[]): void {
  if (out === null) return;
  if (out instanceof Uint8Array) {
    into.push(out);
    return;
  }
  if (Array.isArray(out) && out.every((b) => b instanceof Uint8Array)) {
    into.push(...(out as Uint8Array[]));
    return;
  }
  throw new TypeError('A send hook must return a Uint8Array, null, an array of Uint8Array, or a Promise of one');
}

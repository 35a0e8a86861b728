/**
 * The `name:` scheme of the address syntax: `connect('name:kvstore')` looks
 * the service up (this machine's registry, or the name server of
 * `name://host:port/kvstore`) and connects to the address it is registered
 * under; `listen('name:kvstore', { at: 'shm:/kv' })` listens at `at` and
 * registers the listener's url under the name for as long as it listens.
 * Defined when the coordination layer is loaded (lib/index.ts loads it).
 * @module
 */
import { connect, defineScheme, formatAddress, listen, type Address, type Duplex, type Listener } from '../channels/index.js';
import { validateAbortSignal, validateString, validateTimeout } from '../internal/validators.js';
import { NameClient } from './name-server.js';
import { registerName } from './names.js';
import { parseNameAddress, resolveName } from './resolve.js';

/** A listener with a name: its url is the `name:` address; `close()` also gives the name up. */
class NamedListener<T> implements Listener<T> {
  readonly url: string;
  readonly #inner: Listener<T>;
  readonly #release: () => void;

  constructor(url: string, inner: Listener<T>, release: () => void) {
    this.url = url;
    this.#inner = inner;
    this.#release = release;
  }

  /** Where the listener really is (`shm:/kv`, `tcp://127.0.0.1:4000`): what the name resolves to. */
  get at(): string {
    return this.#inner.url;
  }

  accept(options?: { signal?: AbortSignal }): Promise<Duplex<T>> {
    return this.#inner.accept(options);
  }

  [Symbol.asyncIterator](): AsyncIterator<Duplex<T>> {
    return this.#inner[Symbol.asyncIterator]();
  }

  close(): void {
    this.#release();
    this.#inner.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

async function listenNamed(address: Address, options: Record<string, unknown>): Promise<Listener<unknown>> {
  const text = formatAddress(address);
  const { name, server } = parseNameAddress(text);
  const { at, ...rest } = options;
  if (at === undefined) {
    throw new TypeError(
      `listen('${text}') needs options.at: the transport address to listen at, such as 'shm:/${name}' or 'tcp://0.0.0.0:0'`,
    );
  }
  const inner = await listen(validateString(at, 'options.at'), rest);
  try {
    if (server === undefined) {
      const reg = registerName(name, inner.url);
      return new NamedListener(text, inner, () => reg.unregister());
    }
    const timeoutMs = validateTimeout(rest.timeoutMs, 'options.timeoutMs');
    const signal = validateAbortSignal(rest.signal, 'options.signal');
    const client = await NameClient.connect(server, { timeoutMs: Number.isFinite(timeoutMs) ? timeoutMs : undefined, signal });
    try {
      await client.register(name, inner.url);
    } catch (err) {
      await client.close();
      throw err;
    }
    return new NamedListener(text, inner, () => void client.close());
  } catch (err) {
    inner.close();
    throw err;
  }
}

async function connectNamed(address: Address, options: Record<string, unknown>): Promise<Duplex<unknown>> {
  const target = await resolveName(formatAddress(address), {
    timeoutMs: options.timeoutMs as number | undefined,
    signal: options.signal as AbortSignal | undefined,
  });
  if (target.startsWith('name:')) {
    throw new RangeError(`The name '${formatAddress(address)}' is registered as another name ('${target}'): names are not followed`);
  }
  return connect(target, options);
}

defineScheme('name', { listen: listenNamed, connect: connectNamed });

/**
 * A transaction site's network: the {@link Mesh} (a listener and one link
 * per peer, best effort) carrying the transaction messages, and the
 * REQUEST/REPLY pairs of the key-value clients. Messages from peers are
 * checked ({@link decodeMessage}); a malformed one ends its connection.
 * @module
 */
import { TxError } from '../../errors.js';
import { Mesh, type MeshOptions, type SiteLink, type SiteStats } from '../mesh.js';
import { decodeMessage, encodeMessage, Msg, type Message } from './wire.js';

export type { SiteLink, SiteStats };

/** Options of a site (coordinator or participant). The work sent to one participant must fit `maxMessageSize`. */
export type SiteOptions = MeshOptions;

/** Where a message came from: answer on the same connection. */
export interface MessageSource {
  reply(m: Message): void;
}

type Handler = (m: Message, from: MessageSource) => void;

/** The network of one site. See the module doc. @internal */
export class Site {
  readonly #mesh: Mesh;
  readonly #requests = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: unknown) => void }>();
  #nextRequest = 1;

  private constructor(mesh: Mesh) {
    this.#mesh = mesh;
  }

  /** Listens at `options.listen`; `handler` gets every valid message from a peer (except REPLY, which settles {@link request}). */
  static async open(options: SiteOptions, handler: Handler): Promise<Site> {
    const made: { site?: Site } = {};
    const mesh = await Mesh.open(options, (bytes, from) => {
      const m = decodeMessage(bytes); // throws on a malformed message: the mesh ends the connection
      if (m.t === Msg.REPLY) {
        if (made.site !== undefined) made.site.#settle(m);
      } else handler(m, { reply: (r) => from.reply(encodeMessage(r)) });
      return true;
    });
    return (made.site = new Site(mesh));
  }

  /** The largest message this site sends or takes. */
  get maxMessageSize(): number {
    return this.#mesh.maxMessageSize;
  }

  /** Where peers reach this site. */
  get url(): string {
    return this.#mesh.url;
  }

  get stats(): SiteStats {
    return this.#mesh.stats;
  }

  /** The last accept failure, for diagnosis. */
  get lastAcceptError(): unknown {
    return this.#mesh.lastAcceptError;
  }

  /** Sends `m` to the site at `address`, connecting first if needed (best effort: see the module doc). */
  send(address: string, m: Message): void {
    this.#mesh.send(address, encodeMessage(m));
  }

  /**
   * Sends REQUEST `body` to the site at `address` and resolves with its
   * REPLY; rejects `ERR_TX_TIMEOUT` after `timeoutMs`, or with the error
   * the peer's resource manager answered (`ERR_TX_REQUEST`).
   */
  request(address: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.#mesh.closed) return Promise.reject(new TxError('ERR_TX_CLOSED', 'The site is closed'));
    const r = this.#nextRequest;
    this.#nextRequest = this.#nextRequest >= 0xffffffff ? 1 : this.#nextRequest + 1;
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#requests.delete(r);
        reject(new TxError('ERR_TX_TIMEOUT', `No reply from ${address} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done =
        <A>(f: (a: A) => void) =>
        (a: A) => {
          clearTimeout(timer);
          this.#requests.delete(r);
          f(a);
        };
      this.#requests.set(r, { resolve: done(resolve), reject: done(reject) });
      this.send(address, { t: Msg.REQUEST, x: '', r, b: body });
    });
  }

  #settle(m: Extract<Message, { t: typeof Msg.REPLY }>): void {
    const w = this.#requests.get(m.r);
    if (w === undefined) return; // late: it timed out
    if (m.e !== undefined) w.reject(new TxError('ERR_TX_REQUEST', m.e));
    else w.resolve(m.b!);
  }

  /** See {@link Mesh.turn}: the fault points named "after ...-send" wait for it, so that a kill there comes after the message left the process. */
  static turn(): Promise<void> {
    return Mesh.turn();
  }

  /** Stops listening and closes every connection; pending requests reject `ERR_TX_CLOSED`. */
  async close(): Promise<void> {
    if (this.#mesh.closed) return;
    const closing = this.#mesh.close();
    for (const w of [...this.#requests.values()]) w.reject(new TxError('ERR_TX_CLOSED', 'The site is closed'));
    await closing;
  }
}

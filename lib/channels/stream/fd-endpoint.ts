/**
 * One non-blocking descriptor shared by the ends of a channel (both ends of a
 * duplex socket use the same one): readiness from a libuv poll handle that is
 * active only while someone waits, and a reference count so the descriptor is
 * closed when the last end lets go.
 * @internal
 * @module
 */
import { native, POLL_READABLE, POLL_WRITABLE, type NativeFdPoller } from '../../internal/native.js';
import { AbortWatch } from '../../internal/waiting.js';

type Waiter = { resolve: () => void; reject: (err: Error) => void; signal: AbortSignal | undefined };

export class FdEndpoint {
  readonly fd: number;
  #poller: NativeFdPoller | undefined;
  #readers: Waiter[] = [];
  #writers: Waiter[] = [];
  #events = 0;
  #users: number;
  #closed = false;

  /** Takes ownership of `fd` (made non-blocking) for `users` channel ends. */
  constructor(fd: number, users: number) {
    this.fd = fd;
    this.#users = users;
    native.setNonBlocking(fd, true);
    // Closed by the environment's teardown if no close() comes first (a
    // terminated worker thread runs no JavaScript).
    native.ownFd(fd);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Resolves when the descriptor is readable, hung up or in error, or when
   * `signal` aborts (the caller looks again either way).
   */
  readable(signal?: AbortSignal): Promise<void> {
    return this.#wait(this.#readers, signal);
  }

  /** Resolves when the descriptor is writable, or in error, or when `signal` aborts. */
  writable(signal?: AbortSignal): Promise<void> {
    return this.#wait(this.#writers, signal);
  }

  /** Wakes the waits that used a signal when it aborts (one listener per signal, not per wait). */
  readonly #aborts = new AbortWatch((signal) => {
    const woken: Waiter[] = [];
    for (const list of [this.#readers, this.#writers]) {
      for (let i = list.length - 1; i >= 0; i--) if (list[i]!.signal === signal) woken.push(...list.splice(i, 1));
    }
    this.#update();
    for (const w of woken) w.resolve();
  });

  #wait(list: Waiter[], signal: AbortSignal | undefined): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('descriptor closed'));
    if (signal?.aborted) return Promise.resolve();
    this.#aborts.watch(signal);
    return new Promise<void>((resolve, reject) => {
      list.push({ resolve, reject, signal });
      this.#update();
    });
  }

  #update(): void {
    const events = (this.#readers.length > 0 ? POLL_READABLE : 0) | (this.#writers.length > 0 ? POLL_WRITABLE : 0);
    if (events === this.#events) return;
    this.#events = events;
    if (events === 0) {
      this.#poller?.stop();
      return;
    }
    this.#poller ??= new native.FdPoller(this.fd, (err, ready) => this.#onPoll(err, ready));
    this.#poller.start(events);
  }

  #onPoll(err: Error | null, ready: number): void {
    // An error (EBADF, ...) wakes everyone: the next read or write reports it.
    const wakeReaders = err !== null || (ready & POLL_READABLE) !== 0;
    const wakeWriters = err !== null || (ready & POLL_WRITABLE) !== 0;
    const readers = wakeReaders ? this.#readers.splice(0) : [];
    const writers = wakeWriters ? this.#writers.splice(0) : [];
    this.#update();
    for (const w of readers) w.resolve();
    for (const w of writers) w.resolve();
  }

  /** Stops watching and gives the descriptor back, open, to the caller. */
  detach(): number {
    this.#shutdown();
    native.disownFd(this.fd);
    return this.fd;
  }

  #shutdown(): void {
    this.#closed = true;
    this.#aborts.dispose();
    const err = new Error('descriptor closed');
    for (const w of [...this.#readers.splice(0), ...this.#writers.splice(0)]) w.reject(err);
    // Stop polling before the descriptor number can be reused.
    this.#poller?.close();
    this.#poller = undefined;
  }

  /**
   * shutdown(2) one side of a socket, quietly: a peer that is already gone
   * needs no telling.
   */
  shutdown(read: boolean, write: boolean): void {
    if (this.#closed) return;
    try {
      native.shutdown(this.fd, read, write);
    } catch {
      // already disconnected
    }
  }

  /** One end lets go; the descriptor closes when none is left. */
  release(): void {
    if (this.#closed) return;
    if (--this.#users > 0) return;
    this.#shutdown();
    native.disownFd(this.fd);
    native.close(this.fd);
  }
}

/**
 * Wraps a descriptor this module just opened: if the wrapping throws, the
 * descriptor is closed (and forgotten by the teardown hook) instead of leaking.
 */
export function adopt<E>(fd: number, make: () => E): E {
  try {
    return make();
  } catch (err) {
    native.disownFd(fd);
    native.close(fd);
    throw err;
  }
}

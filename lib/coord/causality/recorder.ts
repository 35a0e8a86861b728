/**
 * One process's trace recorder: its vector clock and the events it logs
 * (send, receive, deliver, local, annotation), by hand or through the hooks
 * it attaches to channel ends.
 * @module
 */
import type { ChannelHook, Duplex, Receiver, Sender } from '../../channels/index.js';
import { validateInteger, validateOptions, validateString } from '../../internal/validators.js';
import { validateProcessId, VectorClock, type VectorTime } from './clocks.js';
import { messageId, vectorClockHook, type Stamp } from './stamp.js';
import { checkEvent, MAX_LABEL_LENGTH, Trace, type TraceEvent, type TraceEventKind } from './trace.js';

/** Options of {@link TraceRecorder}. */
export interface TraceRecorderOptions {
  /** Fixed membership of the clock (see `VectorClockOptions.members`). Default: growing. */
  members?: readonly string[];
  /** Record wall-clock time on every event (`wall`). Default false: a deterministic run then gives a byte-identical trace. */
  wallClock?: boolean;
  /** The most events recorded; one more is a `RangeError` (default 1,000,000). */
  maxEvents?: number;
}

/** What an event records besides its kind and time. */
export interface EventDetails {
  label?: string;
  /** Any JSON value, kept as given (it is written to the trace file). */
  data?: unknown;
}

/** A message received through an attached end, for {@link TraceRecorder.deliver}. */
export interface ReceivedMessage {
  /** The message id (its send event's id). */
  readonly message: string;
  readonly sender: string;
  /** The sender's clock at the send. */
  readonly stamp: VectorTime;
  /** The receive event. */
  readonly event: TraceEvent;
}

/** Options of {@link TraceRecorder.attach}. */
export interface AttachOptions {
  /** The process at the other end: recorded as `peer` on send events. */
  peer?: string;
  /** A label for every event of this end, such as `'link to p2'`. */
  label?: string;
}

/** An end (or both ends of a duplex) a recorder watches. */
export interface TracedEnd {
  /**
   * The oldest received message not yet taken, in receive order: call it
   * after each receive to learn the message's id (for `deliver`). Keeps the
   * last {@link RECEIVED_KEPT} only.
   */
  take(): ReceivedMessage | undefined;
  /** Received messages not yet taken. */
  readonly pending: number;
  /** Removes the hooks (idempotent). */
  detach(): void;
}

/** The longest `data` of one event, as JSON text (a trace line stays well under the parser's 1 MiB). */
export const MAX_DATA_LENGTH = 65536;

/** How many received messages a {@link TracedEnd} keeps for `take()`. */
export const RECEIVED_KEPT = 1024;

type AnyEnd = Sender<never> | Receiver<unknown> | Duplex<never, unknown>;

/**
 * Records one process's events with their vector times. Every event ticks
 * the clock, so each process's own entry counts its events from 1 (what
 * ShiViz requires). `attach(end)` stamps and records every message the end
 * sends or receives; `send`/`receive` do it by hand for messages that travel
 * some other way.
 */
export class TraceRecorder {
  readonly process: string;
  readonly clock: VectorClock;
  readonly #events: TraceEvent[] = [];
  readonly #wall: boolean;
  readonly #max: number;
  #multicast: VectorTime | undefined;

  constructor(process: string, options: TraceRecorderOptions = {}) {
    validateOptions(options);
    this.process = validateProcessId(process, 'process');
    this.clock = new VectorClock(process, options.members === undefined ? {} : { members: options.members });
    this.#wall = options.wallClock === true;
    this.#max = validateInteger(options.maxEvents ?? 1_000_000, 'options.maxEvents', 1, 1e8);
  }

  /** The events so far, in process order. */
  get events(): readonly TraceEvent[] {
    return this.#events;
  }

  #record(kind: TraceEventKind, time: VectorTime, fields: { message?: string; peer?: string } & EventDetails): TraceEvent {
    if (this.#events.length >= this.#max)
      throw new RangeError(`The recorder of "${this.process}" holds ${this.#max} events already (options.maxEvents)`);
    const raw: Record<string, unknown> = { process: this.process, index: time.get(this.process), kind, time };
    if (fields.message !== undefined) raw.message = fields.message;
    if (fields.peer !== undefined) raw.peer = fields.peer;
    if (fields.label !== undefined) raw.label = fields.label;
    if (fields.data !== undefined) raw.data = fields.data;
    if (this.#wall) raw.wall = Date.now();
    const e = checkEvent(raw, this.process);
    this.#events.push(e);
    return e;
  }

  #details(details: EventDetails | undefined): EventDetails {
    if (details === undefined) return {};
    validateOptions(details, 'details');
    if (details.label !== undefined) {
      validateString(details.label, 'details.label');
      if (details.label.length > MAX_LABEL_LENGTH)
        throw new RangeError(`The "details.label" argument must be at most ${MAX_LABEL_LENGTH} characters`);
    }
    if (details.data !== undefined) {
      let text: string | undefined;
      try {
        text = JSON.stringify(details.data);
      } catch (err) {
        throw new TypeError(`The "details.data" argument must be representable as JSON: ${(err as Error).message}`);
      }
      if (text === undefined) throw new TypeError('The "details.data" argument must be representable as JSON');
      if (text.length > MAX_DATA_LENGTH)
        throw new RangeError(`The "details.data" argument must be at most ${MAX_DATA_LENGTH} characters as JSON`);
      return { label: details.label, data: JSON.parse(text) as unknown }; // a copy, as the file will hold it
    }
    return { label: details.label };
  }

  /** A local event (a step of the process with no message). */
  local(details?: EventDetails): TraceEvent {
    const d = this.#details(details);
    return this.#record('local', this.clock.tick(), d);
  }

  /** A user annotation: a local event whose label is `text`. */
  annotate(text: string, data?: unknown): TraceEvent {
    validateString(text, 'text');
    return this.local({ label: text, data });
  }

  /** A send by hand: ticks, records, and returns the stamp to carry to the receiver. */
  send(details?: EventDetails & { to?: string }): { event: TraceEvent; stamp: Stamp } {
    const d = this.#details(details);
    const to = details?.to === undefined ? undefined : validateProcessId(details.to, 'details.to');
    const time = this.clock.tick();
    const stamp = { sender: this.process, time };
    return { event: this.#record('send', time, { ...d, message: messageId(stamp), peer: to }), stamp };
  }

  /** A receive by hand of a message stamped `stamp`: merges, ticks, records. */
  receive(stamp: Stamp, details?: EventDetails): TraceEvent {
    const d = this.#details(details);
    const sender = validateProcessId(stamp?.sender, 'stamp.sender');
    const time = this.clock.receive(stamp.time);
    return this.#record('receive', time, { ...d, message: messageId({ sender, time: stamp.time }), peer: sender });
  }

  /**
   * A multicast: one send event whose stamp every message sent through this
   * recorder's ends carries while `send` runs (so send only the multicast's
   * copies in it, and await them). The receivers see one message id; the
   * causality check then judges the multicast as one send, as causal
   * broadcast requires. Returns the send event and what `send` returned.
   */
  async multicast<R>(send: () => R | Promise<R>, details?: EventDetails): Promise<{ event: TraceEvent; result: R }> {
    if (typeof send !== 'function') throw new TypeError('The "send" argument must be a function');
    if (this.#multicast !== undefined) throw new TypeError('A multicast is already in progress on this recorder');
    const d = this.#details(details);
    const time = this.clock.tick();
    const event = this.#record('send', time, { ...d, message: messageId({ sender: this.process, time }) });
    this.#multicast = time;
    try {
      return { event, result: await send() };
    } finally {
      this.#multicast = undefined;
    }
  }

  /**
   * The delivery of a received message to the application (after a hold-back
   * queue released it, say): a local event that names the message.
   */
  deliver(message: string | ReceivedMessage, details?: EventDetails): TraceEvent {
    const d = this.#details(details);
    const id = typeof message === 'string' ? validateString(message, 'message') : message.message;
    const peer = typeof message === 'string' ? id.slice(0, id.lastIndexOf('#')) : message.sender;
    if (peer.length === 0) throw new RangeError(`The "message" argument must be a message id "sender#n". Received ${id}`);
    return this.#record('deliver', this.clock.tick(), { ...d, message: id, peer });
  }

  /** A hook that stamps and records this end's messages (see {@link TraceRecorder.attach}). */
  hook(options: AttachOptions = {}, onReceived?: (m: ReceivedMessage) => void): ChannelHook {
    validateOptions(options);
    const peer = options.peer === undefined ? undefined : validateProcessId(options.peer, 'options.peer');
    const label = options.label;
    if (label !== undefined) validateString(label, 'options.label');
    return vectorClockHook(this.clock, {
      stamp: () => this.#multicast,
      onSend: (stamp) => void this.#record('send', stamp.time, { message: messageId(stamp), peer, label }),
      onReceive: (stamp, time) => {
        const message = messageId(stamp);
        const event = this.#record('receive', time, { message, peer: stamp.sender, label });
        onReceived?.({ message, sender: stamp.sender, stamp: stamp.time, event });
      },
    });
  }

  /**
   * Stamps and records every message `end` sends or receives (a sender, a
   * receiver, or both ends of a duplex). Attach it before any other hook (fault
   * injection), and on every end of the process, so that the clock sees every
   * message. Returns the handle whose `take()` names the messages received.
   */
  attach(end: AnyEnd, options: AttachOptions = {}): TracedEnd {
    const queue: ReceivedMessage[] = [];
    const hook = this.hook(options, (m) => {
      if (queue.length >= RECEIVED_KEPT) queue.shift();
      queue.push(m);
    });
    const ends: { intercept(h: ChannelHook): () => void }[] =
      'sender' in end && 'receiver' in end ? [end.sender, end.receiver] : [end as { intercept(h: ChannelHook): () => void }];
    const removers = ends.map((e) => e.intercept(hook));
    return {
      take: () => queue.shift(),
      get pending() {
        return queue.length;
      },
      detach: () => {
        for (const r of removers.splice(0)) r();
      },
    };
  }

  /** This process's events as a trace. */
  toTrace(): Trace {
    return Trace.merge(this.#events);
  }

  /** This process's trace file text. */
  toJSONLines(): string {
    return this.toTrace().toJSONLines();
  }
}

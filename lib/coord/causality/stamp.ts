/**
 * Clock stamps on channel messages, through the channels' hook: every
 * message sent carries the sender's clock in a small envelope around the
 * encoded bytes, and every message received merges it. It works on any
 * transport and any codec because the hook sees bytes (after encoding,
 * before decoding).
 *
 * Envelope: `0xC7`, version `0x01`, then for vector clocks the sender's id
 * (varint length, UTF-8) and its vector time (see `clock-codec.ts`), for
 * Lamport clocks the Lamport time; then the payload, unchanged.
 * @module
 */
import type { ChannelHook, MessageEvent } from '../../channels/index.js';
import { CausalityError } from '../../errors.js';
import { validateFunction, validateInteger, validateOptions } from '../../internal/validators.js';
import { MAX_VECTOR_ENTRIES, VectorClock, VectorTime, LamportClock } from './clocks.js';
import { readLamportTime, readVectorTime, StampReader, StampWriter, writeVectorTime } from './clock-codec.js';

const MAGIC = 0xc7;
const VERSION = 0x01;

/** A vector stamp: who sent a message and its clock at the send event. */
export interface Stamp {
  readonly sender: string;
  readonly time: VectorTime;
}

/** The id of the message a stamp belongs to: the send event's id, `sender#count`. */
export function messageId(stamp: Stamp): string {
  return `${stamp.sender}#${stamp.time.get(stamp.sender)}`;
}

/** Options of {@link vectorClockHook}. */
export interface VectorClockHookOptions {
  /** Called for each message sent, after the clock ticked: the stamp it carries. */
  onSend?(stamp: Stamp, event: MessageEvent): void;
  /** Called for each message received, after the merge and tick: its stamp and the receive event's time. */
  onReceive?(stamp: Stamp, time: VectorTime, event: MessageEvent): void;
  /** The most entries accepted in a received stamp (default {@link MAX_VECTOR_ENTRIES}). */
  maxEntries?: number;
  /**
   * Asked before each send: a time to stamp the message with instead of
   * ticking (then `onSend` is not called). This is how several messages share
   * one send event, a multicast (see `TraceRecorder.multicast`).
   */
  stamp?(): VectorTime | undefined;
}

function bad(detail: string): CausalityError {
  return new CausalityError('ERR_CAUSALITY_BAD_STAMP', `Malformed clock envelope: ${detail}`);
}

function openEnvelope(bytes: Uint8Array): StampReader {
  const r = new StampReader(bytes);
  if (bytes.byteLength < 2 || r.byte() !== MAGIC) throw bad('the message carries no clock stamp (is the sender stamping?)');
  const v = r.byte();
  if (v !== VERSION) throw bad(`unknown version ${v}`);
  return r;
}

/**
 * A hook that stamps every message sent with `clock` (tick, then attach the
 * time) and merges the stamp of every message received (merge, then tick),
 * unwrapping the payload for the codec. Attach it to both ends of every
 * channel of a process (`end.intercept(vectorClockHook(clock))`), first, so
 * that hooks attached later (fault injection) see the stamped bytes.
 *
 * A received message without a valid stamp throws `ERR_CAUSALITY_BAD_STAMP`
 * from the receive call (the message is consumed, the channel stays usable);
 * a fixed-membership clock refuses a stamp naming a non-member with
 * `ERR_CAUSALITY_UNKNOWN_MEMBER`, before changing anything.
 */
export function vectorClockHook(clock: VectorClock, options: VectorClockHookOptions = {}): ChannelHook {
  if (!(clock instanceof VectorClock)) throw new TypeError('The "clock" argument must be a VectorClock');
  validateOptions(options);
  const onSend = validateFunction<NonNullable<VectorClockHookOptions['onSend']>>(options.onSend, 'options.onSend');
  const onReceive = validateFunction<NonNullable<VectorClockHookOptions['onReceive']>>(options.onReceive, 'options.onReceive');
  const maxEntries = validateInteger(options.maxEntries ?? MAX_VECTOR_ENTRIES, 'options.maxEntries', 1, 1 << 20);
  const pinned = validateFunction<NonNullable<VectorClockHookOptions['stamp']>>(options.stamp, 'options.stamp');
  const members = clock.members;
  return {
    send(bytes, event) {
      const fixed = pinned?.();
      const time = fixed ?? clock.tick();
      // Room for the header, a stamp of short ids and the payload: one allocation, as a rule.
      const w = new StampWriter(bytes.byteLength + 64 + time.size * 24);
      w.byte(MAGIC);
      w.byte(VERSION);
      w.id(clock.self);
      writeVectorTime(w, time, members);
      w.bytes(bytes);
      if (fixed === undefined) onSend?.({ sender: clock.self, time }, event);
      return w.done();
    },
    receive(bytes, event) {
      const r = openEnvelope(bytes);
      const sender = r.id();
      const stamp = readVectorTime(r, members, maxEntries);
      if (stamp.get(sender) === 0) throw bad(`the stamp does not count its own sender "${sender}"`);
      const time = clock.receive(stamp);
      onReceive?.({ sender, time: stamp }, time, event);
      return bytes.subarray(r.offset);
    },
  };
}

/** Options of {@link lamportClockHook}. */
export interface LamportClockHookOptions {
  /** Called for each message sent with the Lamport time it carries. */
  onSend?(time: number, event: MessageEvent): void;
  /** Called for each message received with its stamp and the receive event's time. */
  onReceive?(stamp: number, time: number, event: MessageEvent): void;
}

/** As {@link vectorClockHook}, with a Lamport clock: one varint per message. */
export function lamportClockHook(clock: LamportClock, options: LamportClockHookOptions = {}): ChannelHook {
  if (!(clock instanceof LamportClock)) throw new TypeError('The "clock" argument must be a LamportClock');
  validateOptions(options);
  const onSend = validateFunction<NonNullable<LamportClockHookOptions['onSend']>>(options.onSend, 'options.onSend');
  const onReceive = validateFunction<NonNullable<LamportClockHookOptions['onReceive']>>(options.onReceive, 'options.onReceive');
  return {
    send(bytes, event) {
      const time = clock.tick();
      const w = new StampWriter(bytes.byteLength + 16);
      w.byte(MAGIC);
      w.byte(VERSION);
      w.byte(0x4c);
      w.varint(time);
      w.bytes(bytes);
      onSend?.(time, event);
      return w.done();
    },
    receive(bytes, event) {
      const r = openEnvelope(bytes);
      const stamp = readLamportTime(r);
      const time = clock.receive(stamp);
      onReceive?.(stamp, time, event);
      return bytes.subarray(r.offset);
    },
  };
}

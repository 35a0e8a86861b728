/**
 * The workloads, written once against BenchSender/BenchReceiver and run by
 * both peers of every transport.
 *
 * Stream: the producer sends a warm-up repetition of `warmupMs` (JIT, page
 * faults, socket buffers reach their steady state), then `reps` repetitions
 * of `durationMs`, each opened by a FLAG_START message and closed by a
 * FLAG_END one; the consumer times each repetition between the two, so
 * figures come from the receiving side. Before the warm-up comes a priming
 * repetition of one message (or batch) that takes every path of both sides
 * once, the marks included: the JIT then compiles the loops during the
 * warm-up with complete type feedback, and does not throw that code away
 * at the first mark (a deoptimization, then a slow first repetition). The
 * consumer drops the figures of the priming and warm-up repetitions. Ping-pong: the initiator times every round trip
 * with process.hrtime.bigint(); warm-up round trips are not recorded.
 * @module
 */
import { FLAG_END, FLAG_START, MessageBatch, MessageBuffer, StreamVerifier, checkEcho } from './payload.js';
import { latencyRep } from './stats.js';
import type { BenchReceiver, BenchSender, Ends, LatencyRep, StreamRep } from './types.js';

export interface Timing {
  warmupMs: number;
  durationMs: number;
  reps: number;
  /** Ping-pong: at least this many round trips per repetition. */
  minRoundTrips: number;
}

export interface ProducerReport {
  messages: number;
  checksum: number;
}

export interface StreamOutcome extends ProducerReport {
  reps: StreamRep[];
}

export interface LatencyOutcome {
  messages: number;
  reps: LatencyRep[];
}

/** Repetitions before the timed ones: the priming one and the warm-up. */
const UNTIMED = 2;

/**
 * Peer B of a stream: stamps and sends, reports what it sent. The messages
 * are stamped in place in one reused MessageBatch; the flags go on the first
 * message of a repetition and on its last (of the first and last batch).
 */
export async function produceStream(sender: BenchSender, size: number, batch: number, t: Timing): Promise<ProducerReport> {
  const m = new MessageBatch(size, batch);
  const msgs = m.views;
  const one = msgs[0]!;
  const sendMany = sender.sendMany
    ? (ms: readonly Uint8Array[]) => sender.sendMany!(ms)
    : async (ms: readonly Uint8Array[]) => {
        for (const x of ms) {
          const r = sender.send(x);
          if (r) await r;
        }
      };
  // Reading the clock costs about as much as a fast send: look every 16 small messages.
  const checkEvery = batch === 1 && size <= 4096 ? 16 : 1;
  let seq = 0;
  let cs = 0;
  for (let phase = 0; phase < UNTIMED + t.reps; phase++) {
    const deadline = phase === 0 ? 0 : performance.now() + (phase === 1 ? t.warmupMs : t.durationMs);
    let flags = FLAG_START;
    for (let countdown = 1; ;) {
      if (--countdown === 0) {
        countdown = checkEvery;
        if (performance.now() >= deadline) flags |= FLAG_END;
      }
      let r: void | Promise<void>;
      if (batch === 1) {
        cs = m.stamp(0, seq, flags, cs);
        seq = (seq + 1) | 0;
        r = sender.send(one);
      } else {
        cs = m.stampAll(seq, cs);
        if (flags & FLAG_START) m.flag(0, FLAG_START);
        if (flags & FLAG_END) m.flag(batch - 1, FLAG_END);
        seq = (seq + batch) | 0;
        r = sendMany(msgs);
      }
      if (r) await r;
      if (flags & FLAG_END) break;
      flags = 0;
    }
  }
  await sender.close();
  return { messages: seq >>> 0, checksum: cs };
}

/** Peer A of a stream: verifies everything, times the marked repetitions. */
export async function consumeStream(receiver: BenchReceiver, size: number, batch: number, t: Timing): Promise<StreamOutcome> {
  const v = new StreamVerifier(size, batch);
  const r = receiver.consume(v.onMessage);
  if (r) await r;
  if (v.reps.length !== UNTIMED + t.reps)
    throw new Error(`${v.reps.length - UNTIMED} repetitions timed after the warm-up, expected ${t.reps}`);
  return { messages: v.count, checksum: v.checksum, reps: v.reps.slice(UNTIMED) };
}

/** Peer A of ping-pong: sends a ping, times until its pong is back, again. */
export async function initiatePingPong(ends: Ends, size: number, t: Timing): Promise<LatencyOutcome> {
  const { sender, receiver } = ends;
  if (!sender || !receiver) throw new Error('ping-pong needs both a sender and a receiver on each side');
  const m = new MessageBuffer(size);
  const reps: LatencyRep[] = [];
  let samples = new Float64Array(Math.max(1024, t.minRoundTrips));
  let n = 0;
  let seq = 0;
  let phase = 0;
  let deadline = performance.now() + t.warmupMs;
  let t0 = 0n;
  let closing: void | Promise<void> = undefined;
  const onPong = (b: Uint8Array, o: number, len: number): void | Promise<void> => {
    const t1 = process.hrtime.bigint();
    checkEcho(b, o, len, size, seq);
    if (phase > 0) {
      if (n === samples.length) {
        const bigger = new Float64Array(samples.length * 2);
        bigger.set(samples);
        samples = bigger;
      }
      samples[n++] = Number(t1 - t0);
    }
    seq++;
    if (performance.now() >= deadline && (phase === 0 || n >= t.minRoundTrips)) {
      if (phase > 0) reps.push(latencyRep(samples.subarray(0, n)));
      phase++;
      n = 0;
      if (phase > t.reps) {
        closing = sender.close();
        return closing;
      }
      deadline = performance.now() + t.durationMs;
    }
    m.stamp(seq, 0, 0);
    t0 = process.hrtime.bigint();
    return sender.send(m.bytes);
  };
  m.stamp(0, 0, 0);
  t0 = process.hrtime.bigint();
  // consume() right after the first send, with no await between: an
  // event-driven receiver must be listening before the pong can arrive,
  // and a blocking one only returns at the end.
  const first = sender.send(m.bytes);
  const r = receiver.consume(onPong);
  if (first) await first;
  if (r) await r;
  await closing;
  if (reps.length !== t.reps) throw new Error(`${reps.length} repetitions of round trips, expected ${t.reps}`);
  return { messages: seq, reps };
}

/** Peer B of ping-pong: checks each ping, answers with a pong of the same sequence number. */
export async function respondPingPong(ends: Ends, size: number): Promise<ProducerReport> {
  const { sender, receiver } = ends;
  if (!sender || !receiver) throw new Error('ping-pong needs both a sender and a receiver on each side');
  const m = new MessageBuffer(size);
  let expect = 0;
  const r = receiver.consume((b, o, len) => {
    checkEcho(b, o, len, size, expect);
    m.stamp(expect, 0, 0);
    expect++;
    return sender.send(m.bytes);
  });
  if (r) await r;
  await sender.close();
  return { messages: expect, checksum: 0 };
}

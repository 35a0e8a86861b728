/**
 * Seeded fault injection through the channels' hook: from one seed, delay,
 * drop, duplicate and reorder the messages a process sends, and kill or
 * pause the process at named points. Each channel and each point draws from
 * its own stream of the seed (named by the channel or point), so what
 * happens on one does not depend on how the others interleave: the same seed
 * gives the same faults, and a deterministic program the same trace.
 * @module
 */
import type { ChannelHook, Duplex, Sender } from '../../channels/index.js';
import { validateInteger, validateObject, validateOptions, validateString } from '../../internal/validators.js';
import { delay } from '../../internal/waiting.js';
import { SeededRandom } from './prng.js';

/** What may happen to each message of a channel. Probabilities are 0 to 1 (default 0). */
export interface MessageFaults {
  /** The message is not sent. */
  drop?: number;
  /** The message is sent twice. */
  duplicate?: number;
  /** The message is held and sent right after the next one on the same channel (if no next one comes, it is lost). */
  reorder?: number;
  /** The chance that a message is delayed (default 1 when `delayMs` is set). */
  delay?: number;
  /** How long a delayed message waits: a fixed time or a `[min, max]` range, in milliseconds. Later messages of the channel wait behind it (a link stays FIFO). */
  delayMs?: number | readonly [number, number];
}

/** What may happen at a named point of the program ({@link FaultInjector.point}). */
export interface PointFault {
  /** The chance (or `true`: certainty) that the process is killed (SIGKILL) there. */
  kill?: number | boolean;
  /** The chance (default 1 when `pauseMs` is set) that the process pauses there. */
  pause?: number;
  /** How long a pause lasts, fixed or `[min, max]` ms. */
  pauseMs?: number | readonly [number, number];
  /** Faults fire from this hit of the point on (1 = the first time it is reached; default 1). */
  from?: number;
}

/** A fault plan: the seed, the message faults of every channel (overridden per channel), and the points. */
export interface FaultPlan extends MessageFaults {
  /** A 32-bit unsigned integer; print it with a failure and pass it again to replay. */
  seed: number;
  /** Message faults by channel name, replacing the plan's own for that channel. */
  channels?: Readonly<Record<string, MessageFaults>>;
  /** Faults by point name. */
  points?: Readonly<Record<string, PointFault>>;
}

/** One fault that was injected. `seq` counts the channel's messages from 0; `hit` a point's hits from 1. */
export type InjectedFault =
  | { readonly channel: string; readonly seq: number; readonly fault: 'drop' | 'duplicate' | 'reorder' }
  | { readonly channel: string; readonly seq: number; readonly fault: 'delay'; readonly ms: number }
  | { readonly point: string; readonly hit: number; readonly fault: 'pause'; readonly ms: number }
  | { readonly point: string; readonly hit: number; readonly fault: 'kill' };

/** The most faults {@link FaultInjector.log} keeps (later ones are counted in `logOverflow`). */
export const FAULT_LOG_LIMIT = 65536;

interface Resolved {
  drop: number;
  duplicate: number;
  reorder: number;
  delay: number;
  delayMs: readonly [number, number];
}

function probability(value: unknown, name: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError(`The "${name}" option must be a number`);
  if (value < 0 || value > 1) throw new RangeError(`The value of "${name}" is out of range. It must be >= 0 and <= 1. Received ${value}`);
  return value;
}

function range(value: unknown, name: string): readonly [number, number] {
  if (value === undefined) return [0, 0];
  if (typeof value === 'number') {
    validateInteger(value, name, 0, 3_600_000);
    return [value, value];
  }
  if (!Array.isArray(value) || value.length !== 2) throw new TypeError(`The "${name}" option must be a number or a [min, max] pair`);
  const lo = validateInteger(value[0], `${name}[0]`, 0, 3_600_000);
  const hi = validateInteger(value[1], `${name}[1]`, lo, 3_600_000);
  return [lo, hi];
}

function resolveFaults(f: MessageFaults, name: string): Resolved {
  validateObject(f, name);
  const delayMs = range(f.delayMs, `${name}.delayMs`);
  const d = f.delay === undefined ? (f.delayMs === undefined ? 0 : 1) : probability(f.delay, `${name}.delay`);
  return {
    drop: probability(f.drop, `${name}.drop`),
    duplicate: probability(f.duplicate, `${name}.duplicate`),
    reorder: probability(f.reorder, `${name}.reorder`),
    delay: d,
    delayMs,
  };
}

/**
 * Injects the faults of a {@link FaultPlan}. Attach it to each sending end
 * with a channel name unique in the process (`attach(sender, 'p1->p3')`),
 * after the trace recorder, so that the trace records the send and the
 * faults act on the stamped message. A plan with no probability above 0 and
 * no delay changes nothing: every message passes at once, unchanged (and
 * `trySend`/`sendSync` keep working).
 */
export class FaultInjector {
  readonly seed: number;
  readonly #plan: FaultPlan;
  readonly #default: Resolved;
  readonly #channels = new Set<string>();
  readonly #points = new Map<string, { rng: SeededRandom; hits: number }>();
  readonly #log: InjectedFault[] = [];
  #overflow = 0;

  constructor(plan: FaultPlan) {
    validateObject(plan, 'plan');
    this.seed = validateInteger(plan.seed, 'plan.seed', 0, 0xffffffff);
    this.#default = resolveFaults(plan, 'plan');
    if (plan.channels !== undefined)
      for (const [k, v] of Object.entries(validateObject(plan.channels, 'plan.channels')))
        resolveFaults(v as MessageFaults, `plan.channels.${k}`);
    if (plan.points !== undefined) validateObject(plan.points, 'plan.points');
    this.#plan = plan;
  }

  /** The faults injected so far, in order. */
  get log(): readonly InjectedFault[] {
    return this.#log;
  }

  /** Faults injected after the log was full. */
  get logOverflow(): number {
    return this.#overflow;
  }

  /**
   * "seed N: ..." with the faults injected, grouped by channel and point
   * (each group in its own order, so the text does not depend on how the
   * channels interleaved): print it when a test fails.
   */
  describe(): string {
    const key = (f: InjectedFault): string => ('channel' in f ? `c:${f.channel}` : `p:${f.point}`);
    const sorted = this.#log.map((f, i) => ({ f, i })).sort((x, y) => (key(x.f) < key(y.f) ? -1 : key(x.f) > key(y.f) ? 1 : x.i - y.i));
    const list = sorted.map(
      ({ f }) => ('channel' in f ? `${f.channel}#${f.seq} ${f.fault}` : `${f.point}@${f.hit} ${f.fault}`) + ('ms' in f ? ` ${f.ms}ms` : ''),
    );
    return `seed ${this.seed}: ${list.length === 0 ? 'no faults' : list.join(', ')}${this.#overflow > 0 ? ` (+${this.#overflow} more)` : ''}`;
  }

  #note(f: InjectedFault): void {
    if (this.#log.length < FAULT_LOG_LIMIT) this.#log.push(f);
    else this.#overflow++;
  }

  /** The hook for the sending end of channel `name` (each name once per injector). */
  hook(name: string): ChannelHook {
    validateString(name, 'name');
    if (this.#channels.has(name)) throw new RangeError(`The channel name "${name}" is in use in this injector: give each channel its own`);
    this.#channels.add(name);
    const own = this.#plan.channels?.[name];
    const f = own === undefined ? this.#default : resolveFaults(own, `plan.channels.${name}`);
    if (f.drop === 0 && f.duplicate === 0 && f.reorder === 0 && (f.delay === 0 || f.delayMs[1] === 0)) {
      return { send: (bytes) => bytes };
    }
    const rng = new SeededRandom(this.seed, `channel:${name}`);
    let held: Uint8Array | undefined;
    return {
      send: (bytes, event) => {
        // Five draws per message whatever happens, so later decisions do not depend on earlier outcomes.
        const [rDrop, rDup, rReorder, rDelay, rMs] = [rng.float(), rng.float(), rng.float(), rng.float(), rng.float()];
        const seq = event.seq;
        if (rDrop < f.drop) {
          this.#note({ channel: name, seq, fault: 'drop' });
          return null;
        }
        let out: Uint8Array[] = rDup < f.duplicate ? [bytes, bytes] : [bytes];
        if (out.length === 2) this.#note({ channel: name, seq, fault: 'duplicate' });
        if (held !== undefined) {
          out = [...out, held];
          held = undefined;
        } else if (rReorder < f.reorder) {
          this.#note({ channel: name, seq, fault: 'reorder' });
          held = bytes.slice(); // the bytes are only valid during this call
          out = out.slice(1).map((b) => b.slice());
          if (out.length === 0) return null;
        }
        if (rDelay < f.delay && f.delayMs[1] > 0) {
          const ms = f.delayMs[0] + Math.floor(rMs * (f.delayMs[1] - f.delayMs[0] + 1));
          this.#note({ channel: name, seq, fault: 'delay', ms });
          const copies = out.map((b) => b.slice());
          return delay(ms).then(() => copies);
        }
        return out;
      },
    };
  }

  /** Attaches {@link FaultInjector.hook} to `end` (a sender, or a duplex's sender); returns the remover. */
  attach(end: Sender<never> | Duplex<never, unknown>, name: string): () => void {
    const sender = 'sender' in end ? end.sender : end;
    return sender.intercept(this.hook(name));
  }

  /**
   * A named point of the program: by the plan and the seed, kills the process
   * here (SIGKILL: no cleanup runs, as in a crash), pauses it, or does
   * nothing. Deterministic: the nth hit of a point draws the same numbers
   * for the same seed.
   */
  async point(name: string): Promise<void> {
    validateString(name, 'name');
    let state = this.#points.get(name);
    if (state === undefined) this.#points.set(name, (state = { rng: new SeededRandom(this.seed, `point:${name}`), hits: 0 }));
    const hit = ++state.hits;
    const [rKill, rPause, rMs] = [state.rng.float(), state.rng.float(), state.rng.float()];
    const spec = this.#plan.points?.[name];
    if (spec === undefined) return;
    validateOptions(spec, `plan.points.${name}`);
    if (hit < validateInteger(spec.from ?? 1, `plan.points.${name}.from`, 1, Number.MAX_SAFE_INTEGER)) return;
    const kill = spec.kill === true ? 1 : spec.kill === false ? 0 : probability(spec.kill, `plan.points.${name}.kill`);
    if (rKill < kill) {
      this.#note({ point: name, hit, fault: 'kill' });
      process.kill(process.pid, 'SIGKILL');
      await new Promise<never>(() => undefined); // the signal is on its way
    }
    const [lo, hi] = range(spec.pauseMs, `plan.points.${name}.pauseMs`);
    const p = spec.pause === undefined ? (spec.pauseMs === undefined ? 0 : 1) : probability(spec.pause, `plan.points.${name}.pause`);
    if (rPause < p && hi > 0) {
      const ms = lo + Math.floor(rMs * (hi - lo + 1));
      this.#note({ point: name, hit, fault: 'pause', ms });
      await delay(ms);
    }
  }
}

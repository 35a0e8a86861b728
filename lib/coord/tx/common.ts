/**
 * What the coordinator and the participant share: their options, the
 * transaction ids, the fault points and the resend schedule.
 * @module
 */
import { randomBytes } from 'node:crypto';

import { validateFunction, validateInteger, validateObject, validateString } from '../../internal/validators.js';
import { ActivityLog, type ActivityLogOptions } from '../activity-log.js';
import { decodeRecord, type DecodedRecord } from './records.js';
import { Site, type MessageSource, type SiteOptions } from './site.js';
import type { Message } from './wire.js';

/** Something that may kill or pause the process at a named point: a `FaultInjector` (see docs/causality.md). */
export interface FaultPoints {
  point(name: string): Promise<void> | void;
}

/** Options both roles take. */
export interface TxSiteOptions extends SiteOptions {
  /** The site's name: letters, digits, `_` and `-`, 1 to 64 (it starts every transaction id a coordinator makes). */
  name: string;
  /** The activity log's path (one log per site; see {@link ActivityLog}). */
  log: string;
  /** The log's options (`onSynced`, `maxRecordBytes`). */
  logOptions?: ActivityLogOptions;
  /** The log is checkpointed when it grows past this many bytes (default 1 MiB). */
  checkpointBytes?: number;
  /** The first resend interval of an unanswered message, ms (default 100); it doubles up to `retryMaxMs`. */
  retryMs?: number;
  /** The longest resend interval, ms (default 2000). */
  retryMaxMs?: number;
  /** Fault points (tests): `point(name)` is awaited before and after each log write and each send. */
  faults?: FaultPoints;
}

const SITE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** The checked common options. @internal */
export interface CommonOptions {
  name: string;
  checkpointBytes: number;
  retryMs: number;
  retryMaxMs: number;
  faults: FaultPoints | undefined;
}

/** Checks the options both roles take. @internal */
export function commonOptions(o: TxSiteOptions): CommonOptions {
  validateObject(o, 'options');
  const name = validateString(o.name, 'options.name');
  if (!SITE_NAME.test(name)) throw new RangeError(`The "options.name" must be 1 to 64 letters, digits, "_" or "-". Received '${name}'`);
  validateString(o.log, 'options.log');
  if (o.faults !== undefined) validateFunction(validateObject(o.faults, 'options.faults').point, 'options.faults.point');
  const retryMs = validateInteger(o.retryMs ?? 100, 'options.retryMs', 1, 60_000);
  return {
    name,
    checkpointBytes: validateInteger(o.checkpointBytes ?? 1024 * 1024, 'options.checkpointBytes', 1024, 2 ** 40),
    retryMs,
    retryMaxMs: validateInteger(o.retryMaxMs ?? 2000, 'options.retryMaxMs', retryMs, 600_000),
    faults: o.faults,
  };
}

/** Runs a fault point (no await at all when there are no faults). @internal */
export function point(faults: FaultPoints | undefined, name: string): Promise<void> | void {
  return faults?.point(name);
}

/** A fault point after a send: first lets the channels write what was sent (see {@link Site.turn}). @internal */
export async function pointAfterSend(faults: FaultPoints | undefined, name: string): Promise<void> {
  if (faults === undefined) return;
  await Site.turn();
  await Site.turn();
  await faults.point(name);
}

/**
 * A coordinator incarnation (one per start): its start time in ms (base 36,
 * so that incarnations order by time) and 32 random bits. @internal
 */
export function newIncarnation(): string {
  return `${Date.now().toString(36).padStart(9, '0')}-${randomBytes(4).toString('hex')}`;
}

/**
 * A transaction id's parts: `<coordinator>.<incarnation>.<n>`, with the
 * incarnation's start time (`NaN` if it has none). @internal
 */
export function parseTxId(x: string): { incarnation: string; started: number; n: number } | undefined {
  const dot = x.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const n = Number(x.slice(dot + 1));
  if (!Number.isSafeInteger(n) || n < 1) return undefined;
  const incarnation = x.slice(0, dot);
  const m = /\.([0-9a-z]{9})-[0-9a-f]{8}$/.exec(incarnation);
  return { incarnation, started: m === null ? Number.NaN : parseInt(m[1]!, 36), n };
}

/**
 * A timer that calls `fn` after `first` ms, then again at doubling
 * intervals up to `max`, until stopped: the resends of the protocol. @internal
 */
export function resender(first: number, max: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  let interval = first;
  const tick = (): void => {
    fn();
    interval = Math.min(interval * 2, max);
    timer = setTimeout(tick, interval);
    timer.unref();
  };
  timer = setTimeout(tick, interval);
  timer.unref();
  return () => clearTimeout(timer);
}

/**
 * Opens a role (coordinator or participant): its log, its records checked,
 * its network, then `build` (which constructs the role and recovers it from
 * the records). Messages reach `onMessage` once the role exists. On any
 * failure, what was opened is closed again (listener, log and its lock).
 * @internal
 */
export async function openRole<R>(
  options: TxSiteOptions,
  build: (site: Site, log: ActivityLog, records: DecodedRecord[]) => R,
  onMessage: (role: R, m: Message, from: MessageSource) => void,
): Promise<R> {
  const { log, records } = await ActivityLog.open(options.log, options.logOptions);
  let site: Site | undefined;
  try {
    const decoded = records.map((r) => decodeRecord(r, options.log));
    const made: { role?: R } = {}; // messages that come before the role exists are dropped (peers resend)
    site = await Site.open(options, (m, from) => {
      if (made.role !== undefined) onMessage(made.role, m, from);
    });
    made.role = build(site, log, decoded);
    return made.role;
  } catch (err) {
    await site?.close();
    await log.close();
    throw err;
  }
}

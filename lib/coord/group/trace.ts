/**
 * Group traces: what each member sent, delivered and installed, in its own
 * order, with the vector of deliveries at each event. The checkers read them
 * ({@link checkGroupTraces}); a test collects them from every member (a file
 * per member survives a `kill -9`: each event is written before the next
 * step of the protocol depends on it).
 *
 * File format: JSON lines, the header `{"format":"posix-ipc-group-trace","version":1}`
 * then one {@link GroupEvent} per line.
 * @module
 */
import { closeSync, openSync, readFileSync, writeSync, constants as fsc } from 'node:fs';

import { validateInteger, validateString } from '../../internal/validators.js';

/** What happened at a group event. */
export type GroupEventKind = 'send' | 'deliver' | 'view';

/** One event of one member. */
export interface GroupEvent {
  /** The group's name. */
  readonly group: string;
  /** The member that recorded it. */
  readonly member: string;
  readonly kind: GroupEventKind;
  /** The view the event happened in (`view`: the id of the view installed). */
  readonly view: number;
  /** `send`, `deliver`: the message id, `<sender>@<view>:<seq>` (unique in a group). */
  readonly message?: string;
  /** `send`, `deliver`: the member that multicast it. */
  readonly sender?: string;
  /** `send`, `deliver`: its number among the sender's multicasts in that view, from 1. */
  readonly seq?: number;
  /** `view`: the members of the view, in rank order (the first leads). */
  readonly members?: readonly string[];
  /**
   * `deliver`: the deliveries from each member in this view so far, this one
   * included (its vector clock); `send`: the stamp the message carries
   * (causal order), or the deliveries before it.
   */
  readonly time?: Readonly<Record<string, number>>;
  /** Total order: the commit timestamp (two-phase) or the sequence number (sequencer) the message was delivered by. */
  readonly ts?: number;
  /** The payload's bytes as hex, when recorded with `payloads: true` (tests that check no message was created). */
  readonly payload?: string;
}

const HEADER = '{"format":"posix-ipc-group-trace","version":1}';

/** The id of a group message. */
export function groupMessageId(sender: string, view: number, seq: number): string {
  return `${sender}@${view}:${seq}`;
}

/** Where a member's events go: kept in memory (bounded) and, if a path was given, appended to that file as they happen. */
export class GroupTraceWriter {
  readonly #events: GroupEvent[] = [];
  readonly #max: number;
  #fd: number | undefined;

  constructor(options: { path?: string; maxEvents?: number } = {}) {
    this.#max = validateInteger(options.maxEvents ?? 1_000_000, 'options.trace.maxEvents', 1, 1e8);
    if (options.path !== undefined) {
      validateString(options.path, 'options.trace.path');
      this.#fd = openSync(options.path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW, 0o600);
      writeSync(this.#fd, HEADER + '\n');
    }
  }

  get events(): readonly GroupEvent[] {
    return this.#events;
  }

  record(e: GroupEvent): void {
    if (this.#events.length >= this.#max)
      throw new RangeError(`The group trace holds ${this.#max} events already (options.trace.maxEvents)`);
    this.#events.push(e);
    // Written at once: the page cache keeps it through a kill -9 of this process.
    if (this.#fd !== undefined) writeSync(this.#fd, JSON.stringify(e) + '\n');
  }

  /** Closes the file (once); what is recorded after it stays in memory only, never in a descriptor the number now names. */
  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** Reads a member's trace file (a torn last line, from a kill mid-write, is left out). */
export function readGroupTrace(path: string): GroupEvent[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines[0] !== HEADER) throw new RangeError(`${path} is not a group trace (its first line is not ${HEADER})`);
  const out: GroupEvent[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    try {
      out.push(JSON.parse(line) as GroupEvent);
    } catch (err) {
      if (i === lines.length - 1) break; // torn tail
      throw new RangeError(`${path}:${i + 1}: not JSON: ${(err as Error).message}`);
    }
  }
  return out;
}

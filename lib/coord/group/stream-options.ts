/**
 * The options of a JetStream group member (./stream-group.ts), checked.
 * @module
 */
import type { NatsAuthOptions } from '../../channels/index.js';
import { validateInteger, validateOptions, validateString } from '../../internal/validators.js';
import { traceSettings, type CommonSettings } from './options.js';

/** Options of {@link joinStreamGroup}. */
export interface StreamGroupOptions {
  /** The NATS servers, `host:port[,host:port...]` (the JetStream cluster). */
  servers: string;
  /** The group: its stream is `PIPC_<group>`, its subjects `pipc.<group>.<member>`. Letters, digits, `_`, `-`; at most 64. */
  group: string;
  /** This member's id (same characters). */
  member: string;
  /** Every member of the (closed) group, this one included, in the same order at every member: what the trace's one view lists. At most 1024. */
  members: readonly string[];
  /** Nodes the stream is stored on (default 3): a quorum of them acknowledges each multicast, and the order survives the loss of fewer than half. */
  replicas?: number;
  /** Largest payload: default 1 MiB, or what the server's `max_payload` leaves past 1 KiB of headers (a larger one is a `RangeError` at the join). */
  maxMessageSize?: number;
  /** Messages the stream keeps (default 1,000,000): a full stream refuses multicasts (they fail), it never drops what a member may not have read. */
  maxMessages?: number;
  /** How long the stream remembers a message id to store a retry once (default 120,000 ms). */
  duplicateWindowMs?: number;
  /** Each request to NATS (connect, stream set-up, one publish attempt): default 5000 ms. */
  timeoutMs?: number;
  /** How long a multicast is tried again (the same message id, backing off to 1 s, three attempts at least) while its acknowledgement is lost or the stream has no leader: default 30,000 ms. */
  retryMs?: number;
  /** Credentials and TLS for servers that require them (checked when the connection opens). */
  auth?: NatsAuthOptions;
  /** Record this member's events (`path`: a file, as the other groups' traces; `payloads`: the payload bytes too). */
  trace?: { path?: string; maxEvents?: number; payloads?: boolean };
}

/** The checked options. @internal */
export interface StreamGroupSettings {
  readonly servers: string;
  readonly group: string;
  readonly member: string;
  readonly members: readonly string[];
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly subject: string;
  readonly replicas: number;
  /** Undefined: the server's limit decides (at the join). */
  readonly maxMessageSize: number | undefined;
  readonly maxMessages: number;
  readonly duplicateWindowMs: number;
  readonly timeoutMs: number;
  readonly retryMs: number;
  readonly trace: CommonSettings['trace'];
  readonly auth: NatsAuthOptions | undefined;
}

/** The settings once joined: the payload limit known (the server's `max_payload` decides the default). @internal */
export type JoinedStreamSettings = Omit<StreamGroupSettings, 'maxMessageSize'> & { readonly maxMessageSize: number };

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

function token(value: unknown, name: string): string {
  const t = validateString(value, name);
  if (!TOKEN.test(t)) throw new RangeError(`The "${name}" argument must be 1 to 64 letters, digits, _ or -. Received '${t.slice(0, 80)}'`);
  return t;
}

/** Checks {@link StreamGroupOptions}. @internal */
export function streamGroupSettings(options: StreamGroupOptions): StreamGroupSettings {
  const o = validateOptions(options);
  const servers = validateString(o.servers, 'options.servers'); // checked as host:port list when the connection opens
  const group = token(o.group, 'options.group');
  const member = token(o.member, 'options.member');
  if (!Array.isArray(o.members) || o.members.length === 0 || o.members.length > 1024)
    throw new TypeError('The "options.members" argument must be an array of 1 to 1024 member ids');
  const members = (o.members as unknown[]).map((m, i) => token(m, `options.members[${i}]`));
  if (new Set(members).size !== members.length) throw new RangeError('The "options.members" argument lists a member twice');
  if (!members.includes(member)) throw new RangeError(`The "options.members" argument must list options.member ('${member}')`);
  const prefix = `pipc.${group}.`;
  const timeoutMs = validateInteger(o.timeoutMs ?? 5000, 'options.timeoutMs', 1, 3_600_000);
  const retryMs = validateInteger(o.retryMs ?? 30_000, 'options.retryMs', 0, 3_600_000);
  const duplicateWindowMs = validateInteger(o.duplicateWindowMs ?? 120_000, 'options.duplicateWindowMs', 100, 7 * 86_400_000);
  // A retry must find its first attempt still remembered, or the stream may store it twice.
  if (duplicateWindowMs < retryMs + timeoutMs)
    throw new RangeError(
      `The "options.duplicateWindowMs" argument (${duplicateWindowMs}) must be at least options.retryMs + options.timeoutMs (${retryMs + timeoutMs})`,
    );
  return {
    servers,
    group,
    member,
    members,
    stream: `PIPC_${group}`,
    subjectPrefix: prefix,
    subject: prefix + member,
    replicas: validateInteger(o.replicas ?? 3, 'options.replicas', 1, 5),
    maxMessageSize:
      o.maxMessageSize === undefined ? undefined : validateInteger(o.maxMessageSize, 'options.maxMessageSize', 1, 64 * 1024 * 1024),
    maxMessages: validateInteger(o.maxMessages ?? 1_000_000, 'options.maxMessages', 1, 1e12),
    duplicateWindowMs,
    timeoutMs,
    retryMs,
    trace: traceSettings(o.trace),
    auth: o.auth as NatsAuthOptions | undefined,
  };
}

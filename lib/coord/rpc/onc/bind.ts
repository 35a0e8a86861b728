/**
 * Binding ONC programs: a server registers its program versions, a client
 * finds the address of a program version. Two registries: the system's
 * `rpcbind` (the port mapper at 127.0.0.1:111) for servers on raw ONC TCP,
 * where C programs look too; and the project's own name service (one name
 * per program, `oncrpc-<program number>`) for servers on a channel address,
 * or when `rpcbind` does not run. A program found nowhere is
 * `ERR_RPC_PROGRAM_UNAVAILABLE`; a program found without the version asked
 * is `ERR_RPC_VERSION_MISMATCH` with the versions there (learned from the
 * port mapper's list, or by asking the server's NULL procedure of that
 * version, which answers `PROG_MISMATCH` with low/high).
 * @module
 */
import { NameError, RpcError } from '../../../errors.js';
import { lookupName, registerName, type NameRegistration } from '../../names.js';
import { oncClient, type OncClient, type OncClientOptions } from './client.js';
import { pmapDump, pmapGetPort, PMAP_IPPROTO, pmapSet, pmapUnset, type PmapOptions } from './portmap.js';
import type { OncVersionSpec } from './program.js';
import { formatOncAddress, parseOncAddress } from './transport.js';

/** The name-service name of ONC program `program`: `oncrpc-<decimal number>`. */
export function oncServiceName(program: number): string {
  return `oncrpc-${program >>> 0}`;
}

/** Which registry to use: `auto` (rpcbind for `oncrpc://` servers when it answers, else the name service), or one of them only. */
export type OncBindVia = 'auto' | 'rpcbind' | 'names';

/** Options of {@link registerOnc} and {@link lookupOnc}. */
export interface OncBindOptions {
  readonly via?: OncBindVia;
  /** Where rpcbind is (default 127.0.0.1:111) and how long to wait for it. */
  readonly rpcbind?: PmapOptions;
}

/** What {@link registerOnc} registered; `unregister()` removes it (rpcbind mappings too). */
export interface OncBinding {
  /** `rpcbind` or `names`. */
  readonly via: 'rpcbind' | 'names';
  /** The program/version pairs registered. */
  readonly versions: readonly { readonly program: number; readonly version: number }[];
  unregister(): Promise<void>;
}

const isGone = (err: unknown): boolean =>
  err instanceof RpcError && (err.code === 'ERR_RPC_SERVER_GONE' || err.code === 'ERR_RPC_DEADLINE_EXCEEDED');

/**
 * Registers the versions `specs` that a server at `url` serves. A raw ONC
 * server (`oncrpc://host:port`) is registered with rpcbind (TCP mappings;
 * a stale mapping of the same program/version is replaced) when rpcbind
 * answers, else (and for any channel address) in the name service under
 * {@link oncServiceName}. Rejects with `ERR_RPC_SERVER_GONE` for `via:
 * 'rpcbind'` without rpcbind, with the name service's `NameError`
 * (`ERR_NAME_TAKEN`) when another live process holds the program's name.
 */
export async function registerOnc(url: string, specs: readonly OncVersionSpec[], options: OncBindOptions = {}): Promise<OncBinding> {
  const via = options.via ?? 'auto';
  const onc = parseOncAddress(url, 'url');
  const versions = specs.map((s) => ({ program: s.program, version: s.version }));
  if (onc && via !== 'names') {
    try {
      for (const v of versions) {
        await pmapUnset(v.program, v.version, options.rpcbind);
        if (!(await pmapSet({ prog: v.program, vers: v.version, prot: PMAP_IPPROTO.TCP, port: onc.port }, options.rpcbind))) {
          throw new RpcError('ERR_RPC_SYSTEM', `rpcbind refused to map program ${v.program} version ${v.version}`);
        }
      }
      return {
        via: 'rpcbind',
        versions,
        unregister: async () => {
          for (const v of versions) await pmapUnset(v.program, v.version, options.rpcbind).catch(() => false);
        },
      };
    } catch (err) {
      if (via === 'rpcbind' || !isGone(err)) throw err;
    }
  } else if (via === 'rpcbind') {
    throw new RangeError(`The "url" argument must be an oncrpc:// address to register with rpcbind. Received '${url}'`);
  }
  const programs = [...new Set(versions.map((v) => v.program))];
  const regs: NameRegistration[] = [];
  try {
    for (const p of programs) regs.push(registerName(oncServiceName(p), url));
  } catch (err) {
    for (const r of regs) r.unregister();
    throw err;
  }
  return {
    via: 'names',
    versions,
    unregister: () => {
      for (const r of regs) r.unregister();
      return Promise.resolve();
    },
  };
}

/** Asks the server at `address` whether it serves `program`/`version` (its NULL procedure); throws the mismatch. */
async function negotiate(address: string, program: number, version: number, timeoutMs: number): Promise<void> {
  const probe: OncVersionSpec = { programName: `program ${program}`, program, versionName: `version ${version}`, version, procedures: {} };
  const c = await oncClient(probe, address, { timeoutMs, callTimeoutMs: timeoutMs });
  try {
    await c.ping();
  } finally {
    await c.close();
  }
}

/**
 * The address of a server of `program`/`version`: from rpcbind
 * (GETPORT, as `oncrpc://host:port`, checked like the other), else from the name service (checked
 * by calling that version's NULL procedure). Rejects with
 * `ERR_RPC_PROGRAM_UNAVAILABLE` when no registry knows the program, and
 * `ERR_RPC_VERSION_MISMATCH` (with `low`/`high`) when it is there without
 * that version.
 */
export async function lookupOnc(
  target: { readonly program: number; readonly version: number },
  options: OncBindOptions = {},
): Promise<string> {
  const { program, version } = target;
  const via = options.via ?? 'auto';
  if (via !== 'names') {
    try {
      const port = await pmapGetPort(program, version, PMAP_IPPROTO.TCP, options.rpcbind);
      if (port !== 0) {
        // rpcbind answers GETPORT with another version's port when it has the program: the server says which it has
        const address = formatOncAddress(options.rpcbind?.host ?? '127.0.0.1', port);
        await negotiate(address, program, version, options.rpcbind?.timeoutMs ?? 3000);
        return address;
      }
      const others = (await pmapDump(options.rpcbind)).filter((m) => m.prog === program && m.prot === PMAP_IPPROTO.TCP).map((m) => m.vers);
      if (others.length > 0) {
        const low = Math.min(...others);
        const high = Math.max(...others);
        throw new RpcError('ERR_RPC_VERSION_MISMATCH', `rpcbind maps program ${program} versions ${low}..${high}, not ${version}`, {
          low,
          high,
        });
      }
    } catch (err) {
      if (via === 'rpcbind' || !isGone(err)) throw err;
    }
    if (via === 'rpcbind') throw new RpcError('ERR_RPC_PROGRAM_UNAVAILABLE', `rpcbind does not map program ${program}`);
  }
  let address: string;
  try {
    address = lookupName(oncServiceName(program));
  } catch (err) {
    if (!(err instanceof NameError)) throw err;
    throw new RpcError('ERR_RPC_PROGRAM_UNAVAILABLE', `no server of program ${program} is registered (rpcbind or the name service)`, {
      cause: err,
    });
  }
  await negotiate(address, program, version, options.rpcbind?.timeoutMs ?? 3000);
  return address;
}

/** {@link lookupOnc} then {@link oncClient}: a client of `spec` wherever a server of it is registered. */
export async function connectOnc<S extends OncVersionSpec>(
  spec: S,
  options: OncClientOptions & OncBindOptions = {},
): Promise<OncClient<S>> {
  return oncClient(spec, await lookupOnc(spec, options), options);
}

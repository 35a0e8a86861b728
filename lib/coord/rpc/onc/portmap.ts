/**
 * A client of the port mapper (PMAP version 2, RFC 1833 section 3: program
 * 100000, which `rpcbind` serves on port 111): SET, UNSET, GETPORT and
 * DUMP, over TCP. It is itself an ONC program, so it is an
 * {@link OncVersionSpec} and {@link oncClient} speaks it.
 * @module
 */
import { XdrError } from '../../../errors.js';
import { xdrBool, xdrUint, xdrVoid, type XdrType } from '../xdr/codec.js';
import { oncClient, type OncClient } from './client.js';
import type { OncVersionSpec } from './program.js';
import { formatOncAddress } from './transport.js';

/** The port mapper's program number. */
export const PMAP_PROGRAM = 100000;
/** Its well-known port. */
export const PMAP_PORT = 111;
/** `IPPROTO_TCP` and `IPPROTO_UDP`, as mappings name them. */
export const PMAP_IPPROTO = Object.freeze({ TCP: 6, UDP: 17 } as const);
/** Bound on the entries {@link pmapDump} reads. */
export const PMAP_MAX_DUMP = 4096;

/** One mapping: program, version, protocol (6 TCP, 17 UDP) -> port. */
export interface PmapMapping {
  readonly prog: number;
  readonly vers: number;
  readonly prot: number;
  readonly port: number;
}

const mapping: XdrType<PmapMapping> = Object.freeze<XdrType<PmapMapping>>({
  name: 'mapping',
  encode: (w, m) => {
    w.uint(m.prog).uint(m.vers).uint(m.prot).uint(m.port);
  },
  decode: (r) => ({ prog: r.uint(), vers: r.uint(), prot: r.uint(), port: r.uint() }),
});

const pmaplist: XdrType<PmapMapping[]> = Object.freeze<XdrType<PmapMapping[]>>({
  name: 'pmaplist',
  encode: (w, list) => {
    for (const m of list) {
      w.bool(true);
      mapping.encode(w, m);
    }
    w.bool(false);
  },
  decode: (r) => {
    const out: PmapMapping[] = [];
    while (r.bool()) {
      if (out.length >= PMAP_MAX_DUMP) throw new XdrError('ERR_XDR_LIMIT', `a port mapper list longer than ${PMAP_MAX_DUMP} entries`);
      out.push(mapping.decode(r));
    }
    return out;
  },
});

/** PMAP version 2's procedures. */
export const PMAP_V2 = {
  programName: 'PMAP_PROG',
  program: PMAP_PROGRAM,
  versionName: 'PMAP_VERS',
  version: 2,
  procedures: {
    PMAPPROC_SET: { name: 'PMAPPROC_SET', number: 1, arg: mapping, res: xdrBool },
    PMAPPROC_UNSET: { name: 'PMAPPROC_UNSET', number: 2, arg: mapping, res: xdrBool },
    PMAPPROC_GETPORT: { name: 'PMAPPROC_GETPORT', number: 3, arg: mapping, res: xdrUint },
    PMAPPROC_DUMP: { name: 'PMAPPROC_DUMP', number: 4, arg: xdrVoid, res: pmaplist },
  },
} as const satisfies OncVersionSpec;

/** Where the port mapper is. */
export interface PmapOptions {
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** Default {@link PMAP_PORT}. */
  readonly port?: number;
  /** Bound on connecting and on each call. Default 3000 ms. */
  readonly timeoutMs?: number;
}

async function withPmap<T>(options: PmapOptions, use: (c: OncClient<typeof PMAP_V2>, timeoutMs: number) => Promise<T>): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const c = await oncClient(PMAP_V2, formatOncAddress(options.host ?? '127.0.0.1', options.port ?? PMAP_PORT), {
    timeoutMs,
    callTimeoutMs: timeoutMs,
  });
  try {
    return await use(c, timeoutMs);
  } finally {
    await c.close();
  }
}

/** Registers a mapping (PMAPPROC_SET); `false` when the port mapper refuses (the program/version is already mapped). Rejects with `ERR_RPC_SERVER_GONE` when no port mapper answers. */
export function pmapSet(m: PmapMapping, options: PmapOptions = {}): Promise<boolean> {
  return withPmap(options, (c, timeoutMs) => c.PMAPPROC_SET(m, { timeoutMs }));
}

/** Removes the mappings of `prog`/`vers` (PMAPPROC_UNSET; protocol and port are ignored by the port mapper). */
export function pmapUnset(prog: number, vers: number, options: PmapOptions = {}): Promise<boolean> {
  return withPmap(options, (c, timeoutMs) => c.PMAPPROC_UNSET({ prog, vers, prot: 0, port: 0 }, { timeoutMs }));
}

/** The port of `prog`/`vers` over `prot` (default TCP), or 0 when it is not registered (PMAPPROC_GETPORT). */
export function pmapGetPort(prog: number, vers: number, prot: number = PMAP_IPPROTO.TCP, options: PmapOptions = {}): Promise<number> {
  return withPmap(options, (c, timeoutMs) => c.PMAPPROC_GETPORT({ prog, vers, prot, port: 0 }, { timeoutMs }));
}

/** Every mapping the port mapper holds (PMAPPROC_DUMP), at most {@link PMAP_MAX_DUMP}. */
export function pmapDump(options: PmapOptions = {}): Promise<PmapMapping[]> {
  return withPmap(options, (c, timeoutMs) => c.PMAPPROC_DUMP(undefined, { timeoutMs }));
}

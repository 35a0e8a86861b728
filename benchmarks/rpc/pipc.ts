/**
 * posix-ipc's own RPC in the benchmark: the echo service, its server role and
 * clients. Filled in when the services layer lands.
 * @module
 */
import type { EchoClient } from './peers.js';

export const PIPC_SYSTEMS: { name: string; label: string; address: (dir: string) => string }[] = [];

export async function pipcClient(_name: string, _address: string): Promise<EchoClient> {
  throw new Error('no posix-ipc RPC systems yet');
}

export async function runPipcServer(_kind: string, _address: string): Promise<boolean> {
  return false;
}

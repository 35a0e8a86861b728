/**
 * `joinMutex`: the member of the chosen algorithm, listening.
 * @module
 */
import { CentralMutex } from './central.js';
import type { DistributedMutex } from './mutex.js';
import { mutexSettings, type DistributedMutexOptions } from './options.js';
import { RicartAgrawalaMutex } from './ricart-agrawala.js';
import { SuzukiKasamiMutex } from './suzuki-kasami.js';
import { TokenRingMutex } from './token-ring.js';

/**
 * Joins a distributed mutex: listens at `options.listen` for the other
 * members (any address `listen()` takes: UNIX socket, TCP, TLS, shared
 * memory, a name) and returns this member. `await m.acquire({ timeoutMs })`
 * gives a guard whose `fence` goes with every write to the protected
 * resource ({@link FenceGate}); `guard.release()` (or `using`) leaves. Every
 * member must list the same membership and algorithm. The member's
 * connections (and an idle token ring's timer) keep the process alive until
 * `close()`. See docs/dmutex.md.
 * @example
 * ```ts
 * const m = await joinMutex({ algorithm: 'ricart-agrawala', id: 2, listen: 'unix:/tmp/m2', peers: [{ id: 1, address: 'unix:/tmp/m1' }] });
 * {
 *   using guard = await m.acquire({ timeoutMs: 5000 });
 *   await resource.write(data, guard.fence);
 * }
 * ```
 */
export async function joinMutex(options: DistributedMutexOptions): Promise<DistributedMutex> {
  const settings = mutexSettings(options);
  const m =
    settings.algorithm === 'central'
      ? new CentralMutex(settings)
      : settings.algorithm === 'token-ring'
        ? new TokenRingMutex(settings)
        : settings.algorithm === 'ricart-agrawala'
          ? new RicartAgrawalaMutex(settings)
          : new SuzukiKasamiMutex(settings);
  await m.open({
    listen: options.listen,
    listenOptions: options.listenOptions,
    connectOptions: options.connectOptions,
    onLink: options.onLink,
    maxMessageSize: options.maxMessageSize ?? 64 * 1024, // a Suzuki-Kasami token of 1025 members is about 16 KiB
  });
  return m;
}

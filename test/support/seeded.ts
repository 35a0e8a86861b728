// Seeded runs for fault-injection tests: the seed comes from
// POSIX_IPC_FAULT_SEED when set (a replay), else at random; a failure is
// rethrown with the seed and the command that replays it.
import { expect } from 'vitest';

import { seedFromEnv } from '../../lib/index.js';

export const SEED_VARIABLE = 'POSIX_IPC_FAULT_SEED';

export async function seeded<T>(test: string, run: (seed: number) => Promise<T>, seed = seedFromEnv(SEED_VARIABLE)): Promise<T> {
  try {
    return await run(seed);
  } catch (err) {
    const message = `${test} failed with seed ${seed}; replay: ${SEED_VARIABLE}=${seed} npx vitest run ${expect.getState().testPath ?? '<test file>'}`;
    process.stderr.write(`${message}\n`);
    throw new Error(`${message}\n${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

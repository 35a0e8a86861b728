import { configDefaults, defineConfig } from 'vitest/config';

// `npm run test:heavy` (POSIX_IPC_HEAVY=1) runs the long stress suites of
// test/heavy/ instead of the default suite, which leaves them out.
const heavy = ['1', 'true'].includes(process.env.POSIX_IPC_HEAVY ?? '');

export default defineConfig({
  test: {
    // Each test file runs in its own process: tests fork children, install
    // signal handlers and count descriptors, which worker threads would share.
    pool: 'forks',
    maxWorkers: 2,
    include: heavy ? ['test/heavy/**/*.test.ts'] : ['test/**/*.test.ts'],
    exclude: heavy ? configDefaults.exclude : [...configDefaults.exclude, 'test/heavy/**'],
    setupFiles: ['test/setup/leak-check.ts'],
    globalSetup: ['test/setup/global-leak-gate.ts'],
    testTimeout: heavy ? 300_000 : 20_000,
    hookTimeout: 20_000,
  },
});

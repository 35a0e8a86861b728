import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Each test file runs in its own process: tests fork children, install
    // signal handlers and count descriptors, which worker threads would share.
    pool: 'forks',
    maxWorkers: 2,
    include: ['test/**/*.test.ts'],
    // The heavy suite runs on its own: `npm run test:heavy` (vitest.heavy.config.ts).
    exclude: [...configDefaults.exclude, 'test/heavy/**'],
    setupFiles: ['test/setup/leak-check.ts'],
    globalSetup: ['test/setup/global-leak-gate.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});

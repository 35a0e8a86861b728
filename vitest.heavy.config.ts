import { configDefaults, defineConfig } from 'vitest/config';

import base from './vitest.config.js';

// The heavy suite (`npm run test:heavy`): the default suite's set-up (forks,
// leak checks), for test/heavy/ only, with room for long runs.
export default defineConfig({
  test: {
    ...base.test,
    include: ['test/heavy/**/*.test.ts'],
    exclude: [...configDefaults.exclude],
    testTimeout: 900_000,
    hookTimeout: 60_000,
  },
});

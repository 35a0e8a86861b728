// The configuration of `npm run test:asan` (scripts/test-asan.mjs): the
// normal one, plus a leak check at the end of each test file.
import { fileURLToPath } from 'node:url';
import { mergeConfig } from 'vitest/config';

import base from '../../vitest.config.js';

export default mergeConfig(base, {
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: { setupFiles: ['test/setup/sanitizers.ts'] },
});

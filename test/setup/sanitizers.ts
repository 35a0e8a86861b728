// Sanitizer runs only (npm run test:asan, test/setup/vitest.sanitizers.config.ts).
// vitest stops its workers with SIGTERM and SIGKILL half a second later:
// too soon for LeakSanitizer's check at exit, which takes seconds in a
// process the size of a vitest worker. So each test file asks for a check
// once it is done; scripts/test-asan.mjs reads the reports and fails the run
// on a leak whose allocation the addon made.
import { afterAll } from 'vitest';

import { native } from '../../lib/internal/native.js';

afterAll(() => {
  if (native.sanitizerLeakCheck === undefined) throw new Error('this is not the sanitizer build of the addon');
  native.sanitizerLeakCheck();
}, 60_000);

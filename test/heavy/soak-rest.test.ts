// The model-based soak of the heavy suite over shared memory, TCP and TLS
// (soak.test.ts has the other transports): a file of its own so that the two
// halves run side by side on the two workers.
import { describe, expect, it } from 'vitest';

import { soak, SOAK_REST } from '../support/soak-model.js';

describe('model-based soak', () => {
  it.each(SOAK_REST)(
    '%s: no loss, duplication, reordering or corruption',
    async (transport) => {
      const result = await soak(transport, 30, 80);
      console.info(`soak over ${transport}: ${result.runs} runs, ${result.sessions} relay processes, ${result.messages} messages`);
      expect(result.runs).toBe(30);
    },
    900_000,
  );
});

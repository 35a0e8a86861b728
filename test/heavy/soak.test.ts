// The heavy load suite (`npm run test:heavy`): the model-based soak on every
// transport with many more runs and commands, and 1,024 channels at once.
import { describe, expect, it } from 'vitest';

import { heavySoak, manyChannels, SOAK_REST, SOAK_TRANSPORTS } from '../support/soak-model.js';

describe('1,024 channels at once', () => {
  it('all carry checksummed traffic, on every transport, at the same time', async () => {
    const started = performance.now();
    const { peakFds } = await manyChannels(1024);
    console.info(`1,024 channels: ${peakFds} descriptors open at the peak, ${Math.round(performance.now() - started)} ms`);
    expect(peakFds).toBeGreaterThanOrEqual(2048);
  }, 300_000);
});

// Half the transports here, the other half in soak-rest.test.ts: two files run on
// the two workers side by side (one file's tests run one after another).
const HERE = SOAK_TRANSPORTS.filter((t) => !SOAK_REST.includes(t));

heavySoak(HERE);

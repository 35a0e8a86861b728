// The heavy leak suite (`npm run test:heavy`): 1,000 create/close cycles of
// everything, and more children.
import * as cp from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { spawn } from '../../lib/index.js';
import { within, zombieChildren } from '../support/helpers.js';
import { defineLeakCycles } from '../support/leak-suite.js';

defineLeakCycles(1000, 200);

describe('children', () => {
  it('2,000 children through spawn (batches of 100) beside 100 through child_process: every exit reported, no zombie', async () => {
    const theirs = Array.from({ length: 100 }, (_, i) => {
      const c = cp.spawn('/bin/sh', ['-c', `exit ${i % 256}`], { stdio: 'ignore' });
      return new Promise<number | null>((resolve) => c.on('exit', (code) => resolve(code)));
    });
    let ours = 0;
    for (let batch = 0; batch < 20; batch++) {
      const children = Array.from({ length: 100 }, () => spawn('/bin/true', [], { fds: {} }));
      const statuses = await within(60_000, `batch ${batch}`, Promise.all(children.map((c) => c.exited)));
      expect(statuses.every((s) => s.code === 0 && s.signal === null)).toBe(true);
      ours += statuses.length;
    }
    expect(ours).toBe(2000);
    expect(await within(30_000, 'child_process exits', Promise.all(theirs))).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(zombieChildren()).toEqual([]);
  }, 300_000);
});

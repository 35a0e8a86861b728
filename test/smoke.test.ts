// Loads the addon and touches each primitive once. CI runs this file with
// PREBUILDS_ONLY=1 to prove a shipped prebuild works on its own.
import { describe, expect, it } from 'vitest';

import * as ipc from '../lib/index.js';

describe('smoke', () => {
  it('a pipe round-trips bytes', () => {
    const [r, w] = ipc.pipe();
    ipc.writeSync(w, Buffer.from('ok'));
    const buf = Buffer.alloc(2);
    expect(ipc.readSync(r, buf)).toBe(2);
    expect(buf.toString()).toBe('ok');
    ipc.closeSync(r);
    ipc.closeSync(w);
  });
});

// Per test file (each runs in its own process): the file must give back every
// descriptor it opened and reap every child it started.
import { readdirSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';

import { zombieChildren } from '../support/helpers.js';

function ipcFds(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // the directory's own descriptor, gone by now
    }
    // Only kinds of object posix-ipc creates: pipes, FIFOs (paths under tmp),
    // shared memory and named semaphores (/dev/shm), pidfds.
    if (/^pipe:|^\/dev\/shm\/|anon_inode:\[pidfd\]|\/pipc-/.test(target)) out.set(Number(name), target);
  }
  return out;
}

let before: Map<number, string>;

beforeAll(() => {
  before = ipcFds();
});

afterAll(async () => {
  // Give exit notifications and stream closes already under way a moment.
  for (let i = 0; i < 50; i++) {
    const leaked = [...ipcFds()].filter(([fd, target]) => before.get(fd) !== target);
    if (leaked.length === 0 && zombieChildren().length === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  const leaked = [...ipcFds()].filter(([fd, target]) => before.get(fd) !== target);
  const zombies = zombieChildren();
  const problems: string[] = [];
  if (leaked.length > 0) problems.push(`leaked descriptors: ${leaked.map(([fd, t]) => `${fd} -> ${t}`).join(', ')}`);
  if (zombies.length > 0) problems.push(`zombie children: ${zombies.join(', ')}`);
  if (problems.length > 0) throw new Error(`leak check failed: ${problems.join('; ')}`);
});

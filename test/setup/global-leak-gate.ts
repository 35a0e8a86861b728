// Around the whole suite: no shared-memory object, named semaphore or FIFO
// made by a test may outlive it.
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';

const PREFIX = /^(sem\.)?pipc-/; // every test names its objects pipc-<unique>

function leftovers(): string[] {
  const shm = readdirSync('/dev/shm')
    .filter((n) => PREFIX.test(n))
    .map((n) => `/dev/shm/${n}`);
  const tmp = readdirSync(tmpdir())
    .filter((n) => PREFIX.test(n))
    .map((n) => `${tmpdir()}/${n}`);
  return [...shm, ...tmp];
}

export default function setup(): () => void {
  const before = new Set(leftovers());
  return () => {
    const leaked = leftovers().filter((p) => !before.has(p));
    if (leaked.length > 0) {
      throw new Error(`The test suite left kernel objects behind: ${leaked.join(', ')}`);
    }
  };
}

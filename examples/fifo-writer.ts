// Named pipe, writer side: creates the FIFO, waits for a reader, writes, removes it.
// Run: npx tsx examples/fifo-writer.ts /tmp/my_fifo   (then, in another terminal, fifo-reader.ts)
import { unlinkSync } from 'node:fs';

import { closeSync, mkfifo, openFifoSync, writeSync } from '../lib/index.js';

const path = process.argv[2] ?? '/tmp/my_fifo';
mkfifo(path, 0o600); // mkfifo("/tmp/my_fifo", S_IRUSR|S_IWUSR)
try {
  const fd = openFifoSync(path, 'w'); // blocks until a reader opens it, like open(O_WRONLY)
  writeSync(fd, Buffer.from('Hello, Named Pipe!\0'));
  closeSync(fd);
} finally {
  unlinkSync(path); // delete the named pipe
}

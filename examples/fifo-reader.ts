// Named pipe, reader side: opens the FIFO by path and prints what arrives.
// Run: npx tsx examples/fifo-reader.ts /tmp/my_fifo
import { closeSync, openFifoSync, readSync } from '../lib/index.js';

const path = process.argv[2] ?? '/tmp/my_fifo';
const fd = openFifoSync(path, 'r'); // waits for the writer, like open(O_RDONLY)
const buffer = Buffer.alloc(100);
const n = readSync(fd, buffer)!;
console.log(`Received message: ${buffer.subarray(0, n).toString().replace(/\0$/, '')}`);
closeSync(fd);

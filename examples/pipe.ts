// A pipe within one process: the classic "Message in a pipe" C example.
// Run: npx tsx examples/pipe.ts
import { closeSync, pipe, readSync, writeSync } from '../lib/index.js';

const msg = Buffer.from('Message in a pipe.\n\0');
const [readFd, writeFd] = pipe(); // pipe_fd[0], pipe_fd[1]

const written = writeSync(writeFd, msg);
const text = (bytes: Buffer): string => bytes.toString().replace(/\0$/, '').trimEnd();
console.log(`Sent: ${text(msg)} [${msg.length}, ${written}]`);

const buf = Buffer.alloc(100);
const read = readSync(readFd, buf)!;
console.log(`Rcvd: ${text(buf.subarray(0, read))} [${read}]`);

closeSync(writeFd);
closeSync(readFd);

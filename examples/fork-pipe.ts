// A pipe across a fork: the parent writes, the child reads (the classic fork+pipe C example).
// Node cannot fork() a running JavaScript program; forkNode starts this same
// module again as the child, with the pipe's read end placed at fd 3.
// Run: npx tsx examples/fork-pipe.ts
import { closeSync, forkNode, pipe, readSync, writeSync } from '../lib/index.js';

if (process.argv[2] === 'child') {
  const buf = Buffer.alloc(100);
  const n = readSync(3, buf)!;
  console.log(`Child Rcvd: ${buf.subarray(0, n).toString()} [${n}]`);
  closeSync(3);
} else {
  const [readFd, writeFd] = pipe();
  const child = forkNode(new URL(import.meta.url), { args: ['child'], fds: { 0: 0, 1: 1, 2: 2, 3: readFd } });
  closeSync(readFd); // the child has its own copy
  const msg = Buffer.from('Greetings from your parent!');
  const written = writeSync(writeFd, msg);
  console.log(`Parent: ${msg.toString()} [${msg.length}, ${written}]`);
  closeSync(writeFd);
  const { code } = await child.exited;
  console.log(`Child exited with code ${code}`);
}

// Node's child_process.fork IPC channel, JSON serialization: the obvious way,
// and the reference every other transport is compared with (the "x json" column).
import { forkTransport } from '../lib/fork-channel.js';

export default forkTransport('json', 10);

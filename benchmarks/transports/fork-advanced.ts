// Node's child_process.fork IPC channel with serialization: 'advanced' (V8 serializer).
import { forkTransport } from '../lib/fork-channel.js';

export default forkTransport('advanced', 11);

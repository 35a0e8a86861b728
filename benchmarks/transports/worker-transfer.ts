// worker_threads MessagePort, transferring pooled ArrayBuffers (zero-copy hand-over).
import { portTransport } from '../lib/port-channel.js';

export default portTransport(true, 21);

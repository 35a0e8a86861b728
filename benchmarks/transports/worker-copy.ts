// worker_threads MessagePort, postMessage(Uint8Array): the bytes are copied (structured clone).
import { portTransport } from '../lib/port-channel.js';

export default portTransport(false, 20);

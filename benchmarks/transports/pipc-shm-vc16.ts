// posix-ipc shared-memory channel, every message stamped with a vector clock of 16 (lib/vclock-shm.ts).
import { vectorClockShm } from '../lib/vclock-shm.js';

export default vectorClockShm(16, 56);

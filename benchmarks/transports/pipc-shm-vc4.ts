// posix-ipc shared-memory channel, every message stamped with a vector clock of 4 (lib/vclock-shm.ts).
import { vectorClockShm } from '../lib/vclock-shm.js';

export default vectorClockShm(4, 55);

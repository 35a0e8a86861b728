// Bootstrap of peer B as a worker thread: worker threads do not inherit the
// tsx loader in Node 20, so register it here, then load the TypeScript entry.
import { register } from 'tsx/esm/api';

register();
await import('./peer-thread.ts');

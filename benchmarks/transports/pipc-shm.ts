// posix-ipc shared-memory channel: an SPSC ring in a POSIX shared-memory
// segment, opened by name from both processes (lib/shm-ends.ts).
import { channelTransport } from '../lib/pipc-channels.js';
import { openShmEnds, shmLink } from '../lib/shm-ends.js';

export default channelTransport({
  name: 'pipc-shm',
  label: 'posix-ipc shm channel',
  ceiling: 'shm',
  order: 52,
  setup: (ipc, spec) => shmLink(ipc, spec),
  open: (ipc, ctx, _need, view) => openShmEnds(ipc, ctx, view),
});

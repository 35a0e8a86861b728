/**
 * Names this process created and must remove: on close, and on normal exit
 * or an uncaught exception (Node runs 'exit' listeners in both cases). A
 * SIGKILL leaves them behind: each transport documents its clean-up call.
 * posix-ipc installs no signal handlers.
 * @internal
 * @module
 */
const pending = new Map<string, () => void>();
let hooked = false;

function runAll(): void {
  for (const remove of pending.values()) {
    try {
      remove();
    } catch {
      // already gone, or not ours any more: nothing else to do at exit
    }
  }
  pending.clear();
}

/** Registers `remove` to run at exit; returns a function that runs it now (once) instead. */
export function removeAtExit(key: string, remove: () => void): () => void {
  if (!hooked) {
    hooked = true;
    process.on('exit', runAll);
  }
  pending.set(key, remove);
  return () => {
    if (pending.get(key) !== remove) return;
    pending.delete(key);
    remove();
  };
}

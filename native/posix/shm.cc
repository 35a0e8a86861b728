// Placeholder: filled in by the shm work.

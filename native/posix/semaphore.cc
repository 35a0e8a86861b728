// Placeholder: filled in by the semaphore work.

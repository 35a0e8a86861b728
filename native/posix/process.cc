// Placeholder: filled in by the process work.

// Placeholder: filled in by the futex work.

// Leaks: descriptors, mappings, names, children and threads, after success,
// failure, exit and crash. Heavier versions: test/heavy/leaks.test.ts.
import { defineLeakCycles } from './leak-suite.js';

defineLeakCycles(200);

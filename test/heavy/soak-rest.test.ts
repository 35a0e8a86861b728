// The model-based soak of the heavy suite over shared memory, TCP and TLS
// (soak.test.ts has the other transports): a file of its own so that the two
// halves run side by side on the two workers.
import { heavySoak, SOAK_REST } from '../support/soak-model.js';

heavySoak(SOAK_REST);

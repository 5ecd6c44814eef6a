// Setup file of the `fault` project: the first fault file to start writes FAULT_PHASE_MARKER (when set), which
// tells scripts/test.sh that the API tests are over and the mirror project may start beside the fault files.
import { writeFileSync } from 'node:fs';

const marker = process.env.FAULT_PHASE_MARKER;
if (marker) writeFileSync(marker, `${process.pid}\n`, { flag: 'a' });

// The liveness rounds the supervisor's tests run their gateways with (src/supervisor/liveness.ts's
// test knobs): judging a process takes its failures' rounds and a timeout, 45 s at the real ones,
// waited out several times a file on a suite that must keep under 15 minutes.
import { LIVENESS_EVERY_ENV, LIVENESS_FAILURES, LIVENESS_TIMEOUT_ENV } from '../../src/supervisor/liveness.js';

export const EVERY_MS = 2_500;
export const TIMEOUT_MS = 2_000;
export const FAILURES = LIVENESS_FAILURES;
/** What a gateway started with it in its environment asks by. */
export const LIVENESS_ENV = { [LIVENESS_EVERY_ENV]: String(EVERY_MS), [LIVENESS_TIMEOUT_ENV]: String(TIMEOUT_MS) };

// The health probe after a stall of the gateway's own loop (a long GC, the host swapping) that
// came between the probe's ask and the turn's flush, which sends what the turn wrote. Its bound
// ran from the ask: after the stall the REQUEST left and was judged at once, unanswered, so a
// worker that had had it for no time failed its probe ("no answer within N ms"), and its version
// was refused. Near the end of the start bound a probe has 1 s (probeWorker), which such a stall
// outlasts. The same as answers-ping-stall's and heartbeat-flush-stall's, for Worker.probe. A
// real worker on a real link; the stall is this process's loop held, as a GC holds it, and the
// worker answers a while after it (SIGSTOPped through the stall), so a judgement made as the
// request leaves cannot have its answer, whatever the host's speed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { workerForSuite } from '../helpers/link-harness.js';
import { holdLoop, whileStopped } from '../helpers/stall.js';

const test = suite('the health probe after a stall of the loop');
/** The probe's bound: what probeWorker gives the last probe of a start bound. */
const BOUND_MS = 1000;
/** How long after the stall the worker is continued: well inside the bound, long after a judgement at once. */
const CONTINUED_AFTER_MS = 300;
// No heartbeat while the cases run: its PING would be judged through the worker's stop.
const started = workerForSuite(test, 'faults', { threads: 2, heartbeatMs: 60_000 });

test('a probe that left only after a stall of the loop has its whole bound from then', async () => {
  // The timer that continues the worker is armed before the stall, so its delay counts in real time.
  await whileStopped(started().pid!, BOUND_MS + 300 + CONTINUED_AFTER_MS, async () => {
    const status = started().probe('/status/200', BOUND_MS).then((s) => s, (err: Error) => err.message);
    holdLoop(BOUND_MS + 300);
    assert.is(await status, 200, 'the worker had the probe for no time when it was judged unanswered');
  });
});

test('a worker that does not answer still fails the bound', async () => {
  await whileStopped(started().pid!, 60_000, async () => {
    const failed = await started().probe('/status/200', BOUND_MS).then(() => null, (err: Error) => err.message);
    assert.match(failed ?? 'answered', /no answer within 1000 ms/);
  });
  assert.is(await started().probe('/status/200', 10_000), 200, 'the continued worker answers');
});

test.run();

// WorkerLink.answersPing (is an ASGI loop free, after one of its requests got a 504?) after a
// stall of the gateway's own loop (a long GC, the host swapping) that came between the ask and
// the turn's flush, which sends what the turn wrote. The bound ran from the ask: after the stall
// the PING left and was judged at once, unanswered, so a worker that had had it for no time
// was recycled as one whose loop is held. Seen under load in heartbeat-stall's ASGI case, the
// gateway SIGSTOPped just after its 504 went out. A real worker on a real link; the stall is
// this process's loop held, as a GC holds it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { workerForSuite } from '../helpers/link-harness.js';
import { holdLoop, whileStopped } from '../helpers/stall.js';

const test = suite('answersPing after a stall of the loop');
/** The bound given to the loop's answer: a free loop answers within a millisecond. */
const BOUND_MS = 1500;
/** How long after the stall the worker is continued: well inside the bound, long after a judgement at once. */
const CONTINUED_AFTER_MS = 300;
// No heartbeat of its own while the cases run: only the PINGs they send.
const started = workerForSuite(test, 'asgi-http', { heartbeatMs: 60_000 });

test('a PING that left only after a stall of the loop has its whole bound from then', async () => {
  // The worker answers only a while after the stall, as a loop busy with other tasks does: a
  // judgement made as the PING leaves cannot have its answer, whatever the host's speed. The
  // timer is armed before the stall, so its delay is counted in real time.
  await whileStopped(started().pid!, BOUND_MS + 300 + CONTINUED_AFTER_MS, async () => {
    const answered = started().link!.answersPing(BOUND_MS);
    holdLoop(BOUND_MS + 300);
    assert.ok(await answered, 'the worker had the PING for no time when it was judged unanswered');
  });
});

test('a loop that does not answer still fails the bound', async () => {
  await whileStopped(started().pid!, 60_000, async () => {
    assert.is(await started().link!.answersPing(BOUND_MS), false);
  });
  assert.ok(await started().link!.answersPing(10_000), 'the continued worker answers');
});

test.run();

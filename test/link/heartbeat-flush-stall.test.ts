// The heartbeat's own PING after a stall of the gateway's loop (a long GC, the host swapping)
// that came between the beat that asked for it and the turn's flush that sends it. The hung
// bound ran from the ask: after a stall longer than it, the next beat found the PING older than
// the bound though the worker had had it for no time, and killed an idle worker as hung. The
// same as answers-ping-stall's, for the heartbeat (Worker.startHeartbeat). A real worker on a
// real link; the stall is this process's loop held, as a GC holds it, and the worker answers a
// while after it (SIGSTOPped through the stall), as a busy one does, so a judgement made as the
// PING leaves cannot have its answer whatever the host's speed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { workerForSuite } from '../helpers/link-harness.js';
import { waitFor } from '../helpers/process.js';
import { holdLoop, processState } from '../helpers/stall.js';

const test = suite('the heartbeat after a stall of the loop');
const BEAT_MS = 150;
const HUNG_AFTER_MS = 1000;
/** How long after the stall the worker is continued: inside the bound, long after a judgement at once. */
const CONTINUED_AFTER_MS = 300;
const output: string[] = [];
const started = workerForSuite(test, 'asgi-http', { heartbeatMs: BEAT_MS, hungAfterMs: HUNG_AFTER_MS }, output);

test('a beat\'s PING that left only after a stall has the whole hung bound from then', async () => {
  const worker = started();
  const pid = worker.pid!;
  const link = worker.link!;
  let killing: string | null = null;
  worker.on('killing', (why: string) => { killing = why; });
  // Wait for a beat to ask and be answered, so the next one asks afresh.
  const pongs = () => (link as unknown as { pongs: number }).pongs;
  const seen = pongs();
  await waitFor(() => pongs() > seen, 10_000, 'a heartbeat answered');
  // A worker killed as hung is gone: continuing it is then nothing to do, and the assertion says why.
  const cont = () => {
    try { process.kill(pid, 'SIGCONT'); } catch { /* already gone */ }
  };
  const ping = link.ping.bind(link);
  let stalled = false;
  link.ping = () => {
    ping();
    if (stalled) return;
    stalled = true;
    // The beat asked; its PING is written, not yet flushed. The worker stops now and goes on
    // after the stall, and this loop is held past the hung bound meanwhile.
    process.kill(pid, 'SIGSTOP');
    const stopped = Date.now();
    while (processState(pid) !== 'T' && Date.now() - stopped < 5_000) holdLoop(5);
    holdLoop(HUNG_AFTER_MS + 300);
    setTimeout(cont, CONTINUED_AFTER_MS);
  };
  try {
    await waitFor(() => stalled, 10_000, 'the next beat to ask');
    // A few beats past the continue: a judgement by the ask's time would have killed by then.
    await new Promise((r) => setTimeout(r, CONTINUED_AFTER_MS + 4 * BEAT_MS + 500));
  } finally {
    link.ping = ping;
    cont();
  }
  assert.is(killing, null, `the worker was killed (${killing}) though it had the PING for no time\n${output.join('\n')}`);
  assert.is(worker.pid, pid);
  assert.is(worker.state, 'ready');
});

test.run();

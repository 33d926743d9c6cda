// An app that installs its own SIGTERM handler at import (python-shim/apppkg_shim/app_signal.py):
// the worker's stop handshake keeps the signal, drains, then runs the app's handler, where it
// used to be replaced and never run.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { get, startLinkHarness, type LinkHarness } from '../helpers/link-harness.js';
import { waitFor } from '../helpers/process.js';

const t = suite<{ harness?: LinkHarness }>('own-signals');
t.after.each(async (ctx) => {
  await ctx.harness?.stop();
  ctx.harness = undefined;
});

for (const kind of ['wsgi', 'asgi'] as const) {
  t(`${kind}: a stop drains the request in flight, then runs the app's own SIGTERM handler, and exits 0`, async (ctx) => {
    const h = (ctx.harness = await startLinkHarness('own-signals', { app: `${kind}_app:application`, kind, threads: 2 }));
    const worker = h.workers[0];
    const exits: unknown[] = [];
    worker.on('exit', (code, signal) => exits.push([code, signal]));
    const slow = get(`${h.url}/slow`);
    await waitFor(() => worker.inFlight === 1, 5000, 'the request in flight');
    await worker.stop(10_000);
    const answer = await slow;
    assert.is(answer.status, 200, 'the request in flight finished');
    assert.equal(exits, [[0, null]]);
    // The exit may come before the worker's stderr pipe is read to its end.
    await waitFor(() => h.output.includes(`app's own SIGTERM handler ran in ${worker.pid}`), 5000, () => `the handler's line, in:\n${h.output.join('\n')}`);
  });
}

t('wsgi: a SIGTERM the kernel gives to a thread other than the main one still begins the stop', async (ctx) => {
  // The main thread waits in poll() with no timeout; Python runs a handler only there, so the
  // signal's C handler, run on another thread, must wake it (signal.set_wakeup_fd): without it
  // the stop began only at the grace's SIGKILL.
  const h = (ctx.harness = await startLinkHarness('own-signals', { app: 'masked_app:application', kind: 'wsgi', threads: 2 }));
  const worker = h.workers[0];
  assert.is((await get(`${h.url}/`)).status, 200);
  const exits: unknown[] = [];
  worker.on('exit', (code, signal) => exits.push([code, signal]));
  const began = Date.now();
  await worker.stop(8000);
  assert.equal(exits, [[0, null]], 'a clean exit, not the SIGKILL at the grace');
  assert.ok(Date.now() - began < 5000, `stopped in ${Date.now() - began} ms`);
});

t.run();

// The gateway's stop (SIGTERM) through the real CLI: once no request is in flight its workers
// are told to stop and have what is left of --grace to end (work an ASGI app runs after a
// response, its lifespan shutdown), not a fixed 5 s that killed a slow shutdown while most of
// the grace was unused; the stop still ends within --grace and the workers' bound.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, startCli, tempDir } from '../helpers/process.js';

const test = suite('gateway stop: the workers\' share of the grace');

/** Answers, then works on for `AFTER_S` seconds (a task the app started); logs how it ends. */
const AFTER_S = 6;
const ASGI_APP = `import asyncio, os
LOG = os.path.join(os.environ["APPPKG_DATA_DIR"], "events.log")
def event(text):
    with open(LOG, "a") as f:
        f.write(text + "\\n")
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                event("shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
    try:
        await asyncio.sleep(${AFTER_S})
        event("work done")
    except asyncio.CancelledError:
        event("cancelled")
        raise
`;

test('an idle gateway\'s SIGTERM lets a worker finish its work after a response and its lifespan shutdown within --grace, not 5 s', async () => {
  const work = tempDir('apppkg-stop-grace-');
  const apps = join(work.path, 'apps');
  writePackage(apps, 'later', { 'app.yaml': 'platform: python, asgi\napp: later:app\n', 'later.py': ASGI_APP });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--access-log', 'off', '--grace', '20']);
  const events = (): string[] => {
    const file = join(work.path, 'state', 'apps', 'later', 'data', 'events.log');
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
  };
  try {
    const res = await request(`${gw.url}/later/`);
    assert.is(res.statusCode, 200);
    const pid = Number(await res.body.text());
    // Nothing is in flight for the front: the worker alone holds its task.
    assert.is(await gw.stop(30_000), 0, gw.output());
    // Its task ran to its end (not cancelled at 5 s), then its lifespan shutdown (the other
    // worker, idle, shut down at once).
    const said = events();
    assert.ok(said.includes('work done') && !said.includes('cancelled'), said.join('\n'));
    assert.is(said[said.length - 1], 'shutdown', said.join('\n'));
    await assertNoOrphans([pid]);
  } finally {
    await gw.stop();
    work.remove();
  }
});

test.run();

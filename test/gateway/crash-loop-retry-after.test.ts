import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { appStatus } from '../helpers/status.js';
import { startCli, tempDir, waitFor } from '../helpers/process.js';

// One worker, so that when its exit is logged with its delay nothing else can serve or restart
// sooner: the 503 right after says how long that delay has left.
test("a crash loop's 503 says in Retry-After how long until its worker starts again, not 1", async () => {
  const apps = tempDir('apppkg-loop-apps-');
  const state = tempDir('apppkg-loop-state-');
  addPackage(apps.path, 'dies-soon', 'loner');
  const environment = join(state.path, 'environment.yaml');
  writeFileSync(environment, 'apps:\n  loner:\n    workers: 1\n');
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', environment, '--access-log', 'off']);
  try {
    // The delays double from 0.5 s: the fifth exit in a minute is a crash loop, with 8 s to wait.
    const exit = /loner: worker \d+ exited \(status 1\); restarting in (\d+) ms \(crash loop\)/;
    const delay = await waitFor(() => Number(exit.exec(gw.output())?.[1] ?? 0) || null, 40_000, 'the crash loop to be logged');
    assert.ok(delay >= 4000, `the delay logged: ${delay} ms`);
    assert.is((await appStatus(gw, 'loner')).workers.length, 0);
    const res = await request(`${gw.url}/loner/`);
    const body = await res.body.text();
    assert.is(res.statusCode, 503);
    assert.match(body, /loner is in a crash loop/);
    const retryAfter = Number(res.headers['retry-after']);
    // Seconds left of the delay just logged: a busy machine may have spent some of it already.
    assert.ok(retryAfter >= 2 && retryAfter <= Math.ceil(delay / 1000), `Retry-After ${res.headers['retry-after']} for a delay of ${delay} ms`);
  } finally {
    await gw.stop();
    apps.remove();
    state.remove();
  }
});

test.run();

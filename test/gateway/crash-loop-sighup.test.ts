// SIGHUP after a crash loop's cause was fixed in place: the app serves again at once, rather
// than after the back-off's delay (up to 30 s).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { startCli, tempDir, waitFor } from '../helpers/process.js';

const test = suite('crash loop and SIGHUP');
const work = tempDir('apppkg-crash-hup-');

test.after(() => work.remove());

test('SIGHUP restarts an app in a crash loop at once, so a fix made in place serves without waiting out the back-off', async () => {
  const apps = join(work.path, 'apps');
  const dir = addPackage(apps, 'dies-soon', 'flaky');
  // One worker: with two, the other's shorter delay could end meanwhile and serve the fix.
  const environment = join(work.path, 'environment.yaml');
  writeFileSync(environment, 'apps:\n  flaky:\n    workers: 1\n');
  // --watch-interval 0: nothing but the SIGHUP may look at the apps again.
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--access-log', 'off', '--watch-interval', '0', '--environment', environment]);
  try {
    // A delay this long before the next try is what the SIGHUP must not wait for.
    await waitFor(() => [...gw.output().matchAll(/flaky: worker \d+ exited \(status 1\); restarting in (\d+) ms/g)].some((m) => Number(m[1]) >= 8000), 40_000, 'a back-off of 8 s or more');
    const code = join(dir, 'dies.py');
    writeFileSync(code, readFileSync(code, 'utf8').replace('threading.Timer(0.3, os._exit, [1]).start()', ''));
    const askedAt = Date.now();
    gw.child.kill('SIGHUP');
    await waitFor(async () => {
      const res = await request(`${gw.url}/flaky/`);
      const body = await res.body.text();
      return res.statusCode === 200 && body === 'alive for now\n';
    }, 30_000, 'flaky to serve again');
    const waited = Date.now() - askedAt;
    assert.ok(waited < 5000, `served ${waited} ms after the SIGHUP, as if the back-off was waited out`);
  } finally {
    await gw.stop();
  }
});

test.run();

// An app whose workers crash-loop and that then goes idle (idle_timeout, SPEC 5.6) runs nothing:
// its workers are stopped and nothing restarts until its next request wakes it. status said
// `crash-loop` (the back-off's memory of the run before), with a worker "in a crash loop"
// waiting to restart; it now says `idle`, as for any app asleep, and its next request wakes it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';

const test = suite('a crash-looping app put to sleep');
const dir = tempDir('apppkg-idle-loop-');
const seen = new Set<number>();
let gw: RunningGateway;

test.before(async () => {
  const apps = join(dir.path, 'apps');
  // Serves its first worker's requests; every worker started after one has served dies 0.3 s in.
  writePackage(apps, 'c', {
    'app.yaml': 'platform: python, wsgi\napp: c:application\n',
    'c.py': 'import os, threading\nmarker = os.path.join(os.environ["APPPKG_DATA_DIR"], "served")\nif os.path.exists(marker):\n    threading.Timer(0.3, lambda: os._exit(5)).start()\n\ndef application(environ, start_response):\n    open(marker, "w").close()\n    start_response("200 OK", [])\n    return [b"c"]\n',
  });
  const envFile = join(dir.path, 'environment.yaml');
  // Two workers share the app's back-off, so their exits make a crash loop in half the time;
  // the idle timeout outlasts that loop's start, so the loop is seen before the app sleeps.
  writeFileSync(envFile, 'apps:\n  c:\n    workers: 2\n    idle_timeout: 15\n');
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir.path, 'state'), '--environment', envFile, '--access-log', 'off', '--settle', '0']);
});

test.after(async () => {
  await gw?.stop();
  await assertNoOrphans([...seen]);
  dir.remove();
});

async function app(): Promise<any> {
  const status = await gatewayStatus(gw);
  for (const pid of statusPids(status)) seen.add(pid);
  return status.apps.find((a: any) => a.name === 'c');
}

test('asleep, it is idle, not crash-loop, and no worker waits to restart', async () => {
  const res = await request(`${gw.url}/c/`, { headersTimeout: 60_000 });
  assert.is(res.statusCode, 200);
  await res.body.text();
  for (const w of (await app()).workers) process.kill(w.pid, 'SIGKILL');
  await waitFor(async () => (await app()).state === 'crash-loop', 60_000, 'c in a crash loop');
  await waitFor(() => gw.output().includes('c: no request for 15 s; stopping its workers'), 60_000, () => `c put to sleep:\n${gw.output()}`);
  const asleep = await waitFor(async () => {
    const c = await app();
    return c.workers.length === 0 ? c : undefined;
  }, 30_000, 'its workers gone');
  assert.is(asleep.state, 'idle');
  assert.equal(asleep.restarting, [], 'no worker waits out a back-off while the app sleeps');
  const said = await runCli(['status', '--admin', new URL(gw.adminUrl!).host], { ms: 15_000 });
  assert.is(said.status, 0, said.stderr);
  assert.match(said.stdout, /^c +idle /m);
  assert.match(said.stdout, /^ {2}idle since /m);
  assert.not.match(said.stdout, /crash/);
});

test.run();

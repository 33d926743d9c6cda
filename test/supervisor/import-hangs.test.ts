// An import that never finishes (a loop at import, a connection without a timeout) is refused at
// the worker's start bound (`start_timeout`) without holding back the other apps. Its refusal
// said the worker "exited before it was ready" (it was killed) and sent the user to an app log
// that said nothing; the log now has where the import was at the deadline, and the refusal
// names the bound and how to give it more time.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { stopGatewayChecked } from '../helpers/status.js';
import { runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('an import that never finishes');
const work = tempDir('apppkg-import-hangs-');
let gw: RunningGateway | null = null;

test.after(async () => {
  await stopGatewayChecked(gw, work);
});

test('refused at start_timeout: the app log has where the import was, the refusal names the bound; the other app serves', async () => {
  const apps = join(work.path, 'apps');
  writePackage(apps, 'steady', {
    'app.yaml': 'platform: python, wsgi\napp: main:application\n',
    'main.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
  });
  writePackage(apps, 'spinning', {
    'app.yaml': 'platform: python, wsgi\napp: main:application\n',
    'main.py': 'import warmup\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
    'warmup.py': 'def fill_cache():\n    while True:\n        pass\n\nfill_cache()\n',
  });
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  spinning:\n    workers: 1\n    start_timeout: 3\n', { mode: 0o600 });
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--environment', env, '--access-log', 'off', '--settle', '0']);
  const refusal = await waitFor(() => /spinning: .* refused:\n(.*\n.*fix: .*)/.exec(gw!.output())?.[1], 20_000, () => `the refusal, in:\n${gw!.output()}`);
  assert.match(refusal!, /did not finish its start within 3 s \(start_timeout\)/);
  assert.not.match(refusal!, /exited before/);
  // What reads the file again: the signal, and systemctl's reload of it (the unit's ExecReload).
  assert.match(refusal!, 'start_timeout under apps.spinning in the environment file, then send the gateway SIGHUP (`systemctl reload apppkg-gateway` under systemd)');
  const log = readFileSync(join(work.path, 'state', 'apps', 'spinning', 'log', 'app.log'), 'utf8');
  // faulthandler's report, most recent call first: the loop, then the import that ran it.
  assert.match(log, /Timeout \(0:00:0\d\.\d+\)!\nThread 0x[0-9a-f]+ \(most recent call first\):\n  File "[^"]*\/warmup\.py", line \d+ in fill_cache\n  File "[^"]*\/warmup\.py", line 5 in <module>\n/);
  assert.match(log, /\/main\.py", line 1 in <module>/);
  const res = await request(`${gw.url}/steady/`);
  assert.is(res.statusCode, 200);
  await res.body.text();
});

// A SIGHUP stops serve (its terminal closed): told "SIGHUP reads it", its user ended it. serve
// reads its environment file once, as it starts, and --reload does not read it again.
test('under serve the same refusal says to start serve again, not to send SIGHUP', async () => {
  const apps = join(work.path, 'serve-apps');
  const dir = writePackage(apps, 'sleepy', {
    'app.yaml': 'platform: python, wsgi\napp: main:application\n',
    'main.py': 'import time\ntime.sleep(4)\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
  });
  const env = join(work.path, 'serve-environment.yaml');
  writeFileSync(env, 'apps:\n  sleepy:\n    workers: 1\n    start_timeout: 1\n', { mode: 0o600 });
  const run = await runCli(['serve', dir, '--port', '0', '--workers', '1', '--environment', env, '--state-dir', join(work.path, 'serve-state')], { ms: 60_000 });
  assert.is(run.status, 1, run.stdout + run.stderr);
  assert.match(run.stderr, /did not finish its start within 1 s \(start_timeout\)/);
  assert.match(run.stderr, 'start_timeout under apps.sleepy in the environment file, then start serve again (serve reads its environment file once, as it starts)');
  assert.not.match(run.stderr, 'SIGHUP');
});

test.run();

// An import that never finishes (a loop at import, a connection without a timeout) is refused at
// the worker's start bound (`start_timeout`) without holding back the other apps. Its refusal
// said the worker "exited before it was ready" (it was killed) and sent the user to an app log
// that said nothing; the log now has where the import was at the deadline, and the refusal
// names the bound and how to give it more time.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { stopGatewayChecked } from '../helpers/status.js';
import { runCli, startCli, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';
import { Gateway } from '../../src/index.js';

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
  // The same loop after a process forked at import: the report is stopped for the fork (no
  // thread of ours in it, python-shim/apppkg_shim/fork_quiet.py) and armed again after it.
  writePackage(apps, 'forking', {
    'app.yaml': 'platform: python, wsgi\napp: main:application\n',
    'main.py': 'import warmup\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
    'warmup.py': 'import multiprocessing\nhelper = multiprocessing.get_context("fork").Process(target=int)\nhelper.start()\nhelper.join(10)\n\n'
      + 'def fill_cache():\n    while True:\n        pass\n\nfill_cache()\n',
  });
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  spinning:\n    workers: 1\n    start_timeout: 3\n  forking:\n    workers: 1\n    start_timeout: 3\n', { mode: 0o600 });
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
  const forked = await waitFor(() => {
    const file = join(work.path, 'state', 'apps', 'forking', 'log', 'app.log');
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    return /Timeout \(/.test(text) && text;
  }, 20_000, 'the report in the forking app\'s log');
  assert.match(forked, /Timeout \(0:00:0\d\.\d+\)!\nThread 0x[0-9a-f]+ \(most recent call first\):\n  File "[^"]*\/warmup\.py", line \d+ in fill_cache\n  File "[^"]*\/warmup\.py", line 10 in <module>\n/);
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

// Run with no environment file, there is no file to set start_timeout in nor for SIGHUP to read
// again: the fix says to make one and start the gateway with it, by the user's own command line.
// The default bound (60 s) is shortened for the test only (APPPKG_TEST_START_TIMEOUT_MS).
const SHORT_DEFAULT = { APPPKG_TEST_START_TIMEOUT_MS: '2000' };
const SLEEPY = {
  'app.yaml': 'platform: python, wsgi\napp: main:application\n',
  'main.py': 'import time\ntime.sleep(30)\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
};

test('under --apps with no environment file the refusal says to make one and start the gateway with it', async () => {
  const apps = join(work.path, 'bare-apps');
  const state = join(work.path, 'bare-state');
  writePackage(apps, 'sleepy', SLEEPY);
  const bare = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--access-log', 'off', '--settle', '0'], { env: SHORT_DEFAULT });
  try {
    const refusal = await waitFor(() => /sleepy: .* refused:\n(.*\n.*fix: .*)/.exec(bare.output())?.[1], 30_000, () => `the refusal, in:\n${bare.output()}`);
    assert.match(refusal!, /did not finish its start within 2 s \(start_timeout\)/);
    assert.ok(refusal!.includes(`start_timeout under apps.sleepy in an environment file (e.g. \`apps: {sleepy: {start_timeout: 4}}\`), and start the gateway with it: \`apppkg-gateway --apps ${apps} --listen 127.0.0.1:0 --admin 127.0.0.1:0 --state-dir ${state} --access-log off --settle 0 --environment FILE\``), refusal!);
    assert.not.match(refusal!, /the environment file|SIGHUP/);
  } finally {
    await stopGatewayChecked(bare);
  }
});

test('under serve with no environment file the refusal says to pass one, on serve\'s own command line', async () => {
  const dir = writePackage(join(work.path, 'bare-serve-apps'), 'sleepy', SLEEPY);
  const state = join(work.path, 'bare-serve-state');
  const run = await runCli(['serve', dir, '--port', '0', '--workers', '1', '--state-dir', state], { ms: 60_000, env: SHORT_DEFAULT });
  assert.is(run.status, 1, run.stdout + run.stderr);
  assert.ok(run.stderr.includes(`start_timeout under apps.sleepy in an environment file (e.g. \`apps: {sleepy: {start_timeout: 4}}\`), and pass it: \`apppkg-gateway serve ${dir} --port 0 --workers 1 --state-dir ${state} --environment FILE\``), run.stderr);
  assert.not.match(run.stderr, 'the environment file');
});

// A program has no command line to say again: the fix gives the Gateway's own option.
test('a library Gateway with no environment file says to start it with one', async () => {
  const apps = join(work.path, 'lib-apps');
  writePackage(apps, 'sleepy', SLEEPY);
  const knob = process.env.APPPKG_TEST_START_TIMEOUT_MS;
  process.env.APPPKG_TEST_START_TIMEOUT_MS = SHORT_DEFAULT.APPPKG_TEST_START_TIMEOUT_MS;
  let gateway: Gateway | null = null;
  try {
    gateway = await within(60_000, 'Gateway.start', Gateway.start({ apps, stateDir: join(work.path, 'lib-state'), listen: '127.0.0.1:0', admin: false, watchIntervalMs: 0, settleMs: 0, say: () => {} }));
    const problem = await waitFor(() => (gateway!.status() as any).apps.find((a: any) => a.name === 'sleepy')?.problem, 30_000, 'sleepy to be refused');
    assert.is(problem.code, 'APPPKG_WORKER_START_FAILED');
    assert.ok(problem.hint.includes(`start_timeout under apps.sleepy in an environment file (e.g. \`apps: {sleepy: {start_timeout: 4}}\`), and start the Gateway with it: \`Gateway.start({ apps: ${JSON.stringify(apps)}, environment: FILE })\``), problem.hint);
  } finally {
    if (knob === undefined) delete process.env.APPPKG_TEST_START_TIMEOUT_MS;
    else process.env.APPPKG_TEST_START_TIMEOUT_MS = knob;
    await gateway?.stop();
  }
});

test.run();

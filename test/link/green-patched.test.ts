// An app that monkey-patches Python's threads at import (gevent's monkey.patch_all(),
// eventlet.monkey_patch(), as gunicorn -k gevent users write it) is refused at once with
// APPPKG_APP_MONKEY_PATCHED, naming the line and the fix: it made the worker's threads
// greenlets, and the worker hung before READY until the start deadline, at every restart.
// Debian's python3-gevent and python3-eventlet on /usr/bin/python3 (the fixture's `deb:`).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGatewayError, type GatewayError } from '../../src/errors.js';
import { checkAppImport } from '../../src/link/check-app.js';
import { Worker } from '../../src/supervisor/worker.js';
import { fixtureApp, get, startLinkHarness, waitGone } from '../helpers/link-harness.js';
import { runCli, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const PYTHON = '/usr/bin/python3';
const imports = (module: string): boolean => spawnSync(PYTHON, ['-c', `import ${module}`], { stdio: 'ignore', timeout: 20_000 }).status === 0;
const HAS_GEVENT = imports('gevent');
const HAS_EVENTLET = imports('eventlet');

const t = suite('green-patched');
const withGevent = runIf(t, HAS_GEVENT, `needs python3-gevent for ${PYTHON} (apt-get install python3-gevent)`);
const withEventlet = runIf(t, HAS_EVENTLET, `needs python3-eventlet for ${PYTHON} (apt-get install python3-eventlet)`);
const { dir } = fixtureApp('green-patched');

function worker(app: string, output: string[] = []): Worker {
  return new Worker({
    python: PYTHON,
    env: { ...(process.env as Record<string, string>) },
    cwd: dir,
    app,
    kind: 'wsgi',
    sysPath: [dir],
    threads: 8,
    multiprocess: false,
    development: false,
    name: 'green',
    stdout: (line) => output.push(line),
    stderr: (line) => output.push(line),
  });
}

async function refusal(w: Worker): Promise<GatewayError> {
  try {
    // Far below the 60 s a worker has: the refusal comes right after the import.
    await w.start(15_000);
  } catch (err) {
    assert.ok(isGatewayError(err), String(err));
    return err as GatewayError;
  }
  await w.stop(1000);
  throw new Error('start() resolved; expected the refusal');
}

withGevent('gevent.monkey.patch_all() at import: refused (exit 4), naming the line and gunicorn -k gevent, not a hang', async () => {
  const output: string[] = [];
  const w = worker('gevent_app:application', output);
  const err = await refusal(w);
  assert.is(err.code, 'APPPKG_APP_MONKEY_PATCHED', err.message);
  assert.is(w.exitCode, 4);
  assert.is(err.details.where, `${join(dir, 'gevent_app.py')}:4`);
  assert.match(err.message, /gevent_app\.py:4\) monkey-patches Python's threads at import: gevent replaced _thread\.start_new_thread/);
  assert.match(err.hint, /remove the patch at .*gevent_app\.py:4/);
  assert.match(err.hint, /`platform: python, command`.*python3-gunicorn.*exec gunicorn -k gevent -b 127\.0\.0\.1:\$PORT gevent_app:application/);
  assert.ok(output.some((l) => l.includes('monkey-patched Python\'s threads at import')), output.join('\n'));
  await waitGone(w.pid!, 5000);
});

withEventlet('eventlet.monkey_patch() at import: refused the same way, with gunicorn -k eventlet', async () => {
  const w = worker('eventlet_app:application');
  const err = await refusal(w);
  assert.is(err.code, 'APPPKG_APP_MONKEY_PATCHED', err.message);
  assert.is(err.details.by, 'eventlet');
  assert.is(err.details.where, `${join(dir, 'eventlet_app.py')}:4`);
  assert.match(err.hint, /gunicorn -k eventlet/);
});

withGevent('check refuses it too', async () => {
  const env = { python: PYTHON, env: process.env as Record<string, string>, appDir: dir, sysPath: [dir], name: 'green' };
  try {
    await checkAppImport(env, 'gevent_app:application', 30_000);
    assert.unreachable('check passed');
  } catch (err) {
    assert.ok(isGatewayError(err), String(err));
    assert.is(err.code, 'APPPKG_APP_MONKEY_PATCHED');
  }
});

withGevent('patch_all(thread=False) leaves the worker its threads: it serves and stops', async () => {
  const harness = await startLinkHarness('green-patched', { python: PYTHON, app: 'sockets_only:application', threads: 4 });
  try {
    const answers = await Promise.all(Array.from({ length: 8 }, () => get(`${harness.url}/`)));
    assert.equal(answers.map((a) => [a.status, a.body]), Array.from({ length: 8 }, () => [200, 'slept\n']));
  } finally {
    await harness.stop();
  }
  assert.is(harness.workers[0].exitCode, 0);
});

t('a wrapper of _thread that still starts OS threads (a debugger\'s) is no green patch: served', async () => {
  const harness = await startLinkHarness('green-patched', { python: PYTHON, app: 'thread_wrapper:application', threads: 2 });
  try {
    const answer = await get(`${harness.url}/`);
    assert.equal([answer.status, answer.body], [200, 'tracked\n']);
  } finally {
    await harness.stop();
  }
});

withGevent('serve: exits 1 with the refusal and its fix, without waiting for the start deadline', async () => {
  const state = tempDir('apppkg-green-state-');
  try {
    const run = await runCli(['serve', dir, '--port', '0', '--state-dir', state.path], { ms: 45_000 });
    assert.is(run.status, 1, run.stderr);
    assert.match(run.stderr, /monkey-patches Python's threads at import: gevent replaced/);
    assert.match(run.stderr, /fix: remove the patch at .*gevent_app\.py:4/);
  } finally {
    state.remove();
  }
});

t.run();

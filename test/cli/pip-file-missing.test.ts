// A `pip:` naming a requirements file that is not there is a mistake of app.yaml, so every
// command names app.yaml's line and column of `pip:` (SPEC §1.1), as `check` did. `install`,
// `serve` and `--apps` named the requirements file instead, with no line: a user read
// "reqs.txt: pip: cannot read reqs.txt" and was not told where the name came from.
import { spawnSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, childPids, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('pip: naming no file');
const work = tempDir('apppkg-pip-file-missing-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
const running: RunningGateway[] = [];
const pids = new Set<number>();

const dir = writePackage(apps, 'nr', {
  'app.yaml': 'platform: python, wsgi\napp: app:application\npip: reqs.txt\n',
  'app.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"x"]\n',
});

const REFUSAL =
  `${join(dir, 'app.yaml')}:3:6: pip: cannot read the requirements file ${join(dir, 'reqs.txt')}: no such file\n` +
  '  fix: point `pip:` in app.yaml at a requirements file inside the app directory (relative to it)';

test.after(async () => {
  for (const gw of running) await gw.stop();
  await assertNoOrphans([...pids], 15_000);
  work.remove();
});

test('install: the missing requirements file is told at the line of pip: in app.yaml, exit 1', async () => {
  const r = await runCli(['install', dir, '--state-dir', state]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, `FAIL  ${REFUSAL.replace('\n  fix:', '\n      fix:')}`);
});

test('serve: the same, exit 1, before it listens', async () => {
  const r = await runCli(['serve', dir, '--port', '0', '--state-dir', state], { ms: 60_000 });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `apppkg-gateway: ${REFUSAL}\n`);
  assert.not.match(r.stdout, /listening on/);
});

test('--apps: the app is refused with the same message and line, 503 at its URL', async () => {
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--access-log', 'off']);
  running.push(gw);
  await waitFor(() => gw.output().includes('nr: '), 30_000, () => `nr said\n${gw.output()}`);
  for (const pid of await childPids(gw.child.pid!)) pids.add(pid);
  assert.match(gw.output(), `apppkg-gateway: nr: ${dir} refused:\n  ${REFUSAL.replace('\n  fix:', '\n    fix:')}\n`);
  const refused = await request(new URL('/nr/', gw.url));
  assert.is(refused.statusCode, 503);
  assert.match(await refused.body.text(), 'APPPKG_PIP_FILE_UNREADABLE');
  await gw.stop();
});

test('a FIFO where pip: names its file: check and install say what it is at once, never wait on it', async () => {
  const fifoDir = writePackage(join(work.path, 'fifo'), 'nf', {
    'app.yaml': 'platform: python, wsgi\napp: app:application\npip: reqs.txt\n',
    'app.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"x"]\n',
  });
  assert.is(spawnSync('mkfifo', [join(fifoDir, 'reqs.txt')]).status, 0, 'mkfifo');
  const said = `${join(fifoDir, 'app.yaml')}:3:6: pip: cannot read the requirements file ${join(fifoDir, 'reqs.txt')}: ${join(fifoDir, 'reqs.txt')} is a FIFO, not a regular file`;
  // Each waited on open(2) for ever: the bound is for that hang.
  const checked = await runCli(['check', fifoDir, '--state-dir', state], { ms: 20_000 });
  assert.is(checked.status, 1, checked.stdout + checked.stderr);
  assert.match(checked.stdout + checked.stderr, `FAIL  pip       ${said}`);
  const installed = await runCli(['install', fifoDir, '--state-dir', state], { ms: 20_000 });
  assert.is(installed.status, 1, installed.stdout + installed.stderr);
  assert.match(installed.stdout + installed.stderr, said);
});

test.run();

// When the gateway runs as root, each app runs as its user: the owner of its directory, or
// `user:` in the environment file (SPEC §2). Needs root: skipped otherwise.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { appStatus } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('apps run as their user');
const isRoot = process.getuid?.() === 0;
const USER = 'apppkg-test-app';
const work = tempDir('apppkg-users-');
chmodSync(work.path, 0o755);
const running: RunningGateway[] = [];

function uidOf(name: string): number {
  spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name], { stdio: 'ignore' });
  const r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

function procUid(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}


test.after(async () => {
  for (const gw of running) await gw.stop();
  work.remove();
});

test('an app runs as the owner of its directory, its state belongs to it, root is flagged', async () => {
  if (!isRoot) return console.log('  (not root: skipped)');
  const uid = uidOf(USER);
  const apps = join(work.path, 'apps');
  mkdirSync(apps);
  chmodSync(apps, 0o755);
  const owned = addPackage(apps, 'environ', 'owned');
  spawnSync('chown', ['-R', `${USER}:`, owned]);
  addPackage(apps, 'environ', 'rooty');
  const envFile = join(work.path, 'environment.yaml');
  writeFileSync(envFile, 'python: /usr/bin/python3\n');
  const state = join(work.path, 'state');
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile]);
  running.push(gw);
  assert.is((await request(`${gw.url}/owned/`)).statusCode, 200);
  const s = await appStatus(gw, 'owned');
  assert.is(s.user, USER);
  assert.is(s.runsAsRoot, false);
  for (const w of s.workers) assert.is(procUid(w.pid), uid, `worker ${w.pid}`);
  for (const dir of ['data', 'log', 'tmp']) assert.is(statSync(join(state, 'apps', 'owned', dir)).uid, uid, dir);
  const rooty = await appStatus(gw, 'rooty');
  assert.is(rooty.runsAsRoot, true);
  assert.match(gw.output(), /rooty: WARNING: runs as root/);
});

test('an interpreter the app\'s user cannot execute is a clear error, and the rest serve', async () => {
  if (!isRoot) return;
  uidOf(USER);
  const apps = join(work.path, 'apps2');
  mkdirSync(apps);
  chmodSync(apps, 0o755);
  const owned = addPackage(apps, 'environ', 'owned');
  spawnSync('chown', ['-R', `${USER}:`, owned]);
  addPackage(apps, 'environ', 'rooty');
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state2')]);
  running.push(gw);
  // pyenv's python3 lives under /root (mode 0700): the app's user cannot run it.
  const which = spawnSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).stdout.trim();
  if (!which.startsWith('/root/')) return console.log('  (python3 on PATH is not under /root: skipped)');
  await waitFor(async () => (await appStatus(gw, 'owned'))?.problem?.code === 'APPPKG_PY_NOT_EXECUTABLE', 20_000, 'the refusal');
  assert.match((await appStatus(gw, 'owned')).problem.message, new RegExp(`user ${USER} cannot run it`));
  assert.is((await request(`${gw.url}/rooty/`)).statusCode, 200);
});

test.run();

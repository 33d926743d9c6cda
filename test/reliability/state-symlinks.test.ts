// A root gateway never acts as root through what an app's user may change (SPEC §2 `user:`):
// the app's state directory is the gateway's, so its data, log and tmp stay the directories
// they are; a symlink found in their place is refused, not followed (root chowned its target to
// the app's user: `data -> /etc`); app.log is opened without following a symlink (root appended
// the app's output to the file it named: `app.log -> /etc/cron.d/x`). Needs root: skipped otherwise.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';
import { hostUser } from '../helpers/host-accounts.js';
import { assertNoOrphans, installForOtherUsers, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { isRoot, runIf } from '../helpers/skip.js';

const test = suite('reliability: an app\'s state under a root gateway');
const ifRoot = runIf(test, isRoot, 'needs root to run an app as another user');
const USER = 'apppkg-iso-b';
const work = isRoot ? tempDir('apppkg-rel-symlinks-') : null;
const pids = new Set<number>();

function start(): Promise<RunningGateway> {
  return startCli([
    '--apps', join(work!.path, 'apps'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work!.path, 'state'),
    '--environment', join(work!.path, 'environment.yaml'), '--watch-interval', '0',
  ], { ms: 60_000, bin: installForOtherUsers().bin });
}

async function ready(gw: RunningGateway): Promise<void> {
  const status = await waitFor(async () => {
    const s = await gatewayStatus(gw);
    return s.apps.find((a: any) => a.name === 'owned')?.state === 'ready' ? s : null;
  }, 30_000, 'the app to serve');
  for (const pid of statusPids(status)) pids.add(pid);
}

test.after(async () => {
  await assertNoOrphans([...pids]);
  work?.remove();
});

ifRoot('the state directory is the gateway\'s; symlinks in place of data or app.log are refused, their targets untouched', async () => {
  hostUser(USER);
  chmodSync(work!.path, 0o755);
  const apps = join(work!.path, 'apps');
  mkdirSync(apps);
  chmodSync(apps, 0o755);
  writePackage(apps, 'owned', {
    'app.yaml': 'platform: python, wsgi\napp: owned:application\n',
    'owned.py': 'import sys\n\ndef application(environ, start_response):\n    print("OUTPUT-OF-THE-APP", file=sys.stderr, flush=True)\n    start_response("200 OK", [])\n    return [b"ok"]\n',
  });
  spawnSync('chown', ['-R', `${USER}:`, join(apps, 'owned')]);
  writeFileSync(join(work!.path, 'environment.yaml'), 'python: /usr/bin/python3\napps:\n  owned:\n    workers: 1\n');
  let gw = await start();
  await ready(gw);
  const state = join(work!.path, 'state', 'apps', 'owned');
  // The app's user may write in data, log and tmp, not beside them.
  assert.is(statSync(state).uid, 0, 'STATE/apps/owned is root\'s');
  const moved = spawnSync('su', ['-s', '/bin/sh', USER, '-c', `mv ${state}/data ${state}/data.away`], { encoding: 'utf8' });
  assert.is.not(moved.status, 0, 'the app\'s user cannot move its data directory aside');
  await gw.stop();

  // What an app could have done before (its state directory was its own), done here as root.
  const victimDir = join(work!.path, 'victim-dir');
  mkdirSync(victimDir, { mode: 0o755 });
  const victimFile = join(work!.path, 'victim-file');
  writeFileSync(victimFile, 'root only\n', { mode: 0o600 });
  rmSync(join(state, 'log', 'app.log'));
  symlinkSync(victimFile, join(state, 'log', 'app.log'));
  gw = await start();
  await ready(gw);
  const res = await request(`${gw.url}/owned/`);
  assert.is(res.statusCode, 200, await res.body.text());
  await new Promise((r) => setTimeout(r, 300));
  assert.is(readFileSync(victimFile, 'utf8'), 'root only\n', 'nothing appended through the app.log symlink');
  assert.match(gw.output(), /owned: cannot write .*app\.log/);
  await gw.stop();

  renameSync(join(state, 'data'), join(state, 'data.away'));
  symlinkSync(victimDir, join(state, 'data'));
  gw = await start();
  const refused = await waitFor(async () => (await gatewayStatus(gw)).apps.find((a: any) => a.name === 'owned')?.problem ?? null, 30_000, 'the refusal');
  assert.is(refused.code, 'APPPKG_STATE_DIR_FAILED');
  assert.match(refused.message, /symbolic link/);
  assert.is(statSync(victimDir).uid, 0, 'the symlink\'s target is still root\'s');
  await gw.stop();
});

test.run();

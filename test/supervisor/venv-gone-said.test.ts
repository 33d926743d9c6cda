// An app's virtualenv removed by hand while it runs (rm -rf of STATE/apps/NAME/venv and the
// build it leads to): the workers that restart cannot be spawned. The log and status said
// only "cannot run .../bin/python: spawn ... ENOENT", and the app crash-looped with nothing to
// tell its operator what to do. They now say the venv is gone and the one command that builds
// it again (restart NAME), and that command does.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { statusPids } from '../helpers/status.js';
import { assertNoOrphans, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('a virtualenv removed by hand');
const apps = tempDir('apppkg-venv-gone-apps-');
const state = tempDir('apppkg-venv-gone-state-');
const appState = join(state.path, 'apps', 'shop');
const keys = tempDir('apppkg-venv-gone-token-');
const token = join(keys.path, 'token');
let gw: RunningGateway;
const AUTH = { headers: { authorization: 'Bearer venv-gone-token' } };
const seen: number[] = [];

test.before(async () => {
  const dir = join(apps.path, 'shop');
  mkdirSync(dir);
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: app:application\npip: requirements.txt\n');
  // Nothing to install: the venv itself is what this is about.
  writeFileSync(join(dir, 'requirements.txt'), '');
  writeFileSync(join(dir, 'app.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
  const envFile = join(state.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  shop:\n    workers: 1\n');
  // A root gateway acts (restart) only for the token's holder.
  writeFileSync(token, 'venv-gone-token\n', { mode: 0o600 });
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile, '--admin-token', token, '--access-log', 'off'], { ms: 120_000 });
});

test.after(async () => {
  await gw?.stop();
  await assertNoOrphans(seen);
  keys.remove();
  apps.remove();
  state.remove();
});

async function pids(): Promise<number[]> {
  const status = (await (await request(`${gw.adminUrl}/status`, AUTH)).body.json()) as any;
  return statusPids(status);
}

test('the restart says the venv is gone and how to build it again, in the log and in status', async () => {
  const res = await request(`${gw.url}/shop/`, { headersTimeout: 120_000 });
  assert.is(res.statusCode, 200);
  await res.body.text();
  const before = await pids();
  seen.push(...before);
  for (const entry of readdirSync(appState)) if (entry === 'venv' || entry.startsWith('venv-')) rmSync(join(appState, entry), { recursive: true, force: true });
  for (const pid of before) process.kill(pid, 'SIGKILL');
  const said = /shop: worker \? failed to start: .*its virtualenv \S+ is gone \(removed since the app was started\); `apppkg-gateway restart shop` builds it again/;
  await waitFor(() => said.test(gw.output()), 30_000, () => `the venv named in the log:\n${gw.output()}`);
  const row = await waitFor(async () => {
    const status = (await (await request(`${gw.adminUrl}/status`, AUTH)).body.json()) as any;
    return status.apps.find((a: any) => a.name === 'shop').restarting.find((w: any) => w.lastExit?.failedToStart);
  }, 30_000, 'the restarting worker in status');
  assert.match(row.lastExit.failedToStart, /its virtualenv \S+ is gone .*`apppkg-gateway restart shop` builds it again/);
});

test('restart NAME, as said, builds it again and the app serves', async () => {
  const restarted = await runCli(['restart', 'shop', '--admin', new URL(gw.adminUrl!).host, '--admin-token', token], { ms: 180_000 });
  assert.is(restarted.status, 0, restarted.stdout + restarted.stderr);
  assert.ok(existsSync(join(appState, 'venv')), 'the venv link is back');
  const res = await request(`${gw.url}/shop/`, { headersTimeout: 60_000 });
  assert.is(res.statusCode, 200);
  assert.is(await res.body.text(), 'ok');
  seen.push(...(await pids()));
});

test.run();

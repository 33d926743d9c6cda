// A worker that cannot be spawned at all (its interpreter removed while the app ran: a python:
// the host uninstalled, a virtualenv deleted by hand) is restarted with back-off like any other,
// and the log says why: it said "worker ? exited (status null)", which names nothing to fix.
// Status says the same: its lastExit said "exited with status null" after the log was mended.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { statusPids } from '../helpers/status.js';
import { assertNoOrphans, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('a worker that cannot be spawned says why');
const apps = tempDir('apppkg-spawn-said-apps-');
const state = tempDir('apppkg-spawn-said-state-');
const python = join(state.path, 'python3');
let gw: RunningGateway;
const seen: number[] = [];

test.before(async () => {
  // The interpreter itself, not a shim that execs it: sys.executable is then the link's path.
  const found = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
  symlinkSync(found, python);
  writePackage(apps.path, 'gone', {
    'app.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
    'app.yaml': 'platform: python, wsgi\napp: app:application\n',
  });
  const envFile = join(state.path, 'environment.yaml');
  writeFileSync(envFile, `python: ${python}\napps:\n  gone:\n    workers: 1\n`);
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(state.path, 'state'), '--environment', envFile, '--access-log', 'off']);
});

test.after(async () => {
  await gw?.stop();
  await assertNoOrphans(seen);
  apps.remove();
  state.remove();
});

test('its interpreter removed, the restart names the program it could not run', async () => {
  const res = await request(`${gw.url}/gone/`, { headersTimeout: 30_000 });
  assert.is(res.statusCode, 200);
  await res.body.text();
  const status = (await (await request(`${gw.adminUrl}/status`)).body.json()) as any;
  seen.push(...statusPids(status));
  const worker = status.apps.find((a: any) => a.name === 'gone').workers[0].pid;
  rmSync(python);
  process.kill(worker, 'SIGKILL');
  await waitFor(() => /gone: worker \S+ (exited \(status null\)|failed to start)/.test(gw.output()), 15_000, () => `the restart's failure in the log:\n${gw.output()}`);
  assert.not.match(gw.output(), /exited \(status null\)/);
  assert.match(gw.output(), new RegExp(`gone: worker \\? failed to start: .*cannot run ${python.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
});

test('status says what the log says: it failed to start, and why', async () => {
  const escaped = python.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const waiting = await waitFor(async () => {
    const status = (await (await request(`${gw.adminUrl}/status`)).body.json()) as any;
    const row = status.apps.find((a: any) => a.name === 'gone').restarting[0];
    return row?.lastExit?.pid === null ? row : undefined;
  }, 15_000, 'a restarting row whose last worker was never spawned');
  assert.is(waiting.lastExit.code, null);
  assert.is(waiting.lastExit.signal, null);
  assert.match(waiting.lastExit.failedToStart, new RegExp(`cannot run ${escaped}`));
  // Its row is there while it waits out its back-off, not while its next try is under way.
  const said = await waitFor(async () => {
    const r = await runCli(['status', '--admin', new URL(gw.adminUrl!).host], { ms: 15_000 });
    assert.is(r.status, 0, r.stderr);
    return /^ {2}a worker /m.test(r.stdout) ? r.stdout : undefined;
  }, 15_000, 'the restarting worker in status');
  assert.not.match(said, /status null/);
  assert.match(said, new RegExp(`^ {2}a worker (in a crash loop|restarting): \\d+ restarts?, the last failed to start at \\S+Z: .*cannot run ${escaped}`, 'm'));
});

test.run();

// A command app (platform: python, command) runs no Python workers: a SIGHUP whose environment
// file changed only its workers or threads leaves its processes running (183b3f4, which had a
// unit test only). Through the real CLI: it was restarted, its processes.web replaced.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('SIGHUP and a command app');
const dir = tempDir('apppkg-command-sighup-');
const envFile = join(dir.path, 'environment.yaml');
let gw: RunningGateway;

test.before(async () => {
  const apps = join(dir.path, 'apps');
  addPackage(apps, 'command-server', 'cmd');
  writeFileSync(envFile, 'apps:\n  cmd:\n    workers: 2\n    threads: 4\n');
  // --watch-interval 0: nothing but the SIGHUP may change what runs.
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir.path, 'state'), '--environment', envFile, '--watch-interval', '0', '--access-log', 'off'], { ms: 60_000 });
});

test.after(async () => {
  await stopGatewayChecked(gw, dir);
});

async function webPid(): Promise<number> {
  return (await appStatus(gw, 'cmd')).processes.find((p: { name: string }) => p.name === 'web').pid;
}

test('workers and threads changed: read again, its processes.web keeps running and serving', async () => {
  const res = await request(`${gw.url}/cmd/`, { headersTimeout: 30_000 });
  assert.is(res.statusCode, 200);
  await res.body.dump();
  const before = await webPid();
  assert.ok(before > 0, 'processes.web runs');
  writeFileSync(envFile, 'apps:\n  cmd:\n    workers: 3\n    threads: 8\n');
  gw.child.kill('SIGHUP');
  const read = /environment\.yaml: read again; nothing in it changed for any app|cmd: .* changed in \S+environment\.yaml; restarting it/;
  await waitFor(() => read.test(gw.output()), 30_000, () => `the SIGHUP's reading in the log:\n${gw.output()}`);
  assert.not.match(gw.output(), /cmd: .*changed in \S+environment\.yaml; restarting it/);
  assert.match(gw.output(), /environment\.yaml: read again; nothing in it changed for any app/);
  assert.is(await webPid(), before, 'the same processes.web');
  const after = await request(`${gw.url}/cmd/`, { headersTimeout: 30_000 });
  assert.is(after.statusCode, 200);
  await after.body.dump();
});

test.run();

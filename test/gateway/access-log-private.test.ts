// The access log file is the gateway's alone (0600): it holds every app's request lines (paths,
// query strings with their tokens, Basic-auth users, client addresses), and as root the apps run
// as other users on the same host, so a file created with the umask's 0644 (the shipped unit's
// /var/log/apppkg-gateway is 0755) let app A read app B's traffic. Checked at its creation and
// after SIGUSR1 opens it again under its name (logrotate moved it away).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor } from '../helpers/process.js';
import { isRoot } from '../helpers/skip.js';

const test = suite('gateway: access log private');
const apps = tempDir('apppkg-alog-apps-');
const state = tempDir('apppkg-alog-state-');
const logs = tempDir('apppkg-alog-logs-');
test.after(() => {
  for (const dir of [apps, state, logs]) dir.remove();
});

const lines = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter(Boolean);

function assertPrivate(file: string, when: string): void {
  const mode = statSync(file).mode & 0o777;
  assert.is(mode & 0o077, 0, `${when}: the access log is mode ${mode.toString(8)}, readable by other users (an app's)`);
  // As root the check is the kernel's too: a user such as an app's cannot open it.
  if (isRoot) {
    const read = spawnSync('runuser', ['-u', 'nobody', '--', 'cat', file], { encoding: 'utf8' });
    assert.is.not(read.status, 0, `${when}: user nobody read the access log: ${read.stdout.slice(0, 200)}`);
  }
}

test('the access log is created 0600, and so is the file SIGUSR1 opens after a rotation', async () => {
  addPackage(apps.path, 'examples/hello', 'hello');
  // The directory others may enter, as /var/log/apppkg-gateway (0755): the file's mode is the lock.
  chmodSync(logs.path, 0o755);
  const log = join(logs.path, 'access.log');
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', log]);
  try {
    await waitFor(async () => (await fetch(`${gw.url}/hello/?token=t0`)).status === 200, 30_000, 'hello to serve');
    await waitFor(() => existsSync(log) && lines(log).some((l) => l.includes('/hello/?token=t0')), 5000, 'the first line');
    assertPrivate(log, 'created at the start');
    renameSync(log, `${log}.1`);
    gw.child.kill('SIGUSR1');
    await waitFor(() => gw.output().includes('SIGUSR1: the access log'), 5000, 'the gateway to say it reopened the log');
    await fetch(`${gw.url}/hello/?token=t1`);
    await waitFor(() => existsSync(log) && lines(log).some((l) => l.includes('/hello/?token=t1')), 5000, 'the line after the rotation in a new file');
    assertPrivate(log, 'opened again at SIGUSR1');
  } finally {
    await stopGatewayChecked(gw, apps, state);
  }
});

test.run();

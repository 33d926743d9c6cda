// The access log file is the gateway's alone (0600): it holds every app's request lines (paths,
// query strings with their tokens, Basic-auth users, client addresses), and as root the apps run
// as other users on the same host, so a file created with the umask's 0644 (the shipped unit's
// /var/log/apppkg-gateway is 0755) let app A read app B's traffic. Checked at its creation and
// after SIGUSR1 opens it again under its name (logrotate moved it away), and on a file an older
// gateway left 0644. SIGUSR1 makes the log's directory again when it was removed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

/** `closed`: the permissions it must not give (0o007: its group may read it, as logrotate's `create 0640 root adm`). */
function assertPrivate(file: string, when: string, closed = 0o077): void {
  const mode = statSync(file).mode & 0o777;
  assert.is(mode & closed, 0, `${when}: the access log is mode ${mode.toString(8)}, readable by other users (an app's)`);
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

/** A gateway serving examples/hello with `--access-log log`, stopped (and its dirs removed) by the returned stop. */
async function gatewayLogging(log: string) {
  const appsDir = tempDir('apppkg-alog-apps-');
  const stateDir = tempDir('apppkg-alog-state-');
  addPackage(appsDir.path, 'examples/hello', 'hello');
  const gw = await startCli(['--apps', appsDir.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', stateDir.path, '--access-log', log]);
  return { gw, stop: () => stopGatewayChecked(gw, appsDir, stateDir) };
}

test("a file an older gateway left 0644 is closed to others at the start (0640: its group is the host's choice), and the gateway says so; another user's file keeps its mode", async () => {
  const log = join(logs.path, 'upgraded.log');
  writeFileSync(log, 'a line of the older gateway\n', { mode: 0o644 });
  chmodSync(log, 0o644);
  const other = join(logs.path, 'others.log');
  if (isRoot) {
    writeFileSync(other, '', { mode: 0o644 });
    chmodSync(other, 0o644);
    chownSync(other, 65534, 65534);
  }
  const { gw, stop } = await gatewayLogging(log);
  try {
    assert.is(statSync(log).mode & 0o777, 0o640, 'the upgraded file');
    assert.match(gw.output(), `--access-log ${log} was mode 0644, readable by every user of this host (an app's too): made 0640`);
    assertPrivate(log, "an older gateway's file, at the start", 0o007);
  } finally {
    await stop();
  }
  if (isRoot) {
    const { stop: stopOther } = await gatewayLogging(other);
    try {
      assert.is(statSync(other).mode & 0o777, 0o644, "another user's file is theirs to set");
    } finally {
      await stopOther();
    }
  }
});

test("SIGUSR1 makes the access log's directory again, with the mode it had, when it was removed; one it cannot make is said in the gateway's log", async () => {
  const dir = join(logs.path, 'gone');
  mkdirSync(dir);
  chmodSync(dir, 0o751);
  const log = join(dir, 'access.log');
  const { gw, stop } = await gatewayLogging(log);
  try {
    await waitFor(async () => (await fetch(`${gw.url}/hello/?before`)).status === 200, 30_000, 'hello to serve');
    rmSync(dir, { recursive: true });
    gw.child.kill('SIGUSR1');
    await waitFor(() => gw.output().includes(`SIGUSR1: the access log ${log} was opened again (its directory ${dir} was gone: made again)`), 5000, 'the gateway to say it made the directory again');
    assert.is(statSync(dir).mode & 0o777, 0o751, 'the mode the directory had at the start');
    await fetch(`${gw.url}/hello/?after`);
    await waitFor(() => existsSync(log) && lines(log).some((l) => l.includes('/hello/?after')), 5000, 'the line after SIGUSR1 in the directory made again');
    assertPrivate(log, 'in the directory made again');

    // Its place taken by a file: no directory can be made there, root or not.
    rmSync(dir, { recursive: true });
    writeFileSync(dir, '');
    gw.child.kill('SIGUSR1');
    await waitFor(() => gw.output().includes(`cannot make the access log's directory ${dir} again (EEXIST)`), 5000, 'the gateway to say it cannot make the directory');
    assert.match(gw.output(), 'make the directory, writable by the gateway, then send SIGUSR1');
    assert.is((await fetch(`${gw.url}/hello/`)).status, 200, 'served on without the log');
  } finally {
    await stop();
  }
});

test.run();

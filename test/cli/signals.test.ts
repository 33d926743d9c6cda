// SIGUSR1: as nginx and gunicorn, the gateway opens its access log file again under its name
// (logrotate's postrotate), and no command of the CLI ever lets it start Node's inspector, which
// would serve a loopback port where any local user (an app's) could run code in the process.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { stopGatewayChecked } from '../helpers/status.js';
import { BIN, EXAMPLES, startCli, tempDir, waitFor } from '../helpers/process.js';

const test = suite('cli: SIGUSR1');
const apps = tempDir('apppkg-usr1-apps-');
const state = tempDir('apppkg-usr1-state-');
const logs = tempDir('apppkg-usr1-logs-');
test.after(() => logs.remove());

const lines = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter(Boolean);

test('the gateway opens its access log again on SIGUSR1 (a rotation loses no line), and starts no debugger', async () => {
  addPackage(apps.path, 'examples/hello', 'hello');
  const log = join(logs.path, 'access.log');
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', log]);
  try {
    await waitFor(async () => (await fetch(`${gw.url}/hello/`)).status === 200, 30_000, 'hello to serve');
    await waitFor(() => existsSync(log) && lines(log).some((l) => l.includes('"GET /hello/ HTTP/1.1" 200')), 5000, 'the first line');
    renameSync(log, `${log}.1`);
    await fetch(`${gw.url}/hello/?moved`); // written to the moved file: the gateway still holds it
    gw.child.kill('SIGUSR1');
    await waitFor(() => gw.output().includes('SIGUSR1: the access log'), 5000, 'the gateway to say it reopened the log');
    await fetch(`${gw.url}/hello/?after`);
    await waitFor(() => existsSync(log) && lines(log).length === 1, 5000, 'the line after the rotation in a new file');
    assert.match(lines(log)[0], /"GET \/hello\/\?after HTTP\/1\.1" 200/);
    assert.ok(lines(`${log}.1`).some((l) => l.includes('/hello/?moved')), readFileSync(`${log}.1`, 'utf8'));
    assert.not.match(gw.output(), /Debugger listening/);
    assert.is(gw.child.exitCode, null);
  } finally {
    await stopGatewayChecked(gw, apps, state);
  }
});

test('SIGUSR1 to `run` (any command but the gateway): ignored, no debugger, the command finishes', async () => {
  const child = spawn(BIN, ['run', join(EXAMPLES, 'hello'), '--state-dir', state.path, '--', 'python', '-c', 'import time; time.sleep(1.5); print("slept")'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise((resolve) => setTimeout(resolve, 700));
  child.kill('SIGUSR1');
  const code = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 15_000))]);
  if (code === 'timeout') child.kill('SIGKILL');
  assert.is(code, 0, out);
  assert.match(out, /slept/);
  assert.not.match(out, /Debugger listening/);
});

test.run();

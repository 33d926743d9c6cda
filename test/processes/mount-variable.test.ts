// A `processes:` command is told its app's mount in APPPKG_MOUNT, as a WSGI app is told it in
// SCRIPT_NAME: a server that serves under a fixed base URL (Jupyter's base_url, a framework's
// root_path) needs it on its command line before any request comes. Empty where the app is at
// the root (serve), and a new mount after SIGHUP restarts the processes that were told the old one.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('APPPKG_MOUNT');
const opened: Array<{ gw: RunningGateway; dir: ReturnType<typeof tempDir> }> = [];

test.after.each(async () => {
  for (const { gw, dir } of opened.splice(0)) await stopGatewayChecked(gw, dir);
});

async function seen(gw: RunningGateway, path: string): Promise<{ status: number; mount?: string | null; pid?: number }> {
  const res = await request(`${gw.url}${path}`);
  if (res.statusCode !== 200) {
    await res.body.dump();
    return { status: res.statusCode };
  }
  const body = (await res.body.json()) as { mount: string | null; pid: number };
  return { status: 200, mount: body.mount, pid: body.pid };
}

test('under --apps: the environment file\'s mount; after SIGHUP with a new one, the process is restarted with it', async () => {
  const dir = tempDir('apppkg-mount-var-');
  const apps = join(dir.path, 'apps');
  addPackage(apps, 'command-server', 'cmd');
  const envFile = join(dir.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  cmd:\n    mount: /c\n    hosts: [cmd.example.com]\n');
  const gw = await startCli([
    '--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir.path, 'state'),
    '--environment', envFile, '--watch-interval', '0', '--access-log', 'off',
  ], { ms: 60_000 });
  opened.push({ gw, dir });
  const first = await seen(gw, '/c/x');
  assert.is(first.mount, '/c');
  // A virtual host's request reaches the same process, which was told the mount all the same.
  const byHost = await request(`${gw.url}/x`, { headers: { host: 'cmd.example.com' } });
  assert.is(((await byHost.body.json()) as { mount: string }).mount, '/c');

  writeFileSync(envFile, 'apps:\n  cmd:\n    mount: /cmd2\n');
  gw.child.kill('SIGHUP');
  await waitFor(async () => (await seen(gw, '/cmd2/x')).mount === '/cmd2', 30_000, 'the process at /cmd2 told /cmd2');
  const now = await seen(gw, '/cmd2/x');
  assert.is.not(now.pid, first.pid, 'a new process, told the new mount');
  assert.match(gw.output(), /cmd: mount, hosts changed in \S+; restarting it/);
  assert.is((await appStatus(gw, 'cmd')).mount, '/cmd2');
});

test('under serve: empty, the app being at the root (as SCRIPT_NAME is)', async () => {
  const dir = tempDir('apppkg-mount-var-serve-');
  const app = addPackage(dir.path, 'command-server', 'cmd');
  const gw = await startCli(['serve', app, '--port', '0', '--state-dir', join(dir.path, 'state')], { ms: 60_000 });
  opened.push({ gw, dir });
  assert.is((await seen(gw, '/x')).mount, '');
});

test.run();

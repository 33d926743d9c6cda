// A `processes:` command is told its app's mount in APPPKG_MOUNT, as a WSGI app is told it in
// SCRIPT_NAME: a server that serves under a fixed base URL (Jupyter's base_url, a framework's
// root_path) needs it on its command line before any request comes. Empty where the app is at
// the root (serve), and a new mount after SIGHUP restarts the processes that were told the old one.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { appStatus, gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
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

/**
 * A stdlib server answering only under one base path: $APPPKG_MOUNT (as Jupyter's base_url does)
 * or, with `BASE=root`, only at the root (a server that knows nothing of mounts, reached at a
 * virtual host). Either way it answers `health: /healthz` at its base, 404 elsewhere.
 */
const BASE_SERVER = `import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
BASE = "" if os.environ.get("BASE") == "root" else os.environ["APPPKG_MOUNT"]

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path.startswith(BASE + "/")
        self.send_response(200 if ok else 404)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok" if ok else b"no")

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
`;

test('health: is asked under the mount, as the app\'s requests come; a server that answers that 404 is asked at the root, as before', async () => {
  const dir = tempDir('apppkg-mount-var-health-');
  const apps = join(dir.path, 'apps');
  const yaml = (base: string) => `platform: python, command\nprocesses:\n  web:\n    command: exec env BASE=${base} python server.py\nhealth: /healthz\n`;
  writePackage(apps, 'based', { 'app.yaml': yaml('mount'), 'server.py': BASE_SERVER });
  writePackage(apps, 'rooted', { 'app.yaml': yaml('root'), 'server.py': BASE_SERVER });
  const envFile = join(dir.path, 'environment.yaml');
  // start_timeout: a probe that never passes refuses the app in 8 s, not the default 60.
  writeFileSync(envFile, 'apps:\n  based: {mount: /b, start_timeout: 8}\n  rooted: {hosts: [rooted.example.com], start_timeout: 8}\n');
  const gw = await startCli([
    '--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir.path, 'state'),
    '--environment', envFile, '--watch-interval', '0', '--access-log', 'off',
  ], { ms: 60_000 });
  opened.push({ gw, dir });
  await waitFor(async () => (await gatewayStatus(gw)).apps.every((a: any) => a.state === 'ready') || /refused/.test(gw.output()), 20_000, 'both apps judged');
  assert.not.match(gw.output(), /refused/);
  assert.is((await request(`${gw.url}/b/x`)).statusCode, 200);
  assert.is((await request(`${gw.url}/x`, { headers: { host: 'rooted.example.com' } })).statusCode, 200);
});

test('under serve: empty, the app being at the root (as SCRIPT_NAME is)', async () => {
  const dir = tempDir('apppkg-mount-var-serve-');
  const app = addPackage(dir.path, 'command-server', 'cmd');
  const gw = await startCli(['serve', app, '--port', '0', '--state-dir', join(dir.path, 'state')], { ms: 60_000 });
  opened.push({ gw, dir });
  assert.is((await seen(gw, '/x')).mount, '');
});

test.run();

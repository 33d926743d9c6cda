// The README's install steps for the nginx site (## Production), as a new Debian host takes
// them: nginx as apt installs it, its stock site (sites-enabled/default) still there. The
// steps run against a copy of /etc/nginx in a temp dir; every enabled site is moved from port 80
// to one free port alike and the site pointed at our socket, nothing else. The gateway must
// answer through it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, ROOT, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { hasProgram, runIf } from '../helpers/skip.js';

const test = suite('nginx site installed as the README says');
const STOCK_SITE = '/etc/nginx/sites-available/default';
const ready = hasProgram('nginx') && existsSync(STOCK_SITE);
const ifReady = runIf(test, ready, `nginx or its stock site ${STOCK_SITE} is missing (Debian: apt-get install nginx)`);
const work = tempDir('apppkg-nginx-install-');
chmodSync(work.path, 0o755); // nginx's workers run as an unprivileged user
const etc = join(work.path, 'etc', 'nginx');
const socket = join(work.path, 'gateway.sock');
let gw: RunningGateway | undefined;
let nginx: ChildProcess | undefined;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** The README's `sh` block under ## Production that installs the nginx site: its /etc/nginx lines. */
function readmeNginxSteps(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const production = readme.slice(readme.indexOf('\n## Production'));
  const block = /```sh\n([\s\S]*?)```/.exec(production)?.[1] ?? '';
  assert.match(block, /nginx-site\.conf/, 'the first sh block of ## Production installs the nginx site');
  return block.split('\n').filter((line) => line.includes('/etc/nginx'));
}

/** Every enabled site moved from port 80 to `port` (IPv4 loopback only), the site at our socket. */
function adaptEnabledSites(port: number): void {
  const enabled = join(etc, 'sites-enabled');
  for (const name of readdirSync(enabled)) {
    const file = realpathSync(join(enabled, name));
    const text = readFileSync(file, 'utf8')
      .replace(/^\s*listen \[::\]:80\b[^;]*;/gm, '')
      .replace(/\blisten 80\b/g, `listen 127.0.0.1:${port}`)
      .replaceAll('unix:/run/apppkg-gateway/gateway.sock', `unix:${socket}`);
    writeFileSync(file, text);
  }
}

test.after(async () => {
  if (nginx?.pid) {
    try {
      process.kill(-nginx.pid, 'SIGTERM');
    } catch {}
    await assertNoOrphans([nginx.pid], 5000).catch(() => process.kill(-nginx!.pid!, 'SIGKILL'));
  }
  await gw?.stop();
  work.remove();
});

ifReady("on a stock Debian nginx, the README's steps put the gateway behind port 80, not nginx's welcome site", async () => {
  // Debian's nginx as installed: its stock site enabled through a link.
  mkdirSync(join(etc, 'sites-available'), { recursive: true });
  mkdirSync(join(etc, 'sites-enabled'));
  copyFileSync(STOCK_SITE, join(etc, 'sites-available', 'default'));
  symlinkSync(join(etc, 'sites-available', 'default'), join(etc, 'sites-enabled', 'default'));
  for (const line of readmeNginxSteps()) {
    const step = line.replaceAll('/etc/nginx/', `${etc}/`);
    const ran = spawnSync('sh', ['-ec', step], { cwd: ROOT, encoding: 'utf8' });
    assert.is(ran.status, 0, `${line}: ${ran.stderr}`);
  }
  const port = await freePort();
  adaptEnabledSites(port);
  const prefix = join(work.path, 'prefix');
  mkdirSync(prefix);
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, `pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 64; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fcgi;
  uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  include ${etc}/sites-enabled/*;
}
`);
  const checked = spawnSync('nginx', ['-t', '-p', prefix, '-c', conf], { encoding: 'utf8' });
  assert.is(checked.status, 0, checked.stderr);
  // Two sites on one port both named "_": nginx keeps the stock one (default_server) and says so.
  assert.not.match(checked.stderr, /conflicting server name/);

  const apps = join(work.path, 'apps');
  mkdirSync(apps);
  addPackage(apps, 'examples/hello', 'hello');
  gw = await startCli(['--apps', apps, '--listen', `unix:${socket}`, '--socket-mode', '0666', '--trust-proxy', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state')]);
  nginx = spawn('nginx', ['-p', prefix, '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let out = '';
  nginx.stderr!.on('data', (c) => (out += c));
  await waitFor(() => spawnSync('sh', ['-c', `test -S ${socket}`]).status === 0 && existsSync(join(prefix, 'nginx.pid')), 15_000, 'nginx and the gateway');
  const res = await waitFor(async () => {
    if (nginx!.exitCode !== null) throw new Error(`nginx exited: ${out}`);
    return await request(`http://127.0.0.1:${port}/hello/`).catch(() => null);
  }, 15_000, 'nginx to answer');
  const body = await res.body.text();
  assert.is(res.statusCode, 200, `nginx answered itself: ${body.slice(0, 200)}`);
  assert.is(body, 'Hello, world!\n');
});

test.run();

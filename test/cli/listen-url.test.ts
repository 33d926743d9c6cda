// The gateway prints its addresses as URLs (`listening on http://127.0.0.1:8000/`, `admin on
// http://127.0.0.1:8099/`), and a user copies them into --listen and --admin, as the commands
// that talk to a gateway take them (`status --admin http://...`). They were refused as bad
// usage; they are the same address now, and another scheme or a path is refused with the
// address to write. serve's --port is a port alone (the host is --host's): an address copied
// there is refused with both flags to write.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { runCli, startCli, tempDir } from '../helpers/process.js';

const test = suite('cli: --listen and --admin as URLs');
const work = tempDir('apppkg-listen-url-');
const apps = join(work.path, 'apps');
mkdirSync(apps);
const state = join(work.path, 'state');

test.after(() => work.remove());

/** A port free a moment ago. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

test('--listen http://HOST:PORT and --admin HOST:PORT/ (the forms the gateway prints) listen there', async () => {
  const [port, adminPort] = [await freePort(), await freePort()];
  for (const [listen, admin] of [
    [`http://127.0.0.1:${port}`, `127.0.0.1:${adminPort}/`],
    [`127.0.0.1:${port}/`, `HTTP://127.0.0.1:${adminPort}/`],
  ]) {
    const gw = await startCli(['--apps', apps, '--state-dir', state, '--listen', listen, '--admin', admin], { ms: 20_000 });
    try {
      assert.is(gw.url.replace(/\/$/, ''), `http://127.0.0.1:${port}`, gw.output());
      assert.is(gw.adminUrl?.replace(/\/$/, ''), `http://127.0.0.1:${adminPort}`, gw.output());
      const status = await request(`http://127.0.0.1:${adminPort}/status`);
      assert.is(status.statusCode, 200);
      await status.body.dump();
      // No app is mounted: the gateway's own 404, from the address given.
      const res = await request(`http://127.0.0.1:${port}/`);
      assert.is(res.statusCode, 404);
      await res.body.dump();
    } finally {
      await gw.stop();
    }
  }
});

test('another scheme or a path in --listen or --admin is bad usage (exit 2), naming the address to write', async () => {
  const cases: Array<[flag: string, value: string, says: string]> = [
    ['--listen', 'https://127.0.0.1:8443', '--listen: expected http:// or no scheme (plain HTTP is spoken there), found https:// in "https://127.0.0.1:8443"'],
    ['--listen', 'http://127.0.0.1:8000/blog', '--listen: a listener takes no path (an app\'s path is its mount: in the environment file), found the path "/blog"'],
    ['--admin', '127.0.0.1:8099/status', '--admin: the admin listener answers at its root, found the path "/status" in "127.0.0.1:8099/status"'],
  ];
  for (const [flag, value, says] of cases) {
    const other = flag === '--listen' ? ['--admin', '127.0.0.1:0'] : ['--listen', '127.0.0.1:0'];
    const r = await runCli(['--apps', apps, '--state-dir', state, flag, value, ...other], { ms: 15_000 });
    assert.is(r.status, 2, `${value}: ${r.stderr}`);
    assert.ok(r.stderr.includes(says), r.stderr);
    const addr = value.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
    assert.ok(r.stderr.includes(`fix: write ${flag} ${addr} (or http://${addr}/)`), r.stderr);
  }
  const noPort = await runCli(['--apps', apps, '--state-dir', state, '--listen', 'http://localhost/'], { ms: 15_000 });
  assert.is(noPort.status, 2, noPort.stderr);
  assert.ok(noPort.stderr.includes('--listen: expected PORT, HOST:PORT or unix:/path, found "http://localhost/"'), noPort.stderr);
});

test('a unix: path neither absolute nor ./ is bad usage (exit 2) whose fix is the ./ form (and the absolute one, for a path with a directory in it); the ./ form listens in the current directory', async () => {
  const cases: Array<[args: string[], flag: string, path: string]> = [
    [['--apps', apps, '--state-dir', state, '--listen', 'unix:relative.sock', '--admin', '127.0.0.1:0'], '--listen', 'relative.sock'],
    [['--apps', apps, '--state-dir', state, '--listen', '127.0.0.1:0', '--admin', 'unix:run/admin.sock'], '--admin', 'run/admin.sock'],
    [['status', '--admin', 'unix:admin.sock'], '--admin', 'admin.sock'],
  ];
  for (const [args, flag, path] of cases) {
    const r = await runCli(args, { ms: 15_000 });
    assert.is(r.status, 2, r.stderr);
    assert.ok(r.stderr.includes(`${flag}: expected unix: and an absolute path, or a relative one beginning with ./, found "unix:${path}"`), r.stderr);
    const also = path.includes('/') ? ` or ${flag} unix:/${path} (from the root)` : '';
    assert.ok(r.stderr.includes(`fix: write ${flag} unix:./${path} (relative to the directory the command runs in)${also}`), r.stderr);
  }
  const dir = join(work.path, 'cwd');
  mkdirSync(dir);
  const gw = await startCli(['--apps', apps, '--state-dir', state, '--listen', 'unix:./g.sock', '--admin', '127.0.0.1:0'], { cwd: dir, ms: 20_000 });
  try {
    assert.is(gw.url, 'unix:./g.sock', gw.output());
    assert.ok(statSync(join(dir, 'g.sock')).isSocket());
  } finally {
    await gw.stop();
  }
});

test('serve --port takes a port alone: an address copied there is refused (exit 2) with the --host and --port to write', async () => {
  const r = await runCli(['serve', apps, '--state-dir', state, '--port', 'http://127.0.0.1:8000/'], { ms: 15_000 });
  assert.is(r.status, 2, r.stderr);
  assert.ok(r.stderr.includes('--port: expected a port number (0-65535; 0 picks a free one), found "http://127.0.0.1:8000/"'), r.stderr);
  assert.ok(r.stderr.includes('fix: write --host 127.0.0.1 --port 8000'), r.stderr);
});

// `--listen 0.0.0.0:P` printed `listening on http://127.0.0.1:P/` alone, so an operator read a
// listener open to the network as one on loopback; the admin line already said both. The URL
// stays first: startCli, and a script, take the word after `listening on`.
test('a wildcard listener: its `listening on` line gives the loopback URL first, then what it listens on (the gateway and serve)', async () => {
  const gw = await startCli(['--apps', apps, '--state-dir', state, '--listen', '0.0.0.0:0', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], { ms: 20_000 });
  try {
    const lines = gw.output().split('\n').filter((l) => l.startsWith('listening on '));
    const port = new URL(gw.url).port;
    assert.is(lines[0], `listening on http://127.0.0.1:${port}/ (this URL reaches it from this host; it listens on 0.0.0.0:${port}, every IPv4 address of this host)`);
    // Its own loopback address needs no note.
    assert.match(lines[1], /^listening on http:\/\/127\.0\.0\.1:\d+\/$/);
    const res = await request(gw.url);
    assert.is(res.statusCode, 404);
    await res.body.dump();
  } finally {
    await gw.stop();
  }
  const app = join(work.path, 'served');
  mkdirSync(app);
  writeFileSync(join(app, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\n');
  writeFileSync(join(app, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
  const served = await startCli(['serve', app, '--host', '0.0.0.0', '--port', '0', '--state-dir', state], { ms: 60_000 });
  try {
    const port = new URL(served.url).port;
    assert.match(served.output(), `listening on http://127.0.0.1:${port}/ (this URL reaches it from this host; it listens on 0.0.0.0:${port}, every IPv4 address of this host)\n`);
  } finally {
    await served.stop();
  }
});

test.run();

// WSGI frameworks as Debian packages them, side by side under one gateway, each under its mount
// (/NAME), driven as a browser or API client drives them: web.py (its tutorial's
// `app.wsgifunc()`), hug (`__hug_wsgi__`), Flask-SQLAlchemy on the database `services: {database:
// sql}` gives (SQLite, its table made by commands.install) and Flask-SocketIO's long-polling
// transport in threading mode. What their URLs carry of the mount is theirs (README, the
// frameworks' notes); what the gateway owes them is pinned here: web.py saw no SERVER_SOFTWARE in
// its process environment, as gunicorn sets it, and so ran in its debug mode, showing any visitor
// the locals of an exception. Each framework's app is skipped, and said so, where
// /usr/bin/python3 cannot import it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { rawRequest, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';

const has = (module: string) => spawnSync('/usr/bin/python3', ['-c', `import ${module}`], { stdio: 'ignore', timeout: 20_000 }).status === 0;
const APPS = [
  { fixture: 'webpy-hello', name: 'webpy', module: 'web', deb: 'python3-webpy' },
  { fixture: 'hug-api', name: 'hug', module: 'hug', deb: 'python3-hug' },
  { fixture: 'flask-sql-notes', name: 'notes', module: 'flask_sqlalchemy', deb: 'python3-flask-sqlalchemy' },
  { fixture: 'socketio-chat', name: 'chat', module: 'flask_socketio', deb: 'python3-flask-socketio' },
].map((app) => ({ ...app, present: has(app.module) }));
const present = (name: string) => APPS.find((a) => a.name === name)!;

const test = suite('gateway: web.py, hug, Flask-SQLAlchemy and Flask-SocketIO under their mounts');
const only = (name: string) => runIf(test, present(name).present, `needs ${present(name).deb}`);
const apps = tempDir('apppkg-wsgi-frameworks-apps-');
const state = tempDir('apppkg-wsgi-frameworks-state-');
let gw: RunningGateway | undefined;

test.before(async () => {
  const served = APPS.filter((a) => a.present);
  if (served.length === 0) return;
  for (const app of served) addPackage(apps.path, app.fixture, app.name);
  // One worker each: Socket.IO's sessions live in one process (README), and each worker more is a Python start.
  const environment = join(state.path, 'environment.yaml');
  writeFileSync(environment, 'defaults:\n  workers: 1\n', { mode: 0o600 });
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--environment', environment, '--state-dir', state.path], { ms: 60_000 });
  await waitFor(async () => {
    const status = await gatewayStatus(gw!);
    return status.apps.length === served.length && status.apps.every((a: any) => a.state === 'ready');
  }, 90_000, () => `${served.map((a) => a.name).join(', ')} to serve:\n${gw!.output()}`);
});

test.after(() => stopGatewayChecked(gw, apps, state));

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await request(`${gw!.url}${path}`, { headers });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

async function post(path: string, body: string, headers: Record<string, string>) {
  const res = await request(`${gw!.url}${path}`, { method: 'POST', body, headers });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

only('webpy')('web.py: wsgifunc() serves under the mount; its redirect and cookie carry it', async () => {
  const home = await get('/webpy/');
  assert.is(home.status, 200, home.body);
  assert.is(home.body, 'Hello, web.py!');
  assert.equal(JSON.parse((await get('/webpy/api')).body), { homepath: '/webpy', path: '/api' });
  const posted = await post('/webpy/form', 'who=alice', { 'content-type': 'application/x-www-form-urlencoded' });
  assert.is(posted.status, 303, posted.body);
  assert.is(posted.headers.location, `${gw!.url}/webpy/thanks`);
  assert.match(String(posted.headers['set-cookie']), /^who=alice; Path=\/webpy\/$/);
  const thanks = await get('/webpy/thanks', { cookie: 'who=alice' });
  assert.is(thanks.body, 'thanks alice');
});

only('webpy')("web.py: an exception is a plain 500, not its debug page with the handler's locals (SERVER_SOFTWARE set, as gunicorn sets it)", async () => {
  const boom = await get('/webpy/boom');
  assert.is(boom.status, 500);
  assert.is(boom.body, 'internal server error');
  assert.not.match(boom.body, 'not-for-visitors');
  // The traceback goes to the app's log instead.
  const log = join(state.path, 'apps', 'webpy', 'log', 'app.log');
  await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').includes('RuntimeError: boom 16'), 10_000, () => `the traceback in ${log}`);
});

only('hug')("hug: __hug_wsgi__ serves under the mount, with falcon's root_path", async () => {
  const home = await get('/hug/');
  assert.is(home.status, 200, home.body);
  assert.equal(JSON.parse(home.body), { framework: 'hug' });
  assert.equal(JSON.parse((await get('/hug/where')).body), { root_path: '/hug', path: '/where', url: `${gw!.url}/hug/where` });
  const echoed = await post('/hug/echo', '{"n": 1}', { 'content-type': 'application/json' });
  assert.is(echoed.status, 200, echoed.body);
  assert.equal(JSON.parse(echoed.body), { got: { n: 1 } });
});

only('notes')('Flask-SQLAlchemy on services: {database: sql}: the table commands.install made, a POST that redirects under the mount, a session, static files', async () => {
  // Its table is there: commands.install made it (the POST below would fail with "no such table").
  const posted = await post('/notes/add', 'text=first+note', { 'content-type': 'application/x-www-form-urlencoded' });
  assert.is(posted.status, 302, posted.body);
  assert.is(posted.headers.location, '/notes/');
  const cookie = String(posted.headers['set-cookie']).split(';')[0];
  assert.match(cookie, /^notes_session=/);
  const page = await get('/notes/', { cookie });
  assert.match(page.body, '<p>added 1</p><ul><li>first note</li></ul><form method="post" action="/notes/add">');
  assert.match(page.body, '<link rel="stylesheet" href="/notes/static/site.css">');
  const css = await get('/notes/static/site.css');
  assert.is(css.status, 200);
  assert.is(css.body, 'body { color: navy; }\n');
  assert.equal(JSON.parse((await get('/notes/api/notes')).body), [{ id: 1, text: 'first note' }]);
});

only('chat')("Flask-SocketIO (threading): Socket.IO's long-polling handshake, an event and its reply under the mount; a websocket gets 501", async () => {
  const base = '/chat/socket.io/?EIO=4&transport=polling';
  const open = await get(base);
  assert.is(open.status, 200, open.body);
  const sid = JSON.parse(open.body.slice(1)).sid as string;
  const text = { 'content-type': 'text/plain;charset=UTF-8' };
  assert.is((await post(`${base}&sid=${sid}`, '40', text)).body, 'OK');
  assert.match((await get(`${base}&sid=${sid}`)).body, /^40\{"sid":"/);
  assert.is((await post(`${base}&sid=${sid}`, '42["message","hi"]', text)).body, 'OK');
  assert.is((await get(`${base}&sid=${sid}`)).body, '42["reply",{"echo":"hi"}]');
  const upgrade = await rawRequest(Number(new URL(gw!.url).port),
    'GET /chat/socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
      + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  assert.match(upgrade, /^HTTP\/1\.1 501 /);
});

test.run();

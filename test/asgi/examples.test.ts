// The ASGI examples (SPEC 5.1) under one --apps beside a WSGI app, through the real CLI: the
// stdlib-only asgi-hello (lifespan state, a streamed body, a websocket echo), FastAPI's notes
// API with its validation and its /docs under the mount, Starlette's chat with lifespan and
// websockets held by the app, and Django's ASGI handler with an async view. The framework
// ones need Debian's packages.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { rawRequest, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
import { openSocket } from '../helpers/websocket.js';

const importable = (...modules: string[]): boolean =>
  spawnSync('/usr/bin/python3', ['-c', modules.map((m) => `import ${m}`).join('; ')], { stdio: 'ignore', timeout: 20_000 }).status === 0;
const HAS_FASTAPI = importable('fastapi');
const HAS_STARLETTE = importable('starlette');
const HAS_DJANGO = importable('django');

const test = suite('asgi examples');
const ifFastapi = runIf(test, HAS_FASTAPI, 'needs python3-fastapi (npm test installs it as root)');
const ifStarlette = runIf(test, HAS_STARLETTE, 'needs python3-starlette (npm test installs it as root)');
const ifDjango = runIf(test, HAS_DJANGO, 'needs python3-django (npm test installs it as root)');
const apps = tempDir('apppkg-asgi-apps-');
const state = tempDir('apppkg-asgi-state-');
let gw: RunningGateway;

test.before(async () => {
  addPackage(apps.path, 'examples/asgi-hello', 'asgi-hello');
  addPackage(apps.path, 'examples/hello', 'hello');
  // SPEC 5.1's other spelling, `asgi: {app: ...}` without platform:, served as the first is.
  addPackage(apps.path, 'examples/asgi-hello', 'asgi-spelled', { 'app.yaml': [['platform: python, asgi\n', ''], ['app: hello_asgi:app', 'asgi: {app: hello_asgi:app}']] });
  if (HAS_FASTAPI) addPackage(apps.path, 'examples/fastapi-notes', 'notes');
  if (HAS_STARLETTE) addPackage(apps.path, 'examples/starlette-chat', 'chat');
  if (HAS_DJANGO) {
    addPackage(apps.path, 'django-asgi', 'djasgi');
    addPackage(apps.path, 'django-asgi', 'djwrapped', { 'app.yaml': [['djsite.asgi:application', 'djsite.wrapped:application']] });
    addPackage(apps.path, 'django-asgi', 'djfunction', { 'app.yaml': [['djsite.asgi:application', 'djsite.wrapped:function']] });
  }
  // One chat room is one process: the chat runs one worker, as its app.yaml says.
  const environment = join(state.path, 'environment.yaml');
  writeFileSync(environment, 'apps:\n  asgi-spelled:\n    workers: 1\n  chat:\n    workers: 1\n  djwrapped:\n    workers: 1\n  djfunction:\n    workers: 1\n');
  gw = await startCli(['--apps', apps.path, '--environment', environment, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path], { ms: 60_000 });
  const expected = 3 + Number(HAS_FASTAPI) + Number(HAS_STARLETTE) + 3 * Number(HAS_DJANGO);
  await waitFor(
    async () => {
      const apps = (await gatewayStatus(gw)).apps as Array<{ state: string }>;
      return apps.length === expected && apps.every((a) => a.state === 'ready');
    },
    90_000,
    'every app to serve',
  );
});

test.after(() => stopGatewayChecked(gw, apps, state));

async function get(path: string): Promise<{ status: number; type: string; body: string }> {
  const res = await request(`${gw.url}${path}`);
  return { status: res.statusCode, type: String(res.headers['content-type'] ?? ''), body: await res.body.text() };
}

test('asgi-hello answers beside a WSGI app, with the mount as root_path and the rest as path', async () => {
  const hello = await get('/asgi-hello/');
  assert.is(hello.status, 200);
  assert.is(hello.body, 'Hello from ASGI!\n');
  assert.is((await get('/hello/')).status, 200, 'the WSGI app beside it');
  const info = JSON.parse((await get('/asgi-hello/info')).body) as { root_path: string; path: string; client: [string, number] };
  assert.is(info.root_path, '/asgi-hello');
  assert.is(info.path, '/info');
  assert.is(info.client[0], '127.0.0.1');
});

test('a target with dot segments: path is what the gateway routed by (resolved, // merged first as nginx), raw_path the target as sent (as uvicorn gives it); lean lane and node:http', async () => {
  // uvicorn resolves nothing (path is the target unquoted); the gateway routes by the resolved
  // path, so path must be that one, or an app would route `/x/../info` where the gateway did not.
  const port = Number(new URL(gw.url).port);
  for (const twice of ['', 'Accept: a\r\nAccept: b\r\n']) {
    for (const [target, raw] of [
      ['/asgi-hello/x/../info?q=1', '/asgi-hello/x/../info'],
      ['/asgi-hello/x/%2e%2e/info', '/asgi-hello/x/%2e%2e/info'],
      ['/hello//../asgi-hello/./info', '/hello//../asgi-hello/./info'],
    ]) {
      const answer = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: x\r\n${twice}Connection: close\r\n\r\n`);
      assert.match(answer.split('\r\n')[0], / 200 /, `${target}: ${answer}`);
      const info = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { root_path: string; path: string; raw_path: string };
      assert.equal([info.root_path, info.path, info.raw_path], ['/asgi-hello', '/info', raw], `${twice ? 'node:http' : 'lean lane'} ${target}`);
    }
  }
});

test('asgi-hello streams a body piece by piece; status says the worker is ASGI', async () => {
  const count = await get('/asgi-hello/count');
  assert.is(count.body, '1\n2\n3\n4\n5\n');
  const app = ((await gatewayStatus(gw)).apps as Array<{ name: string; state: string }>).find((a) => a.name === 'asgi-hello');
  assert.is(app?.state, 'ready');
});

test('asgi-hello echoes websocket messages through the mount', async () => {
  const socket = await openSocket(`${gw.url.replace(/^http/, 'ws')}/asgi-hello/ws`);
  try {
    socket.ws.send('ping');
    assert.is(await socket.next(), 'ping');
    socket.ws.send('second');
    assert.is(await socket.next(), 'second');
  } finally {
    socket.ws.close(1000, 'done');
  }
  assert.is(await socket.closed(), 1000, 'the close handshake completes with the client\'s code');
});

test('an app.yaml saying asgi: {app: ...} alone (no platform:) is served as ASGI: lifespan state, a websocket', async () => {
  const spelled = await get('/asgi-spelled/');
  assert.is(spelled.status, 200);
  assert.is(spelled.body, 'Hello from ASGI!\n');
  const info = JSON.parse((await get('/asgi-spelled/info')).body) as { root_path: string; path: string };
  assert.equal([info.root_path, info.path], ['/asgi-spelled', '/info']);
  const socket = await openSocket(`${gw.url.replace(/^http/, 'ws')}/asgi-spelled/ws`);
  try {
    socket.ws.send('spelled');
    assert.is(await socket.next(), 'spelled');
  } finally {
    socket.ws.close(1000, 'done');
  }
  assert.is(await socket.closed(), 1000);
});

ifFastapi('fastapi-notes: validation (422), create, list, read, 404; /docs loads the schema under the mount', async () => {
  const bad = await request(`${gw.url}/notes/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: '' }) });
  assert.is(bad.statusCode, 422);
  assert.match(await bad.body.text(), /title/);
  const made = await request(`${gw.url}/notes/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'first', body: 'hello' }) });
  assert.is(made.statusCode, 201);
  const note = (await made.body.json()) as { id: number; title: string };
  assert.is(note.title, 'first');
  const list = JSON.parse((await get('/notes/notes')).body) as Array<{ id: number }>;
  assert.ok(list.some((n) => n.id === note.id));
  assert.is(JSON.parse((await get(`/notes/notes/${note.id}`)).body).body, 'hello');
  assert.is((await get('/notes/notes/999999')).status, 404);
  const docs = await get('/notes/docs');
  assert.is(docs.status, 200);
  assert.match(docs.body, /\/notes\/openapi\.json/, 'the docs page asks for the schema under the mount');
  const schema = JSON.parse((await get('/notes/openapi.json')).body) as { info: { title: string } };
  assert.is(schema.info.title, 'notes');
});

ifStarlette('starlette-chat: the page, and two websockets in one room (lifespan state) hear each other', async () => {
  const page = await get('/chat/');
  assert.is(page.status, 200);
  assert.match(page.body, /new WebSocket/);
  const url = `${gw.url.replace(/^http/, 'ws')}/chat/ws`;
  const alice = await openSocket(url);
  const bob = await openSocket(url);
  try {
    alice.ws.send('hi bob');
    assert.is(await bob.next(), 'hi bob');
    assert.is(await alice.next(), 'hi bob');
  } finally {
    alice.ws.close();
    bob.ws.close();
  }
  const history = JSON.parse((await get('/chat/history')).body) as string[];
  assert.ok(history.includes('hi bob'), 'the room kept the line in the lifespan state');
});

ifDjango("Django's get_asgi_application with an async view serves (it refuses the lifespan scope); SCRIPT_NAME is the mount", async () => {
  const res = await get('/djasgi/hello');
  assert.is(res.status, 200, res.body);
  assert.equal(JSON.parse(res.body), { async: true, script_name: '/djasgi', path: '/djasgi/hello' });
  // The mount itself, without its slash: Django's root URL, as its WSGI side answers it.
  const root = await get('/djasgi');
  assert.is(root.status, 200, root.body);
  assert.equal(JSON.parse(root.body), { async: true, script_name: '/djasgi', path: '/djasgi/' });
  // Django takes root_path off path itself: a path that starts with the mount again is not
  // the mount twice, nor a URL without its slash (`djasgiother` is not `other`).
  for (const target of ['/djasgi/djasgi/hello', '/djasgi/djasgiother']) {
    const res = await get(target);
    assert.is(res.status, 200, `${target}: ${res.body}`);
    assert.equal(JSON.parse(res.body), { async: true, script_name: '/djasgi', path: target });
  }
});

ifDjango("Django's handler inside a middleware object or a function that wraps it routes and builds its URLs with the mount, as unwrapped", async () => {
  for (const mount of ['/djwrapped', '/djfunction']) {
    // Given the rest, /djwrapped/djwrapped/hello reached the view as /hello.
    for (const target of [`${mount}/hello`, mount, `${mount}${mount}/hello`]) {
      const res = await get(target);
      assert.is(res.status, 200, `${target}: ${res.body}`);
      assert.equal(JSON.parse(res.body), { async: true, script_name: mount, path: target === mount ? `${mount}/` : target }, target);
    }
  }
});

test.run();

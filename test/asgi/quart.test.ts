// A Quart app under a mount through the real CLI (SPEC 5.1): Quart takes root_path off path
// itself (as Hypercorn, its own server, gives it the full path), so routes, url_for, redirects
// and websockets all carry the mount; before_serving and after_serving are its lifespan.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';
import { openSocket } from '../helpers/websocket.js';

const HAS_QUART = spawnSync('/usr/bin/python3', ['-c', 'import quart'], { stdio: 'ignore', timeout: 20_000 }).status === 0;

const test = suite('asgi: quart');
const ifQuart = runIf(test, HAS_QUART, 'needs python3-quart (npm test installs it as root)');
const apps = tempDir('apppkg-quart-apps-');
const state = tempDir('apppkg-quart-state-');
const appLog = join(state.path, 'apps', 'shop', 'log', 'app.log');
let gw: RunningGateway | undefined;
let pids: number[] = [];

test.before(async () => {
  if (!HAS_QUART) return;
  addPackage(apps.path, 'quart-app', 'shop');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path], { ms: 60_000 });
  await waitFor(async () => ((await gatewayStatus(gw!)).apps as Array<{ state: string }>).every((a) => a.state === 'ready'), 60_000, 'the quart app to serve');
  pids = statusPids(await gatewayStatus(gw));
});

test.after(async () => {
  await gw?.stop();
  await assertNoOrphans(pids);
  apps.remove();
  state.remove();
});

async function get(path: string): Promise<{ status: number; location: string; body: string }> {
  const res = await request(`${gw!.url}${path}`);
  return { status: res.statusCode, location: String(res.headers.location ?? ''), body: await res.body.text() };
}

ifQuart('routes, url_for and redirects carry the mount; before_serving ran before the first request', async () => {
  const index = await get('/shop/');
  assert.is(index.status, 200, index.body);
  assert.equal(JSON.parse(index.body), { item_url: '/shop/items/3', root_path: '/shop', open: true });
  // The mount without its slash: Quart's own redirect to the mount with it, as under Hypercorn.
  const bare = await get('/shop');
  assert.is(bare.status, 308, bare.body);
  assert.match(bare.location, /^(http:\/\/[^/]+)?\/shop\/$/);
  const item = await get('/shop/items/3');
  assert.is(item.status, 200, item.body);
  assert.equal(JSON.parse(item.body), { id: 3 });
  const go = await get('/shop/go');
  assert.is(go.status, 302, go.body);
  assert.match(go.location, /^(http:\/\/[^/]+)?\/shop\/items\/9$/);
  assert.is((await get('/shop/nope')).status, 404);
  const posted = await request(`${gw!.url}/shop/echo`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&b=two' });
  assert.is(posted.statusCode, 200);
  assert.equal(await posted.body.json(), { form: { a: '1', b: 'two' } });
  assert.match(readFileSync(appLog, 'utf8'), 'quart before_serving');
});

ifQuart('a websocket under the mount echoes, and the close code the app chose reaches the client', async () => {
  const socket = await openSocket(`${gw!.url.replace(/^http/, 'ws')}/shop/ws`);
  socket.ws.send('hi');
  assert.is(await socket.next(), 'echo:hi');
  socket.ws.send('bye');
  assert.is(await socket.closed(), 4002);
});

ifQuart('after_serving runs when the gateway stops', async () => {
  await gw!.stop();
  await waitFor(() => readFileSync(appLog, 'utf8').includes('quart after_serving'), 10_000, 'after_serving in the app log');
});

test.run();

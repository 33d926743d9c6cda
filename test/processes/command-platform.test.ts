// `platform: python, command` through the real gateway: the app's own server on the port the
// gateway injects as $PORT, no WSGI workers, requests (and the Tornado example's websockets)
// routed to it with the full path, bodies streamed both ways, and nothing left after stop.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { addPackage, clientLoop } from '../helpers/apps-dir.js';
import { appStatus as appStatusOf, gatewayStatus } from '../helpers/status.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { openSocket } from '../helpers/websocket.js';

const test = suite('platform: python, command');
const apps = tempDir('apppkg-cmd-apps-');
const state = tempDir('apppkg-cmd-state-');
let gw: RunningGateway;

test.before(async () => {
  addPackage(apps.path, 'command-server', 'cmd');
  addPackage(apps.path, 'examples/tornado-chat', 'tornado-chat');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path], { ms: 60_000 });
  await waitFor(async () => (await status()).apps.filter((a: any) => a.state === 'ready').length === 2, 60_000, 'both apps ready');
});

test.after(async () => {
  await gw?.stop();
  apps.remove();
  state.remove();
});

const status = () => gatewayStatus(gw);
const appStatus = (name: string) => appStatusOf(gw, name);

test('the app runs no WSGI workers; processes.web serves on the port it was given in $PORT', async () => {
  const cmd = await appStatus('cmd');
  assert.is(cmd.workers.length, 0);
  assert.is(cmd.processes.length, 1);
  const web = cmd.processes[0];
  assert.is(web.name, 'web');
  assert.is(web.state, 'ready');
  assert.is(web.route, null);
  const res = await request(`${gw.url}/cmd/some/where?x=1`);
  assert.is(res.statusCode, 200);
  const seen = (await res.body.json()) as any;
  assert.is(Number(seen.port), web.port);
  assert.is(seen.pid, web.pid); // `exec python server.py`: the shell became the server
  assert.is(seen.app, 'cmd');
  assert.is(seen.path, '/cmd/some/where?x=1');
  assert.is(seen.headers['X-Forwarded-Prefix'], '/cmd');
});

test('the app\'s health is processes.web\'s probe (health: of app.yaml), as a WSGI app\'s is its workers\': the status page showed "no probe"', async () => {
  const tornado = await appStatus('tornado-chat');
  const web = tornado.processes[0];
  assert.ok(tornado.health, 'an app with health: has its last probe in /status');
  assert.is(tornado.health.path, '/healthz');
  assert.is(tornado.health.ok, true);
  assert.is(tornado.health.status, 200);
  assert.is(tornado.health.error, null);
  assert.is(tornado.health.pid, web.pid);
  assert.ok(Date.parse(tornado.health.at) <= Date.parse((await status()).now));
  const cmd = await appStatus('cmd');
  assert.equal([cmd.health?.ok, cmd.health?.pid], [true, cmd.processes[0].pid]);
});

test('request and response bodies stream through both ways', async () => {
  const size = 3 * 1024 * 1024;
  const res = await request(`${gw.url}/cmd/upload`, { method: 'POST', body: Buffer.alloc(size, 97), headers: { 'content-type': 'application/octet-stream' } });
  assert.is(res.statusCode, 200);
  const seen = (await res.body.json()) as any;
  assert.is(seen.method, 'POST');
  assert.is(seen.bodySize, size);
});

test('the Tornado example: its page, its stats on the injected port, and a chat between two websockets', async () => {
  const page = await request(`${gw.url}/tornado-chat/`);
  assert.is(page.statusCode, 200);
  const html = await page.body.text();
  assert.match(html, /const PREFIX = "\/tornado-chat";/);
  // Anything before the doctype (the PREFIX script was) puts a browser in quirks mode.
  assert.match(html, /^<!doctype html>/i);
  const web = (await appStatus('tornado-chat')).processes[0];
  const stats = (await (await request(`${gw.url}/tornado-chat/chat/stats`)).body.json()) as any;
  assert.is(stats.port, web.port);
  const wsBase = gw.url.replace(/^http/, 'ws');
  const alice = await openSocket(`${wsBase}/tornado-chat/chat/ws`);
  assert.match(JSON.parse(await alice.next()).text, /joined \(1 here\)/);
  const bob = await openSocket(`${wsBase}/tornado-chat/chat/ws`);
  assert.match(JSON.parse(await alice.next()).text, /joined \(2 here\)/);
  assert.match(JSON.parse(await bob.next()).text, /joined \(2 here\)/);
  // Held by its process, not by workers: counted all the same, for the app and its version.
  const open = await appStatus('tornado-chat');
  assert.is(open.websockets, 2);
  assert.equal(open.versions.map((v: any) => v.websockets), [2]);
  alice.ws.send('hello bob');
  assert.is(JSON.parse(await bob.next()).text, 'hello bob');
  assert.is(JSON.parse(await alice.next()).text, 'hello bob');
  alice.ws.close(1000);
  await alice.closed();
  assert.match(JSON.parse(await bob.next()).text, /left \(1 here\)/);
  bob.ws.close(1000);
  await bob.closed();
  // Promptly, not by the tunnel's 5 s grace (forward-upgrade.ts): a paused socket never read
  // the client's FIN, and the websockets stayed counted (and held a drain) for those 5 s.
  await waitFor(async () => (await appStatus('tornado-chat')).websockets === 0, 2500, 'no websocket counted once both closed');
});

test('a new version waits for the old process\'s requests before its SIGTERM: one under way, and a client loop, never fail', async () => {
  const old = (await appStatus('cmd')).processes[0];
  const loop = clientLoop(`${gw.url}/cmd/loop`, 4, 60_000);
  await waitFor(() => loop.result.sent > 20, 10_000, 'the client loop to run');
  const slow = request(`${gw.url}/cmd/slow`);
  await new Promise((resolve) => setTimeout(resolve, 300)); // the slow request is in the old process
  addPackage(apps.path, 'command-server', 'cmd.2');
  const answer = await slow;
  const text = await answer.body.text();
  assert.is(answer.statusCode, 200, text);
  assert.is(JSON.parse(text).pid, old.pid);
  await waitFor(async () => (await appStatus('cmd')).processes.some((p: any) => p.state === 'ready' && p.pid !== old.pid), 30_000, 'the new version\'s process');
  const sent = loop.result.sent;
  await waitFor(() => loop.result.sent > sent + 20, 10_000, 'requests after the switch');
  const result = await loop.stop();
  assert.is(result.failed, 0, result.failures.slice(0, 5).join('\n'));
  await assertNoOrphans([old.pid], 15_000);
});

test('stopping the gateway leaves no process behind', async () => {
  const s = await status();
  const pids: number[] = s.apps.flatMap((a: any) => a.processes.map((p: any) => p.pid)).filter(Boolean);
  assert.is(pids.length, 2);
  assert.is(await gw.stop(), 0);
  await assertNoOrphans(pids, 10_000);
});

test.run();

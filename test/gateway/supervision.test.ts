import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { appStatus as appStatusOf } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('gateway supervision');
const apps = tempDir('apppkg-sup-apps-');
const state = tempDir('apppkg-sup-state-');
let gw: RunningGateway;

test.before(async () => {
  addPackage(apps.path, 'dies-soon', 'flaky');
  addPackage(apps.path, 'environ', 'steady');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path]);
});

test.after(async () => {
  await gw?.stop();
  apps.remove();
  state.remove();
});

const appStatus = (name: string) => appStatusOf(gw, name);

test('a crash loop is shown in status and retried with back-off, not at full speed; other apps unaffected', async () => {
  const startedAt = Date.now();
  await waitFor(async () => (await appStatus('flaky')).state === 'crash-loop', 30_000, 'the crash loop in status');
  const elapsed = (Date.now() - startedAt) / 1000;
  const flaky = await appStatus('flaky');
  // Full speed would be a restart every ~0.3 s per worker; back-off doubles the delay each time.
  assert.ok(flaky.restarts >= 5, `restarts ${flaky.restarts}`);
  assert.ok(flaky.restarts <= 2 * elapsed, `restarts ${flaky.restarts} in ${elapsed.toFixed(1)} s`);
  assert.match(gw.output(), /flaky: worker \d+ exited \(status 1\); restarting in \d+ ms \(crash loop\)/);
  // Its workers are listed while they wait out the back-off: their restarts and last exit, no pid.
  const waiting = await waitFor(async () => {
    const app = await appStatus('flaky');
    // Apart from the worker processes: a reader of `workers` meets pids only.
    assert.ok(app.workers.every((w: any) => w.pid !== null));
    return app.restarting.length > 0 ? app.restarting : null;
  }, 15_000, 'a worker row waiting out its back-off');
  assert.match(waiting[0].state, /^(crash-loop|restarting)$/);
  assert.ok(waiting[0].restarts >= 1);
  assert.is(waiting[0].lastExit.code, 1);
  // A request while no worker is up: 503 at once, not held through a back-off of up to 30 s.
  let refused: { status: number; ms: number; body: string } | null = null;
  for (let i = 0; i < 5 && refused === null; i++) {
    await waitFor(async () => (await appStatus('flaky')).workers.length === 0, 15_000, 'no worker of flaky up');
    const t0 = Date.now();
    const res = await request(`${gw.url}/flaky/`);
    const body = await res.body.text();
    if (res.statusCode === 503) refused = { status: res.statusCode, ms: Date.now() - t0, body };
  }
  assert.ok(refused !== null, 'a 503 while the crash loop has no worker up');
  assert.ok(refused!.ms < 2000, `answered in ${refused!.ms} ms`);
  assert.match(refused!.body, /flaky is in a crash loop/);
  for (let i = 0; i < 10; i++) assert.is((await request(`${gw.url}/steady/`)).statusCode, 200);
  const steady = await appStatus('steady');
  assert.is(steady.restarts, 0);
  assert.is(steady.state, 'ready');
});

test("each app's output is kept in its own log; the access log has a line per request", async () => {
  const log = join(state.path, 'apps', 'flaky', 'log', 'app.log');
  await waitFor(() => readFileSync(log, 'utf8').includes('dies-soon: started'), 10_000, 'the app log');
  const res = await request(`${gw.url}/steady/logged?x=1`, { headers: { 'user-agent': 'apppkg-test/1' } });
  // The size column is the body's bytes, as combined's %b: not the head.
  const size = Buffer.byteLength(await res.body.text());
  const line = new RegExp(`"GET /steady/logged\\?x=1 HTTP/1\\.1" 200 ${size} "-" "apppkg-test/1" app=steady dur=\\d+\\.\\d+`);
  await waitFor(() => line.test(gw.output()), 5000, `the access log line, size ${size}`);
  // The same through node:http (a chunked body is not the lean lane's), and a HEAD: no body.
  // undici sends an async iterable (chunked) as it does a Readable; its types name only the latter.
  const posted = await request(`${gw.url}/steady/posted`, { method: 'POST', body: (async function* () { yield 'x'; })() as unknown as Readable });
  const postedSize = Buffer.byteLength(await posted.body.text());
  await waitFor(() => new RegExp(`"POST /steady/posted HTTP/1\\.1" ${posted.statusCode} ${postedSize} `).test(gw.output()), 5000, `the POST's line, size ${postedSize}`);
  (await request(`${gw.url}/steady/headed`, { method: 'HEAD' })).body.resume();
  await waitFor(() => /"HEAD \/steady\/headed HTTP\/1\.1" 200 0 /.test(gw.output()), 5000, 'the HEAD\'s line, size 0');
  // %u: the Basic auth user, as Apache and nginx log it; one that would shift the fields, escaped.
  for (const user of ['bob', 'a "b" c']) {
    const basic = Buffer.from(`${user}:secret`).toString('base64');
    await (await request(`${gw.url}/steady/authed`, { headers: { authorization: `Basic ${basic}` } })).body.text();
  }
  await waitFor(() => / - bob \[[^\]]+\] "GET \/steady\/authed /.test(gw.output()), 5000, 'the user in the line');
  await waitFor(() => / - a\\x20\\x22b\\x22\\x20c \[[^\]]+\] "GET \/steady\/authed /.test(gw.output()), 5000, 'the odd user, escaped');
  const steadyLog = join(state.path, 'apps', 'steady', 'log', 'app.log');
  assert.not.match(readFileSync(steadyLog, 'utf8'), /dies-soon/);
});

test.run();

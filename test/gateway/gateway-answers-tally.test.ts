// The gateway's own 503s and 504s for an app, each counted where README "Many apps" puts it:
// the app's own failure in its ERRORS and its serving version's `failed` alike (until
// 2026-12-08 these were in ERRORS only, the version line saying `0 failed` beside them).
// Real gateway, real Python, real HTTP: a worker held busy (queue: 0, "busy"), a worker killed
// whose restart is slow (queue: 0, "restarting"; a queue, the 504 past `timeout`), a process
// route's process killed ("processes.live of ... is restarting") and an app asleep with
// queue: 0 ("starting from idle").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { recorded, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const apps = tempDir('apppkg-answers-tally-apps-');
const state = tempDir('apppkg-answers-tally-state-');
/** While it exists, a worker's or process's start (its import) waits: its restart is not done. */
const slowStart = join(state.path, 'slow-start');
/** Lets the slow fixture's held request go. */
const release = join(state.path, 'release');
let gw: RunningGateway;

// Waits while `slowStart` exists (60 s at most), then answers "ok".
const SLOW_IMPORT_WSGI = `import os, time

deadline = time.monotonic() + 60
while os.path.exists(${JSON.stringify(slowStart)}) and time.monotonic() < deadline:
    time.sleep(0.05)


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
`;

// A process under /live: listens on $PORT once \`slowStart\` is gone.
const LIVE_PROCESS = `import os, time
from http.server import BaseHTTPRequestHandler, HTTPServer

deadline = time.monotonic() + 60
while os.path.exists(${JSON.stringify(slowStart)}) and time.monotonic() < deadline:
    time.sleep(0.05)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"live")


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
`;

test.before(async () => {
  addPackage(apps.path, 'slow', 'held');
  addPackage(apps.path, 'slow', 'sleepy');
  for (const name of ['unqueued', 'timed']) writePackage(apps.path, name, { 'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n', 'wsgi.py': SLOW_IMPORT_WSGI });
  writePackage(apps.path, 'proc', {
    'app.yaml': 'platform: python, wsgi\napp: wsgi:application\nprocesses:\n  live:\n    command: python live.py\n    route: /live\n',
    'wsgi.py': SLOW_IMPORT_WSGI,
    'live.py': LIVE_PROCESS,
  });
  const environment = join(state.path, 'environment.yaml');
  writeFileSync(
    environment,
    [
      'apps:',
      '  held: {workers: 1, threads: 1, queue: 0}',
      '  unqueued: {workers: 1, queue: 0}',
      '  timed: {workers: 1, timeout: 1}',
      '  proc: {workers: 1}',
      '  sleepy: {workers: 1, queue: 0, idle_timeout: 1}',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', environment, '--access-log', 'off'], { ms: 60_000 });
  await waitFor(async () => (await appStatus(gw, 'proc'))?.processes[0]?.pid > 0, 30_000, "proc's process up");
});

test.after(async () => {
  rmSync(slowStart, { force: true });
  writeFileSync(release, '');
  await stopGatewayChecked(gw, apps, state);
});

async function get(path: string) {
  const res = await request(`${gw.url}${path}`, { headersTimeout: 30_000, bodyTimeout: 30_000 });
  return { status: res.statusCode, body: await res.body.text() };
}

const serving = (app: any): any => app.versions.find((v: any) => v.state === 'serving');

/** The app's `errors` and its serving version's `failed` now. */
async function tallies(name: string): Promise<{ errors: number; failed: number }> {
  const app = await appStatus(gw, name);
  return { errors: app.errors, failed: serving(app).failed };
}

/** One more in each: the answer just read is the app's own failure (README "Many apps"). */
async function assertCountedInBoth(name: string, before: { errors: number; failed: number }): Promise<void> {
  const after = await tallies(name);
  assert.equal(after, { errors: before.errors + 1, failed: before.failed + 1 }, `${name}: before ${JSON.stringify(before)}`);
}

/** Kills the app's one worker with its restart held at its import; resolves once it is out of the rotation. */
async function killWorker(name: string): Promise<void> {
  const [victim] = (await appStatus(gw, name)).workers.map((w: any) => w.pid);
  assert.ok(victim > 0, `${name}'s worker`);
  writeFileSync(slowStart, '');
  process.kill(victim, 'SIGKILL');
  await waitFor(async () => !(await appStatus(gw, name)).workers.some((w: any) => w.pid === victim), 10_000, `${name}'s killed worker to leave`);
}

/** Lets the held restart finish and waits until the app serves again. */
async function restarted(path: string): Promise<void> {
  rmSync(slowStart, { force: true });
  await waitFor(async () => (await get(path)).status === 200, 30_000, `${path} served again`);
}

test('queue: 0, its one thread held: the 503 "busy" is in ERRORS and the version\'s failed alike (its workers did not keep up)', async () => {
  const before = await tallies('held');
  const first = get(`/held/?until=${encodeURIComponent(release)}`);
  await waitFor(async () => (await appStatus(gw, 'held')).workers[0]?.inFlight === 1, 10_000, 'the first request held');
  const refused = await get('/held/');
  assert.is(refused.status, 503);
  assert.match(refused.body, /held is busy; try again/);
  writeFileSync(release, '');
  assert.is((await first).status, 200);
  await assertCountedInBoth('held', before);
});

test('queue: 0, its one worker killed: the 503 "restarting" is in ERRORS and the version\'s failed alike (its worker exited)', async () => {
  await killWorker('unqueued');
  const before = await tallies('unqueued');
  const refused = await get('/unqueued/');
  assert.is(refused.status, 503);
  assert.match(refused.body, /unqueued is restarting; try again/);
  await assertCountedInBoth('unqueued', before);
  await restarted('/unqueued/');
});

test('a request no worker took within the app\'s timeout: the 504 is in ERRORS and the version\'s failed alike', async () => {
  await killWorker('timed');
  const before = await tallies('timed');
  const late = await get('/timed/');
  assert.is(late.status, 504);
  assert.match(late.body, /no worker of timed could take it within its timeout \(1 s\)/);
  await assertCountedInBoth('timed', before);
  await restarted('/timed/');
});

test('a process route whose process is restarting: the 503 is in ERRORS and the version\'s failed alike (its process exited)', async () => {
  const victim = (await appStatus(gw, 'proc')).processes[0].pid;
  writeFileSync(slowStart, '');
  process.kill(victim, 'SIGKILL');
  await waitFor(async () => (await appStatus(gw, 'proc')).processes[0].pid !== victim, 10_000, "proc's killed process to leave");
  const before = await tallies('proc');
  const refused = await get('/proc/live/');
  assert.is(refused.status, 503);
  assert.match(refused.body, /processes\.live of proc is restarting; try again/);
  await assertCountedInBoth('proc', before);
  await restarted('/proc/live/');
});

test('queue: 0, asleep: the 503 "starting from idle" is in ERRORS and the version\'s failed alike (its own queue: 0 holds nothing for the wake)', async () => {
  await waitFor(async () => (await appStatus(gw, 'sleepy')).state === 'idle', 20_000, 'sleepy asleep');
  const before = await tallies('sleepy');
  const refused = await get('/sleepy/?t=0');
  assert.is(refused.status, 503);
  assert.match(refused.body, /sleepy is starting from idle; try again/);
  await assertCountedInBoth('sleepy', before);
  await waitFor(async () => (await get('/sleepy/?t=0')).status === 200, 30_000, 'sleepy woken and serving');
  assert.ok(!existsSync(slowStart));
});

// A chunked request's wake waits for its body's first size line (a 413 needs no cold start);
// with queue: 0 it was answered "starting from idle" at its head, and the wait for its size line
// ended with it: nothing started the app, which said so to every chunked POST (until 2026-12-08).
test('queue: 0, asleep: a chunked POST\'s 503 "starting from idle" is true (its body sent after the answer, as a proxy that streams it may), the app wakes without another request', async () => {
  await waitFor(async () => (await appStatus(gw, 'sleepy')).state === 'idle', 20_000, 'sleepy asleep');
  const { coldStarts } = (await appStatus(gw, 'sleepy')).idle;
  const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1');
  const seen = recorded(socket);
  try {
    socket.write('POST /sleepy/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n');
    await waitFor(() => /\r\n\r\n[^]*try again/.test(seen.got), 15_000, 'the answer to the head');
    assert.match(seen.got, /^HTTP\/1\.1 503 [^]*sleepy is starting from idle; try again/);
    socket.write('5\r\nhello\r\n0\r\n\r\n');
    await waitFor(async () => (await appStatus(gw, 'sleepy')).idle.coldStarts === coldStarts + 1, 20_000, 'sleepy woken by the refused request, as its 503 said');
  } finally {
    socket.destroy();
  }
});

test.run();

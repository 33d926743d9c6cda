// Many apps on one machine (issue 17, SPEC 5.6): an idle app's workers and routed processes
// stop and its next request (or websocket) starts them; background processes keep running;
// --max-workers puts the least recently used quiet app to sleep, or answers 503 with
// Retry-After when none can, and starts apps side by side within it (an import that hangs holds
// only its own room); a deploy of an idle app judges the new version and lets it idle.
// Through the real CLI, with real workers.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, isAlive, processesBelow, rawRequest, runCli, startCliIn, tempDir, waitFor } from '../helpers/process.js';
import { idleGateways, slowstopAsleepInShutdown, writeSlowstop, type IdleEnv } from '../helpers/idle-gateways.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';
import { openSocket } from '../helpers/websocket.js';

const test = suite('idle apps');

type Env = IdleEnv;
const gateways = idleGateways('apppkg-idle-');
const { opened, made, stateRoot, open, app, get } = gateways;

/** What lets the held requests of the test running go: called as it ends, if it did not. */
const releases: Array<() => void> = [];

/**
 * A request to `name` (the slow fixture) that its app holds until release(). A hold timed by a
 * sleep (?t=3) ended on its own while a loaded host was still at the steps it was held for:
 * a new version's start, a look at /status, the request that must find no room.
 */
function held(env: Env, name: string): { answer: ReturnType<typeof get>; release: () => void } {
  const file = join(env.dir.path, `release-${name}-${releases.length}`);
  const release = (): void => writeFileSync(file, '');
  releases.push(release);
  return { answer: get(env, `/${name}/?until=${encodeURIComponent(file)}`), release };
}

// Each test's gateway stops as the test ends (helpers/idle-gateways.ts).
test.after.each(async () => {
  for (const release of releases.splice(0)) release();
  await gateways.stopAll();
});

/**
 * Gateways a test hands on to the test after it, which looks at the state it leaves and stops
 * them: held out of the after-each stop, and their directories out of its removal, until then.
 */
const handedOn: Array<{ env: Env; dirs: Array<ReturnType<typeof tempDir>> }> = [];

/** Keeps `env`, just opened by this test, running for the next one (takeOver). */
function handOn(env: Env): void {
  opened.splice(opened.indexOf(env), 1);
  handedOn.push({ env, dirs: made.splice(0) });
}

/** The gateway the test before handed on, stopped (and its pids checked) as this test ends. */
function takeOver(): Env {
  const held = handedOn.shift();
  if (held === undefined) throw new Error('the test before handed on no gateway');
  opened.push(held.env);
  made.push(...held.dirs);
  return held.env;
}

test.after(async () => {
  // One handed on to a test that did not run (a filtered run) stops here.
  for (const { env, dirs } of handedOn.splice(0)) {
    await env.gw.stop();
    for (const dir of dirs) dir.remove();
  }
  for (const dir of made.splice(0)) dir.remove();
});

test('a gateway that does not start leaves no temp dir behind', async () => {
  const dir = tempDir('apppkg-idle-');
  const failed = await startCliIn(dir, ['--apps', join(dir.path, 'apps'), '--listen', 'nine', '--state-dir', join(dir.path, 'state')]).then(
    () => false,
    () => true,
  );
  assert.ok(failed, 'a --listen of "nine" refused');
  assert.not.ok(existsSync(dir.path), `${dir.path} removed`);
});

test('an idle app stops its workers and routed process, keeps its background process, and wakes for the next request', async () => {
  const env = await open(
    [['ticker', 'clock'], ['command-server', 'site']],
    'apps:\n  clock:\n    idle_timeout: 1\n    workers: 1\n  site:\n    idle_timeout: 1\n',
  );
  // Its worker's pid, read before it sleeps: on a loaded host the first status may come after
  // the idle second, so wake it first (a request is the one thing that keeps it awake a second).
  assert.is((await get(env, '/clock/')).status, 200);
  const clock = await app(env, 'clock');
  assert.ok(clock.workers.length > 0, `clock awake after its request: ${clock.state}`);
  const workerPid = clock.workers[0].pid;
  const tickerPid = clock.processes[0].pid;
  const sitePid = (await app(env, 'site')).processes[0].pid;
  const asleep = await waitFor(async () => {
    const now = await app(env, 'clock');
    return now.state === 'idle' && now.workers.length === 0 ? now : undefined;
  }, 10_000, 'clock to go idle', ASK_GATEWAY_EVERY_MS);
  assert.not.ok(isAlive(workerPid), 'its worker stopped');
  assert.ok(isAlive(tickerPid), 'its background process keeps running');
  assert.is(asleep.processes[0].pid, tickerPid);
  await waitFor(async () => (await app(env, 'site')).state === 'idle', 10_000, 'site (processes.web) to go idle', ASK_GATEWAY_EVERY_MS);
  await waitFor(() => !isAlive(sitePid), 5_000, 'its web process to stop');
  const idleWeb = (await app(env, 'site')).processes[0];
  assert.equal([idleWeb.state, idleWeb.pid], ['stopped', null], 'stopped while idle, not restarting');

  const metricsBefore = await (await request(`${env.gw.adminUrl}/metrics`)).body.text();
  const totalBefore = Number(/^apppkg_cold_start_seconds_total\{app="clock"\} ([\d.e-]+)$/m.exec(metricsBefore)?.[1] ?? 0);
  const first = await get(env, '/clock/');
  assert.is(first.status, 200, first.body);
  const woken = await app(env, 'clock');
  assert.is(woken.state, 'ready');
  assert.is(woken.idle.coldStarts, clock.idle.coldStarts + 1);
  assert.ok(woken.idle.lastColdStartMs > 0);
  assert.is(woken.idle.timeoutSeconds, 1);
  assert.not.equal(woken.workers[0].pid, workerPid, 'a fresh worker');
  const site = await get(env, '/site/healthz');
  assert.is(site.status, 200, site.body);
  assert.is((await app(env, 'site')).idle.coldStarts, 1);
  const metrics = await (await request(`${env.gw.adminUrl}/metrics`)).body.text();
  assert.match(metrics, new RegExp(`^apppkg_cold_starts_total\\{app="clock"\\} ${woken.idle.coldStarts}$`, 'm'));
  // Every wake's time, summed (a counter: over cold_starts_total, the mean of any window).
  assert.match(metrics, /^# TYPE apppkg_cold_start_seconds_total counter$/m);
  const total = Number(/^apppkg_cold_start_seconds_total\{app="clock"\} ([\d.e-]+)$/m.exec(metrics)?.[1]);
  assert.ok(Math.abs(total - (totalBefore + woken.idle.lastColdStartMs / 1000)) < 1e-6, `${total} = ${totalBefore} + this wake's ${woken.idle.lastColdStartMs} ms`);
});

test('idle_timeout: 0 under apps.NAME keeps that app awake while defaults puts the others to sleep', async () => {
  const env = await open(
    [['environ', 'sleepy'], ['environ', 'awake']],
    'defaults:\n  idle_timeout: 1\n  workers: 1\napps:\n  awake:\n    idle_timeout: 0\n',
  );
  assert.is((await get(env, '/awake/')).status, 200);
  const before = await app(env, 'awake');
  assert.is(before.idle.timeoutSeconds, null, 'status: it never sleeps for idleness');
  const workerPid = before.workers[0].pid;
  // Asked after it, the app beside it going to sleep is the sign that both were quiet past the
  // second; a quarter more is one more of the idle checks.
  assert.is((await get(env, '/sleepy/')).status, 200);
  await waitFor(async () => (await app(env, 'sleepy')).state === 'idle', 10_000, 'sleepy to go idle', ASK_GATEWAY_EVERY_MS);
  await new Promise((resolve) => setTimeout(resolve, 250));
  const after = await app(env, 'awake');
  assert.is(after.state, 'ready');
  assert.equal(after.workers.map((w: any) => w.pid), [workerPid], 'the same worker, never stopped');
  assert.is(after.idle.coldStarts, 0);
});

// A wake was bounded by the app's `timeout` (how long it may take to answer), so an app whose
// import took longer than that answered every request that woke it 503 (README: bounded by the
// start timeout; SPEC 5.6: waits instead of failing).
test('a request that wakes an app waits for the wake as for a start (start_timeout), not its timeout: an import longer than timeout is served', async () => {
  const env = await open([], 'apps:\n  heavy:\n    idle_timeout: 1\n    workers: 1\n    threads: 1\n    timeout: 1\n');
  const slowImport = join(env.dir.path, 'slow-import');
  writePackage(env.apps, 'heavy', {
    'app.yaml': 'platform: python, wsgi\napp: heavy:application\n',
    // While the file is there, the import takes 3 s: longer than timeout, well within start_timeout.
    // Each request takes 0.3 s on the one thread: the third of a burst waits 0.6 s after the wake.
    'heavy.py': `import os, time\nif os.path.exists(${JSON.stringify(slowImport)}):\n    time.sleep(3)\n\ndef application(environ, start_response):\n    time.sleep(0.3)\n    start_response("200 OK", [])\n    return [b"up"]\n`,
  });
  await waitFor(async () => (await app(env, 'heavy'))?.state === 'ready', 30_000, 'heavy to serve', ASK_GATEWAY_EVERY_MS);
  await waitFor(async () => (await app(env, 'heavy')).state === 'idle', 15_000, 'heavy to go idle', ASK_GATEWAY_EVERY_MS);
  writeFileSync(slowImport, '');
  // A burst the one thread takes in turn, each waiting through the whole wake.
  const burst = await Promise.all([1, 2, 3].map(() => get(env, '/heavy/')));
  assert.equal(burst.map((r) => `${r.status} ${r.body}`), ['200 up', '200 up', '200 up']);
  assert.is((await app(env, 'heavy')).idle.coldStarts, 1);
});

test('a wake that does not finish within its start bound: 503 with Retry-After, as for an app still starting, not a 504', async () => {
  const env = await open([], 'apps:\n  stuck:\n    idle_timeout: 1\n    workers: 1\n    timeout: 1\n    start_timeout: 2\n');
  const hang = join(env.dir.path, 'hang');
  writePackage(env.apps, 'stuck', {
    'app.yaml': 'platform: python, wsgi\napp: stuck:application\n',
    // Imports hang while the file is there: the wake never takes traffic.
    'stuck.py': `import os, time\nwhile os.path.exists(${JSON.stringify(hang)}):\n    time.sleep(0.1)\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"up"]\n`,
  });
  await waitFor(async () => (await app(env, 'stuck'))?.state === 'ready', 30_000, 'stuck to serve', ASK_GATEWAY_EVERY_MS);
  assert.is((await get(env, '/stuck/')).status, 200);
  await waitFor(async () => (await app(env, 'stuck')).state === 'idle', 15_000, 'stuck to go idle', ASK_GATEWAY_EVERY_MS);
  writeFileSync(hang, '');
  const res = await get(env, '/stuck/');
  assert.is(res.status, 503, res.body);
  assert.ok(res.headers['retry-after'], 'Retry-After');
  // The wake's import is stopped at start_timeout, before the request's own bound (start_timeout
  // and the moment a refusal takes to be published) is up: the request gets that refusal.
  assert.match(res.body, /stuck could not be woken from idle \(APPPKG_[A-Z_]+\); the (first request after \S+ \(in \d+ s\)|next request) wakes it again/, res.body);
  rmSync(hang);
  await waitFor(async () => (await get(env, '/stuck/')).status === 200, 30_000, 'the wake to finish once imports do', ASK_GATEWAY_EVERY_MS);
});

test('a wake the app fails: a 503 naming only the code, status says why (the app\'s own words too: it runs as the gateway\'s own user), and no interpreter per request (back-off, said in Retry-After)', async () => {
  const env = await open([], 'apps:\n  vault:\n    idle_timeout: 1\n    workers: 1\n');
  const broken = join(env.dir.path, 'broken');
  const imports = join(env.dir.path, 'imports');
  writePackage(env.apps, 'vault', {
    'app.yaml': 'platform: python, wsgi\napp: vault:application\n',
    // Each import leaves a mark; while the flag file is there, it raises with a secret in its words.
    'vault.py': `import os\nopen(${JSON.stringify(imports)}, "a").write("i")\nif os.path.exists(${JSON.stringify(broken)}):\n    raise RuntimeError("cannot connect to postgresql://blog:hunter2@db/blog")\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"up"]\n`,
  });
  const importCount = (): number => (existsSync(imports) ? readFileSync(imports, 'utf8').length : 0);
  await waitFor(async () => (await app(env, 'vault'))?.state === 'ready', 30_000, 'vault to serve', ASK_GATEWAY_EVERY_MS);
  await waitFor(async () => (await app(env, 'vault')).state === 'idle', 15_000, 'vault to go idle', ASK_GATEWAY_EVERY_MS);
  // Imports so far: the start's, and any restart a loaded host's heartbeat made.
  const importsAsleep = importCount();
  writeFileSync(broken, '');

  const first = await get(env, '/vault/');
  assert.is(first.status, 503, first.body);
  assert.ok(first.headers['retry-after'], 'Retry-After');
  assert.match(first.body, /vault could not be woken from idle \(APPPKG_APP_IMPORT_FAILED\); the (first request after \S+ \(in \d+ s\)|next request) wakes it again; `apppkg-gateway status` says why/);
  assert.not.match(first.body, /hunter2|RuntimeError/, 'the app\'s words are not the public\'s');

  const status = await gatewayStatus(env.gw);
  // vault runs as the gateway's own user (root's directory under a root gateway: root), so no
  // other user's process is there to keep its words from: they are shown (docs/admin.md).
  assert.is(status.access.logs, true, 'no app runs as another user: nothing is withheld');
  const vault = status.apps.find((a: any) => a.name === 'vault');
  assert.is(vault.problem?.code, 'APPPKG_APP_IMPORT_FAILED', 'the failed wake is the app\'s problem');
  const failed = vault.history.filter((e: any) => e.kind === 'wake-failed');
  assert.is(failed.length, 1, JSON.stringify(vault.history));
  assert.is(failed[0].reason?.code, 'APPPKG_APP_IMPORT_FAILED');
  for (const said of [vault.idle.wakeFailure, vault.problem.message, failed[0].message]) {
    assert.match(said, /hunter2/, said);
  }

  // Requests keep coming: the wake is retried with the crash loop's back-off (0.5 s, 1 s, 2 s, 4 s ...),
  // answered 503 at once meanwhile, not an import per request. Asked as often as any wait asks a
  // gateway: a request every 200 ms still outnumbers the wakes (one per back-off, 0.5 s and up),
  // where an import per request would match them.
  const answered: number[] = [first.status];
  await waitFor(async () => {
    answered.push((await get(env, '/vault/')).status);
    return importCount() >= importsAsleep + 4; // four failed wakes: the next waits 4 s or more
  }, 30_000, 'four failed wakes', ASK_GATEWAY_EVERY_MS);
  assert.ok(answered.every((s) => s === 503), answered.join(' '));
  assert.ok(answered.length > importCount() - importsAsleep, `${answered.length} requests, ${importCount() - importsAsleep} imports`);
  const before = importCount();
  const burst = await Promise.all(Array.from({ length: 8 }, () => get(env, '/vault/')));
  assert.equal(burst.map((r) => r.status), Array(8).fill(503));
  assert.is(importCount(), before, 'no import during the back-off');
  // The fourth failure's back-off is 4 s: Retry-After says what is left of it, not 1 s after
  // which a client that honours it would only meet the same 503 again.
  for (const r of burst) {
    const retryAfter = Number(r.headers['retry-after']);
    assert.ok(retryAfter >= 2 && retryAfter <= 4, `Retry-After ${String(r.headers['retry-after'])} during a 4 s back-off`);
  }
  // The fourth wake's import has begun (its mark is written first); its failure is recorded when
  // the worker has exited, which a loaded host may not have reached yet.
  const looped = await waitFor(async () => {
    const now = await app(env, 'vault');
    return now.history.filter((e: any) => e.kind === 'wake-failed').length >= 4 ? now : undefined;
  }, 10_000, 'four wake-failed events in the history', ASK_GATEWAY_EVERY_MS);
  // Read here, seconds before it: after the first failure the back-off is 0.5 s, which a loaded
  // host's status request may outlast.
  assert.ok(looped.idle.nextWakeAt, 'when the next wake is tried');
  // A failed wake is counted, apart from the wakes that served: apppkg_cold_starts_total alone
  // stayed at 0 through a crash loop of wakes, which /metrics showed nowhere but in 5xx answers.
  const wakesFailed = looped.history.filter((e: any) => e.kind === 'wake-failed').length;
  assert.ok(looped.idle.coldStartFailures >= wakesFailed, `coldStartFailures ${String(looped.idle.coldStartFailures)}, ${wakesFailed} wake-failed events`);
  assert.is(looped.idle.coldStarts, 0, 'no wake served');
  const failedMetrics = await (await request(`${env.gw.adminUrl}/metrics`)).body.text();
  assert.match(failedMetrics, /^# TYPE apppkg_cold_start_failures_total counter$/m);
  const failures = Number(/^apppkg_cold_start_failures_total\{app="vault"\} (\d+)$/m.exec(failedMetrics)?.[1]);
  assert.ok(failures >= wakesFailed, `apppkg_cold_start_failures_total ${failures}, ${wakesFailed} wake-failed events`);
  assert.match(failedMetrics, /^apppkg_cold_starts_total\{app="vault"\} 0$/m);
  const printed = await runCli(['status', '--admin', new URL(env.gw.adminUrl!).host], { ms: 15_000 });
  assert.match(printed.stdout, /vault:[\s\S]*0 cold starts; \d+ wakes failed/, printed.stdout);

  // Fixed: the next wake after the back-off serves, and the problem is gone.
  rmSync(broken);
  await waitFor(async () => (await get(env, '/vault/')).status === 200, 60_000, 'a wake once the import works', ASK_GATEWAY_EVERY_MS);
  const fixed = await app(env, 'vault');
  assert.equal([fixed.problem, fixed.idle.wakeFailure, fixed.idle.nextWakeAt], [null, null, null]);
  assert.is(fixed.idle.coldStarts, 1, 'the wake that served');
  assert.ok(fixed.idle.coldStartFailures >= failures, 'the failures stay counted');
});

test('a burst while the app wakes waits and is served; a busy app does not go idle', async () => {
  const env = await open([['slow', 'nap']], 'apps:\n  nap:\n    idle_timeout: 1\n    workers: 1\n    threads: 4\n');
  // A request longer than the idle timeout keeps it awake: the same worker answers it as the short
  // one just before (a sleep would have stopped it). The short one wakes the app when a loaded
  // host took the idle second before the first request; its answer says which worker runs.
  const sleeps = (): number => env.gw.output().split('nap: no request for 1 s; stopping its workers').length - 1;
  const short = await get(env, '/nap/?t=0');
  assert.is(short.status, 200);
  const sleptBefore = sleeps();
  const long = await get(env, '/nap/?t=2.5');
  assert.is(long.status, 200);
  assert.is(long.body.split(' ')[0], short.body.split(' ')[0], 'the same worker: no sleep between the two');
  assert.is(sleeps(), sleptBefore, 'no sleep while a request ran');
  const awake = (await app(env, 'nap')).idle.coldStarts;
  await waitFor(async () => (await app(env, 'nap')).state === 'idle', 10_000, 'nap to go idle', ASK_GATEWAY_EVERY_MS);
  const burst = await Promise.all(Array.from({ length: 12 }, () => get(env, '/nap/?t=0.05')));
  assert.equal(burst.map((r) => r.status), Array(12).fill(200));
  assert.is((await app(env, 'nap')).idle.coldStarts, awake + 1, 'one wake for the whole burst');
});

test('a POST over max_body to an idle app is refused 413 without waking it: no worker starts, status still shows it idle', async () => {
  const env = await open([['environ', 'nap']], 'apps:\n  nap:\n    idle_timeout: 1\n    workers: 1\n    max_body: 1KB\n');
  assert.is((await get(env, '/nap/')).status, 200);
  // The state is idle from the sleep's start; its worker is listed until it has stopped.
  await waitFor(async () => { const nap = await app(env, 'nap'); return nap.state === 'idle' && nap.workers.length === 0; }, 10_000, 'nap to go idle, its worker stopped', ASK_GATEWAY_EVERY_MS);
  const before = await app(env, 'nap');
  const res = await request(`${env.gw.url}/nap/`, { method: 'POST', body: Buffer.alloc(2048, 'b'), headersTimeout: 30_000 });
  const body = await res.body.text();
  assert.is(res.statusCode, 413, body);
  const after = await app(env, 'nap');
  assert.equal([after.state, after.workers.length, after.idle.coldStarts], ['idle', 0, before.idle.coldStarts], 'still asleep, never woken');
});

test('idle_timeout counts from the end of the last request, not its start nor the idle check\'s last look during it: status\'s lastActive is when it ended', async () => {
  // The check looks every timeout/4 (at most 5 s): a request that ended between two looks left
  // the app's last activity at its start or at the last look that saw it running, so a 3 s
  // request put the app to sleep up to 3 s before idle_timeout had passed since its answer.
  const env = await open([['slow', 'nap']], 'apps:\n  nap:\n    idle_timeout: 20\n    workers: 1\n');
  assert.is((await get(env, '/nap/?t=0')).status, 200);
  const sentAt = Date.now();
  assert.is((await get(env, '/nap/?t=3')).status, 200);
  const nap = await app(env, 'nap');
  assert.is(nap.state, 'ready');
  const lastActive = Date.parse(nap.idle.lastActive);
  // The app slept 3 s after the request reached it, which was after sentAt; 20 ms for the
  // monotonic clock's mapping to the wall clock.
  assert.ok(lastActive >= sentAt + 3000 - 20, `lastActive ${nap.idle.lastActive} is before the request's end (sent at ${new Date(sentAt).toISOString()}, 3 s in the app)`);
});

test('idle_timeout counts from when the app is ready, not from when it began starting: an import longer than the timeout does not put it to sleep at once', async () => {
  // Counted from its start, an app with a 3 s import and idle_timeout: 3 slept at the first idle
  // look after it served (found by H247: under a second).
  const env = await open([], 'apps:\n  late:\n    idle_timeout: 3\n    workers: 1\n', [], (apps) => writePackage(apps, 'late', {
    'app.yaml': 'platform: python, wsgi\napp: late:application\n',
    'late.py': 'import time\ntime.sleep(3)\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"late"]\n',
  }));
  await waitFor(async () => (await app(env, 'late')).state === 'ready', 60_000, 'late to be ready', ASK_GATEWAY_EVERY_MS);
  const readyAt = Date.now();
  // Two idle looks (every 0.75 s here) and more, well inside the 3 s.
  while (Date.now() - readyAt < 2000) {
    const late = await app(env, 'late');
    assert.is(late.state, 'ready', `put to sleep ${Date.now() - readyAt} ms after it was ready; lastActive ${late.idle.lastActive}`);
    await new Promise((resolve) => setTimeout(resolve, ASK_GATEWAY_EVERY_MS));
  }
  // And it does sleep, its timeout after it was ready.
  await waitFor(async () => (await app(env, 'late')).state === 'idle', 15_000, 'late to go idle', ASK_GATEWAY_EVERY_MS);
});

test('a websocket to an idle ASGI app opens (it wakes); an open websocket keeps it awake', async () => {
  const env = await open([['ws-asgi', 'chat']], 'apps:\n  chat:\n    idle_timeout: 1\n    workers: 1\n');
  await waitFor(async () => (await app(env, 'chat')).state === 'idle', 10_000, 'chat to go idle', ASK_GATEWAY_EVERY_MS);
  const ws = await openSocket(`${env.gw.url.replace('http', 'ws')}/chat/echo`, { ms: 30_000 });
  try {
    ws.ws.send('hello');
    assert.is(await ws.next(), 'hello');
    await new Promise((r) => setTimeout(r, 2500));
    const now = await app(env, 'chat');
    assert.is(now.state, 'ready', 'not idle while a websocket is open');
    ws.ws.send('still here');
    assert.is(await ws.next(), 'still here');
  } finally {
    ws.ws.close();
  }
  await waitFor(async () => (await app(env, 'chat')).state === 'idle', 10_000, 'idle once the websocket closed', ASK_GATEWAY_EVERY_MS);
});

// SPEC 5.6 counts the app's websockets, not its serving version's: a deploy's old version keeps
// its own until `drain`, and the new one, asked nothing yet, was put to sleep meanwhile (status
// then said `idle` beside `websockets: 1`), so every client the drain's end sent back found a
// cold app at once (H285).
test('a websocket the old version keeps through a deploy\'s drain keeps the app awake; it sleeps once the drain has closed it', async () => {
  const env = await open([['ws-asgi', 'chat.1']], 'drain: 6\napps:\n  chat:\n    idle_timeout: 1\n    workers: 1\n');
  await waitFor(async () => (await app(env, 'chat'))?.state === 'ready', 20_000, 'chat to serve', ASK_GATEWAY_EVERY_MS);
  const ws = await openSocket(`${env.gw.url.replace('http', 'ws')}/chat/echo`, { ms: 30_000 });
  try {
    ws.ws.send('hello');
    assert.is(await ws.next(), 'hello');
    addPackage(env.apps, 'ws-asgi', 'chat.2');
    env.gw.child.kill('SIGHUP');
    await waitFor(async () => {
      const now = await app(env, 'chat');
      return now.version === '2' && now.versions.some((v: any) => v.state === 'draining' && v.websockets === 1);
    }, 20_000, 'version 2 to serve while version 1 drains the websocket', ASK_GATEWAY_EVERY_MS);
    // Two idle timeouts and more, the drain not yet over.
    await new Promise((r) => setTimeout(r, 2500));
    const now = await app(env, 'chat');
    assert.is(now.websockets, 1, 'the websocket is still open on the draining version');
    assert.is(now.state, 'ready', `not idle while its old version holds a websocket: ${JSON.stringify(now.idle)}`);
    assert.is(await ws.closed(15_000), 1012, 'the drain\'s end closes it');
  } finally {
    ws.ws.close();
  }
  await waitFor(async () => (await app(env, 'chat')).state === 'idle', 15_000, 'idle once the drain closed the websocket', ASK_GATEWAY_EVERY_MS);
});

// The worker budget's "nothing in flight" (SPEC 5.6) is the idle clock's: the app's, its
// draining version's websockets and requests with it. Read from the serving version alone, the
// budget put the new version to sleep for another app's wake while the old one drained a
// websocket (status: idle beside websockets: 1), and the drain's 1012 sent its client to a cold app.
test('--max-workers: an app whose old version drains a websocket is not put to sleep for another\'s room; that wake waits for the drain', async () => {
  const env = await open([['ws-asgi', 'dep.1'], ['ws-asgi', 'other']], 'drain: 6\ndefaults:\n  workers: 1\n', ['--max-workers', '2']);
  await waitFor(async () => (await app(env, 'dep'))?.state === 'ready' && (await app(env, 'other'))?.state === 'ready', 20_000, 'both apps to serve', ASK_GATEWAY_EVERY_MS);
  const ws = await openSocket(`${env.gw.url.replace('http', 'ws')}/dep/echo`, { ms: 30_000 });
  try {
    ws.ws.send('hello');
    assert.is(await ws.next(), 'hello');
    addPackage(env.apps, 'ws-asgi', 'dep.2');
    env.gw.child.kill('SIGHUP');
    // Version 2's room: other, quiet, sleeps for it (the app's own old version goes last).
    await waitFor(async () => {
      const now = await app(env, 'dep');
      return now.version === '2' && now.state === 'ready' && now.versions.some((v: any) => v.state === 'draining' && v.websockets === 1);
    }, 20_000, 'version 2 to serve while version 1 drains the websocket', ASK_GATEWAY_EVERY_MS);
    assert.is((await app(env, 'other')).state, 'idle');
    const other = await get(env, '/other/');
    assert.is(other.status, 200, other.body);
    const dep = await app(env, 'dep');
    assert.is(dep.state, 'ready', `dep is not put to sleep while its old version holds a websocket: ${JSON.stringify(dep.idle)}`);
    assert.not.match(env.gw.output(), /dep: --max-workers 2 reached; making room for other/);
    assert.is(await ws.closed(15_000), 1012, 'the drain\'s end closed it, and other woke in its room');
  } finally {
    ws.ws.close();
  }
});

test('--max-workers: the least recently used quiet app sleeps to make room; 503 with Retry-After when none can', async () => {
  const env = await open(
    [['slow', 'a'], ['slow', 'b'], ['slow', 'c']],
    'defaults:\n  workers: 1\n  threads: 2\n',
    ['--max-workers', '2'],
  );
  handOn(env);
  const states = async () => Object.fromEntries((await gatewayStatus(env.gw)).apps.map((a: any) => [a.name, a.state]));
  // Three apps were judged at start; only two fit.
  assert.equal(Object.values(await states()).filter((s) => s === 'ready').length, 2);
  assert.is((await get(env, '/a/?t=0')).status, 200);
  assert.is((await get(env, '/b/?t=0')).status, 200);
  assert.is((await get(env, '/c/?t=0')).status, 200);
  assert.equal(await states(), { a: 'idle', b: 'ready', c: 'ready' }, 'a, used least recently, made room for c');
  // Both awake apps hold a request: nothing can sleep, so a cannot wake.
  const holding = [held(env, 'b'), held(env, 'c')];
  await waitFor(async () => (await app(env, 'b')).inFlight === 1 && (await app(env, 'c')).inFlight === 1, 10_000, 'b and c to hold their requests', ASK_GATEWAY_EVERY_MS);
  const refused = await get(env, '/a/?t=0');
  assert.is(refused.status, 503, refused.body);
  assert.is(refused.headers['retry-after'], '1');
  assert.match(refused.body, /every running app holds a request or an open websocket, so none can sleep to make room: try again in a moment, or raise --max-workers/);
  for (const h of holding) h.release();
  assert.equal((await Promise.all(holding.map((h) => h.answer))).map((r) => r.status), [200, 200]);
  assert.is((await get(env, '/a/?t=0')).status, 200, 'once one is quiet, a wakes');
  for (const pid of statusPids(await gatewayStatus(env.gw))) env.pids.add(pid);
});

test('--max-workers: of two apps asked a moment apart, the one asked first sleeps, whenever the idle check looked at them; status\'s lastActive is the request\'s time', async () => {
  // The gateway of the test before (a, b and c under --max-workers 2): its last request woke a,
  // putting b or c to sleep; asking b now puts c to sleep if it was not (a was asked since).
  const env = takeOver();
  const states = async () => Object.fromEntries((await gatewayStatus(env.gw)).apps.map((a: any) => [a.name, a.state]));
  assert.is((await get(env, '/a/?t=0')).status, 200);
  assert.is((await get(env, '/b/?t=0')).status, 200);
  assert.equal(await states(), { a: 'ready', b: 'ready', c: 'idle' });
  // Each app's idle check looks once a second, each at its own phase: it must not stamp what it
  // noticed with its own time, which would make a look newer than b, asked after it.
  for (let round = 0; round < 3; round++) {
    await new Promise((r) => setTimeout(r, 1200));
    assert.is((await get(env, '/a/?t=0')).status, 200);
    const answeredA = Date.now();
    assert.is((await get(env, '/b/?t=0')).status, 200);
    await new Promise((r) => setTimeout(r, 1200));
    const lastActive = Date.parse((await app(env, 'a')).idle.lastActive);
    assert.ok(lastActive <= answeredA, `round ${round}: a's lastActive ${new Date(lastActive).toISOString()} is after its answer came (${new Date(answeredA).toISOString()})`);
  }
  assert.is((await get(env, '/c/?t=0')).status, 200);
  assert.equal(await states(), { a: 'idle', b: 'ready', c: 'ready' }, 'a, asked before b, made room for c');
  for (const pid of statusPids(await gatewayStatus(env.gw))) env.pids.add(pid);
});

// status's ERRORS counted these 503s while the app's version line said 0 failed: the two
// disagreed on what an error is. The gateway refused them for want of room; the app failed none.
test('--max-workers 1: the 503 of an app that cannot wake (the other holds a request) is the gateway\'s refusal: in neither ERRORS nor its version\'s failed, counted apart in status and /status', async () => {
  const env = await open([['slow', 'a'], ['slow', 'b']], 'defaults:\n  workers: 1\n  threads: 2\n', ['--max-workers', '1']);
  const apps = await waitFor(async () => {
    const all = (await gatewayStatus(env.gw)).apps;
    const awake = all.find((a: any) => a.state === 'ready');
    const asleep = all.find((a: any) => a.state === 'idle');
    return awake && asleep ? { awake: awake.name as string, asleep: asleep.name as string } : undefined;
  }, 30_000, 'one app ready, the other idle (only one fits)', ASK_GATEWAY_EVERY_MS);
  const holding = held(env, apps.awake);
  await waitFor(async () => (await app(env, apps.awake)).inFlight === 1, 10_000, `${apps.awake} to hold its request`, ASK_GATEWAY_EVERY_MS);
  const refused = await get(env, `/${apps.asleep}/?t=0`);
  assert.is(refused.status, 503, refused.body);
  assert.match(refused.body, /none can sleep to make room/);
  const status = await app(env, apps.asleep);
  assert.equal([status.requests, status.errors, status.failed, status.refusedForRoom], [1, 0, 0, 1], JSON.stringify(status));
  assert.equal(status.versions.map((v: any) => v.failed), [0]);
  const table = await runCli(['status', '--admin', new URL(env.gw.adminUrl!).host], { ms: 15_000 });
  assert.is(table.status, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`^${apps.asleep}\\s+idle\\s+\\S+\\s+\\S+\\s+0\\s+1\\s+0\\s`, 'm'));
  assert.match(table.stdout, new RegExp(`^${apps.asleep}:\\n  version \\S+ serving: 0 served, 0 failed,`, 'm'));
  assert.match(table.stdout, '  1 request refused by the gateway (503, not in ERRORS): no room under --max-workers to wake it while every running app held a request or a websocket\n');
  holding.release();
  assert.is((await holding.answer).status, 200);
  // A 500 of the app's own is still its error.
  assert.is((await get(env, `/${apps.awake}/exit`)).status, 502);
  const awake = await app(env, apps.awake);
  assert.equal([awake.errors, awake.refusedForRoom], [1, 0]);
});

// A websocket refused for want of room was counted nowhere (status nor /metrics), where the
// same refusal of a plain request was refusedForRoom; /metrics had no counter for either.
test('--max-workers 1: a websocket to an app that cannot wake is refused 503, counted in status (websocketsRefusedForRoom) and in /metrics with the requests so refused', async () => {
  const env = await open([['slow', 'a'], ['ws-asgi', 'chat']], 'defaults:\n  workers: 1\n  threads: 2\n', ['--max-workers', '1']);
  // a serving makes chat sleep (the quiet one), then a holds a request: chat cannot wake.
  await waitFor(async () => (await get(env, '/a/?t=0')).status === 200, 30_000, 'a to serve', ASK_GATEWAY_EVERY_MS);
  const holding = held(env, 'a');
  await waitFor(async () => (await app(env, 'a')).inFlight === 1 && (await app(env, 'chat')).state === 'idle', 10_000, 'a to hold its request, chat asleep', ASK_GATEWAY_EVERY_MS);
  const port = Number(new URL(env.gw.url).port);
  const answer = await rawRequest(port, 'GET /chat/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n', 10_000);
  assert.match(answer, /^HTTP\/1\.1 503 /);
  assert.match(answer, /none can sleep to make room/);
  const refused = await get(env, '/chat/?t=0');
  assert.is(refused.status, 503, refused.body);
  const chat = await app(env, 'chat');
  assert.equal([chat.errors, chat.refusedForRoom, chat.websocketsRefusedForRoom], [0, 1, 1], JSON.stringify(chat));
  const table = await runCli(['status', '--admin', new URL(env.gw.adminUrl!).host], { ms: 15_000 });
  assert.is(table.status, 0, table.stderr);
  assert.match(table.stdout, '  1 websocket refused by the gateway (503): no room under --max-workers to wake it while every running app held a request or a websocket\n');
  const metrics = await (await request(`${env.gw.adminUrl}/metrics`)).body.text();
  assert.match(metrics, /^apppkg_refused_for_room_total\{app="chat",kind="request"\} 1$/m);
  assert.match(metrics, /^apppkg_refused_for_room_total\{app="chat",kind="websocket"\} 1$/m);
  assert.match(metrics, /^apppkg_refused_for_room_total\{app="a",kind="websocket"\} 0$/m);
  holding.release();
  assert.is((await holding.answer).status, 200);
});

// An app asleep with `queue: 0` was answered "starting from idle" at once, before its wake
// knew whether --max-workers left it room: a want of room was counted as the app's failure
// (ERRORS and its version's failed), where README's rule counts it apart (until 2026-12-08).
test('--max-workers 1: an app asleep with queue: 0 that cannot wake is refused for room (not in ERRORS nor failed); once room can be made its 503 says it is starting from idle, counted as its own', async () => {
  const env = await open([['slow', 'a'], ['slow', 'b']], 'defaults:\n  workers: 1\napps:\n  b: {queue: 0, idle_timeout: 1}\n', ['--max-workers', '1']);
  await waitFor(async () => (await get(env, '/a/?t=0')).status === 200, 30_000, 'a to serve', ASK_GATEWAY_EVERY_MS);
  await waitFor(async () => (await app(env, 'b')).state === 'idle', 20_000, 'b asleep', ASK_GATEWAY_EVERY_MS);
  const holding = held(env, 'a');
  await waitFor(async () => (await app(env, 'a')).inFlight === 1, 10_000, 'a to hold its request', ASK_GATEWAY_EVERY_MS);
  const refused = await get(env, '/b/');
  assert.is(refused.status, 503, refused.body);
  assert.is(refused.headers['retry-after'], '1');
  assert.match(refused.body, /b could not be started: the gateway runs as many workers as --max-workers allows, and every running app holds a request or an open websocket, so none can sleep to make room: try again in a moment, or raise --max-workers/);
  let b = await app(env, 'b');
  assert.equal([b.requests, b.errors, b.failed, b.refusedForRoom, b.versions.map((v: any) => v.failed)], [1, 0, 0, 1, [0]], JSON.stringify(b));
  holding.release();
  assert.is((await holding.answer).status, 200);
  await waitFor(async () => (await app(env, 'a')).inFlight === 0 && (await app(env, 'b')).state === 'idle', 10_000, 'a quiet, b still asleep', ASK_GATEWAY_EVERY_MS);
  // a is quiet now: it sleeps for b, which has nowhere to hold the request meanwhile.
  const starting = await get(env, '/b/');
  assert.is(starting.status, 503, starting.body);
  assert.match(starting.body, /b is starting from idle; try again/);
  b = await app(env, 'b');
  assert.equal([b.requests, b.errors, b.failed, b.refusedForRoom, b.versions.map((v: any) => v.failed)], [2, 1, 1, 1, [1]], JSON.stringify(b));
  await waitFor(async () => (await get(env, '/b/?t=0')).status === 200, 30_000, 'b to serve once awake', ASK_GATEWAY_EVERY_MS);
  await app(env, 'a');
});

// A request of an app asleep with `queue: 0` whose answer waited for the wake's room was in no
// queue, so the app removed meanwhile left it to the room's end (until 2026-12-08), where what
// waits in the queue is answered at once with the reason.
test('--max-workers 1: an app asleep with queue: 0, its wake waiting for room, removed meanwhile: its request gets 503 "zero is stopping" at once, as the queue\'s requests do, not at the room\'s end', async () => {
  const env = await open([], 'defaults:\n  workers: 1\napps:\n  slowstop:\n    idle_timeout: 1\n  zero: {queue: 0, idle_timeout: 1}\n', ['--max-workers', '1'], (apps) => {
    writePackage(apps, 'zero', {
      'app.yaml': 'platform: python, wsgi\napp: zero:application\n',
      'zero.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"zero"]\n',
    });
    writeSlowstop(apps, 20); // its room held 20 s by a pool closed slowly
  });
  // At the start one of the two is put to sleep for the other, which may cost slowstop's 20 s.
  await waitFor(async () => (await app(env, 'zero'))?.state === 'idle', 45_000, 'zero asleep', ASK_GATEWAY_EVERY_MS);
  const stopping = await slowstopAsleepInShutdown(gateways, env);
  assert.is((await app(env, 'zero')).state, 'idle');
  const answer = get(env, '/zero/');
  await waitFor(async () => (await app(env, 'zero'))?.state === 'waking', 10_000, 'zero\'s wake to wait for room', ASK_GATEWAY_EVERY_MS);
  rmSync(join(env.apps, 'zero'), { recursive: true });
  env.gw.child.kill('SIGHUP');
  const res = await answer;
  assert.is(res.status, 503, res.body);
  assert.match(res.body, /zero is stopping/, res.body);
  assert.ok(isAlive(stopping), 'answered before slowstop\'s worker gave its room back');
});

/**
 * An app whose first worker of each start imports at once (the one holding the lock) and whose
 * other one `lateSeconds` later: the request that woke it is served before its wake ends.
 */
function staggeredPackage(apps: string, dirName: string, lateSeconds: number): void {
  writePackage(apps, dirName, {
    'app.yaml': 'platform: python, wsgi\napp: staggered:application\n',
    'staggered.py': `import fcntl, os, time\nlock = open(os.path.join(os.environ["APPPKG_DATA_DIR"], "first"), "w")\ntry:\n    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n    time.sleep(${lateSeconds})\n\ndef application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [os.environ["APPPKG_NAME"].encode()]\n`,
  });
}

/**
 * Two staggered apps a and b of two workers each under --max-workers 2: both judged at start,
 * one put to sleep for the other. Returns the gateway, the app asleep and the one serving.
 */
async function openStaggered(dirNames: [string, string], lateSeconds: number, waitMs: number): Promise<{ env: Env; asleep: string; other: string }> {
  const env = await open([], 'defaults:\n  workers: 2\n', ['--max-workers', '2'], (apps) => {
    for (const dirName of dirNames) staggeredPackage(apps, dirName, lateSeconds);
  });
  const states = async () => Object.fromEntries((await gatewayStatus(env.gw)).apps.map((a: any) => [a.name, a.state]));
  const asleep = await waitFor(async () => {
    const now = await states();
    return now.a === 'idle' && now.b === 'ready' ? 'a' : now.b === 'idle' && now.a === 'ready' ? 'b' : undefined;
  }, waitMs, 'one app to serve and the other to be put to sleep for it', ASK_GATEWAY_EVERY_MS);
  return { env, asleep, other: asleep === 'a' ? 'b' : 'a' };
}

test('--max-workers: an app whose worker is in a crash loop is put to sleep for another app\'s wake before a healthy one, however recently it was asked', async () => {
  const env = await open([['slow', 'a'], ['slow', 'b']], 'defaults:\n  workers: 1\n', ['--max-workers', '2'], (apps) => {
    // Serves its first worker's requests; every worker started after one has served dies 0.3 s in.
    writePackage(apps, 'c', {
      'app.yaml': 'platform: python, wsgi\napp: c:application\n',
      'c.py': 'import os, threading\nmarker = os.path.join(os.environ["APPPKG_DATA_DIR"], "served")\nif os.path.exists(marker):\n    threading.Timer(0.3, lambda: os._exit(5)).start()\n\ndef application(environ, start_response):\n    open(marker, "w").close()\n    start_response("200 OK", [])\n    return [b"c"]\n',
    });
  });
  const states = async () => Object.fromEntries((await gatewayStatus(env.gw)).apps.map((a: any) => [a.name, a.state]));
  await waitFor(async () => Object.values(await states()).filter((s) => s === 'idle').length === 1, 30_000, 'two apps serving, one asleep', ASK_GATEWAY_EVERY_MS);
  // c asked last: by last use alone, it is the last to be put to sleep (its idle check, each
  // second, notes the request before its worker goes).
  assert.is((await get(env, '/c/')).status, 200);
  await new Promise((r) => setTimeout(r, 2500));
  const c = await app(env, 'c');
  process.kill(c.workers[0].pid, 'SIGKILL');
  await waitFor(async () => (await app(env, 'c')).state === 'crash-loop', 60_000, 'c in a crash loop', ASK_GATEWAY_EVERY_MS);
  const now = await states();
  const asleep = now.a === 'idle' ? 'a' : 'b';
  const other = asleep === 'a' ? 'b' : 'a';
  assert.is(now[other], 'ready', JSON.stringify(now));
  assert.is((await get(env, `/${asleep}/?t=0`)).status, 200);
  assert.match(env.gw.output(), `c: --max-workers 2 reached; making room for ${asleep}`);
  assert.not.match(env.gw.output(), `${other}: --max-workers 2 reached; making room for ${asleep}`);
  const after = await states();
  assert.is(after[asleep], 'ready', JSON.stringify(after));
  assert.is(after[other], 'ready', JSON.stringify(after));
  for (const pid of statusPids(await gatewayStatus(env.gw))) env.pids.add(pid);
});

test('--max-workers: an app woken just now, its first worker serving while its second starts, makes room for the next app asked right after it, not a 503', async () => {
  // Each app's second worker a second late.
  const { env, asleep, other } = await openStaggered(['a', 'b'], 1, 20_000);
  for (const name of [asleep, other, asleep]) {
    const res = await get(env, `/${name}/`);
    assert.is(res.status, 200, `${name}: ${res.body}`);
    assert.is(res.body, name);
  }
  for (const pid of statusPids(await gatewayStatus(env.gw))) env.pids.add(pid);
});

test('--max-workers: a new version waiting only for another app\'s wake says so, not that every app holds requests', async () => {
  // The second worker of each start 3 s late: long enough for a new version to be found and
  // wait for room while the woken app's wake goes on.
  const { env, asleep, other } = await openStaggered(['a.1', 'b.1'], 3, 30_000);
  // Served by its first worker; its second is 3 s away, and the other app sleeps for it.
  const res = await get(env, `/${asleep}/`);
  assert.is(res.status, 200, res.body);
  staggeredPackage(env.apps, `${other}.2`, 3);
  await waitFor(async () => (await gatewayStatus(env.gw)).apps.find((a: any) => a.name === other)?.version === '2', 30_000, `${other} 2 to be judged`, ASK_GATEWAY_EVERY_MS);
  const output = env.gw.output();
  assert.match(output, new RegExp(`${other}: waiting for room under --max-workers 2: ${asleep} is waking`), output);
  assert.not.match(output, /every running app holds requests/, output);
  for (const pid of statusPids(await gatewayStatus(env.gw))) env.pids.add(pid);
});

/** The gateway's Python workers running now: its descendants running the shim's `serve`. */
function shimWorkers(gatewayPid: number): number[] {
  return processesBelow(gatewayPid).map((p) => p.pid).filter((pid) => {
    try {
      return /apppkg_shim.*\0serve\0/.test(readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
    } catch {
      return false;
    }
  });
}

function killHanging(pidFile: string): void {
  try {
    // 0 (an empty file) would be our own process group
    const pid = Number(readFileSync(pidFile, 'utf8'));
    if (pid > 0) process.kill(pid, 'SIGKILL');
  } catch {
    // it never began, or is gone
  }
}

test('--max-workers: an app whose import hangs holds only its own room; the others, and one deployed meanwhile, serve while it starts, and the bound holds', async () => {
  const dir = tempDir('apppkg-idle-');
  const hangPid = join(dir.path, 'hang.pid');
  const apps = join(dir.path, 'apps');
  mkdirSync(apps, { recursive: true });
  // Named to sort first: the app judged first hangs.
  writePackage(apps, 'a-hangs', {
    'app.yaml': 'platform: python, wsgi\napp: hang:application\n',
    'hang.py': `import os, time\nopen(${JSON.stringify(hangPid)}, "w").write(str(os.getpid()))\ntime.sleep(120)\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"late"]\n`,
  });
  for (const name of ['b', 'c', 'd']) addPackage(apps, 'slow', name);
  const envFile = join(dir.path, 'environment.yaml');
  writeFileSync(envFile, 'defaults:\n  workers: 1\n  threads: 2\n');
  // A gateway killed at its start's deadline leaves the import hanging, in a process group of its own.
  const gw = await startCliIn({ remove: () => { killHanging(hangPid); dir.remove(); } }, ['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', stateRoot(), '--environment', envFile, '--access-log', 'off', '--settle', '0', '--max-workers', '3']);
  made.push(dir);
  const env: Env = { dir, apps, gw, pids: new Set<number>() };
  opened.push(env);
  let most = 0;
  const sampler = setInterval(() => (most = Math.max(most, shimWorkers(gw.child.pid!).length)), 50);
  try {
    const pid = await waitFor(() => readFileSync(hangPid, 'utf8').trim() || undefined, 20_000, 'the hanging import to begin').catch(() => '');
    if (pid) env.pids.add(Number(pid));
    const hanging = async (what: string) => assert.is((await app(env, 'a-hangs')).state, 'starting', `a-hangs still starting ${what}`);
    for (const name of ['b', 'c', 'd', 'b']) {
      const res = await get(env, `/${name}/?t=0`);
      assert.is(res.status, 200, `${name}: ${res.body}`);
    }
    await hanging('while the others serve');
    // A deploy while it hangs is judged by itself too.
    addPackage(apps, 'slow', 'e');
    gw.child.kill('SIGHUP');
    const deployed = await waitFor(async () => {
      const res = await get(env, '/e/?t=0');
      return res.status === 200 ? res : undefined;
    }, 20_000, 'e, deployed while a-hangs starts, to serve', ASK_GATEWAY_EVERY_MS);
    assert.is(deployed.status, 200);
    await hanging('while e was deployed and served');
    assert.ok(shimWorkers(gw.child.pid!).includes(Number(pid)), 'the hanging import holds its room all along');
  } finally {
    clearInterval(sampler);
  }
  assert.ok(most <= 3, `at most --max-workers 3 workers at any time, found ${most}`);
  assert.ok(most >= 2, `the sampler saw the workers (found ${most})`);
  for (const pid of statusPids(await gatewayStatus(env.gw))) env.pids.add(pid);
});

test('--max-workers: an app put to sleep counts its workers until they are gone, so a slow lifespan shutdown holds its room and the next wake waits for it, saying so in status (waitingFor: room)', async () => {
  const env = await open([['slow', 'other']], 'defaults:\n  workers: 1\napps:\n  slowstop:\n    idle_timeout: 1\n', ['--max-workers', '1']);
  writeSlowstop(env.apps, 4);
  const stopping = await slowstopAsleepInShutdown(gateways, env);
  const answer = get(env, '/other/?t=0');
  // Awaited below; a failure before that must not end the test process as an unhandled rejection.
  answer.catch(() => {});
  // The wake waits for that room: its serving row says so, while the shutdown runs (4 s).
  let seen: unknown;
  const waking = await waitFor(async () => {
    const found = (seen = await app(env, 'other'));
    return found?.state === 'waking' && found.versions[0]?.waitingFor?.for === 'room' ? found : undefined;
  }, 4000, () => `other's serving row to say its wake waits for room: ${JSON.stringify(seen)}`, ASK_GATEWAY_EVERY_MS);
  assert.is(waking.versions[0].state, 'serving');
  assert.is(waking.versions[0].waitingFor.what, 'room for 1 worker under --max-workers 1');
  assert.is(waking.versions[0].waitingFor.failedProbes, null);
  const other = await answer;
  assert.is(other.status, 200, other.body);
  assert.not.ok(isAlive(stopping), 'the other app woke only once the sleeping worker was gone: at most --max-workers 1 at any time');
  const woken = await app(env, 'other');
  assert.equal(woken.versions.map((v: any) => [v.state, v.waitingFor]), [['serving', undefined]], 'awake: nothing awaited');
});

test('--max-workers: a version draining after a deploy counts its workers until they are gone, and its request is the app\'s: an app woken meanwhile waits for the drain, never one worker past the bound', async () => {
  const env = await open([['slow', 'blog.1'], ['slow', 'other']], 'defaults:\n  workers: 1\n  threads: 2\n', ['--max-workers', '2']);
  assert.is((await get(env, '/other/?t=0')).status, 200);
  assert.is((await get(env, '/blog/?t=0')).status, 200);
  const [old] = (await app(env, 'blog')).workers.map((w: any) => w.pid);
  // The old version's worker holds a request through the switch: it drains that long.
  const holding = held(env, 'blog');
  await waitFor(async () => (await app(env, 'blog')).inFlight === 1, 10_000, 'blog to hold its request', ASK_GATEWAY_EVERY_MS);
  addPackage(env.apps, 'slow', 'blog.2');
  env.gw.child.kill('SIGHUP');
  await waitFor(async () => {
    const now = await app(env, 'blog');
    return now.version === '2' && now.state === 'ready';
  }, 20_000, 'version 2 to take over, with other put to sleep for its room', ASK_GATEWAY_EVERY_MS);
  assert.is((await app(env, 'other')).state, 'idle');
  assert.ok(isAlive(old), 'the old version still drains its request');
  // The drained request is blog's too (SPEC 5.6: nothing in flight is the app's): other's wake
  // waits for the drain, and never puts blog's new version to sleep.
  const other = get(env, '/other/?t=0');
  await waitFor(async () => {
    const now = await app(env, 'other');
    return now.state === 'waking' && now.versions[0]?.waitingFor?.for === 'room';
  }, 10_000, 'other to wait for room', ASK_GATEWAY_EVERY_MS);
  assert.ok(isAlive(old), 'the old version drains its request while other waits');
  assert.is((await app(env, 'blog')).state, 'ready', 'blog stays awake while its old version holds a request');
  holding.release();
  assert.is((await holding.answer).status, 200, 'the drained request was served');
  const woken = await other;
  assert.is(woken.status, 200, woken.body);
  assert.is((await app(env, 'blog')).state, 'ready', 'blog stays awake while its old version holds a request');
  assert.not.match(env.gw.output(), /blog: --max-workers 2 reached; making room for other/);
  const serving = (await gatewayStatus(env.gw)).apps.flatMap((a: any) => a.workers.map((w: any) => w.pid as number));
  for (const pid of serving) env.pids.add(pid);
  const running = [...new Set([...serving, old])].filter(isAlive);
  assert.ok(running.length <= 2, `workers running under --max-workers 2: ${running.join(', ')}`);
});

/** Runs `body` while sampling the gateway's Python workers every 50 ms; the most seen at once. */
async function mostWorkersDuring(env: Env, body: () => Promise<void>): Promise<number> {
  let most = 0;
  const sample = (): void => {
    const now = shimWorkers(env.gw.child.pid!);
    for (const pid of now) env.pids.add(pid);
    most = Math.max(most, now.length);
  };
  const sampler = setInterval(sample, 50);
  try {
    await body();
  } finally {
    clearInterval(sampler);
  }
  sample();
  return most;
}

test('--max-workers: a worker recycled past max_requests counts until it has exited, so its replacement first makes room (a quiet app sleeps), never one worker past the bound', async () => {
  const env = await open([['slow', 'blog'], ['slow', 'other']], 'defaults:\n  workers: 1\n  threads: 2\napps:\n  blog:\n    max_requests: 3\n', ['--max-workers', '2']);
  assert.is((await get(env, '/blog/?t=0')).status, 200);
  assert.is((await get(env, '/other/?t=0')).status, 200);
  const [old] = (await app(env, 'blog')).workers.map((w: any) => w.pid);
  const most = await mostWorkersDuring(env, async () => {
    assert.is((await get(env, '/blog/?t=0')).status, 200);
    // The third request recycles the worker, which drains it for 2 s beside its replacement.
    const held = await get(env, '/blog/?t=2');
    assert.is(held.status, 200);
    assert.match(held.body, new RegExp(`^${old} `), 'the recycled worker finished its last request');
    await waitFor(() => !isAlive(old), 10_000, 'the recycled worker to exit');
  });
  assert.ok(most <= 2, `at most --max-workers 2 workers at any time, found ${most}`);
  assert.match(env.gw.output(), /blog: recycling worker \d+: served 3 requests/);
  assert.match(env.gw.output(), /other: --max-workers 2 reached; making room for blog/);
  assert.is((await app(env, 'other')).state, 'idle', 'other slept to make room for the replacement');
  assert.is((await get(env, '/blog/?t=0')).status, 200, 'the replacement serves');
});

test('--max-workers: a worker to recycle with no room for a replacement beside it (every other app holds requests) drains first, and its replacement starts in its room; what comes meanwhile waits and is served', async () => {
  const env = await open([['slow', 'blog'], ['slow', 'other']], 'defaults:\n  workers: 1\n  threads: 2\napps:\n  blog:\n    max_requests: 3\n', ['--max-workers', '2']);
  assert.is((await get(env, '/blog/?t=0')).status, 200);
  assert.is((await get(env, '/other/?t=0')).status, 200);
  const [old] = (await app(env, 'blog')).workers.map((w: any) => w.pid);
  const most = await mostWorkersDuring(env, async () => {
    const busy = get(env, '/other/?t=4'); // other cannot be put to sleep meanwhile
    await waitFor(async () => (await app(env, 'other')).inFlight === 1, 5_000, 'other to hold its request', ASK_GATEWAY_EVERY_MS);
    assert.is((await get(env, '/blog/?t=0')).status, 200);
    const held = get(env, '/blog/?t=1.5'); // the third: blog recycles its worker
    await new Promise((r) => setTimeout(r, 300));
    const next = await get(env, '/blog/?t=0'); // waits for the replacement
    assert.is(next.status, 200, next.body);
    assert.not.match(next.body, new RegExp(`^${old} `), 'served by the replacement');
    assert.match((await held).body, new RegExp(`^${old} `), 'the recycled worker finished its last request');
    assert.is((await busy).status, 200);
  });
  assert.ok(most <= 2, `at most --max-workers 2 workers at any time, found ${most}`);
  assert.match(env.gw.output(), /blog: no room under --max-workers for a replacement beside worker \d+; it drains first/);
  assert.ok(most >= 2, `the sampler saw the workers (found ${most})`);
});

test('--max-workers below an app\'s own workers: it runs as many as the budget allows, said in the log, and serves', async () => {
  const env = await open([['slow', 'wide'], ['slow', 'other']], 'defaults:\n  workers: 2\n  threads: 2\n', ['--max-workers', '1']);
  assert.match(env.gw.output(), /wide: workers 2 is more than --max-workers 1; it runs 1/);
  for (const name of ['wide', 'other', 'wide']) {
    const r = await get(env, `/${name}/?t=0`);
    assert.is(r.status, 200, `${name}: ${r.body}`);
  }
  const wide = await app(env, 'wide');
  assert.is(wide.workers.length, 1);
  assert.is((await app(env, 'other')).state, 'idle', 'other slept to make room for wide');
});

test('--max-workers filled by one app: its new version gets the room as the old one sleeps, and the log names the version, not the app as its own rival', async () => {
  const env = await open([['environ', 'blog.1']], 'apps:\n  blog:\n    workers: 2\n', ['--max-workers', '2']);
  assert.is((await get(env, '/blog/')).status, 200);
  addPackage(env.apps, 'environ', 'blog.2', { 'environ_app.py': [[/VERSION = "1"/, 'VERSION = "2"']] });
  env.gw.child.kill('SIGHUP');
  await waitFor(async () => (await app(env, 'blog')).version === '2', 20_000, 'version 2 to take over', ASK_GATEWAY_EVERY_MS);
  assert.match(env.gw.output(), /blog: --max-workers 2 reached; making room for its version 2/);
  assert.not.match(env.gw.output(), /making room for blog/);
  assert.is(JSON.parse((await get(env, '/blog/')).body).version, '2');
});

test('restart of an app that alone fills --max-workers while it serves: the message says it was put to sleep for the room, not that it was idle; the next request wakes the fresh workers', async () => {
  const env = await open([['environ', 'blog.1']], 'apps:\n  blog:\n    workers: 2\n', ['--max-workers', '2']);
  assert.is((await get(env, '/blog/')).status, 200);
  const before = await app(env, 'blog');
  assert.is(before.state, 'ready', 'serving, never idle: it has no idle_timeout');
  const old = before.workers.map((w: { pid: number }) => w.pid);
  const r = await runCli(['restart', 'blog', '--admin', new URL(env.gw.adminUrl!).host], { ms: 60_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  // It said "it was idle" of an app serving when asked, with no idle_timeout to look for.
  assert.not.match(r.stdout, /it was idle/);
  assert.match(r.stdout, 'blog: version 1 restarted and passed its probe; it was serving when asked, and was put to sleep meanwhile (--max-workers left no room for its new workers beside the old ones, or its idle_timeout passed)');
  assert.is((await app(env, 'blog')).state, 'idle');
  assert.is((await get(env, '/blog/')).status, 200, 'the next request wakes it');
  const fresh = (await app(env, 'blog')).workers.map((w: { pid: number }) => w.pid);
  assert.ok(fresh.length > 0 && fresh.every((pid: number) => !old.includes(pid)), `fresh workers ${fresh} beside the old ${old}`);
});

test('a deploy of an idle app judges the new version and lets it idle; the next request reaches it; the cold starts count on across it', async () => {
  const env = await open([['environ', 'blog.1']], 'apps:\n  blog:\n    idle_timeout: 1\n    workers: 1\n');
  await waitFor(async () => (await app(env, 'blog')).state === 'idle', 10_000, 'blog to go idle', ASK_GATEWAY_EVERY_MS);
  assert.is((await get(env, '/blog/')).status, 200, 'version 1 woken once');
  await waitFor(async () => (await app(env, 'blog')).state === 'idle', 10_000, 'blog to go idle again', ASK_GATEWAY_EVERY_MS);
  addPackage(env.apps, 'environ', 'blog.2', { 'environ_app.py': [[/VERSION = "1"/, 'VERSION = "2"']] });
  env.gw.child.kill('SIGHUP');
  const after = await waitFor(async () => {
    const now = await app(env, 'blog');
    return now.version === '2' ? now : undefined;
  }, 20_000, 'version 2 to take over', ASK_GATEWAY_EVERY_MS);
  assert.is(after.state, 'idle', 'judged, then idle again');
  assert.is(after.idle.coldStarts, 1, 'the old version was not woken for the deploy, and its wake still counts');
  assert.ok(after.history.some((e: any) => e.kind === 'switched'));
  const res = await get(env, '/blog/');
  assert.is(JSON.parse(res.body).version, '2');
  // A Prometheus counter never goes back but when the process restarts: a deploy is none.
  const metrics = await (await request(`${env.gw.adminUrl}/metrics`)).body.text();
  assert.match(metrics, /^apppkg_cold_starts_total\{app="blog"\} 2$/m);
  const total = Number(/^apppkg_cold_start_seconds_total\{app="blog"\} (\S+)$/m.exec(metrics)?.[1]);
  const last = Number(/^apppkg_cold_start_seconds\{app="blog"\} (\S+)$/m.exec(metrics)?.[1]);
  assert.ok(total > last && last > 0, `both wakes' time together (${total} s), more than the last one's (${last} s)`);
  // Each wake in a histogram, across the deploy as the counters: how they spread, not the last alone.
  assert.match(metrics, /^# TYPE apppkg_cold_start_duration_seconds histogram$/m);
  assert.match(metrics, /^apppkg_cold_start_duration_seconds_count\{app="blog"\} 2$/m);
  assert.match(metrics, /^apppkg_cold_start_duration_seconds_bucket\{le="\+Inf",app="blog"\} 2$/m);
  assert.match(metrics, /^apppkg_cold_start_duration_seconds_bucket\{le="30",app="blog"\} 2$/m);
  const sum = Number(/^apppkg_cold_start_duration_seconds_sum\{app="blog"\} (\S+)$/m.exec(metrics)?.[1]);
  assert.ok(Math.abs(sum - total) < 1e-6, `the histogram's sum (${sum} s) is apppkg_cold_start_seconds_total (${total} s)`);
});

test.run();

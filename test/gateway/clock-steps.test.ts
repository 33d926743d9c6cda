// The host's wall clock stepped under a running gateway (NTP stepping it after a VM resumes, an
// admin's `date -s`), through libfaketime (test/helpers/faketime.ts): durations are measured
// on the monotonic clock, so a step forward or back changes no timeout, while the times of day
// status shows follow the wall clock.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { PIPELINE_DEPTH } from '../../src/proxy/upstream.js';
import { IDLE_CHECK_ENV } from '../../src/supervisor/idle-cycle.js';
import { HEARTBEAT_ENV, HUNG_AFTER_ENV } from '../../src/supervisor/worker.js';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { hasFaketime, NO_FAKETIME, steppedClock, type SteppedClock } from '../helpers/faketime.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, recorded, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { appStatus, gatewayStatus, statusPids } from '../helpers/status.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('clock steps');
const withFaketime = runIf(test, hasFaketime, NO_FAKETIME);

interface Env {
  dir: ReturnType<typeof tempDir>;
  apps: string;
  clock: SteppedClock;
  gw: RunningGateway;
  pids: Set<number>;
}
const opened: Env[] = [];
/** The directories of the test running, removed as it ends (and, should that hook fail, when the file ends). */
const made: Array<ReturnType<typeof tempDir>> = [];
const HOUR_S = 3600;

/**
 * A gateway under a clock of its own, on a state root that starts with the interpreter probes of
 * an earlier test's (warmStateDir): no test here is about a first start's probing.
 */
async function open(fixture: string, name: string, environment: string, knobs: NodeJS.ProcessEnv = {}): Promise<Env> {
  const dir = tempDir('apppkg-clock-steps-');
  const apps = join(dir.path, 'apps');
  mkdirSync(apps, { recursive: true });
  addPackage(apps, fixture, name);
  const envFile = join(dir.path, 'environment.yaml');
  writeFileSync(envFile, environment);
  const state = warmStateDir('apppkg-clock-steps-state-');
  made.push(dir, state);
  const clock = steppedClock();
  const env: Env = { dir, apps, clock, gw: null as unknown as RunningGateway, pids: new Set() };
  opened.push(env);
  env.apps = apps;
  env.gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile, '--access-log', 'off', '--settle', '0'], { env: { ...clock.env, ...knobs } });
  return env;
}

async function remember(env: Env): Promise<void> {
  for (const pid of statusPids(await gatewayStatus(env.gw))) env.pids.add(pid);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `name`'s status once its version is judged: serving, or refused (with why, for the assertion's message). */
async function judged(env: Env, name: string, ms = 60_000): Promise<any> {
  return waitFor(async () => {
    const app = await appStatus(env.gw, name);
    for (const pid of app ? statusPids({ apps: [app] }) : []) env.pids.add(pid);
    return app && (app.state === 'ready' || app.versions.some((v: { state: string }) => v.state === 'failed')) ? app : undefined;
  }, ms, `${name} to be judged`, ASK_GATEWAY_EVERY_MS);
}

const refusal = (app: any): string => JSON.stringify(app.versions.map((v: { state: string; reason: unknown }) => [v.state, v.reason]));

// Each test's gateway stops as the test ends: left to the end of the file, the gateways of the
// tests before kept their workers and heartbeats going, every clock reading of theirs a read of
// libfaketime's file (FAKETIME_NO_CACHE), through every test after.
test.after.each(async () => {
  try {
    for (const env of opened.splice(0)) {
      if (env.gw) {
        await remember(env).catch(() => {});
        await env.gw.stop();
      }
      await assertNoOrphans([...env.pids]);
      env.clock.remove();
    }
  } finally {
    for (const dir of made.splice(0)) dir.remove();
  }
});

test.after(() => {
  for (const dir of made.splice(0)) dir.remove();
});

withFaketime('the CLI under the stepped clock: its wall clock follows a step', async () => {
  const env = await open('slow', 'probe', 'apps:\n  probe:\n    workers: 1\n');
  await remember(env);
  const skew = async () => Date.parse((await gatewayStatus(env.gw)).now) - Date.now();
  assert.ok(Math.abs(await skew()) < 60_000, 'no step yet');
  env.clock.step(HOUR_S);
  assert.ok(Math.abs((await skew()) - HOUR_S * 1000) < 60_000, 'status shows the stepped time of day');
  const res = await request(`${env.gw.url}/probe/?t=0`);
  await res.body.text();
  assert.is(res.statusCode, 200);
});

withFaketime('a step forward past the app\'s timeout: a request waiting in its queue still gets its answer, not a 504', async () => {
  const env = await open('slow', 'queued', 'apps:\n  queued:\n    workers: 1\n    threads: 1\n    timeout: 60\n');
  await remember(env);
  const first = request(`${env.gw.url}/queued/?t=4`, { headersTimeout: 90_000 });
  await waitFor(async () => (await appStatus(env.gw, 'queued')).workers.some((w: { inFlight: number }) => w.inFlight > 0) || undefined, 10_000, 'the first request to be taken', ASK_GATEWAY_EVERY_MS);
  // A worker takes PIPELINE_DEPTH requests beyond its threads; the one after waits in the gateway's queue.
  const more = Array.from({ length: PIPELINE_DEPTH + 1 }, () => request(`${env.gw.url}/queued/?t=0`, { headersTimeout: 90_000 }));
  await waitFor(async () => ((await appStatus(env.gw, 'queued')).queued > PIPELINE_DEPTH) || undefined, 10_000, 'a request to wait in the gateway\'s queue', ASK_GATEWAY_EVERY_MS);
  env.clock.step(2 * HOUR_S);
  const answers = await Promise.all([first, ...more]);
  const bodies = await Promise.all(answers.map((a) => a.body.text()));
  const failed = answers.map((a, i) => [a.statusCode, bodies[i]]).filter(([status]) => status !== 200);
  assert.equal(failed, [], 'every request waited for its turn');
});

withFaketime('a step forward past an app\'s idle_timeout does not put it to sleep', async () => {
  // Its idle check runs every 5 s at this idle_timeout; every 200 ms here, so that ten of them see the step in 2 s.
  const checkMs = 200;
  const env = await open('slow', 'lively', 'apps:\n  lively:\n    workers: 1\n    idle_timeout: 600\n', { [IDLE_CHECK_ENV]: String(checkMs) });
  await remember(env);
  const res = await request(`${env.gw.url}/lively/?t=0`);
  await res.body.text();
  assert.is(res.statusCode, 200);
  env.clock.step(2 * HOUR_S);
  // An idle check is not seen from outside (status's lastActive is the workers' last request
  // already): the app is asked about over ten of them, and a sleep fails the test at once.
  const until = performance.now() + 10 * checkMs;
  do {
    await sleep(ASK_GATEWAY_EVERY_MS);
    const app = await appStatus(env.gw, 'lively');
    assert.is(app.state, 'ready', `${app.state}: ${env.gw.output().split('\n').filter((l) => l.includes('lively')).join('\n')}`);
    assert.is(app.workers.length, 1);
  } while (performance.now() < until);
});

/** The heartbeat's beat and hung bound in the case of a hung worker (HEARTBEAT_MS, HUNG_AFTER_MS are 2 s and 6 s). */
const BEAT_MS = 300;
const HUNG_MS = 2000;

withFaketime('a step back while a worker hangs: the heartbeat still kills and replaces it within its bound', async () => {
  // The beat and the hung bound lowered (test knobs): what is judged is that a step back an hour
  // does not hold the kill, which holds of a 2 s bound as of the real 6 s.
  const env = await open('faults', 'beat', 'apps:\n  beat:\n    workers: 1\n    threads: 1\n', { [HEARTBEAT_ENV]: String(BEAT_MS), [HUNG_AFTER_ENV]: String(HUNG_MS) });
  await remember(env);
  const [victim] = (await appStatus(env.gw, 'beat')).workers.map((w: { pid: number }) => w.pid);
  process.kill(victim, 'SIGSTOP');
  // The step comes after the ping that gets no answer: a beat later, the log says it went unanswered.
  await waitFor(() => env.gw.output().includes(`beat: worker ${victim} has not answered the heartbeat`) || undefined, 10_000, 'the unanswered ping', ASK_GATEWAY_EVERY_MS);
  env.clock.step(-HOUR_S);
  const bound = BEAT_MS + HUNG_MS + 500 + 5000;
  await waitFor(async () => {
    const pids = (await appStatus(env.gw, 'beat')).workers.map((w: { pid: number }) => w.pid);
    for (const pid of pids) env.pids.add(pid);
    return (pids.length === 1 && !pids.includes(victim)) || undefined;
  }, bound + 5000, 'the hung worker to be replaced', ASK_GATEWAY_EVERY_MS);
  try {
    process.kill(victim, 'SIGCONT');
  } catch {}
});

withFaketime('a step forward past --header-timeout: a connection still sending its head is answered, not closed', async () => {
  const env = await open('slow', 'heads', 'apps:\n  heads:\n    workers: 1\n');
  await remember(env);
  const socket = net.connect(Number(new URL(env.gw.url).port), '127.0.0.1');
  const seen = recorded(socket);
  await once(socket, 'connect');
  socket.write('GET /heads/?t=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  env.clock.step(2 * HOUR_S);
  // The lane's sweep runs every 100 ms: a second is ten of them.
  await sleep(1000);
  socket.write('Connection: close\r\n\r\n');
  await waitFor(() => seen.closed || undefined, 15_000, 'the answer');
  assert.match(seen.got, /^HTTP\/1\.1 200 /, seen.got.slice(0, 200) || 'closed with no answer');
});

withFaketime('a step forward while a worker crash-loops: its back-off goes on growing and the crash loop is still seen', async () => {
  const env = await open('slow', 'loops', 'apps:\n  loops:\n    workers: 1\n');
  let pid = 0;
  const nextWorker = () => waitFor(async () => {
    const worker = (await appStatus(env.gw, 'loops')).workers.find((w: { pid: number | null; state: string }) => w.pid !== null && w.pid !== pid && w.state === 'ready');
    if (worker) env.pids.add(worker.pid);
    return worker?.pid as number | undefined;
  }, 30_000, 'a worker to be ready', ASK_GATEWAY_EVERY_MS);
  // Four exits back to back: restarts after 500, 1000, 2000 and 4000 ms.
  for (let i = 0; i < 4; i++) {
    pid = await nextWorker();
    process.kill(pid, 'SIGKILL');
  }
  pid = await nextWorker();
  env.clock.step(2 * HOUR_S);
  process.kill(pid, 'SIGKILL');
  const line = await waitFor(() => new RegExp(`worker ${pid} [^\\n]*; restarting in \\d+ ms[^\\n]*`).exec(env.gw.output())?.[0], 10_000, 'the fifth exit\'s line');
  assert.match(line, /restarting in 8000 ms \(crash loop\)/);
});

withFaketime('a step back before an ASGI worker starts: its lifespan startup still has the start bound, and the version serves', async () => {
  const env = await open('slow', 'probe', 'apps:\n  probe:\n    workers: 1\n');
  await remember(env);
  // The gateway's wall clock alone is stepped, its workers' is not: as a step that lands
  // between the worker's spawn and its shim's reading of the deadline.
  env.clock.step(-HOUR_S);
  writePackage(env.apps, 'starts', {
    'app.yaml': 'platform: python, asgi\napp: app:application\n',
    'app.py': [
      'async def application(scope, receive, send):',
      '    if scope["type"] == "lifespan":',
      '        while True:',
      '            message = await receive()',
      '            await send({"type": message["type"] + ".complete"})',
      '            if message["type"] == "lifespan.shutdown":',
      '                return',
      '    await send({"type": "http.response.start", "status": 200, "headers": []})',
      '    await send({"type": "http.response.body", "body": b"started"})',
      '',
    ].join('\n'),
  });
  const app = await judged(env, 'starts');
  assert.is(app.state, 'ready', refusal(app));
  const res = await request(`${env.gw.url}/starts/`);
  assert.is(res.statusCode, 200);
  assert.is(await res.body.text(), 'started');
});

/**
 * A package whose health path answers 503 until `ready` exists (a warming app, whose readiness
 * the test decides): `asked` is written when it is first asked, so the step lands mid-probe.
 */
function warmingWsgi(dir: string): Record<string, string> {
  return {
    'app.yaml': 'platform: python, wsgi\napp: app:application\nhealth: /healthz\n',
    'app.py': [
      'import os',
      `ASKED, READY = ${JSON.stringify(join(dir, 'asked'))}, ${JSON.stringify(join(dir, 'ready'))}`,
      'def application(environ, start_response):',
      '    if environ["PATH_INFO"] == "/healthz" and not os.path.exists(READY):',
      '        open(ASKED, "w").close()',
      '        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])',
      '        return [b"warming"]',
      '    start_response("200 OK", [("Content-Type", "text/plain")])',
      '    return [b"warm"]',
      '',
    ].join('\n'),
  };
}

withFaketime('a step forward while a worker\'s health probe is answered 503: the probe goes on within its start bound, and the version serves', async () => {
  const env = await open('slow', 'probe', 'apps:\n  probe:\n    workers: 1\n  warming:\n    workers: 1\n');
  await remember(env);
  writePackage(env.apps, 'warming', warmingWsgi(env.dir.path));
  await waitFor(() => existsSync(join(env.dir.path, 'asked')) || undefined, 30_000, 'the first probe');
  env.clock.step(2 * HOUR_S);
  // Probes are asked again every 500 ms: a few of them see the step.
  await sleep(2000);
  writeFileSync(join(env.dir.path, 'ready'), '');
  const app = await judged(env, 'warming');
  assert.is(app.state, 'ready', refusal(app));
});

withFaketime('a step forward while an app\'s own server comes up: the wait for its port goes on within its start bound, and the version serves', async () => {
  const env = await open('slow', 'probe', 'apps:\n  probe:\n    workers: 1\n');
  await remember(env);
  const [started, ready] = [join(env.dir.path, 'started'), join(env.dir.path, 'ready')];
  writePackage(env.apps, 'late', {
    'app.yaml': 'platform: python, command\nprocesses:\n  web:\n    command: exec python server.py\n',
    'server.py': [
      'import os, time',
      'from http.server import BaseHTTPRequestHandler, HTTPServer',
      '',
      'class Handler(BaseHTTPRequestHandler):',
      '    def do_GET(self):',
      '        self.send_response(200)',
      '        self.send_header("Content-Length", "2")',
      '        self.end_headers()',
      '        self.wfile.write(b"up")',
      '',
      `open(${JSON.stringify(started)}, "w").close()`,
      `while not os.path.exists(${JSON.stringify(ready)}):`,
      '    time.sleep(0.1)',
      'HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()',
      '',
    ].join('\n'),
  });
  await waitFor(() => existsSync(started) || undefined, 30_000, 'the server to start');
  env.clock.step(2 * HOUR_S);
  // Its port is tried every 100 ms: many tries see the step.
  await sleep(2000);
  writeFileSync(ready, '');
  const app = await judged(env, 'late');
  assert.is(app.state, 'ready', refusal(app));
  const res = await request(`${env.gw.url}/late/`);
  assert.is(res.statusCode, 200);
  assert.is(await res.body.text(), 'up');
});

withFaketime('a step back: an app\'s output is read on at its rate, not held for the step', async () => {
  const env = await open('slow', 'probe', 'apps:\n  probe:\n    workers: 1\n  talks:\n    workers: 1\n');
  await remember(env);
  writePackage(env.apps, 'talks', {
    'app.yaml': 'platform: python, wsgi\napp: app:application\n',
    'app.py': [
      'import sys',
      'def application(environ, start_response):',
      '    # More than a pipe holds: the write blocks unless the gateway reads on.',
      '    for _ in range(512):',
      '        sys.stdout.write("x" * 1023 + "\\n")',
      '    sys.stdout.flush()',
      '    start_response("200 OK", [("Content-Type", "text/plain")])',
      '    return [b"said"]',
      '',
    ].join('\n'),
  });
  assert.is((await judged(env, 'talks')).state, 'ready');
  env.clock.step(-HOUR_S);
  // Its writes held, it never answers: the request fails on its own timeout.
  const res = await request(`${env.gw.url}/talks/`, { headersTimeout: 30_000 });
  assert.is(res.statusCode, 200);
  assert.is(await res.body.text(), 'said');
});

withFaketime('a step back: status goes on reading its processes\' memory and CPU', async () => {
  const env = await open('slow', 'sampled', 'apps:\n  sampled:\n    workers: 1\n');
  // A first status: its sample is the one a step back made look an hour ahead.
  await remember(env);
  const [old] = (await appStatus(env.gw, 'sampled')).workers.map((w: { pid: number }) => w.pid);
  env.clock.step(-HOUR_S);
  process.kill(old, 'SIGKILL');
  await waitFor(async () => {
    const worker = (await appStatus(env.gw, 'sampled')).workers.find((w: { pid: number | null; state: string }) => w.pid !== null && w.pid !== old && w.state === 'ready');
    if (worker) env.pids.add(worker.pid);
    return worker?.rssBytes > 0 || undefined;
  }, 20_000, 'the new worker\'s memory in status', ASK_GATEWAY_EVERY_MS);
});

test.run();

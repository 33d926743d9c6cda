// SPEC 5.4: "every app, version and process with ... requests in flight / queued / served /
// failed, p50/p95/p99 latency". Each version, worker and routed process of a real gateway
// counts what it answered; a version's figures outlive its workers (a restart), and a new
// version starts from none while the old one keeps what it served.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { ASK_GATEWAY_EVERY_MS, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('status: figures per version, worker and process');

const APP = `import json, os, time
from urllib.parse import parse_qs

VERSION = "1"

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/fail":
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [b"failed on purpose"]
    if path == "/held":  # until the file named by ?until= exists (60 s at most)
        release = parse_qs(environ["QUERY_STRING"])["until"][0]
        deadline = time.monotonic() + 60
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.05)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"version": VERSION}).encode()]
`;

const LIVE = `import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        status = 502 if self.path.endswith("/fail") else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
`;

const YAML = `platform: python, wsgi
app: tally_app:application
processes:
  live:
    command: exec python live.py
    route: /live
  clock:
    command: exec python -c "import time; time.sleep(3600)"
`;

function addVersion(appsDir: string, version: string): void {
  writePackage(appsDir, `tally.${version}`, { 'app.yaml': YAML, 'tally_app.py': APP.replace('VERSION = "1"', `VERSION = "${version}"`), 'live.py': LIVE });
}

const apps = tempDir('apppkg-figures-apps-');
const state = tempDir('apppkg-figures-state-');
let gw: RunningGateway | null = null;
const environment = join(state.path, 'environment.yaml');
// One worker with one thread: what waits for it is visible, in it and in the app's queue.
const ENVIRONMENT = 'apps:\n  tally:\n    workers: 1\n    threads: 1\n    mount: /\n';

test.before(async () => {
  addVersion(apps.path, '1.0');
  addPackage(apps.path, 'crash-on-import', 'broken');
  writeFileSync(environment, ENVIRONMENT);
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(state.path, 'root'), '--environment', environment]);
});

test.after(() => stopGatewayChecked(gw, apps, state));

async function get(path: string): Promise<number> {
  const res = await request(`${gw!.url}${path}`);
  await res.body.dump();
  return res.statusCode;
}

const versionOf = (app: any, v: string): any => app.versions.find((x: any) => x.version === v);

let releases = 0;
/**
 * Requests the app holds until release() is called: what the tests look at while they wait
 * must not end on a clock of its own. With a 1.5 s or 3 s sleep, a loaded host's slow look at
 * /status, or its slow start of a restarted worker, saw the requests already answered.
 */
function held(count: number): { answers: Promise<number[]>; release: () => void } {
  const file = join(state.path, `release-${++releases}`);
  const answers = Promise.all(Array.from({ length: count }, () => get(`/held?until=${encodeURIComponent(file)}`)));
  return { answers, release: () => writeFileSync(file, '') };
}

test('each version, worker and routed process counts its answers, failures and latency', async () => {
  for (let i = 0; i < 6; i++) assert.is(await get('/'), 200);
  for (let i = 0; i < 2; i++) assert.is(await get('/fail'), 500);
  for (let i = 0; i < 3; i++) assert.is(await get('/live/x'), 200);
  assert.is(await get('/live/fail'), 502);
  // The last response's tally is told when its connection's response closes: a moment after the client has it.
  const app = await waitFor(async () => {
    const s = await appStatus(gw!, 'tally');
    return versionOf(s, '1.0').requests === 12 ? s : null;
  }, 5000, 'the version to count 12 answers');
  const v1 = versionOf(app, '1.0');
  assert.is(v1.state, 'serving');
  assert.is(v1.failed, 3);
  assert.type(v1.latency.p50, 'number');
  assert.ok(v1.latency.p99 >= v1.latency.p50);
  assert.is(v1.inFlight, 0);
  assert.is(v1.queued, 0);

  const [worker] = v1.workers;
  assert.is(worker.failed, 2);
  assert.type(worker.latency.p95, 'number');
  assert.is(worker.queued, 0);

  const live = app.processes.find((p: any) => p.name === 'live');
  assert.is(live.requests, 4);
  assert.is(live.failed, 1);
  assert.type(live.latency.p50, 'number');
  assert.is(live.inFlight, 0);
  assert.is(live.queued, 0);
  // A background process takes no request: it has no such figures, rather than zeros.
  const clock = app.processes.find((p: any) => p.name === 'clock');
  assert.is(clock.requests, undefined);
  assert.is(clock.latency, undefined);

  assert.is(app.requests, 12);
  assert.is(app.failed, 3);
  assert.is(app.errors, 3);
});

test('an app that does not serve (refused) counts its 503s: in status (requests, failed, errors) and in /metrics', async () => {
  await waitFor(async () => (await appStatus(gw!, 'broken')).state === 'failed', 30_000, 'broken refused');
  for (let i = 0; i < 3; i++) assert.is(await get('/broken/'), 503);
  const app = await waitFor(async () => {
    const s = await appStatus(gw!, 'broken');
    return s.requests === 3 ? s : null;
  }, 5000, 'broken to count its 3 answers');
  assert.is(app.failed, 3);
  assert.is(app.errors, 3);
  const metrics = await (await request(`${gw!.adminUrl}/metrics`)).body.text();
  assert.match(metrics, /^apppkg_requests_total\{app="broken",code="5xx"\} 3$/m);
});

test('what runs and what waits: in flight per thread, queued in the worker and in the app', async () => {
  const slow = held(3);
  const app = await waitFor(async () => {
    const s = await appStatus(gw!, 'tally');
    return s.inFlight + s.queued === 3 ? s : null;
  }, 10_000, 'three requests to be held', ASK_GATEWAY_EVERY_MS);
  const v1 = versionOf(app, '1.0');
  // One thread: one request runs, two wait (sent ahead to the worker, or in the app's queue).
  assert.is(app.inFlight, 1);
  assert.is(app.queued, 2);
  assert.is(v1.inFlight, 1);
  assert.is(v1.workers[0].inFlight, 1);
  assert.is(v1.queued, v1.workers[0].queued);
  assert.ok(v1.workers[0].queued <= 2);
  slow.release();
  assert.equal(await slow.answers, [200, 200, 200]);
});

test('a restart keeps the version\'s figures; a new version starts from none and the old one keeps its own', async () => {
  const before = versionOf(await appStatus(gw!, 'tally'), '1.0').requests;
  const oldPid = (await appStatus(gw!, 'tally')).workers[0].pid;
  // A restart of the same version: the environment file changes one of its settings (SIGHUP).
  // A held request keeps the old worker draining until it is let go.
  const slow = held(1);
  await waitFor(async () => (await appStatus(gw!, 'tally')).inFlight === 1, 10_000, 'the request to be held', ASK_GATEWAY_EVERY_MS);
  writeFileSync(environment, `${ENVIRONMENT}    settings:\n      RESTARTED: "yes"\n`);
  gw!.child.kill('SIGHUP');
  await waitFor(async () => (await appStatus(gw!, 'tally')).workers.every((w: any) => w.pid !== oldPid && w.state === 'ready'), 20_000, 'fresh workers');
  // Out of rotation, the old worker finishes its request: listed as such (told to stop, or draining),
  // not ready, and on a draining row of version 1.0 (the old instance's), not on the serving one's.
  const during = await appStatus(gw!, 'tally');
  const rows = during.versions.filter((v: any) => v.version === '1.0');
  const old = rows.find((v: any) => v.state === 'draining')?.workers.find((w: any) => w.pid === oldPid);
  assert.ok(old?.state === 'stopping' || old?.state === 'draining', `the old worker is ${old?.state} in ${JSON.stringify(rows)}`);
  assert.not.ok(versionOf(during, '1.0').workers.some((w: any) => w.pid === oldPid), 'the old worker on the serving row');
  slow.release();
  assert.equal(await slow.answers, [200]);
  assert.is(await get('/'), 200);
  await waitFor(async () => versionOf(await appStatus(gw!, 'tally'), '1.0').requests === before + 2, 5000, 'the restarted version to count on');
  // The fresh worker counts from none.
  const fresh = versionOf(await appStatus(gw!, 'tally'), '1.0').workers.find((w: any) => w.pid !== oldPid);
  assert.is(fresh.failed, 0);

  addVersion(apps.path, '2.0');
  await waitFor(async () => (await appStatus(gw!, 'tally')).version === '2.0', 30_000, 'version 2.0 to serve');
  assert.is(await get('/fail'), 500);
  const app = await waitFor(async () => {
    const s = await appStatus(gw!, 'tally');
    return versionOf(s, '2.0').requests === 1 ? s : null;
  }, 5000, 'version 2.0 to count its answer');
  assert.is(versionOf(app, '2.0').failed, 1);
  assert.is(versionOf(app, '1.0').requests, before + 2);
  assert.is(versionOf(app, '1.0').failed, 3);
});

test.run();

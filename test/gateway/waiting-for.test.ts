// What a starting version waits for, in `status --json` and `status`: a version whose health
// probe answers 503, or whose import takes long, said only `starting` until it served or was
// refused 60 s on (the probe's 503 seen at the refusal alone); an ASGI lifespan startup says
// its own. Through the real CLI, with real workers: each app holds its start while a file of the
// test's is there, and serves once it goes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { appStatus, gatewayStatus, statusPids } from '../helpers/status.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('gateway: what a starting version waits for');

const dir = tempDir('apppkg-waiting-for-');
const state = warmStateDir('apppkg-waiting-for-state-');
const apps = join(dir.path, 'apps');
const staging = join(dir.path, 'staging');
let gw: RunningGateway;
const pids = new Set<number>();

test.before(async () => {
  mkdirSync(apps);
  mkdirSync(staging);
  const env = join(dir.path, 'environment.yaml');
  writeFileSync(env, 'defaults:\n  workers: 1\n');
  // No app at the start: the gateway says `listening` at once, and each test deploys its own.
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', env, '--access-log', 'off', '--settle', '0']);
});

test.after(async () => {
  try {
    await gw?.stop();
    await assertNoOrphans([...pids]);
  } finally {
    dir.remove();
    state.remove();
  }
});

/** Writes the package whole beside the apps directory, then moves it in: it is judged as one. */
function deploy(name: string, files: Record<string, string>): void {
  writePackage(staging, name, files);
  renameSync(join(staging, name), join(apps, name));
  gw.child.kill('SIGHUP');
}

/** The app's `starting` row, once `ready` says it shows what is awaited. */
async function startingRow(name: string, ready: (row: any) => boolean): Promise<any> {
  let seen: unknown;
  return waitFor(async () => {
    const status = await gatewayStatus(gw);
    for (const pid of statusPids(status)) pids.add(pid);
    seen = status.apps.find((a: any) => a.name === name)?.versions;
    const row = status.apps.find((a: any) => a.name === name)?.versions.find((v: any) => v.state === 'starting');
    return row !== undefined && ready(row) ? row : undefined;
  }, 30_000, () => `${name}'s starting row to say what it waits for; its versions: ${JSON.stringify(seen)}`, ASK_GATEWAY_EVERY_MS);
}

async function statusJson(): Promise<any> {
  const r = await runCli(['status', '--admin', new URL(gw.adminUrl!).host, '--json'], { ms: 15_000 });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

async function statusTable(): Promise<string> {
  const r = await runCli(['status', '--admin', new URL(gw.adminUrl!).host], { ms: 15_000 });
  assert.is(r.status, 0, r.stderr);
  return r.stdout;
}

async function serves(name: string): Promise<any> {
  let seen: unknown;
  return waitFor(async () => {
    const app = await appStatus(gw, name);
    seen = app;
    return app?.state === 'ready' ? app : undefined;
  }, 30_000, () => `${name} to serve: ${JSON.stringify(seen)}`, ASK_GATEWAY_EVERY_MS);
}

test('a health probe answering 503: status --json says the version waits for the probe, how many failed and the last answer; then it serves', async () => {
  const hold = join(dir.path, 'probe-503');
  writeFileSync(hold, '');
  deploy('probed', {
    'app.yaml': 'platform: python, wsgi\napp: probed_app:application\nhealth: /healthz\n',
    'probed_app.py': [
      'import os',
      '',
      'def application(environ, start_response):',
      `    if environ["PATH_INFO"] == "/healthz" and os.path.exists(${JSON.stringify(hold)}):`,
      '        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])',
      '        return [b"warming up"]',
      '    start_response("200 OK", [("Content-Type", "text/plain")])',
      '    return [b"ok"]',
      '',
    ].join('\n'),
  });
  await startingRow('probed', (row) => row.waitingFor?.failedProbes?.count >= 3);
  const app = (await statusJson()).apps.find((a: any) => a.name === 'probed');
  assert.is(app.state, 'starting');
  const row = app.versions.find((v: any) => v.state === 'starting');
  const wait = row.waitingFor;
  assert.is(wait.for, 'probe');
  const pid = row.workers[0].pid;
  assert.is(wait.what, `worker ${pid}'s health probe GET /healthz to answer 2xx or 3xx`);
  assert.ok(Date.parse(wait.since) <= Date.parse(wait.failedProbes.at), `since ${wait.since}, before the last failed probe at ${wait.failedProbes.at}`);
  assert.ok(wait.failedProbes.count >= 3, JSON.stringify(wait));
  assert.is(wait.failedProbes.status, 503);
  assert.is(wait.failedProbes.error, null);
  // The table says it under the version's line.
  assert.match(await statusTable(), new RegExp(`^    waiting for worker ${pid}'s health probe GET /healthz to answer 2xx or 3xx, since \\S+ \\(for [\\d.]+ s\\); \\d+ failed probes, the last: 503 at \\S+$`, 'm'));

  rmSync(hold);
  const serving = await serves('probed');
  assert.equal(serving.versions.map((v: any) => [v.state, v.waitingFor]), [['serving', undefined]], 'no starting row, nothing awaited');
});

test('an import that takes long: the version waits for its worker to import the app and say READY', async () => {
  const hold = join(dir.path, 'import-held');
  writeFileSync(hold, '');
  deploy('slowly', {
    'app.yaml': 'platform: python, wsgi\napp: slowly_app:application\n',
    'slowly_app.py': [
      'import os, time',
      '',
      '# Held until the test removes its file; bounded, so that a test gone wrong leaves no import for ever.',
      'deadline = time.monotonic() + 50',
      `while os.path.exists(${JSON.stringify(hold)}) and time.monotonic() < deadline:`,
      '    time.sleep(0.05)',
      '',
      'def application(environ, start_response):',
      '    start_response("200 OK", [("Content-Type", "text/plain")])',
      '    return [b"ok"]',
      '',
    ].join('\n'),
  });
  await startingRow('slowly', (row) => row.waitingFor?.for === 'import' && row.workers.length === 1 && row.workers[0].pid !== null);
  const row = (await statusJson()).apps.find((a: any) => a.name === 'slowly').versions.find((v: any) => v.state === 'starting');
  assert.is(row.waitingFor.for, 'import');
  assert.is(row.waitingFor.what, `worker ${row.workers[0].pid} to import slowly_app:application, then say READY`);
  assert.is(row.waitingFor.failedProbes, null);
  assert.match(await statusTable(), new RegExp(`^    waiting for worker ${row.workers[0].pid} to import slowly_app:application, then say READY, since \\S+ \\(for [\\d.]+ s\\)$`, 'm'));

  rmSync(hold);
  await serves('slowly');
});

test('an ASGI lifespan startup that takes long: the version waits for it, not for the import, once the app is imported', async () => {
  const hold = join(dir.path, 'lifespan-held');
  writeFileSync(hold, '');
  deploy('warming', {
    'app.yaml': 'platform: python, asgi\napp: warming_app:app\n',
    'warming_app.py': [
      'import asyncio, os, time',
      '',
      'async def app(scope, receive, send):',
      '    if scope["type"] == "lifespan":',
      '        await receive()',
      '        # Held until the test removes its file (a database to connect to, a cache to warm); bounded.',
      '        deadline = time.monotonic() + 50',
      `        while os.path.exists(${JSON.stringify(hold)}) and time.monotonic() < deadline:`,
      '            await asyncio.sleep(0.05)',
      '        await send({"type": "lifespan.startup.complete"})',
      '        await receive()',
      '        await send({"type": "lifespan.shutdown.complete"})',
      '        return',
      '    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})',
      '    await send({"type": "http.response.body", "body": b"ok"})',
      '',
    ].join('\n'),
  });
  await startingRow('warming', (row) => row.waitingFor?.for === 'lifespan' && row.workers.length === 1 && row.workers[0].pid !== null);
  const row = (await statusJson()).apps.find((a: any) => a.name === 'warming').versions.find((v: any) => v.state === 'starting');
  const pid = row.workers[0].pid;
  assert.is(row.waitingFor.for, 'lifespan');
  assert.is(row.waitingFor.what, `worker ${pid} to finish its lifespan startup (warming_app:app), then say READY`);
  assert.is(row.waitingFor.failedProbes, null);
  assert.match(await statusTable(), new RegExp(`^    waiting for worker ${pid} to finish its lifespan startup \\(warming_app:app\\), then say READY, since \\S+ \\(for [\\d.]+ s\\)$`, 'm'));

  rmSync(hold);
  await serves('warming');
  const res = await request(`${gw.url}/warming/`, { headersTimeout: 15_000, bodyTimeout: 15_000 });
  assert.equal([res.statusCode, await res.body.text()], [200, 'ok'], 'its startup done, it answers');
});

test.run();

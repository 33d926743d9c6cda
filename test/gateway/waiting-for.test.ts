// What a starting version waits for, in `status --json` and `status`: a version whose health
// probe answers 503, or whose import takes long, said only `starting` until it served or was
// refused 60 s on (the probe's 503 seen at the refusal alone); an ASGI lifespan startup, a
// version tried again while its database is down and a wake from idle say theirs too. Through
// the real CLI, with real workers: each app holds its start while a file of the test's is there,
// and serves once it goes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, runCli, startCli, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';
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
  // PostgreSQL at a socket where nothing listens: a version using it is refused at once, and tried
  // again by itself. `dozing` sleeps after a second without requests.
  const nowhere = encodeURIComponent(join(dir.path, 'no-postgresql'));
  writeFileSync(env, `defaults:\n  workers: 1\nservices:\n  postgresql: postgresql://postgres@${nowhere}:5432/postgres\napps:\n  dozing:\n    idle_timeout: 1\n`);
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

/** A WSGI app answering `answer` whose import is held while `hold` exists; bounded, so that a test gone wrong leaves no import for ever. */
function importHeldWhile(hold: string, answer: string): string {
  return [
    'import os, time',
    '',
    'deadline = time.monotonic() + 50',
    `while os.path.exists(${JSON.stringify(hold)}) and time.monotonic() < deadline:`,
    '    time.sleep(0.05)',
    '',
    'def application(environ, start_response):',
    '    start_response("200 OK", [("Content-Type", "text/plain")])',
    `    return [b${JSON.stringify(answer)}]`,
    '',
  ].join('\n');
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
    'slowly_app.py': importHeldWhile(hold, 'ok'),
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

test('a version refused because its database is down: its failed row waits for its next try, says when and why', async () => {
  deploy('ledger', {
    'app.yaml': 'platform: python, wsgi\napp: ledger_app:application\nservices:\n  database: postgresql\n',
    'ledger_app.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
  });
  let seen: unknown;
  const row = await waitFor(async () => {
    const versions = (await gatewayStatus(gw)).apps.find((a: any) => a.name === 'ledger')?.versions;
    seen = versions;
    return versions?.find((v: any) => v.state === 'failed' && v.waitingFor?.for === 'retry');
  }, 30_000, () => `ledger's failed row to say it waits for its next try; its versions: ${JSON.stringify(seen)}`, ASK_GATEWAY_EVERY_MS);
  const wait = row.waitingFor;
  assert.is(row.reason.code, 'APPPKG_SERVICE_UNAVAILABLE');
  assert.match(wait.what, /^its next try \(it is tried again by itself, with back-off\): APPPKG_SERVICE_UNAVAILABLE: postgresql at \S+ \(services\.postgresql\): /);
  assert.is(wait.failedProbes, null);
  // The back-off: 1 s, 2 s, 4 s ... 60 s from the refusal.
  const backOff = Date.parse(wait.nextAttemptAt) - Date.parse(wait.since);
  assert.ok(backOff >= 900 && backOff <= 61_000, `next try ${wait.nextAttemptAt}, ${backOff} ms after the refusal at ${wait.since}`);
  // The table is asked for after the row was seen, and the first tries come 1 s and 2 s apart: by
  // then a try may be under way (the row `starting`), so the table is asked again until it shows
  // a failed row between tries, as the back-off widens.
  let table = '';
  await waitFor(async () => {
    table = await statusTable();
    return /^  version \S+ failed\n    waiting for its next try \(it is tried again by itself, with back-off\): APPPKG_SERVICE_UNAVAILABLE: postgresql at .*, since \S+ \(for [\d.]+ (ms|s|min)\); the next try (at \S+ \(in [\d.]+ (s|min)\)|due now)$/m.test(table);
  }, 30_000, () => `status's table to show the failed row waiting for its next try; the last:\n${table}`, ASK_GATEWAY_EVERY_MS);

  rmSync(join(apps, 'ledger'), { recursive: true });
  gw.child.kill('SIGHUP');
});

test('an idle app woken by a request: its serving row says what the wake waits for; then it serves the request', async () => {
  const hold = join(dir.path, 'wake-held');
  deploy('dozing', {
    'app.yaml': 'platform: python, wsgi\napp: dozing_app:application\n',
    // The file is made after its first start: only the wake's import is held.
    'dozing_app.py': importHeldWhile(hold, 'awake'),
  });
  await serves('dozing');
  let seen: unknown;
  await waitFor(async () => {
    seen = await appStatus(gw, 'dozing');
    return (seen as any)?.state === 'idle';
  }, 15_000, () => `dozing to go idle: ${JSON.stringify(seen)}`, ASK_GATEWAY_EVERY_MS);
  writeFileSync(hold, '');
  const answer = request(`${gw.url}/dozing/`, { headersTimeout: 60_000, bodyTimeout: 15_000 }).then(async (res) => [res.statusCode, await res.body.text()]);
  // Awaited below; a failure before that must not end the test process as an unhandled rejection.
  answer.catch(() => {});
  try {
    const app = await waitFor(async () => {
      const status = await gatewayStatus(gw);
      for (const pid of statusPids(status)) pids.add(pid);
      seen = status.apps.find((a: any) => a.name === 'dozing');
      const found = seen as any;
      return found?.state === 'waking' && found.versions[0]?.waitingFor?.for === 'import' ? found : undefined;
    }, 30_000, () => `dozing's serving row to say what its wake waits for: ${JSON.stringify(seen)}`, ASK_GATEWAY_EVERY_MS);
    const row = app.versions[0];
    assert.is(row.state, 'serving');
    assert.match(row.waitingFor.what, /^worker \d+ to import dozing_app:application, then say READY$/);
    assert.is(row.waitingFor.failedProbes, null);
    assert.match(await statusTable(), /^  version \S+ serving: .*\n    waiting for worker \d+ to import dozing_app:application, then say READY, since \S+ \(for [\d.]+ s\)$/m);
  } finally {
    rmSync(hold, { force: true });
  }
  assert.equal(await within(30_000, 'the request that woke dozing', answer), [200, 'awake']);
  const woken = await serves('dozing');
  assert.equal(woken.versions.map((v: any) => [v.state, v.waitingFor]), [['serving', undefined]], 'awake: nothing awaited');
});

test.run();

// A PostgreSQL stopped under running apps: `status` went on saying "postgresql ready" for as
// long as it was down (what the app's start had found), where a Redis that went was said
// (redis-restart.test.ts). Now it says `unavailable` with the reason and the fix within a look
// or two, the log says it once when the server goes and once when it is back, and the app,
// unrestarted, serves from its database again once the server is.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, isAlive, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { serversMissing, servicesEnvironment, startPostgres, type RunningPostgres } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';
import { gatewayStatus, statusPids, stopGatewayChecked } from '../helpers/status.js';

const test = suite('services: a PostgreSQL stopped under running apps');
const work = tempDir('apppkg-services-pg-down-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
/** One server for the file: each test's app has a database of its own, and each test leaves the server running. */
let pg: RunningPostgres | null = null;
let gw: RunningGateway | null = null;

const missing = serversMissing();
const withServers = runIf(test, missing === null, missing ?? '');

/** The gateway's look at its PostgreSQL servers (postgresql-watch.ts, every 5 s), with room for a slow one. */
const NOTICED_MS = 20_000;

test.before(async () => {
  if (missing === null) pg = await startPostgres();
});

/** The server running again after a test that failed while it was halted: the next test's is not that failure. */
async function serverUp(): Promise<RunningPostgres> {
  if (!isAlive(pg!.pid)) await pg!.start();
  return pg!;
}

test.after(async () => {
  await gw?.stop();
  await pg?.stop();
  work.remove();
});

/** What databaseState() found last, for a wait's error. */
let lastState = '';

async function databaseState(): Promise<string> {
  const app = (await gatewayStatus(gw!)).apps.find((a: any) => a.name === 'ledger');
  const db = app?.services?.find((s: any) => s.name === 'database');
  return (lastState = db ? `${db.kind} ${db.state}` : 'none');
}

async function whoami(): Promise<number> {
  const res = await request(`${gw!.url}/ledger/whoami`, { headersTimeout: 20_000, bodyTimeout: 20_000 });
  await res.body.text();
  return res.statusCode;
}

withServers('status says unavailable while it is down and ready once it is back; the log says each once; the app is not restarted', async () => {
  const db = await serverUp();
  addPackage(apps, 'services-probe', 'ledger', {
    'app.yaml': [[/services:[\s\S]*$/, 'services:\n  database: postgresql\n'], ['deb: [python3-psycopg2, python3-redis]', 'deb: [python3-psycopg2]']],
  });
  const envFile = servicesEnvironment(work.path, 'environment', { postgresql: db.url });
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile, '--access-log', 'off'], { ms: 60_000 });
  await waitFor(async () => (await whoami()) === 200, 60_000, 'ledger to serve from its database', ASK_GATEWAY_EVERY_MS);
  const pids = statusPids(await gatewayStatus(gw));
  assert.is(await databaseState(), 'postgresql ready');

  await db.halt();
  await waitFor(async () => (await databaseState()) === 'postgresql unavailable', NOTICED_MS, () => `status to say unavailable (it says ${lastState})`, ASK_GATEWAY_EVERY_MS);
  const cli = await runCli(['status', '--admin', gw.adminUrl!]);
  assert.match(cli.stdout, /service database: postgresql unavailable: postgresql at \S+ \(services\.postgresql\): connect ENOENT [^\n]*fix: start the server/);
  assert.match(gw.output(), /postgresql at \S+ \(services\.postgresql\): connect ENOENT \S+; app ledger gets errors from it until it is back\n/);

  await db.start();
  await waitFor(async () => (await databaseState()) === 'postgresql ready', NOTICED_MS, () => `status to say ready (it says ${lastState})`, ASK_GATEWAY_EVERY_MS);
  assert.is(await whoami(), 200);
  const said = (re: RegExp) => gw!.output().split('\n').filter((l) => re.test(l)).length;
  assert.is(said(/gets errors from it until it is back/), 1, 'the outage said once');
  assert.is(said(/postgresql at \S+: reachable again/), 1, 'the return said once');
  assert.equal(statusPids(await gatewayStatus(gw)), pids, 'the same worker serves');

  assert.is(await gw.stop(), 0);
  await assertNoOrphans(pids);
});

// A SIGHUP that changes an app's settings restarts it; with its PostgreSQL down that start is
// refused, the old workers serving on, and the log says "trying again in 1 s". The retry found
// the old workers serving what the description asks and did nothing: the new setting never
// reached the app, even once the server was back, and status kept the refusal. Meanwhile status
// says the restart waits for its next try (waitingFor: retry on the serving row), and when.
withServers('a setting changed by SIGHUP while the server is down reaches the app once it is back; status shows the restart\'s next try meanwhile', async () => {
  const db = await serverUp();
  const dir = tempDir('apppkg-services-pg-down-hup-');
  const hupApps = join(dir.path, 'apps');
  addPackage(hupApps, 'services-probe', 'till', {
    'app.yaml': [[/services:[\s\S]*$/, 'services:\n  database: postgresql\n'], ['deb: [python3-psycopg2, python3-redis]', 'deb: [python3-psycopg2]']],
  });
  const envFile = join(dir.path, 'environment.yaml');
  const environment = (colour: string) =>
    writeFileSync(envFile, `services:\n  postgresql: ${JSON.stringify(db.url)}\napps:\n  till:\n    settings:\n      COLOUR: ${colour}\n`);
  environment('red');
  const hup = await startCli(['--apps', hupApps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir.path, 'state'), '--environment', envFile, '--access-log', 'off'], { ms: 60_000 });
  const colours = async () => {
    const till = (await gatewayStatus(hup)).apps.find((a: any) => a.name === 'till');
    return (till?.workers ?? []).map((w: any) => /(?:^|\0)COLOUR=([^\0]*)/.exec(environOf(w.pid))?.[1] ?? '?').join(' ');
  };
  let seen = '';
  try {
    await waitFor(async () => (seen = await colours()) === 'red red', 60_000, () => `till's workers to serve with COLOUR=red (they have ${seen})`, ASK_GATEWAY_EVERY_MS);
    await db.halt();
    environment('blue');
    hup.child.kill('SIGHUP');
    await waitFor(() => /till: \S+ refused; \S+ keeps serving:\n[\s\S]*till: trying again in 1 s/.test(hup.output()), 30_000, () => `the refused restart in the log:\n${hup.output()}`);
    // The restart owed shows as a failed version's retry does, on the row that serves on (it
    // showed nowhere but in the log). Between two tries: one under way has its `starting` row.
    let versions: unknown;
    const row = await waitFor(async () => {
      const till = (await gatewayStatus(hup)).apps.find((a: any) => a.name === 'till');
      versions = till?.versions;
      return till?.versions.length === 1 && till.versions[0].state === 'serving' && till.versions[0].waitingFor?.for === 'retry' ? till.versions[0] : undefined;
    }, 30_000, () => `till's serving row to say its restart waits for its next try; its versions: ${JSON.stringify(versions)}`, ASK_GATEWAY_EVERY_MS);
    const wait = row.waitingFor;
    assert.match(wait.what, /^its restart's next try \(it is tried again by itself, with back-off\): APPPKG_SERVICE_UNAVAILABLE: postgresql at \S+ \(services\.postgresql\): /);
    assert.is(wait.failedProbes, null);
    const backOff = Date.parse(wait.nextAttemptAt) - Date.parse(wait.since);
    assert.ok(backOff >= 900 && backOff <= 61_000, `next try ${wait.nextAttemptAt}, ${backOff} ms after the refusal at ${wait.since}`);
    let table = '';
    await waitFor(async () => {
      table = (await runCli(['status', '--admin', hup.adminUrl!], { ms: 15_000 })).stdout;
      return /^  version \S+ serving: .*\n    waiting for its restart's next try \(it is tried again by itself, with back-off\): APPPKG_SERVICE_UNAVAILABLE: postgresql at .*, since \S+ \(for [\d.]+ (ms|s|min)\); the next try (at \S+ \(in [\d.]+ (s|min)\)|due now)$/m.test(table);
    }, 30_000, () => `status's table to show the serving row waiting for its restart's next try; the last:\n${table}`, ASK_GATEWAY_EVERY_MS);
    await db.start();
    await waitFor(async () => (seen = await colours()) === 'blue blue', 60_000, () => `till's workers to serve with COLOUR=blue (they have ${seen})`, ASK_GATEWAY_EVERY_MS);
    await waitFor(async () => (await gatewayStatus(hup)).apps.find((a: any) => a.name === 'till')?.problem === null, 10_000, 'the refusal to leave status', ASK_GATEWAY_EVERY_MS);
    const restarted = (await gatewayStatus(hup)).apps.find((a: any) => a.name === 'till');
    // The version it replaced may be draining still (its row too): neither awaits anything.
    assert.ok(restarted.versions.some((v: any) => v.state === 'serving'), JSON.stringify(restarted.versions));
    assert.equal(restarted.versions.filter((v: any) => v.waitingFor !== undefined).map((v: any) => [v.state, v.waitingFor]), [], 'restarted: nothing awaited');
  } finally {
    await stopGatewayChecked(hup, dir);
  }
});

// The same refused restart went on to the versions below the serving one, as at a start: one
// that does not use the server (an older release without the database) started and took over,
// a rollback nobody asked for, running code the serving version's update hook had moved past.
withServers('a restart refused while the server is down keeps the serving version: an older one does not take over', async () => {
  const db = await serverUp();
  const dir = tempDir('apppkg-services-pg-down-old-');
  const versions = join(dir.path, 'apps');
  addPackage(versions, 'services-probe', 'shelf.2', {
    'app.yaml': [[/services:[\s\S]*$/, 'services:\n  database: postgresql\n'], ['deb: [python3-psycopg2, python3-redis]', 'deb: [python3-psycopg2]']],
  });
  writePackage(versions, 'shelf.1', { 'app.yaml': 'app: w:application\n', 'w.py': 'def application(e, s):\n    s("200 OK", [])\n    return [b"one"]\n' });
  const envFile = join(dir.path, 'environment.yaml');
  const environment = (colour: string) =>
    writeFileSync(envFile, `services:\n  postgresql: ${JSON.stringify(db.url)}\napps:\n  shelf:\n    settings:\n      COLOUR: ${colour}\n`);
  environment('red');
  const gateway = await startCli(['--apps', versions, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir.path, 'state'), '--environment', envFile, '--access-log', 'off'], { ms: 60_000 });
  const serving = async () => (await gatewayStatus(gateway)).apps.find((a: any) => a.name === 'shelf')?.version ?? null;
  try {
    await waitFor(async () => (await serving()) === '2', 60_000, 'shelf.2 to serve', ASK_GATEWAY_EVERY_MS);
    await db.halt();
    environment('blue');
    gateway.child.kill('SIGHUP');
    // Two tries refused: the first one's judging, which went on to shelf.1, is over.
    await waitFor(() => /shelf: .*trying again in 2 s/.test(gateway.output()), 30_000, () => `two refused restarts in the log:\n${gateway.output()}`);
    assert.not.match(gateway.output(), /takes over from/);
    assert.is(await serving(), '2');
    await db.start();
    await waitFor(async () => /shelf: version 2 restarted/.test(gateway.output()), 60_000, () => `version 2 restarted once the server is back:\n${gateway.output()}`);
    assert.is(await serving(), '2');
  } finally {
    await stopGatewayChecked(gateway, dir);
  }
});

/** A process's environment (NUL-separated), '' once it is gone. */
function environOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return '';
  }
}

test.run();

// An app asleep (idle_timeout) whose PostgreSQL database and role were dropped by hand meanwhile:
// they were made again only at its next full start, so the woken app failed on every request.
// Now the wake asks the server once whether they are there and makes them again as a start
// does, saying so in the log; an app whose database is there wakes as before, unsaid. While it
// asks, status says the wake waits for its database.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { serversMissing, startPostgres, type RunningPostgres } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';

const test = suite('services: a database dropped while its app sleeps');
const work = tempDir('apppkg-services-wake-db-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
let pg: RunningPostgres | null = null;
let gw: RunningGateway | null = null;

const missing = serversMissing();
const withServers = runIf(test, missing === null, missing ?? '');

test.after(async () => {
  await stopGatewayChecked(gw);
  await pg?.stop();
  work.remove();
});

async function appState(): Promise<string> {
  return (await gatewayStatus(gw!)).apps.find((a: any) => a.name === 'ledger')?.state ?? 'none';
}

async function whoami(): Promise<{ status: number; body: string }> {
  const res = await request(`${gw!.url}/ledger/whoami`, { headersTimeout: 60_000, bodyTimeout: 60_000 });
  return { status: res.statusCode, body: await res.body.text() };
}

withServers('dropped while it slept: the wake makes them again, says so, and the woken app serves from its database', async () => {
  pg = await startPostgres();
  addPackage(apps, 'services-probe', 'ledger', {
    'app.yaml': [[/services:[\s\S]*$/, 'services:\n  database: postgresql\n'], ['deb: [python3-psycopg2, python3-redis]', 'deb: [python3-psycopg2]']],
  });
  const envFile = join(work.path, 'environment.yaml');
  writeFileSync(envFile, `services:\n  postgresql: ${JSON.stringify(pg.url)}\napps:\n  ledger:\n    workers: 1\n    idle_timeout: 1\n`, { mode: 0o600 });
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile, '--access-log', 'off'], { ms: 60_000 });
  await waitFor(async () => (await whoami()).status === 200, 60_000, 'ledger to serve from its database');

  // Asleep with its database there: woken as before, nothing said.
  await waitFor(async () => (await appState()) === 'idle', 30_000, 'ledger to sleep');
  const woken = await whoami();
  assert.is(woken.status, 200, woken.body);
  assert.not.match(gw.output(), /was gone as it woke/);

  await waitFor(async () => (await appState()) === 'idle', 30_000, 'ledger to sleep again');
  pg.psql('DROP DATABASE apppkg_ledger WITH (FORCE)');
  pg.psql('DROP ROLE apppkg_ledger');
  const again = await whoami();
  assert.is(again.status, 200, `the woken app's first request: ${again.body}\n${gw.output()}`);
  assert.is(JSON.parse(again.body).database, 'apppkg_ledger');
  assert.match(gw.output(), /ledger: WARNING: its postgresql role or database apppkg_ledger on \S+ was gone as it woke \(dropped while it slept\); making them again, empty, as its start does: bring back what they held with `apppkg-gateway restore` from a backup\n/);
  assert.match(gw.output(), /ledger: created postgresql role and database apppkg_ledger on /);
  assert.is(pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'apppkg_ledger'").trim(), '1');
});

// Before its workers start, a wake asks the server whether the database is there (the wake's
// step `services`, status's waitingFor on the serving row). A server that takes the connection
// and says nothing (its postmaster stopped by SIGSTOP) holds that step until it answers, or
// until the check's connect timeout (5 s) lets the wake go on without it.
withServers('a wake while its server does not answer: status says the wake waits for its database; the request is served once the server answers', async () => {
  assert.ok(gw !== null && pg !== null, 'the gateway and server of the test before');
  await waitFor(async () => (await appState()) === 'idle', 30_000, 'ledger to sleep');
  process.kill(pg.pid, 'SIGSTOP');
  const answer = whoami();
  // Awaited below; a failure before that must not end the test process as an unhandled rejection.
  answer.catch(() => {});
  try {
    let seen: unknown;
    const ledger = await waitFor(async () => {
      const found = (seen = (await gatewayStatus(gw!)).apps.find((a: any) => a.name === 'ledger'));
      return found?.state === 'waking' && found.versions[0]?.waitingFor?.for === 'services' ? found : undefined;
    }, 4000, () => `ledger's serving row to say its wake waits for its database: ${JSON.stringify(seen)}`, ASK_GATEWAY_EVERY_MS);
    const row = ledger.versions[0];
    assert.is(row.state, 'serving');
    assert.is(row.waitingFor.what, 'its database to be there (made again, empty, if it was dropped while the app slept)');
    assert.is(row.waitingFor.failedProbes, null);
  } finally {
    process.kill(pg.pid, 'SIGCONT');
  }
  const got = await answer;
  assert.is(got.status, 200, `the request that woke it: ${got.body}\n${gw.output()}`);
  const woken = (await gatewayStatus(gw)).apps.find((a: any) => a.name === 'ledger');
  assert.equal(woken.versions.map((v: any) => [v.state, v.waitingFor]), [['serving', undefined]], 'awake: nothing awaited');
});

test.run();

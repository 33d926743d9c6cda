// SPEC 5.2: an app's database and role are "created on install or on first start, idempotent".
// Two processes provisioning one app at once (a gateway starting a new app while `install` or
// `run` of it runs beside) each found no database, and the second CREATE DATABASE failed with
// "duplicate key value violates unique constraint pg_database_datname_index" (or "database ...
// already exists"). Each run also logs in with the password it was given, which was not always
// the one kept (credentials-store.test.ts).
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';
import { serversMissing, servicesEnvironment, startPostgres, startRedis, type RunningPostgres, type RunningRedis } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';

const test = suite('services: one app provisioned by several processes at once');
const work = tempDir('apppkg-services-at-once-');
const state = join(work.path, 'state');
let pg: RunningPostgres;
let redis: RunningRedis;
let envFile: string;

const missing = serversMissing();
const withServers = runIf(test, missing === null, missing ?? '');

test.before(async () => {
  if (missing) return;
  [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
  envFile = servicesEnvironment(work.path, 'environment', { postgresql: pg.url, redis: redis.url });
});

test.after(async () => {
  await Promise.all([pg?.stop(), redis?.stop()]);
  work.remove();
});

const probe = (dir: string) => runCli(['run', dir, '--environment', envFile, '--state-dir', state, '--', 'python', 'probe.py', 'sql', 'SELECT current_user'], { ms: 60_000, env: { APPPKG_STATE_DIR: state } });

withServers('three `run`s of a new app at once all get its one database and log in to it', async () => {
  const dirs = ['first', 'second'].map((name) => addPackage(work.path, 'services-probe', name));
  const runs = await Promise.all(dirs.flatMap((dir) => [1, 2, 3].map(() => probe(dir))));
  runs.forEach((r, i) => {
    const name = i < 3 ? 'first' : 'second';
    assert.is(r.status, 0, `${name}, run ${i % 3}: ${r.stdout}${r.stderr}`);
    assert.equal(JSON.parse(r.stdout), [[`apppkg_${name}`]]);
  });
  assert.is(pg.psql("SELECT count(*) FROM pg_database WHERE datname IN ('apppkg_first', 'apppkg_second')"), '2');
});

test.run();

// `database: sql` follows the host: PostgreSQL where services.postgresql is set, else SQLite.
// A host that adds or removes that key moves the app to a new, empty database, and to the app
// its data looks lost (an outside probe: the log said only "restarted"). The first start on the
// new database says so, naming where the old one is left; the starts after it do not repeat it.
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';
import { servicesEnvironment, serversMissing, startPostgres, type RunningPostgres } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';

const test = suite('services: database: sql moving between PostgreSQL and SQLite');
const work = tempDir('apppkg-services-moves-');
const state = join(work.path, 'state');
let pg: RunningPostgres;
let app: string;
let withPostgres: string;
const withoutPostgres = join(work.path, 'none.yaml');

const missing = serversMissing();
const withServers = runIf(test, missing === null, missing ?? '');

const probe = (envFile: string, statement: string) =>
  runCli(['run', app, '--environment', envFile, '--state-dir', state, '--', 'python', 'probe.py', 'sql', statement], { ms: 60_000, env: { APPPKG_STATE_DIR: state } });

test.before(async () => {
  if (missing) return;
  pg = await startPostgres();
  withPostgres = servicesEnvironment(work.path, 'pg', { postgresql: pg.url });
  writeFileSync(withoutPostgres, 'settings: {}\n');
  app = addPackage(work.path, 'services-probe', 'sigma', {
    'app.yaml': [['  redis: redis\n', ''], ['deb: [python3-psycopg2, python3-redis]', 'deb: [python3-psycopg2]']],
  });
});

test.after(async () => {
  await pg?.stop();
  work.remove();
});

withServers('PostgreSQL, then the host removes services.postgresql: the first start on SQLite says where the data stayed', async () => {
  const first = await probe(withPostgres, 'CREATE TABLE t (x int); INSERT INTO t VALUES (1); SELECT 1');
  assert.is(first.status, 0, first.stdout + first.stderr);
  assert.not.match(first.stdout + first.stderr, /WARNING/);

  const moved = await probe(withoutPostgres, 'CREATE TABLE u (y int)');
  assert.is(moved.status, 0, moved.stdout + moved.stderr);
  assert.match(moved.stdout + moved.stderr, /sigma: WARNING: database: sql is SQLite now \(the environment file names no services\.postgresql\), in a new, empty .*db\.sqlite3; its PostgreSQL database apppkg_sigma is left as it was/);
  const again = await probe(withoutPostgres, 'SELECT 1');
  assert.is(again.status, 0, again.stdout + again.stderr);
  assert.not.match(again.stdout + again.stderr, /WARNING/, 'said once');
});

withServers('SQLite with data, then the host sets services.postgresql: the new PostgreSQL database is said to be empty, the SQLite file left', async () => {
  pg.psql('DROP DATABASE apppkg_sigma WITH (FORCE)');
  const moved = await probe(withPostgres, 'SELECT 1');
  assert.is(moved.status, 0, moved.stdout + moved.stderr);
  assert.match(moved.stdout + moved.stderr, /sigma: WARNING: database: sql is PostgreSQL now \(services\.postgresql is set\), in a new, empty database apppkg_sigma; the SQLite database the app had \(.*db\.sqlite3\) is left as it was/);
  const again = await probe(withPostgres, 'SELECT 1');
  assert.not.match(again.stdout + again.stderr, /WARNING/, 'said once');
});

test.run();

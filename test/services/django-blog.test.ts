// Issue 15: examples/django-blog runs on PostgreSQL through DATABASE_URL (read by Debian's
// python3-dj-database-url) where the environment file names a server, and on SQLite in its
// data directory where none is named: the same package, `services: {database: sql}`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { serversMissing, startPostgres, type RunningPostgres } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';
import { gatewayStatus } from '../helpers/status.js';

const test = suite('services: examples/django-blog on PostgreSQL and on SQLite');
const work = tempDir('apppkg-services-django-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
const envFile = join(work.path, 'environment.yaml');
const env = { APPPKG_STATE_DIR: state };
let pg: RunningPostgres;
let gw: RunningGateway | null = null;
let blog: string;

const missing = serversMissing();
// Each test below needs the servers: without them it is skipped, and the run says so.
const withServers = runIf(test, missing === null, missing ?? '');

test.before(async () => {
  if (missing) return;
  pg = await startPostgres();
  writeFileSync(envFile, `services:\n  postgresql: ${pg.url}\n`);
  blog = addPackage(apps, 'examples/django-blog', 'blog');
});

test.after(async () => {
  await gw?.stop();
  await pg?.stop();
  work.remove();
});

const VENDOR = "from django.db import connection; print(connection.vendor, connection.settings_dict['NAME'])";

withServers('on PostgreSQL: migrated by commands.install at the first start, a post written through run is served', async () => {
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile], { ms: 60_000, env });
  // The first start migrates (seconds): each ask of /status costs the gateway CPU.
  await waitFor(async () => (await gatewayStatus(gw!)).apps[0]?.state === 'ready', 120_000, 'the blog to serve', ASK_GATEWAY_EVERY_MS);
  // Which database, and a post written, by one `run` (each is a CLI and a Django start).
  const write = "from posts.models import Post; Post.objects.create(title='Hello from PostgreSQL', slug='hello-pg', body='rows in apppkg_blog')";
  const which = await runCli(['run', blog, '--environment', envFile, '--state-dir', state, '--', 'python', 'manage.py', 'shell', '-c', `${VENDOR}; ${write}`], { ms: 60_000, env });
  assert.is(which.status, 0, which.stdout + which.stderr);
  assert.is(which.stdout.trim(), 'postgresql apppkg_blog');
  // The tables are the app's, in its own database.
  assert.is(pg.psql("SELECT tableowner FROM pg_tables WHERE tablename = 'posts_post'", { database: 'apppkg_blog' }), 'apppkg_blog');
  assert.is(pg.psql('SELECT slug FROM posts_post', { database: 'apppkg_blog' }), 'hello-pg');
  const res = await request(`${gw.url}/blog/`);
  assert.is(res.statusCode, 200);
  assert.match(await res.body.text(), /Hello from PostgreSQL/);
  await gw.stop();
  gw = null;
});

withServers('on PostgreSQL: `test` runs Django\'s test runner, which makes and drops test_apppkg_blog; the role may create databases only meanwhile', async () => {
  const tested = await runCli(['test', blog, '--environment', envFile, '--state-dir', state], { ms: 120_000, env });
  assert.is(tested.status, 0, tested.stdout + tested.stderr);
  assert.match(tested.stdout + tested.stderr, /\nOK\b/);
  assert.is(pg.psql("SELECT rolcreatedb FROM pg_roles WHERE rolname = 'apppkg_blog'"), 'f');
  assert.is(pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'test_apppkg_blog'"), '0');
});

withServers('on SQLite: with no PostgreSQL named, DATABASE_URL is the data directory\'s db.sqlite3', async () => {
  const sqliteState = join(work.path, 'state-sqlite');
  const opts = { ms: 120_000, env: { APPPKG_STATE_DIR: sqliteState } };
  // Migrated, then asked which database, by one `run` (each is a CLI start).
  const which = await runCli(['run', blog, '--state-dir', sqliteState, '--', 'sh', '-c', 'python manage.py migrate --noinput -v 0 && python manage.py shell -c "$0"', VENDOR], opts);
  assert.is(which.status, 0, which.stdout + which.stderr);
  assert.is(which.stdout.trim(), `sqlite ${join(sqliteState, 'apps', 'blog', 'data', 'db.sqlite3')}`);
});

test.run();

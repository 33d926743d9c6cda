// services.postgresql with libpq's `sslmode` (and `sslrootcert`), for a server whose
// pg_hba.conf lets in only TLS connections (`hostssl`), as a managed or remote PostgreSQL has it.
// The gateway read neither: it logged in without TLS, and was refused ("no pg_hba.conf entry ...
// no encryption"); and the apps' DATABASE_URL did not carry the demand on.
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';
import { servicesEnvironment, startPostgres, type RunningPostgres, tlsServersMissing } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';

const test = suite('services: a PostgreSQL that asks for TLS');
const work = tempDir('apppkg-services-tls-');
const state = join(work.path, 'state');
let pg: RunningPostgres & { certificate?: string };
let app: string;

const missing = tlsServersMissing();
const withServers = runIf(test, missing === null, missing ?? '');
const env = { APPPKG_STATE_DIR: state };

const cli = (envFile: string, args: string[], after: string[] = []) =>
  runCli([...args, '--environment', envFile, '--state-dir', state, ...(after.length ? ['--', ...after] : [])], { ms: 120_000, env });

test.before(async () => {
  if (missing) return;
  pg = await startPostgres({ tls: true });
  app = addPackage(work.path, 'services-probe', 'secure', { 'app.yaml': [['  redis: redis\n', '']] });
});

test.after(async () => {
  await pg?.stop();
  work.remove();
});

withServers('sslmode=require: install provisions over TLS; the app, its readers and pg_dump connect over TLS too', async () => {
  assert.match(pg.url, /\?sslmode=require$/);
  const envFile = servicesEnvironment(work.path, 'require', { postgresql: pg.url });
  const installed = await cli(envFile, ['install', app]);
  assert.is(installed.status, 0, installed.stdout + installed.stderr);
  const vars = await cli(envFile, ['run', app], ['sh', '-c', 'echo "$DATABASE_URL"; echo "$PGSSLMODE"']);
  assert.is(vars.status, 0, vars.stdout + vars.stderr);
  const [url, mode] = vars.stdout.trim().split('\n');
  assert.match(url, new RegExp(`^postgresql://apppkg_secure:[^@]+@127\\.0\\.0\\.1:${pg.port}/apppkg_secure\\?sslmode=require$`));
  assert.is(mode, 'require');
  const ssl = await cli(envFile, ['run', app], ['python', 'probe.py', 'sql', 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()']);
  assert.is(ssl.status, 0, ssl.stdout + ssl.stderr);
  assert.equal(JSON.parse(ssl.stdout), [[true]]);
  const readers = await cli(envFile, ['run', app], ['python', 'probe.py', 'readers']);
  assert.is(readers.status, 0, readers.stdout + readers.stderr);
  assert.equal(JSON.parse(readers.stdout), { psycopg2: 'apppkg_secure', sqlalchemy: 'apppkg_secure', 'dj-database-url': 'apppkg_secure' });
  const checked = await cli(envFile, ['check', app]);
  assert.is(checked.status, 0, checked.stdout + checked.stderr);
  assert.match(checked.stdout, /ok\s+services\.database\s+sql: PostgreSQL [\d.]+ at 127\.0\.0\.1:\d+ reachable/);
  const backup = await cli(envFile, ['backup', app, '--to', join(work.path, 'backup')]);
  assert.is(backup.status, 0, backup.stdout + backup.stderr);
  assert.match(backup.stdout, /secure's postgresql database: \d+ bytes/);
});

withServers('sslmode=verify-ca with sslrootcert: the certificate is verified against it; a wrong one is refused, naming it', async () => {
  const url = pg.url.replace('sslmode=require', `sslmode=verify-ca&sslrootcert=${pg.certificate}`);
  const checked = await cli(servicesEnvironment(work.path, 'verify', { postgresql: url }), ['check', app]);
  assert.is(checked.status, 0, checked.stdout + checked.stderr);
  const vars = await cli(servicesEnvironment(work.path, 'verify', { postgresql: url }), ['run', app], ['sh', '-c', 'echo "$PGSSLROOTCERT"; python probe.py sql "SELECT 1"']);
  assert.is(vars.status, 0, vars.stdout + vars.stderr);
  assert.is(vars.stdout.split('\n')[0], pg.certificate);
  const wrong = url.replace(`sslrootcert=${pg.certificate}`, `sslrootcert=${join(work.path, 'no-such-root.crt')}`);
  const refused = await cli(servicesEnvironment(work.path, 'wrong', { postgresql: wrong }), ['check', app]);
  assert.is(refused.status, 1, refused.stdout + refused.stderr);
  assert.match(refused.stdout, /FAIL\s+services\.database\s+.*sslmode=verify-ca reads the server's certificate authority from \S+no-such-root\.crt/);
});

// libpq ignores sslmode on a Unix socket, which never carries TLS; node-postgres asked the server
// for it there and was refused: "The server does not support SSL connections".
withServers('sslmode=require with a socket directory as the host: no TLS there, as libpq has it; the app connects', async () => {
  const url = `postgresql://postgres:${pg.adminPassword}@/postgres?host=${pg.socketDir}&port=${pg.port}&sslmode=require`;
  const envFile = servicesEnvironment(work.path, 'socket', { postgresql: url });
  const checked = await cli(envFile, ['check', app]);
  assert.is(checked.status, 0, checked.stdout + checked.stderr);
  const run = await cli(envFile, ['run', app], ['python', 'probe.py', 'sql', 'SELECT current_user']);
  assert.is(run.status, 0, run.stdout + run.stderr);
  assert.equal(JSON.parse(run.stdout), [['apppkg_secure']]);
});

test.run();

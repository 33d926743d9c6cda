// A service whose variable the host's settings give (DATABASE_URL, REDIS_URL: a managed server,
// the Secrets of a pod `export kubernetes` wrote) is the host's: not provisioned, not refused.
// `check` says whether it answers with the credentials given, as it does for the ones it makes,
// and goes on to import the app; the app gets its Redis prefix whether the settings give it
// (APPPKG_REDIS_PREFIX, the one APPPKG_ name a setting may have) or not (NAME:, as provisioned).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';
import { serversMissing, startPostgres, startRedis, type RunningPostgres, type RunningRedis } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';

const test = suite('services: given by the settings');
const work = tempDir('apppkg-services-given-');
const state = join(work.path, 'state');
let pg: RunningPostgres;
let redis: RunningRedis;
let app: string;

const missing = serversMissing();
const withServers = runIf(test, missing === null, missing ?? '');
const env = { APPPKG_STATE_DIR: state };

/** An environment file with no `services:` at all: the app's settings say where its servers are. */
function environment(name: string, settings: Record<string, string>): string {
  const file = join(work.path, `${name}.yaml`);
  const lines = Object.entries(settings).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}\n`);
  writeFileSync(file, `apps:\n  given:\n    settings:\n${lines.join('')}`);
  return file;
}

/** `command APP` with the environment file; `after`: what follows `--` (run). */
const cli = (envFile: string, args: string[], after: string[] = []) =>
  runCli([...args, '--environment', envFile, '--state-dir', state, ...(after.length ? ['--', ...after] : [])], { ms: 60_000, env });

test.before(async () => {
  if (missing) return;
  [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
  // What a host's operator made by hand: a role and database, a Redis user with a prefix.
  pg.psql("CREATE ROLE managed LOGIN PASSWORD 'managed-pw'");
  pg.psql('CREATE DATABASE managed OWNER managed');
  const acl = await import('node:child_process').then(({ execFileSync }) =>
    execFileSync('redis-cli', ['-p', String(redis.port), '--user', 'admin', '--pass', redis.adminPassword, '--no-auth-warning', 'ACL', 'SETUSER', 'managed', 'on', '>managed-pw', '~shop:*', '+@all'], { encoding: 'utf8' }));
  assert.is(acl.trim(), 'OK');
  app = addPackage(work.path, 'services-probe', 'given', { 'app.yaml': [['  database: sql\n', '  database: postgresql\n']] });
});

test.after(async () => {
  await Promise.all([pg?.stop(), redis?.stop()]);
  work.remove();
});

const pgUrl = (password: string) => `postgresql://managed:${password}@${encodeURIComponent(pg.socketDir)}:${pg.port}/managed`;
const redisUrl = (password: string) => `redis://managed:${password}@127.0.0.1:${redis.port}/0`;

withServers('check: the given servers answer with the given credentials, and the app is imported', async () => {
  const envFile = environment('good', { DATABASE_URL: pgUrl('managed-pw'), REDIS_URL: redisUrl('managed-pw'), APPPKG_REDIS_PREFIX: 'shop:' });
  const checked = await cli(envFile, ['check', app]);
  assert.is(checked.status, 0, checked.stdout + checked.stderr);
  assert.match(checked.stdout, /ok\s+services\.database\s+postgresql: DATABASE_URL given by the settings: PostgreSQL [\d.]+ at \S+ reachable as managed/);
  assert.match(checked.stdout, /ok\s+services\.redis\s+REDIS_URL given by the settings: Redis at 127\.0\.0\.1:\d+ reachable as managed/);
  assert.match(checked.stdout, /ok\s+app\s/);
  assert.not.match(checked.stdout, /offers no/);
});

withServers('check: a given password the server refuses fails, naming the server', async () => {
  const envFile = environment('bad', { DATABASE_URL: pgUrl('wrong'), REDIS_URL: redisUrl('wrong') });
  const checked = await cli(envFile, ['check', app]);
  assert.is(checked.status, 1, checked.stdout + checked.stderr);
  assert.match(checked.stdout, /FAIL\s+services\.database\s+.*password authentication failed/);
  assert.match(checked.stdout, /FAIL\s+services\.redis\s/);
  // The servers answered: the fix is the login, not "start the server".
  assert.match(checked.stdout, /fix: the server is up and refused the login: correct the user or password of DATABASE_URL among the app's settings/);
  assert.match(checked.stdout, /fix: the server is up and refused the login: correct the user or password of REDIS_URL among the app's settings/);
  assert.not.match(checked.stdout, /start the server/);
});

// A given URL whose password holds a % that starts no escape made check stop with "internal
// error: URIError: URI malformed" and a stack, before the app's other lines.
withServers('check: a given URL whose password is not percent-encoded fails at its service, saying how to encode it', async () => {
  const envFile = environment('raw-percent', { DATABASE_URL: pgUrl('man%xaged'), REDIS_URL: redisUrl('man%xaged') });
  const checked = await cli(envFile, ['check', app]);
  assert.is(checked.status, 1, checked.stdout + checked.stderr);
  assert.not.match(checked.stdout + checked.stderr, /internal error|URIError|man%xaged/);
  for (const service of ['database', 'redis']) {
    assert.match(checked.stdout, new RegExp(`FAIL\\s+services\\.${service}\\s+.*percent-encoded \\(% as %25, @ as %40`), service);
  }
});

withServers('the app uses the given servers; APPPKG_REDIS_PREFIX from the settings, else NAME:', async () => {
  const withPrefix = environment('prefix', { DATABASE_URL: pgUrl('managed-pw'), REDIS_URL: redisUrl('managed-pw'), APPPKG_REDIS_PREFIX: 'shop:' });
  const set = await cli(withPrefix, ['run', app], ['sh', '-c', 'echo "$APPPKG_REDIS_PREFIX" && python probe.py redis SET shop:k v && python probe.py sql "SELECT current_user"']);
  assert.is(set.status, 0, set.stdout + set.stderr);
  assert.match(set.stdout, /^shop:\n/);
  assert.match(set.stdout, /managed/);
  const without = environment('no-prefix', { DATABASE_URL: pgUrl('managed-pw'), REDIS_URL: redisUrl('managed-pw') });
  const run = await cli(without, ['run', app], ['sh', '-c', 'echo "$APPPKG_REDIS_PREFIX"']);
  assert.is(run.status, 0, run.stdout + run.stderr);
  assert.is(run.stdout.trim(), 'given:');
  // Nothing was made on the servers for it.
  assert.is(pg.psql("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'apppkg%'"), '0');
});

test('check: a given server that does not answer fails naming the setting to correct, not services: of the environment file', async () => {
  const dir = join(work.path, 'unanswered');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), 'name: given\napp: w:application\nservices:\n  database: postgresql\n  redis: redis\n');
  writeFileSync(join(dir, 'w.py'), 'def application(e, s):\n    s("200 OK", [])\n    return [b"x"]\n');
  // Port 1 on loopback: nothing listens there.
  const envFile = environment('unanswered', { DATABASE_URL: 'postgresql://managed:pw@127.0.0.1:1/managed', REDIS_URL: 'redis://managed:pw@127.0.0.1:1/0' });
  const checked = await cli(envFile, ['check', dir]);
  assert.is(checked.status, 1, checked.stdout + checked.stderr);
  assert.match(checked.stdout, /FAIL\s+services\.database\s+not reachable: postgresql at 127\.0\.0\.1:1 \(DATABASE_URL given by the settings\): .*ECONNREFUSED[^\n]*\n\s+fix: start the server, or correct DATABASE_URL among the app's settings \(apps\.given\.settings in the environment file\)/);
  assert.match(checked.stdout, /FAIL\s+services\.redis\s+not reachable: redis at 127\.0\.0\.1:1 \(REDIS_URL given by the settings\): .*ECONNREFUSED[^\n]*\n\s+fix: start the server, or correct REDIS_URL among the app's settings \(apps\.given\.settings in the environment file\)/);
  assert.not.match(checked.stdout, /services\.(postgresql|redis)` in the environment file/);
});

// A DATABASE_URL in the top-level settings: (given to every app) was sent to apps.NAME.settings,
// where the user found nothing to correct.
test('check: a given server named by the top-level settings: says to correct it there, not under apps.NAME', async () => {
  const dir = join(work.path, 'everyone');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), 'name: given\napp: w:application\nservices:\n  database: postgresql\n  redis: redis\n');
  writeFileSync(join(dir, 'w.py'), 'def application(e, s):\n    s("200 OK", [])\n    return [b"x"]\n');
  const envFile = join(work.path, 'everyone.yaml');
  // DATABASE_URL for every app, REDIS_URL for this one: each named where it is.
  writeFileSync(envFile, 'settings:\n  DATABASE_URL: "postgresql://managed:pw@127.0.0.1:1/managed"\napps:\n  given:\n    settings:\n      REDIS_URL: "redis://managed:pw@127.0.0.1:1/0"\n');
  const checked = await cli(envFile, ['check', dir]);
  assert.is(checked.status, 1, checked.stdout + checked.stderr);
  assert.match(checked.stdout, /FAIL\s+services\.database\s+not reachable: postgresql at 127\.0\.0\.1:1 \(DATABASE_URL given by the settings\): .*ECONNREFUSED[^\n]*\n\s+fix: start the server, or correct DATABASE_URL in the top-level settings: of the environment file \(given to every app\)/);
  assert.match(checked.stdout, /fix: start the server, or correct REDIS_URL among the app's settings \(apps\.given\.settings in the environment file\)/);
  assert.not.match(checked.stdout, /correct DATABASE_URL among the app's settings/);
});

test.run();

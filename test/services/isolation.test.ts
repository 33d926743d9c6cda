// Issue 15 / SPEC 5.2: two apps on one PostgreSQL and one Redis, each with its own database,
// role and ACL user; each tries the other's database and keys from Python, with the variables
// the gateway gave it, and is refused. describe and check show what each asks and gets, with
// the passwords masked, and no command prints a password.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';
import { serversMissing, startPostgres, startRedis, type RunningPostgres, type RunningRedis } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';

const test = suite('services: two apps isolated');
const work = tempDir('apppkg-services-iso-');
const state = join(work.path, 'state');
const envFile = join(work.path, 'environment.yaml');
let pg: RunningPostgres;
let redis: RunningRedis;
let alpha: string;
let beta: string;

const missing = serversMissing();
// Each test below needs the servers: without them it is skipped, and the run says so.
const withServers = runIf(test, missing === null, missing ?? '');
// Found, not imported: importing SQLAlchemy is ~0.4 s of CPU, paid at every load of this file.
const sqlAlchemy = spawnSync('/usr/bin/python3', ['-c', 'import importlib.util, sys; sys.exit(0 if importlib.util.find_spec("sqlalchemy") and importlib.util.find_spec("dj_database_url") else 1)'], { stdio: 'ignore' }).status === 0;
const withSqlAlchemy = runIf(test, missing === null && sqlAlchemy, missing ?? 'Debian\'s python3-sqlalchemy and python3-dj-database-url are not installed');

test.before(async () => {
  if (missing) return;
  [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
  writeFileSync(envFile, `services:\n  postgresql: ${pg.url}\n  redis: ${redis.url}\n`);
  alpha = addPackage(work.path, 'services-probe', 'alpha');
  beta = addPackage(work.path, 'services-probe', 'beta');
});

test.after(async () => {
  await Promise.all([pg?.stop(), redis?.stop()]);
  work.remove();
});

// APPPKG_STATE_DIR as well: nothing may land in the default state root, whatever the argv.
const env = { APPPKG_STATE_DIR: state };
const cli = (args: string[]) => runCli([...args, '--environment', envFile, '--state-dir', state], { ms: 60_000, env });
const probe = (dir: string, ...args: string[]) => runCli(['run', dir, '--environment', envFile, '--state-dir', state, '--', 'python', 'probe.py', ...args], { ms: 60_000, env });

function kept(app: string): { postgresql: { password: string }; redis: { password: string } } {
  return JSON.parse(readFileSync(join(state, 'services', `${app}.json`), 'utf8'));
}

withServers('install creates each app its database, role and Redis user, passwords kept 0600', async () => {
  for (const dir of [alpha, beta]) {
    const r = await cli(['install', dir]);
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /created postgresql role and database apppkg_(alpha|beta)/);
    assert.match(r.stdout, /created redis ACL user apppkg-(alpha|beta)/);
  }
  assert.is(statSync(join(state, 'services', 'alpha.json')).mode & 0o777, 0o600);
  assert.is(statSync(join(state, 'services')).mode & 0o777, 0o700);
  assert.is.not(kept('alpha').postgresql.password, kept('beta').postgresql.password);
  assert.is(pg.psql("SELECT datname FROM pg_database WHERE datname LIKE 'apppkg_%' ORDER BY 1"), 'apppkg_alpha\napppkg_beta');
});

// SPEC 5.2 names each variable: DATABASE_URL, PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE,
// REDIS_URL and APPPKG_REDIS_PREFIX. Each held by its name and value here, and libpq given none but
// the PG* ones (psql with no option) reaches the app's own database as its own role.
withServers('the app gets each variable SPEC 5.2 names, with the kept passwords; psql with no option reaches its database', async () => {
  // One `run` (each costs a CLI and a Python start): the variables, then psql started from the
  // same environment with no option of its own.
  const printed = await runCli(
    ['run', alpha, '--environment', envFile, '--state-dir', state, '--', 'python3', '-c', [
      'import json, os, subprocess',
      'psql = subprocess.run(["psql", "-X", "-A", "-t", "-c", "SELECT current_user, current_database()"], capture_output=True, text=True)',
      'print(json.dumps({"vars": {k: os.environ.get(k) for k in ["DATABASE_URL", "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "REDIS_URL", "APPPKG_REDIS_PREFIX"]}, "psql": [psql.returncode, psql.stdout, psql.stderr]}))',
    ].join('\n')],
    { ms: 60_000, env },
  );
  assert.is(printed.status, 0, printed.stdout + printed.stderr);
  const { vars, psql } = JSON.parse(printed.stdout);
  const { postgresql, redis: redisKept } = kept('alpha');
  assert.equal(
    { PGHOST: vars.PGHOST, PGPORT: vars.PGPORT, PGUSER: vars.PGUSER, PGPASSWORD: vars.PGPASSWORD, PGDATABASE: vars.PGDATABASE, APPPKG_REDIS_PREFIX: vars.APPPKG_REDIS_PREFIX },
    { PGHOST: pg.socketDir, PGPORT: String(pg.port), PGUSER: 'apppkg_alpha', PGPASSWORD: postgresql.password, PGDATABASE: 'apppkg_alpha', APPPKG_REDIS_PREFIX: 'alpha:' },
  );
  assert.is(vars.DATABASE_URL, `postgresql://apppkg_alpha:${encodeURIComponent(postgresql.password)}@/apppkg_alpha?host=${pg.socketDir}&port=${pg.port}`);
  assert.is(vars.REDIS_URL, `redis://apppkg-alpha:${encodeURIComponent(redisKept.password)}@127.0.0.1:${redis.port}/0`);
  const [psqlStatus, psqlOut, psqlErr] = psql;
  assert.is(psqlStatus, 0, psqlOut + psqlErr);
  assert.is(psqlOut.trim(), 'apppkg_alpha|apppkg_alpha');
});

withServers('each app writes its own database and its own keys', async () => {
  const made = await probe(alpha, 'sql', 'CREATE TABLE t (x int); INSERT INTO t VALUES (1); SELECT current_user, current_database()');
  assert.is(made.status, 0, made.stdout + made.stderr);
  assert.equal(JSON.parse(made.stdout), [['apppkg_alpha', 'apppkg_alpha']]);
  // Written and read back by one client (one `run`: each costs a CLI and a Python start).
  const setGot = await probe(alpha, 'redis-each', JSON.stringify([['SET', 'alpha:k', 'from alpha'], ['GET', 'alpha:k']]));
  assert.is(setGot.status, 0, setGot.stdout + setGot.stderr);
  assert.equal(JSON.parse(setGot.stdout), ['True', "b'from alpha'"]);
  assert.is((await probe(beta, 'redis', 'SET', 'beta:k', 'from beta')).status, 0);
});

withSqlAlchemy('DATABASE_URL on a socket directory is read alike by psycopg2, SQLAlchemy and dj-database-url (SQLAlchemy took a %2F host part for a host name)', async () => {
  // alpha's database and role: made by the first test's install (and `run` makes them where missing).
  const r = await probe(alpha, 'readers');
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.equal(JSON.parse(r.stdout), { psycopg2: 'apppkg_alpha', sqlalchemy: 'apppkg_alpha', 'dj-database-url': 'apppkg_alpha' });
});

withServers("neither app gets into the other's database", async () => {
  for (const [dir, other] of [[alpha, 'apppkg_beta'], [beta, 'apppkg_alpha']]) {
    const r = await probe(dir, 'connect', other);
    assert.is(r.status, 3, `${dir} reached ${other}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /refused: OperationalError: .*(permission denied for database|not permitted)/);
  }
  // Beta's role, given alpha's table by name in its own database: nothing there.
  const r = await probe(beta, 'sql', 'SELECT x FROM t');
  assert.is(r.status, 3);
  assert.match(r.stdout, /relation "t" does not exist/);
});

withServers("neither app reads, lists or deletes the other's keys", async () => {
  const tries = [['GET', 'beta:k'], ['SET', 'beta:k', 'x'], ['DEL', 'beta:k'], ['KEYS', '*'], ['SCAN', '0'], ['FLUSHALL'], ['FLUSHDB'], ['RANDOMKEY'], ['CONFIG', 'GET', '*'], ['SELECT', '1'], ['PUBLISH', 'beta:news', 'x'], ['CLIENT', 'TRACKING', 'on', 'BCAST'], ['CLIENT', 'TRACKING', 'on', 'BCAST', 'PREFIX', 'beta:'],
    // A pattern is matched against the user's channel rules as written, so `PSUBSCRIBE *` (every
    // app's messages) is refused as `beta:*` is: what keeps Celery's broadcasts out (docs/services.md).
    ['SUBSCRIBE', 'beta:news'], ['PSUBSCRIBE', 'beta:*'], ['PSUBSCRIBE', '*']];
  const r = await probe(alpha, 'redis-each', JSON.stringify(tries));
  assert.is(r.status, 0, r.stdout + r.stderr);
  const answers: string[] = JSON.parse(r.stdout);
  tries.forEach((args, i) => assert.match(answers[i], /^refused: NoPermissionError/, `alpha ran ${args.join(' ')}: ${answers[i]}`));
  assert.is(JSON.parse((await probe(beta, 'redis', 'GET', 'beta:k')).stdout), 'from beta');
});

// What names no key is held by no key pattern, and answers for every app at once: counts of all
// keys, other apps' channel names, a cluster slot's keys (an error, not a refusal, where the
// server is no cluster), and what INFO, SLOWLOG (other apps' commands with their keys), LATENCY,
// CLIENT LIST and OBJECT tell. The app's own keys, channels, transactions and scripts stay.
// DEBUG is not among them: a Redis 7 refuses it to everyone unless enable-debug-command is set,
// before the ACL is asked, so the ACL's answer is asked apart (ACL DRYRUN).
const crossApp = [['DBSIZE'], ['PUBSUB', 'CHANNELS'], ['PUBSUB', 'NUMSUB', 'beta:news'], ['PUBSUB', 'SHARDCHANNELS'], ['PUBSUB', 'SHARDNUMSUB', 'beta:news'], ['PUBSUB', 'NUMPAT'],
  ['MEMORY', 'STATS'], ['MEMORY', 'DOCTOR'], ['MEMORY', 'MALLOC-STATS'], ['CLUSTER', 'COUNTKEYSINSLOT', '0'], ['CLUSTER', 'GETKEYSINSLOT', '0', '10'],
  ['INFO', 'keyspace'], ['SLOWLOG', 'GET'], ['LATENCY', 'LATEST'], ['CLIENT', 'LIST'], ['OBJECT', 'ENCODING', 'beta:k'], ['MEMORY', 'USAGE', 'beta:k'],
  ['EVAL', "return redis.call('DBSIZE')", '0']];
const ownUse = [['MULTI'], ['SET', 'alpha:t', '1'], ['INCR', 'alpha:t'], ['EXEC'], ['EVAL', "return redis.call('GET', KEYS[1])", '1', 'alpha:t'], ['MEMORY', 'USAGE', 'alpha:t'], ['PUBLISH', 'alpha:news', 'x'], ['SPUBLISH', 'alpha:news', 'x']];

const redisCli = (...args: string[]) => execFileSync('redis-cli', ['-p', String(redis.port), '--user', 'admin', '--pass', redis.adminPassword, '--no-auth-warning', ...args], { encoding: 'utf8', timeout: 10_000 });

function triedCrossApp(answers: string[]): void {
  // A script's refusal comes as its own error, not a NoPermissionError: the ACL's words.
  crossApp.forEach((args, i) => assert.match(answers[i], /^refused: (NoPermissionError|ResponseError: The user executing the script can't run this command)/, `alpha ran ${args.join(' ')}: ${answers[i]}`));
  // redis-py's own reading of each answer: SET's callback takes QUEUED for False.
  assert.equal(answers.slice(crossApp.length, crossApp.length + 4), ["b'OK'", 'False', "b'QUEUED'", "[b'OK', 2]"]);
  assert.equal(answers.slice(crossApp.length + 4, crossApp.length + 5), ["b'2'"]);
  assert.match(answers[crossApp.length + 5], /^\d+$/);
  assert.equal(answers.slice(crossApp.length + 6), ['0', '0']);
}

withServers("an app neither counts every app's keys nor lists their channels, and keeps its own keys, channels, transactions and scripts", async () => {
  const r = await probe(alpha, 'redis-each', JSON.stringify([...crossApp, ...ownUse]));
  assert.is(r.status, 0, r.stdout + r.stderr);
  triedCrossApp(JSON.parse(r.stdout));
  assert.match(redisCli('ACL', 'DRYRUN', 'apppkg-alpha', 'DEBUG', 'OBJECT', 'beta:k'), /no permissions to run the 'debug' command/);
});

withServers('a user an older gateway made, allowed DBSIZE, PUBSUB and MEMORY, gets the rules of this one at the next start', async () => {
  // As the gateway before this one left it: its rules, password and claim kept, no reset.
  redisCli('ACL', 'SETUSER', 'apppkg-alpha', '+dbsize', '+pubsub', '+memory', '+cluster');
  assert.is(redisCli('ACL', 'DRYRUN', 'apppkg-alpha', 'DBSIZE').trim(), 'OK');
  const r = await probe(alpha, 'redis-each', JSON.stringify([...crossApp, ...ownUse]));
  assert.is(r.status, 0, r.stdout + r.stderr);
  triedCrossApp(JSON.parse(r.stdout));
});

withServers('a host Redis URL naming database 3: the apps\' keys live there, and their clients may select it and 0, where every connection starts (and no other)', async () => {
  const third = join(work.path, 'environment-db3.yaml');
  writeFileSync(third, `services:\n  postgresql: ${pg.url}\n  redis: ${redis.url.replace(/\/0$/, '/3')}\n`);
  const run = (...args: string[]) => runCli(['run', alpha, '--environment', third, '--state-dir', state, '--', 'python', 'probe.py', ...args], { ms: 60_000, env });
  // Written, read back and the selects tried by one client (one `run`).
  const r = await run('redis-each', JSON.stringify([['SET', 'alpha:in-three', 'yes'], ['GET', 'alpha:in-three'], ['SELECT', '1'], ['SELECT', '0'], ['SELECT', '3']]));
  assert.is(r.status, 0, r.stdout + r.stderr);
  // SELECT 0 served (fb108b6d): refusing it walled nothing off, as a new connection starts there.
  assert.equal(JSON.parse(r.stdout), ['True', "b'yes'", 'refused: NoPermissionError: this user has no permissions to run the \'select\' command', 'True', 'True']);
  // Back on database 0 (the shared environment file): the key is not there.
  assert.is(JSON.parse((await probe(alpha, 'redis', 'EXISTS', 'alpha:in-three')).stdout), '0');
});

withServers('describe and check show what the app asks and gets, passwords masked; nothing prints one', async () => {
  const described = await cli(['describe', alpha]);
  assert.is(described.status, 0, described.stderr);
  const d = JSON.parse(described.stdout);
  assert.equal(d.services, { database: 'sql', redis: 'redis' });
  assert.is(d.provides.database, 'postgresql');
  assert.is(d.provides.redis, 'redis');
  assert.match(d.provides.env.DATABASE_URL, /^postgresql:\/\/apppkg_alpha:\*\*\*@\/apppkg_alpha\?host=\/.+&port=5432$/);
  assert.is(d.provides.env.PGPASSWORD, '***');
  assert.match(d.provides.env.REDIS_URL, /^redis:\/\/apppkg-alpha:\*\*\*@127\.0\.0\.1:\d+\/0$/);
  assert.is(d.provides.env.APPPKG_REDIS_PREFIX, 'alpha:');

  const checked = await cli(['check', alpha]);
  assert.is(checked.status, 0, checked.stdout + checked.stderr);
  assert.match(checked.stdout, /ok\s+services\.database\s+sql: PostgreSQL 1\d[.\d]* at .* reachable, role and database apppkg_alpha/);
  assert.match(checked.stdout, /ok\s+services\.redis\s+Redis 7[.\d]* at 127\.0\.0\.1:\d+ reachable, user apppkg-alpha/);

  const secrets = [kept('alpha').postgresql.password, kept('alpha').redis.password, pg.adminPassword, redis.adminPassword];
  for (const out of [described.stdout + described.stderr, checked.stdout + checked.stderr]) {
    for (const secret of secrets) assert.not.ok(out.includes(secret), 'a password was printed');
  }
});

withServers('a Redis user of the app\'s name that the gateway did not make is refused, never taken over (APPPKG_SERVICE_CONFLICT)', async () => {
  const theta = addPackage(work.path, 'services-probe', 'theta');
  const redisCli = (...args: string[]) => execFileSync('redis-cli', ['-p', String(redis.port), '--user', 'admin', '--pass', redis.adminPassword, '--no-auth-warning', ...args], { encoding: 'utf8' });
  redisCli('ACL', 'SETUSER', 'apppkg-theta', 'on', '>someone-elses', '~*', '&*', '+@all');
  const r = await cli(['install', theta]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /redis user "apppkg-theta" already exists and was not created by apppkg-gateway for theta/);
  assert.match(redisCli('ACL', 'GETUSER', 'apppkg-theta'), /~\*/, 'its rules are as they were');
  // Refused before anything was made for it: no PostgreSQL role or database of its name.
  assert.is(pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'apppkg_theta'"), '0');
  assert.is(pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'apppkg_theta'"), '0');
  // Nor by a database of its name that the gateway did not make (its role was made first).
  const iota = addPackage(work.path, 'services-probe', 'iota');
  pg.psql('CREATE DATABASE apppkg_iota');
  const refused = await cli(['install', iota]);
  assert.is(refused.status, 1, refused.stdout + refused.stderr);
  assert.match(refused.stdout + refused.stderr, /database "apppkg_iota" already exists and was not created by apppkg-gateway/);
  assert.is(pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'apppkg_iota'"), '0');
  // The gateway's own user, its kept password deleted by hand, is made good again (not a conflict).
  rmSync(join(state, 'services', 'alpha.json'));
  const healed = await cli(['install', alpha]);
  assert.is(healed.status, 0, healed.stdout + healed.stderr);
  assert.match(healed.stdout, /redis credentials were missing .*; a new password was set for user apppkg-alpha/);
});

withServers('uninstall with one of its servers down drops nothing: not the database first and then stop at Redis', async () => {
  const kappa = addPackage(work.path, 'services-probe', 'kappa');
  assert.is((await cli(['install', kappa])).status, 0);
  const down = join(work.path, 'environment-redis-down.yaml');
  writeFileSync(down, `services:\n  postgresql: ${pg.url}\n  redis: redis://127.0.0.1:1/0\n`);
  const r = await runCli(['uninstall', kappa, '--yes', '--environment', down, '--state-dir', state], { ms: 60_000, env });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /redis at 127\.0\.0\.1:1 \(services\.redis\): connect ECONNREFUSED/);
  assert.not.match(r.stdout, /dropped/);
  assert.is(pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'apppkg_kappa'"), '1');
  const done = await cli(['uninstall', kappa, '--yes']);
  assert.is(done.status, 0, done.stdout + done.stderr);
  assert.match(done.stdout, /==> dropped postgresql database and role apppkg_kappa\n==> dropped redis user apppkg-kappa and its keys/);
});

withServers('check says when a server does not answer, naming the key to set', async () => {
  const dead = join(work.path, 'dead-environment.yaml');
  writeFileSync(dead, `services:\n  postgresql: postgresql://postgres@${encodeURIComponent(join(work.path, 'nowhere'))}:5432/postgres\n  redis: ${redis.url}\n`);
  const r = await runCli(['check', alpha, '--environment', dead, '--state-dir', state], { ms: 60_000, env });
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stdout, /FAIL\s+services\.database\s+not reachable: postgresql at .*nowhere:5432 \(services\.postgresql\): connect ENOENT .*nowhere\/\.s\.PGSQL\.5432\n/);
  // The other server answers: its line says so, checked all the same.
  assert.match(r.stdout, /ok\s+services\.redis\s+Redis \S+ at 127\.0\.0\.1:\d+ reachable, user apppkg-alpha/);
  assert.match(r.stdout, /fix: start the server, or correct `services\.postgresql` in the environment file/);

  const none = await runCli(['check', alpha, '--state-dir', state], { ms: 60_000, env });
  assert.is(none.status, 1);
  assert.match(none.stdout, /FAIL\s+services\.redis\s+.*alpha asks for services\.redis: redis, but the host offers no redis server/);
  // No --environment at all: the fix says to give one, and how: this command line, --state-dir kept.
  assert.match(none.stdout, /fix: set `services\.redis` in an environment file \(e\.g\. [^\n]*\), and pass it: `apppkg-gateway check (\S+) --state-dir (\S+) --environment FILE`\n/);
  assert.ok(none.stdout.includes(`and pass it: \`apppkg-gateway check ${alpha} --state-dir ${state} --environment FILE\`\n`), none.stdout);
});

test.run();

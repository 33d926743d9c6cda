// Issue 15 / SPEC 5.2: the app's database in backup, restore and uninstall. PostgreSQL (pg_dump
// custom format, loaded back with pg_restore) and SQLite (its online backup): backup -> change ->
// restore brings the rows back, the database replaced by the backup's as the data directory is
// (SPEC: `restore` loads it back; a new host's `install` makes the tables first); uninstall drops
// the database, the role and the Redis user, and the databases the role made itself (a test
// database kept after `test`).
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';
import { serversMissing, startPostgres, startRedis, type RunningPostgres, type RunningRedis } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';

const test = suite('services: backup, restore, uninstall');
const work = tempDir('apppkg-services-backup-');
const state = join(work.path, 'state');
const envFile = join(work.path, 'environment.yaml');
let pg: RunningPostgres;
let redis: RunningRedis;
let shop: string;
let notes: string;

const missing = serversMissing();
// Each test below needs the servers: without them it is skipped, and the run says so.
const withServers = runIf(test, missing === null, missing ?? '');

test.before(async () => {
  if (missing) return;
  [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
  writeFileSync(envFile, `services:\n  postgresql: ${pg.url}\n  redis: ${redis.url}\n`);
  shop = addPackage(work.path, 'services-probe', 'shop');
  // SQLite by its own choice; no Redis.
  notes = addPackage(work.path, 'services-probe', 'notes', { 'app.yaml': [[/services:[\s\S]*$/, 'services:\n  database: sqlite\n']] });
});

test.after(async () => {
  await Promise.all([pg?.stop(), redis?.stop()]);
  work.remove();
});

// APPPKG_STATE_DIR as well: nothing may land in the default state root, whatever the argv.
const cli = (args: string[], after: string[] = []) =>
  runCli([...args, '--environment', envFile, '--state-dir', state, ...(after.length ? ['--', ...after] : [])], { ms: 90_000, env: { APPPKG_STATE_DIR: state } });
/** The rows of the last of `statements`, run in order by the app through `run` (one `run` for them all: each costs a CLI and a Python start). */
const sql = async (dir: string, ...statements: string[]) => {
  const r = await cli(['run', dir], ['python', 'probe.py', 'sql-each', JSON.stringify(statements)]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout);
};

for (const kind of ['postgresql', 'sqlite'] as const) {
  withServers(`${kind}: backup -> change -> restore brings the rows back, over the tables the app has now`, async () => {
    const dir = kind === 'postgresql' ? shop : notes;
    await sql(dir, 'CREATE TABLE t (x int)', 'INSERT INTO t VALUES (1), (2)');
    const to = join(work.path, `backup-${kind}`);
    const backup = await cli(['backup', dir, '--to', to]);
    assert.is(backup.status, 0, backup.stdout + backup.stderr);
    const manifest = JSON.parse(readFileSync(join(to, 'apppkg-backup.json'), 'utf8'));
    assert.is(manifest.database.kind, kind);
    assert.is(manifest.database.file, kind === 'postgresql' ? 'database/postgresql.dump' : 'database/db.sqlite3');
    assert.ok(existsSync(join(to, manifest.database.file)));
    // The app's data: readable by its owner only, as the backup's other files.
    assert.is(statSync(join(to, manifest.database.file)).mode & 0o777, 0o600, `${manifest.database.file}'s mode`);
    if (kind === 'postgresql') assert.is(readFileSync(join(to, manifest.database.file)).subarray(0, 5).toString(), 'PGDMP');
    // The SQLite file is in database/, taken by the online backup, not torn in the data copy.
    assert.not.ok(readdirSync(join(to, 'data')).includes('db.sqlite3'));

    assert.equal(await sql(dir, 'DELETE FROM t WHERE x = 1', 'INSERT INTO t VALUES (3)', 'CREATE TABLE later (y int)', 'SELECT x FROM t ORDER BY x'), [[2], [3]]);

    // No --force: restore puts the backup's database in place of the app's, as it does its data
    // directory; a table made since the backup is gone with the rest.
    const restored = await cli(['restore', dir, '--from', to]);
    assert.is(restored.status, 0, restored.stdout + restored.stderr);
    assert.match(restored.stdout, new RegExp(`restored \\w+'s ${kind} database`));
    assert.equal(await sql(dir, 'SELECT x FROM t ORDER BY x'), [[1], [2]]);
    const tables = kind === 'postgresql' ? "SELECT count(*) FROM pg_tables WHERE tablename = 'later'" : "SELECT count(*) FROM sqlite_master WHERE name = 'later'";
    assert.equal(await sql(dir, tables), [[0]], 'the table made after the backup is gone');
    // --force, which restore once needed here, is still taken.
    const forced = await cli(['restore', dir, '--from', to, '--force']);
    assert.is(forced.status, 0, forced.stdout + forced.stderr);
    assert.equal(await sql(dir, 'SELECT x FROM t ORDER BY x'), [[1], [2]]);
  });

  // SPEC 5.2's move to a new host: install there (its commands.install makes the schema, as
  // Django's migrate does), then restore the backup over it.
  withServers(`${kind}: on a new state root, install (whose hook makes the tables) then restore loads the backup`, async () => {
    const name = `${kind === 'postgresql' ? 'pg' : 'lite'}moved`;
    const hook = 'python probe.py sql-each \'["CREATE TABLE IF NOT EXISTS posts (title text)"]\'';
    const dir = addPackage(work.path, 'services-probe', name, { 'app.yaml': [[/services:[\s\S]*$/, `commands:\n  install: ${hook}\nservices:\n  database: ${kind}\n`]] });
    const installed = await cli(['install', dir]);
    assert.is(installed.status, 0, installed.stdout + installed.stderr);
    await sql(dir, "INSERT INTO posts VALUES ('hello')");
    const to = join(work.path, `backup-${name}`);
    const backup = await cli(['backup', dir, '--to', to]);
    assert.is(backup.status, 0, backup.stdout + backup.stderr);

    const fresh = join(work.path, `state-${name}`);
    const onFresh = (args: string[], after: string[] = []) =>
      runCli([...args, '--environment', envFile, '--state-dir', fresh, ...(after.length ? ['--', ...after] : [])], { ms: 90_000, env: { APPPKG_STATE_DIR: fresh } });
    if (kind === 'postgresql') {
      // The same server stands for the new host's: the first state root lets go of the app.
      const gone = await cli(['uninstall', dir, '--yes']);
      assert.is(gone.status, 0, gone.stdout + gone.stderr);
    }
    const again = await onFresh(['install', dir]);
    assert.is(again.status, 0, again.stdout + again.stderr);
    const restored = await onFresh(['restore', dir, '--from', to]);
    assert.is(restored.status, 0, restored.stdout + restored.stderr);
    const rows = await onFresh(['run', dir], ['python', 'probe.py', 'sql', 'SELECT title FROM posts']);
    assert.is(rows.status, 0, rows.stdout + rows.stderr);
    assert.equal(JSON.parse(rows.stdout), [['hello']]);
    const gone = await onFresh(['uninstall', dir, '--yes']);
    assert.is(gone.status, 0, gone.stdout + gone.stderr);
  });
}

withServers('postgresql: restore where the app\'s database was dropped makes it again', async () => {
  const to = join(work.path, 'backup-postgresql');
  pg.psql('DROP DATABASE apppkg_shop WITH (FORCE)');
  const r = await cli(['restore', shop, '--from', to]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.equal(await sql(shop, 'SELECT x FROM t ORDER BY x'), [[1], [2]]);
});

// The database is no longer looked into before the data changes (nothing it holds refuses the
// restore): that its server answers is still asked first, so that a restore that cannot load the
// database leaves the data directory as it was, not the backup's beside today's database.
withServers('postgresql: a restore whose server is down is refused before the data directory changes', async () => {
  const to = join(work.path, 'backup-postgresql');
  const today = await cli(['run', shop], ['sh', '-c', 'echo today > "$APPPKG_DATA_DIR/today.txt"']);
  assert.is(today.status, 0, today.stdout + today.stderr);
  await pg.halt();
  try {
    const r = await cli(['restore', shop, '--from', to]);
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /postgresql at \S+ \(services\.postgresql\)/);
    assert.is(readFileSync(join(state, 'apps', 'shop', 'data', 'today.txt'), 'utf8'), 'today\n', 'the data directory is as it was');
  } finally {
    await pg.start();
  }
  const r = await cli(['restore', shop, '--from', to]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.not.ok(existsSync(join(state, 'apps', 'shop', 'data', 'today.txt')), 'the backup\'s data directory, once the server answers');
  assert.equal(await sql(shop, 'SELECT x FROM t ORDER BY x'), [[1], [2]]);
});

withServers('redis: backup -> change -> restore brings the app\'s keys back with their expiry, and only those', async () => {
  // The app writes through its own user, as it would.
  const write = await cli(['run', shop], ['python', 'probe.py', 'redis-each', JSON.stringify([['SET', 'shop:plain', 'v1'], ['RPUSH', 'shop:list', 'a', 'b'], ['SET', 'shop:soon', 'x', 'EX', '1000']])]);
  assert.is(write.status, 0, write.stdout + write.stderr);
  const admin = new Redis({ host: '127.0.0.1', port: redis.port, username: 'admin', password: redis.adminPassword, lazyConnect: true });
  await admin.connect();
  const binaryKey = Buffer.concat([Buffer.from('shop:'), Buffer.from([0xff, 0x00, 0x01])]);
  try {
    await admin.set(binaryKey, Buffer.from([0, 1, 2]));
    await admin.set('other:key', 'not the shop\'s');
    const to = join(work.path, 'backup-redis');
    const backup = await cli(['backup', shop, '--to', to]);
    assert.is(backup.status, 0, backup.stdout + backup.stderr);
    assert.match(backup.stdout, /shop's Redis keys: 4 keys, \d+ bytes in .*redis\.jsonl/);
    const manifest = JSON.parse(readFileSync(join(to, 'apppkg-backup.json'), 'utf8'));
    assert.equal([manifest.redis.file, manifest.redis.keys], ['database/redis.jsonl', 4]);

    await admin.del('shop:plain');
    await admin.set('shop:new', 'n');
    // No --force: the backup's keys replace the app's, as its database is replaced.
    const restored = await cli(['restore', shop, '--from', to]);
    assert.is(restored.status, 0, restored.stdout + restored.stderr);
    assert.match(restored.stdout, /restored 4 Redis keys of shop/);
    assert.is(await admin.get('shop:plain'), 'v1');
    assert.equal(await admin.lrange('shop:list', 0, -1), ['a', 'b']);
    const ttl = await admin.pttl('shop:soon');
    assert.ok(ttl > 900_000 && ttl <= 1_000_000, `shop:soon expires in ${ttl} ms`);
    assert.is(await admin.pttl('shop:plain'), -1, 'no expiry where there was none');
    assert.equal(await admin.getBuffer(binaryKey), Buffer.from([0, 1, 2]));
    assert.is(await admin.exists('shop:new'), 0, 'a restore leaves the backup\'s keys and no others');
    assert.is(await admin.get('other:key'), 'not the shop\'s');

    // A DUMP the server refuses (here, changed bytes; a newer Redis' on an older one alike):
    // said with the fix, and the app's keys the restore had not reached are still there.
    const lines = readFileSync(join(to, 'database', 'redis.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const plain = lines.findIndex((l) => Buffer.from(l.key, 'base64').toString() === 'plain');
    const bytes = Buffer.from(lines[plain].dump, 'base64');
    bytes[bytes.length - 1] ^= 0xff;
    lines[plain].dump = bytes.toString('base64');
    writeFileSync(join(to, 'database', 'redis.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    await admin.set('shop:plain', 'changed');
    await admin.set('shop:kept', 'k');
    const broken = await cli(['restore', shop, '--from', to]);
    assert.is(broken.status, 1, broken.stdout + broken.stderr);
    assert.match(broken.stderr, /restore of shop's Redis keys from .*redis\.jsonl failed: .*DUMP payload version or checksum are wrong/);
    assert.match(broken.stderr, /fix: restore onto a Redis of the version that was backed up, or a newer one/);
    assert.is(await admin.get('shop:kept'), 'k', 'keys are deleted only after every RESTORE went through');
    writeFileSync(join(to, 'database', 'redis.jsonl'), 'not json\n');
    const garbled = await cli(['restore', shop, '--from', to]);
    assert.is(garbled.status, 1, garbled.stdout + garbled.stderr);
    assert.match(garbled.stderr, /redis\.jsonl:1 failed: the line is not a key as backup writes it/);
  } finally {
    admin.disconnect();
  }
});

withServers('uninstall drops the database, the role and the Redis user with its keys, and forgets the passwords', async () => {
  const set = await cli(['run', shop], ['python', 'probe.py', 'redis', 'SET', 'shop:k', 'v']);
  assert.is(set.status, 0, set.stdout + set.stderr);
  assert.is(pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'apppkg_shop'"), '1');
  const r = await cli(['uninstall', shop, '--yes']);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /dropped postgresql database and role apppkg_shop/);
  assert.match(r.stdout, /dropped redis user apppkg-shop and its keys/);
  assert.is(pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'apppkg_shop'"), '0');
  assert.is(pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'apppkg_shop'"), '0');
  assert.not.ok(existsSync(join(state, 'services', 'shop.json')));
  const admin = new Redis({ host: '127.0.0.1', port: redis.port, username: 'admin', password: redis.adminPassword, lazyConnect: true });
  try {
    await admin.connect();
    assert.is(await admin.call('ACL', 'GETUSER', 'apppkg-shop'), null);
    assert.is(await admin.exists('shop:k'), 0);
  } finally {
    admin.disconnect();
  }
});

// After the uninstall above: the servers hold no role, database, Redis user or state-root mark of
// shop, as a new host's do, and a new state root meets them (a second pair of servers cost ~1.5 s
// of CPU and seconds of start-up; what made the old host's Redis refuse, its mark, is gone).
withServers('postgresql: restore onto a fresh host (a new state root, no role, no database) provisions first', async () => {
  const to = join(work.path, 'backup-postgresql');
  const fresh = join(work.path, 'fresh-state');
  assert.is(pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'apppkg_shop'"), '0');
  assert.is(pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'apppkg_shop'"), '0');
  const admin = new Redis({ host: '127.0.0.1', port: redis.port, username: 'admin', password: redis.adminPassword, lazyConnect: true });
  try {
    await admin.connect();
    assert.is(await admin.call('ACL', 'GETUSER', 'apppkg-shop'), null);
    assert.is(await admin.exists('apppkg-gateway/state-root/shop'), 0, 'no state root has shop on this Redis');
  } finally {
    admin.disconnect();
  }
  const onFresh = (args: string[], after: string[] = []) =>
    runCli([...args, '--environment', envFile, '--state-dir', fresh, ...(after.length ? ['--', ...after] : [])], { ms: 90_000, env: { APPPKG_STATE_DIR: fresh } });
  assert.ok(JSON.parse(readFileSync(join(to, 'apppkg-backup.json'), 'utf8')).redis, 'the backup holds shop\'s Redis keys too');
  const r = await onFresh(['restore', shop, '--from', to]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  // The Redis user too, as the role (docs/services.md): before the keys, not at the next start.
  assert.match(r.stdout, /==> created redis ACL user apppkg-shop \(keys shop:\*\) on \S+\n(.*\n)*==> restored \d+ Redis keys? of shop/);
  const user = new Redis({ host: '127.0.0.1', port: redis.port, username: 'admin', password: redis.adminPassword, lazyConnect: true });
  try {
    await user.connect();
    assert.ok(await user.call('ACL', 'GETUSER', 'apppkg-shop'), 'restore made shop\'s Redis user');
  } finally {
    user.disconnect();
  }
  const rows = await onFresh(['run', shop], ['python', 'probe.py', 'sql', 'SELECT x FROM t ORDER BY x']);
  assert.is(rows.status, 0, rows.stdout + rows.stderr);
  assert.equal(JSON.parse(rows.stdout), [[1], [2]]);
  assert.not.match(rows.stdout + rows.stderr, /created (redis|postgresql)/, 'nothing left to make at the first run after the restore');
});

withServers('uninstall also drops a test database the app\'s role made and kept (--keepdb): its role could not be dropped while it owned one', async () => {
  // As `manage.py test --keepdb` or pytest-django's --reuse-db leave test_NAME after a run.
  const keeps = addPackage(work.path, 'services-probe', 'keeps', { 'app.yaml': [[/services:/, 'commands:\n  test: psql -X -q -c "CREATE DATABASE test_keeps"\nservices:']] });
  const tested = await cli(['test', keeps]);
  assert.is(tested.status, 0, tested.stdout + tested.stderr);
  assert.is(pg.psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'test_keeps'"), 'apppkg_keeps');
  const r = await cli(['uninstall', keeps, '--yes']);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /dropped postgresql database and role apppkg_keeps, and the database it made: test_keeps/);
  assert.is(pg.psql("SELECT count(*) FROM pg_database WHERE datname IN ('apppkg_keeps', 'test_keeps')"), '0');
  assert.is(pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'apppkg_keeps'"), '0');
});

withServers('uninstall stopped after the database was dropped (the role still has a grant elsewhere) says what it dropped and what it left, and running it again finishes', async () => {
  const halfway = addPackage(work.path, 'services-probe', 'halfway');
  await sql(halfway, 'SELECT 1');
  // A grant a DBA gave the app's role outside its database: DROP ROLE refuses while it stands.
  pg.psql('GRANT CONNECT ON DATABASE postgres TO apppkg_halfway');
  const r = await cli(['uninstall', halfway, '--yes']);
  assert.is(r.status, 1, r.stdout + r.stderr);
  // Said as the drop it is, not as a provisioning.
  assert.match(r.stderr, /drop of role apppkg_halfway on postgresql at \S+ failed: role "apppkg_halfway" cannot be dropped because some objects depend on it/);
  assert.not.match(r.stderr, /left as they were/);
  assert.match(r.stderr, /fix: .*uninstall stopped halfway: it dropped postgresql database apppkg_halfway, and left postgresql role apppkg_halfway, redis keys halfway:\*, redis user apppkg-halfway, the kept passwords \(.*services\/halfway\.json\) and .*apps\/halfway \(data, logs, tmp, venv\)/);
  assert.ok(r.stderr.includes(`once that is fixed, run \`apppkg-gateway uninstall ${halfway} --environment ${envFile} --state-dir ${state}\` again to finish`), r.stderr);
  assert.is(pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'apppkg_halfway'"), '0');
  assert.ok(existsSync(join(state, 'services', 'halfway.json')), 'the passwords are kept for the rest');

  pg.psql('REVOKE CONNECT ON DATABASE postgres FROM apppkg_halfway');
  const finished = await cli(['uninstall', halfway, '--yes']);
  assert.is(finished.status, 0, finished.stdout + finished.stderr);
  assert.match(finished.stdout, /dropped postgresql role apppkg_halfway/);
  assert.match(finished.stdout, /dropped redis user apppkg-halfway and its keys/);
  assert.is(pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'apppkg_halfway'"), '0');
  assert.not.ok(existsSync(join(state, 'apps', 'halfway')));
});

withServers('uninstall without the environment file says what it left on the servers and the command that drops it, which does', async () => {
  const forgot = addPackage(work.path, 'services-probe', 'forgot');
  await sql(forgot, 'SELECT 1');
  // SPEC 3's `uninstall APP_DIR`, the --environment FILE that names the servers forgotten.
  const r = await runCli(['uninstall', forgot, '--yes', '--state-dir', state], { ms: 90_000, env: { APPPKG_STATE_DIR: state } });
  assert.is(r.status, 0, r.stdout + r.stderr);
  const again = `run \`apppkg-gateway uninstall ${forgot} --environment FILE --state-dir ${state}\` with the environment file that sets`;
  assert.ok(r.stdout.includes(`forgot had a PostgreSQL database, but services.postgresql is not set: its database and role apppkg_forgot are left on the server; ${again} services.postgresql to drop them`), r.stdout);
  assert.ok(r.stdout.includes(`forgot had a Redis user, but services.redis is not set: its user apppkg-forgot and keys forgot:* are left on the server; ${again} services.redis to remove them`), r.stdout);
  assert.is(pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'apppkg_forgot'"), '1');

  // The command it gives, with the environment file: the state root's objects, dropped.
  const finished = await cli(['uninstall', forgot, '--yes']);
  assert.is(finished.status, 0, finished.stdout + finished.stderr);
  assert.match(finished.stdout, /dropped postgresql database and role apppkg_forgot/);
  assert.match(finished.stdout, /dropped redis user apppkg-forgot and its keys/);
  assert.is(pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'apppkg_forgot'"), '0');
  assert.is(pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'apppkg_forgot'"), '0');
});

withServers('sqlite: the default needs no server; DATABASE_URL points into the data directory', async () => {
  const plain = addPackage(work.path, 'services-probe', 'plain', { 'app.yaml': [[/services:[\s\S]*$/, 'services:\n  database: sql\n']] });
  // No environment file at all: `sql` falls back to SQLite.
  const r = await runCli(['run', plain, '--state-dir', state, '--', 'python', '-c', 'import os; print(os.environ["DATABASE_URL"])'], { ms: 60_000, env: { APPPKG_STATE_DIR: state } });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.is(r.stdout.trim(), `sqlite:///${join(state, 'apps', 'plain', 'data', 'db.sqlite3')}`);
  assert.ok(r.stdout.startsWith('sqlite:////'));
  assert.not.ok(existsSync(join(state, 'services', 'plain.json')), 'SQLite keeps no credentials');
});

test.run();

// SPEC 5.2's host side names "a server where the gateway may create roles and databases", and
// docs/services.md says how: a superuser, or a role with CREATEROLE CREATEDB. The second is
// what a careful host gives, and on PostgreSQL 15 it may create a database owned by another
// role only as that role's member: install, use, restore and uninstall through such an admin.
// A role without those rights is named by `check`, with the statement that fixes it. The URL
// forms libpq takes, a user before an empty host included, are read as libpq reads them.
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';
import { servicesEnvironment, serversMissing, startPostgres, type RunningPostgres } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';

const test = suite('services: an admin role that is not a superuser');
const work = tempDir('apppkg-services-admin-');
const state = join(work.path, 'state');
let pg: RunningPostgres;
let app: string;

const missing = serversMissing();
const withServers = runIf(test, missing === null, missing ?? '');
const env = { APPPKG_STATE_DIR: state };

const environment = (name: string, url: string): string => servicesEnvironment(work.path, name, { postgresql: url });

const cli = (envFile: string, args: string[]) => runCli([...args, '--environment', envFile, '--state-dir', state], { ms: 60_000, env });

test.before(async () => {
  if (missing) return;
  pg = await startPostgres();
  pg.psql("CREATE ROLE gwadmin LOGIN CREATEROLE CREATEDB PASSWORD 'admin-pw'");
  pg.psql("CREATE ROLE weak LOGIN PASSWORD 'weak-pw'");
  // PostgreSQL only: this suite is about its admin role.
  app = addPackage(work.path, 'services-probe', 'omega', {
    'app.yaml': [['database: sql', 'database: postgresql'], ['  redis: redis\n', ''], ['deb: [python3-psycopg2, python3-redis]', 'deb: [python3-psycopg2]']],
  });
});

test.after(async () => {
  await pg?.stop();
  work.remove();
});

withServers('an admin with CREATEROLE CREATEDB, not a superuser: install, the app\'s own database, restore --force and uninstall', async () => {
  const envFile = environment('createrole', `postgresql://gwadmin:admin-pw@${encodeURIComponent(pg.socketDir)}:${pg.port}/postgres`);
  const checked = await cli(envFile, ['check', app]);
  assert.is(checked.status, 0, checked.stdout + checked.stderr);
  const installed = await cli(envFile, ['install', app]);
  assert.is(installed.status, 0, installed.stdout + installed.stderr);
  assert.match(installed.stdout, /created postgresql role and database apppkg_omega/);
  assert.is(pg.psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'apppkg_omega'"), 'apppkg_omega');
  // A `test` run killed before it took CREATEDB back (kill -9, a CI timeout): the next use takes it back.
  pg.psql('ALTER ROLE apppkg_omega CREATEDB');
  const used = await runCli(['run', app, '--environment', envFile, '--state-dir', state, '--', 'python', 'probe.py', 'sql', 'CREATE TABLE t (x int); SELECT current_user, current_database()'], { ms: 60_000, env });
  assert.is(used.status, 0, used.stdout + used.stderr);
  assert.equal(JSON.parse(used.stdout), [['apppkg_omega', 'apppkg_omega']]);
  assert.is(pg.psql("SELECT rolcreatedb FROM pg_roles WHERE rolname = 'apppkg_omega'"), 'f');

  const backup = join(work.path, 'backup');
  const saved = await cli(envFile, ['backup', app, '--to', backup]);
  assert.is(saved.status, 0, saved.stdout + saved.stderr);
  const restored = await cli(envFile, ['restore', app, '--from', backup, '--force']);
  assert.is(restored.status, 0, restored.stdout + restored.stderr);

  const removed = await cli(envFile, ['uninstall', app, '--yes']);
  assert.is(removed.status, 0, removed.stdout + removed.stderr);
  assert.is(pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'apppkg_omega'"), '0');
  assert.is(pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'apppkg_omega'"), '0');
});

withServers('check names an admin role that may not create roles and databases, and the statement that fixes it', async () => {
  const envFile = environment('weak', `postgresql://weak:weak-pw@${encodeURIComponent(pg.socketDir)}:${pg.port}/postgres`);
  const r = await cli(envFile, ['check', app]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL\s+services\.database\s+check of the admin role weak on postgresql at .* failed: it may not give apps their own roles and databases \(it lacks CREATEROLE CREATEDB\)/);
  assert.match(r.stdout, /fix: `ALTER ROLE "weak" CREATEROLE CREATEDB` as a superuser/);
  assert.not.ok((r.stdout + r.stderr).includes('weak-pw'), 'the password was printed');
});

withServers('a URL with a user before an empty host (`postgresql://user:pw@/db?host=/socket/dir`) is read as libpq reads it', async () => {
  const envFile = environment('libpq', `postgresql://gwadmin:admin-pw@/postgres?host=${encodeURIComponent(pg.socketDir)}&port=${pg.port}`);
  const r = await cli(envFile, ['check', app]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /ok\s+services\.database\s+postgresql: PostgreSQL 1\d[.\d]* at .*:5432 reachable/);
});

withServers('query parameters win over the URL\'s own parts, as libpq reads them (`@localhost:1/nodb?host=/socket/dir&port=...&dbname=postgres`)', async () => {
  const envFile = environment('libpq-query', `postgresql://nobody:wrong@localhost:1/nodb?host=${encodeURIComponent(pg.socketDir)}&port=${pg.port}&user=gwadmin&password=admin-pw&dbname=postgres`);
  const r = await cli(envFile, ['check', app]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`ok\\s+services\\.database\\s+postgresql: PostgreSQL 1\\d[.\\d]* at ${pg.socketDir}:5432 reachable`));
  assert.not.ok((r.stdout + r.stderr).includes('admin-pw'), 'the password was printed');
});

withServers('a URL with no password for a server that asks for one says so, not pg\'s "client password must be a string"', async () => {
  // SPEC 5.2's own example, postgresql:///postgres?host=..., names no user and no password.
  const envFile = environment('nopassword', `postgresql://gwadmin@/postgres?host=${encodeURIComponent(pg.socketDir)}&port=${pg.port}`);
  const r = await cli(envFile, ['check', app]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL\s+services\.database\s+postgresql at .* \(services\.postgresql\): the server asks "gwadmin" for a password and the URL gives none: write it in the URL \(postgresql:\/\/gwadmin:PASSWORD@\/postgres\?host=/);
  assert.not.match(r.stdout + r.stderr, /client password must be a string/);
});

withServers('a services.postgresql that is no URL is a mistake to correct, not a server to wait for', async () => {
  const envFile = environment('garbage', 'postgresql://gwadmin:admin-pw@[bad/postgres');
  const r = await cli(envFile, ['check', app]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /services\.postgresql/);
  assert.not.match(r.stdout + r.stderr, /start the server/);
  assert.not.ok((r.stdout + r.stderr).includes('admin-pw'), 'the password was printed');
});

withServers('peer authentication (Debian\'s pg_hba.conf) refusing the URL\'s user, or no role of the gateway\'s user: the role to make or name', async () => {
  // SPEC 5.2's example names no user: as root, Debian's `local all all peer` reaches the role
  // "root", which a fresh cluster does not have. This cluster asks for passwords: peer for this case.
  const hba = join(pg.socketDir, 'data', 'pg_hba.conf');
  const kept = readFileSync(hba, 'utf8');
  writeFileSync(hba, 'local all all peer\n');
  pg.psql('SELECT pg_reload_conf()');
  try {
    const asRoot = await cli(environment('peer-root', `postgresql:///postgres?host=${encodeURIComponent(pg.socketDir)}&port=${pg.port}`), ['check', app]);
    assert.is(asRoot.status, 1, asRoot.stdout + asRoot.stderr);
    assert.match(asRoot.stdout, /FAIL\s+services\.database\s+.*role "root" does not exist: make it as a superuser \(`sudo -u postgres createuser --createrole --createdb root`\), or name another user in the URL/);
    const asOther = await cli(environment('peer-other', `postgresql://gwadmin@/postgres?host=${encodeURIComponent(pg.socketDir)}&port=${pg.port}`), ['check', app]);
    assert.is(asOther.status, 1, asOther.stdout + asOther.stderr);
    assert.match(asOther.stdout, /Peer authentication failed for user "gwadmin": peer authentication \(pg_hba\.conf\) lets the gateway's Unix user "root" in only as the role of that name: name it in the URL \(postgresql:\/\/root@\.\.\.\)/);
  } finally {
    writeFileSync(hba, kept);
    // Passwords again (pg.psql itself logs in with one, over the socket that is now peer: as root, "postgres" is refused).
    spawnSync('kill', ['-HUP', String(pg.pid)]);
  }
});

test.run();

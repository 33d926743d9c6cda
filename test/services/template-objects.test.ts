// SPEC 5.2: no app reaches another's database. App databases are made from template1, and an
// app's role may connect there: on PostgreSQL 14 and older (and clusters upgraded from them)
// PUBLIC may CREATE in its `public` schema, and on any version every role may make large
// objects. What an app's role planted there was copied into every app database made after,
// owned by it: a `public.lower(varchar)` that the next app's own `lower(name)` ran. Provisioning
// now refuses to create a database from a template1 holding objects owned by a role that is
// neither a superuser nor the admin, naming them and the fix; a DBA's own objects there (an
// extension) are still copied, as template1 is meant to.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';
import { servicesEnvironment, serversMissing, startPostgres, type RunningPostgres } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';

const test = suite('services: objects an app planted in template1');
const work = tempDir('apppkg-services-template-');
const state = join(work.path, 'state');
let pg: RunningPostgres;
let envFile: string;
let alpha: string;
let beta: string;

const missing = serversMissing();
const withServers = runIf(test, missing === null, missing ?? '');
const env = { APPPKG_STATE_DIR: state };
const cli = (args: string[]) => runCli([...args, '--environment', envFile, '--state-dir', state], { ms: 60_000, env });
// PostgreSQL only: Redis has no part in this.
const postgresOnly = { 'app.yaml': [['database: sql', 'database: postgresql'], ['  redis: redis\n', ''], ['deb: [python3-psycopg2, python3-redis]', 'deb: [python3-psycopg2]']] as [string, string][] };

test.before(async () => {
  if (missing) return;
  pg = await startPostgres();
  envFile = servicesEnvironment(work.path, 'environment', { postgresql: pg.url });
  alpha = addPackage(work.path, 'services-probe', 'alpha', postgresOnly);
  beta = addPackage(work.path, 'services-probe', 'beta', postgresOnly);
});

test.after(async () => {
  await pg?.stop();
  work.remove();
});

/** Runs `sql` in template1 as alpha's own role, with the password the gateway gave it. */
function asAlphaInTemplate1(sql: string): string {
  const password = JSON.parse(readFileSync(join(state, 'services', 'alpha.json'), 'utf8')).postgresql.password;
  return pg.psql(sql, { database: 'template1', user: 'apppkg_alpha', password });
}

const betaDatabases = () => pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'apppkg_beta'");

withServers("a function an app's role planted in template1 (PostgreSQL 13's default grants) is refused, named, not copied into the next app's database", async () => {
  const installed = await cli(['install', alpha]);
  assert.is(installed.status, 0, installed.stdout + installed.stderr);
  // What a PostgreSQL 13 cluster, or one upgraded from it, has in template1.
  pg.psql('GRANT CREATE ON SCHEMA public TO PUBLIC', { database: 'template1' });
  // An exact match for a varchar argument: it wins over pg_catalog's lower(text).
  asAlphaInTemplate1("CREATE FUNCTION public.lower(varchar) RETURNS text LANGUAGE sql AS $$ SELECT 'alpha was here' $$");

  const r = await cli(['install', beta]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  const out = r.stdout + r.stderr;
  assert.match(out, /creation of database apppkg_beta on postgresql at .* failed: template1 holds objects owned by a role that is neither a superuser nor the admin \(function lower\(character varying\) \(owner apppkg_alpha\)\)/);
  assert.match(out, /fix: .*`DROP OWNED BY apppkg_alpha` in template1.*`REVOKE CREATE ON SCHEMA public FROM PUBLIC` in template1/);
  assert.is(betaDatabases(), '0');

  // The fix it names, then the app is provisioned, its lower() PostgreSQL's own.
  pg.psql('DROP OWNED BY apppkg_alpha; REVOKE CREATE ON SCHEMA public FROM PUBLIC', { database: 'template1' });
  const again = await cli(['install', beta]);
  assert.is(again.status, 0, again.stdout + again.stderr);
  const lower = await runCli(['run', beta, '--environment', envFile, '--state-dir', state, '--', 'python', 'probe.py', 'sql', "SELECT lower('ABC'::varchar)"], { ms: 60_000, env });
  assert.is(lower.status, 0, lower.stdout + lower.stderr);
  assert.equal(JSON.parse(lower.stdout), [['abc']]);
});

withServers("a large object an app's role made in template1 (no grant needed, PostgreSQL 15 too) is refused likewise", async () => {
  assert.is((await cli(['uninstall', beta])).status, 0);
  const oid = asAlphaInTemplate1("SELECT lo_from_bytea(0, 'from alpha')");
  const r = await cli(['install', beta]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, new RegExp(`\\(large object ${oid} \\(owner apppkg_alpha\\)\\)`));
  assert.is(betaDatabases(), '0');
  pg.psql('DROP OWNED BY apppkg_alpha', { database: 'template1' });
});

withServers("what a superuser put in template1 on purpose (an extension, a domain) is still copied into an app's database", async () => {
  pg.psql('CREATE EXTENSION citext; CREATE DOMAIN public.email AS citext', { database: 'template1' });
  const r = await cli(['install', beta]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  const typed = await runCli(['run', beta, '--environment', envFile, '--state-dir', state, '--', 'python', 'probe.py', 'sql', "SELECT 'A@B.example'::email = 'a@b.example'::email"], { ms: 60_000, env });
  assert.is(typed.status, 0, typed.stdout + typed.stderr);
  assert.equal(JSON.parse(typed.stdout), [[true]]);
});

test.run();

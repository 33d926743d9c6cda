// SPEC 1.1's own example lists `settings: [DATABASE_URL, SECRET_KEY]`, and SPEC 5.2 injects
// DATABASE_URL for an app asking `services: {database: sql}`. An app with both was refused by
// run, check and every start: "settings: the app requires DATABASE_URL, which the environment
// does not provide", though the gateway was about to give it. A variable of the app's services
// meets a required setting now; one the service does not give (PG* on SQLite) still does not.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';

const test = suite('services: required settings that the services give');
const work = tempDir('apppkg-services-settings-');
const state = join(work.path, 'state');
const envFile = join(work.path, 'environment.yaml');

test.after(() => work.remove());

const WSGI = 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n';
const app = (name: string, settings: string) =>
  writePackage(work.path, name, { 'app.yaml': `platform: python, wsgi\napp: web:application\nsettings: [${settings}]\nservices:\n  database: sql\n`, 'web.py': WSGI });
const cli = (args: string[], command: string[] = []) =>
  runCli([...args, '--environment', envFile, '--state-dir', state, ...(command.length ? ['--', ...command] : [])], { ms: 60_000, env: { APPPKG_STATE_DIR: state } });

test('DATABASE_URL required and given by database: sql (SQLite here): run and check go on', async () => {
  const dir = app('blog', 'DATABASE_URL, SECRET_KEY');
  writeFileSync(envFile, 'apps:\n  blog:\n    settings:\n      SECRET_KEY: s3cret\n');
  const run = await cli(['run', dir], ['python3', '-c', 'import os; print(os.environ["DATABASE_URL"], os.environ["SECRET_KEY"])']);
  assert.is(run.status, 0, run.stdout + run.stderr);
  assert.is(run.stdout.trim(), `sqlite:///${join(state, 'apps', 'blog', 'data', 'db.sqlite3')} s3cret`);
  const check = await cli(['check', dir]);
  assert.is(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /ok +settings +provided: DATABASE_URL, SECRET_KEY/);
});

test('PGUSER required of an app on SQLite: still missing, and said so', async () => {
  const dir = app('notes', 'DATABASE_URL, PGUSER');
  writeFileSync(envFile, 'apps: {}\n');
  const check = await cli(['check', dir]);
  assert.is(check.status, 1, check.stdout + check.stderr);
  assert.match(check.stdout, /FAIL +settings +\S+app\.yaml:3:\d+: settings: the app requires PGUSER, which the environment does not provide/);
});

test.run();

// SPEC 5.2: credentials "generated once and kept (mode 0600) under the state root: stable across
// versions, restarts and gateway upgrades". A second state root meeting the same app on the same
// servers (another user's default state root, `run` or `uninstall` with another --state-dir, a
// second host) has no password for it: it used to give the role and the Redis user new ones,
// and the gateway serving the app lost its database (an outside probe), and `uninstall` from it
// dropped the app's data. Now each object carries the state root that keeps its password; any
// other is refused with the way to release it, and the serving state root goes on as before.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppPackage, isGatewayError } from 'apppkg-gateway';
import { addPackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';
import { serversMissing, startPostgres, startRedis, type RunningPostgres, type RunningRedis } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';

const test = suite('services: one app, two state roots');
const work = tempDir('apppkg-services-roots-');
const serving = join(work.path, 'state-serving');
const other = join(work.path, 'state-other');
const envFile = join(work.path, 'environment.yaml');
let pg: RunningPostgres;
let redis: RunningRedis;
let app: string;

const missing = serversMissing();
const withServers = runIf(test, missing === null, missing ?? '');

const cli = (state: string, args: string[]) => runCli([...args, '--environment', envFile, '--state-dir', state], { ms: 60_000, env: { APPPKG_STATE_DIR: state } });
const probe = (state: string, ...args: string[]) => runCli(['run', app, '--environment', envFile, '--state-dir', state, '--', 'python', 'probe.py', ...args], { ms: 60_000, env: { APPPKG_STATE_DIR: state } });
const redisCli = (...args: string[]) => execFileSync('redis-cli', ['-p', String(redis.port), '--user', 'admin', '--pass', redis.adminPassword, '--no-auth-warning', ...args], { encoding: 'utf8' }).trim();

test.before(async () => {
  if (missing) return;
  [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
  writeFileSync(envFile, `services:\n  postgresql: ${pg.url}\n  redis: ${redis.url}\n`);
  app = addPackage(work.path, 'services-probe', 'rho');
});

test.after(async () => {
  await Promise.all([pg?.stop(), redis?.stop()]);
  work.remove();
});

withServers('the state root that made them keeps them; another is refused, changes no password and drops nothing', async () => {
  const installed = await cli(serving, ['install', app]);
  assert.is(installed.status, 0, installed.stdout + installed.stderr);
  assert.is((await probe(serving, 'sql', 'CREATE TABLE kept (x int); SELECT 1')).status, 0);
  assert.is((await probe(serving, 'redis', 'SET', 'rho:k', 'kept')).status, 0);

  const run = await probe(other, 'sql', 'SELECT 1');
  assert.is(run.status, 1, run.stdout + run.stderr);
  assert.match(run.stdout + run.stderr, /postgresql role "apppkg_rho" of rho belongs to another state root \(id [0-9a-f]{16}\), not to .*state-other/);
  assert.match(run.stdout + run.stderr, /run with the --state-dir of the gateway that serves rho/);
  assert.match(run.stdout + run.stderr, /COMMENT ON ROLE "apppkg_rho" IS 'apppkg-gateway: app rho'/);
  const removed = await cli(other, ['uninstall', app, '--yes']);
  assert.is(removed.status, 1, removed.stdout + removed.stderr);
  assert.match(removed.stdout + removed.stderr, /belongs to another state root/);
  // check says it too, from that state root and from one that never provisioned anything.
  for (const state of [other, join(work.path, 'state-new')]) {
    const checked = await cli(state, ['check', app]);
    assert.is(checked.status, 1, checked.stdout + checked.stderr);
    assert.match(checked.stdout, /FAIL\s+services\.database\s+postgresql role "apppkg_rho" of rho belongs to another state root/);
    assert.match(checked.stdout, /FAIL\s+services\.redis\s+redis user "apppkg-rho" of rho belongs to another state root/);
  }
  assert.is((await cli(serving, ['check', app])).status, 0, 'the serving state root\'s check passes');
  // Through the library the fix names stateDir, the option its caller gave, not --state-dir.
  const fromOther = await AppPackage.open(app, { environment: envFile, stateDir: other });
  const refused = await fromOther.run(['python', 'probe.py', 'sql', 'SELECT 1'], { output: new PassThrough().resume() }).then(() => null, (e: unknown) => e);
  assert.ok(isGatewayError(refused) && refused.code === 'APPPKG_SERVICE_OTHER_STATE_ROOT', String(refused));
  assert.match(refused.hint, /^run with the stateDir of the gateway that serves rho \(/);
  const database = (await fromOther.check({ output: new PassThrough().resume() })).checks.find((c) => c.name === 'services.database');
  assert.match(String(database?.fix), /^run with the stateDir of the gateway that serves rho \(/, JSON.stringify(database));

  // The serving state root's passwords still open its database and its keys.
  const still = await probe(serving, 'sql', 'SELECT count(*) FROM kept');
  assert.is(still.status, 0, still.stdout + still.stderr);
  const key = await probe(serving, 'redis', 'GET', 'rho:k');
  assert.is(key.status, 0, key.stdout + key.stderr);
  assert.is(JSON.parse(key.stdout), 'kept');
});

withServers('the Redis user too: refused from another state root until released with the command the error gives', async () => {
  // Released on PostgreSQL as the error says: the other state root then meets Redis, and takes
  // over nothing until both are its to take (a refused app changes nothing on either server).
  pg.psql("COMMENT ON ROLE apppkg_rho IS 'apppkg-gateway: app rho'");
  pg.psql("COMMENT ON DATABASE apppkg_rho IS 'apppkg-gateway: app rho'");
  const run = await probe(other, 'redis', 'GET', 'rho:k');
  assert.is(run.status, 1, run.stdout + run.stderr);
  assert.match(run.stdout + run.stderr, /redis user "apppkg-rho" of rho belongs to another state root/);
  assert.match(run.stdout + run.stderr, /redis-cli DEL apppkg-gateway\/state-root\/rho/);
  assert.is(pg.psql("SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = 'apppkg_rho'"), 'apppkg-gateway: app rho');
  // The serving state root's Redis password still opens the app's keys.
  const kept = JSON.parse(readFileSync(join(serving, 'services', 'rho.json'), 'utf8')).redis.password;
  const asApp = execFileSync('redis-cli', ['-p', String(redis.port), '--user', 'apppkg-rho', '--pass', kept, '--no-auth-warning', 'GET', 'rho:k'], { encoding: 'utf8' }).trim();
  assert.is(asApp, 'kept');

  redisCli('DEL', 'apppkg-gateway/state-root/rho');
  const moved = await probe(other, 'redis', 'GET', 'rho:k');
  assert.is(moved.status, 0, moved.stdout + moved.stderr);
  assert.is(JSON.parse(moved.stdout), 'kept', 'the data came along; only the password is new');
  // An app cannot read the key that names its state root.
  const peek = await probe(other, 'redis', 'GET', 'apppkg-gateway/state-root/rho');
  assert.is(peek.status, 3, peek.stdout + peek.stderr);
  // And now the first state root is the other one, on both servers.
  const first = await probe(serving, 'redis', 'GET', 'rho:k');
  assert.is(first.status, 1, first.stdout + first.stderr);
  assert.match(first.stdout + first.stderr, /postgresql role "apppkg_rho" of rho belongs to another state root/);
});

withServers("the state root that keeps them heals its own: a credentials file removed by hand gets a new password", async () => {
  const installed = await cli(other, ['install', app]);
  assert.is(installed.status, 0, installed.stdout + installed.stderr);
  execFileSync('rm', [join(other, 'services', 'rho.json')]);
  const healed = await cli(other, ['install', app]);
  assert.is(healed.status, 0, healed.stdout + healed.stderr);
  assert.match(healed.stdout, /postgresql credentials were missing .*; a new password was set for role apppkg_rho/);
  assert.is((await probe(other, 'sql', 'SELECT count(*) FROM kept')).status, 0);
  const removed = await cli(other, ['uninstall', app, '--yes']);
  assert.is(removed.status, 0, removed.stdout + removed.stderr);
  assert.is(pg.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'apppkg_rho'"), '0');
  assert.is(redisCli('EXISTS', 'apppkg-gateway/state-root/rho'), '0');
});

test.run();

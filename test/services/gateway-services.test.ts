// Issue 15 / SPEC 5.2 under --apps: the gateway provisions each app's database on its first
// start and injects it; the password stays the same across a gateway restart and a new
// version; a kept password removed by hand is made again (and logged, never shown); an app
// asking for a service the host lacks, or whose server is down, is refused (naming the key to
// set) while the others serve.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { serversMissing, startPostgres, startRedis, type RunningPostgres, type RunningRedis } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';

const test = suite('services: under --apps');
const work = tempDir('apppkg-services-gw-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
const envFile = join(work.path, 'environment.yaml');
let pg: RunningPostgres;
let redis: RunningRedis;
let gw: RunningGateway | null = null;

const missing = serversMissing();
// Each test below needs the servers: without them it is skipped, and the run says so.
const withServers = runIf(test, missing === null, missing ?? '');

test.before(async () => {
  if (missing) return;
  [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
  writeFileSync(envFile, `services:\n  postgresql: ${pg.url}\n  redis: ${redis.url}\n`);
  addPackage(apps, 'services-probe', 'shop.1.0');
});

test.after(async () => {
  await gw?.stop();
  await Promise.all([pg?.stop(), redis?.stop()]);
  work.remove();
});

async function startGateway(environment = envFile): Promise<RunningGateway> {
  const started = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', environment], {
    ms: 60_000, env: { APPPKG_STATE_DIR: state },
  });
  gw = started;
  return started;
}

async function stopGateway(): Promise<void> {
  const pids = statusPids(await gatewayStatus(gw!));
  await gw!.stop();
  gw = null;
  await assertNoOrphans(pids);
}

async function whoami(name = 'shop'): Promise<{ user: string; database: string; rows: number[][] | null; password: string; version?: string }> {
  return waitFor(async () => {
    const res = await request(`${gw!.url}/${name}/`);
    if (res.statusCode !== 200) {
      await res.body.dump();
      return undefined;
    }
    return (await res.body.json()) as any;
  }, 60_000, `${name} to answer`);
}

const keptPassword = () => JSON.parse(readFileSync(join(state, 'services', 'shop.json'), 'utf8')).postgresql.password as string;

withServers('the first start makes the database; the same password across a restart and a new version', async () => {
  await startGateway();
  const first = await whoami();
  assert.is(first.user, 'apppkg_shop');
  assert.is(first.database, 'apppkg_shop');
  assert.match(gw!.output(), /shop: created postgresql role and database apppkg_shop/);
  const password = keptPassword();
  pg.psql('CREATE TABLE t (x int); INSERT INTO t VALUES (7); ALTER TABLE t OWNER TO apppkg_shop', { database: 'apppkg_shop' });

  await stopGateway();
  await startGateway();
  const again = await whoami();
  assert.is(again.password, first.password, 'the app got the same password after a restart');
  assert.equal(again.rows, [[7]]);
  assert.not.match(gw!.output(), /created postgresql/);

  addPackage(apps, 'services-probe', 'shop.1.1');
  await waitFor(async () => (await gatewayStatus(gw!)).apps.find((a: any) => a.name === 'shop')?.version === '1.1', 60_000, 'version 1.1 to serve');
  const next = await whoami();
  assert.is(next.password, first.password, 'a new version got the same password');
  assert.equal(next.rows, [[7]]);
  assert.is(keptPassword(), password);
  for (const secret of [password, pg.adminPassword, redis.adminPassword]) assert.not.ok(gw!.output().includes(secret), 'the log holds a password');
});

withServers('a kept password removed by hand is made again at the next start, and logged', async () => {
  await stopGateway();
  const before = keptPassword();
  rmSync(join(state, 'services', 'shop.json'));
  await startGateway();
  const after = await whoami();
  assert.equal(after.rows, [[7]], 'the same database, with its rows');
  assert.is.not(keptPassword(), before);
  assert.match(gw!.output(), /shop: postgresql credentials were missing .*; a new password was set for role apppkg_shop/);
  assert.not.ok(gw!.output().includes(keptPassword()));
});

withServers('a service the host lacks, or a server that is down, refuses that app alone, naming the key', async () => {
  await stopGateway();
  addPackage(apps, 'services-probe', 'cache', { 'app.yaml': [[/services:[\s\S]*$/, 'services:\n  redis: redis\n']] });
  addPackage(apps, 'services-probe', 'ledger', { 'app.yaml': [[/services:[\s\S]*$/, 'services:\n  database: postgresql\n']] });
  // This host: PostgreSQL at a socket where nothing listens, no Redis.
  const other = join(work.path, 'down.yaml');
  writeFileSync(other, `services:\n  postgresql: postgresql://postgres@${encodeURIComponent(join(work.path, 'nowhere'))}:5432/postgres\n`);
  // And an app that needs nothing serves on.
  addPackage(apps, 'services-probe', 'plain', { 'app.yaml': [[/services:[\s\S]*$/, 'services:\n  database: sqlite\n']] });
  await startGateway(other);
  const plain = await whoami('plain');
  assert.is(plain.user, 'sqlite');
  // The app's `problem` in /status: the refusal it has no serving version for (a version refused
  // for a server that is down is tried again by the registry, not kept as refused).
  const refusal = async (name: string) => waitFor(async () => {
    const app = (await gatewayStatus(gw!)).apps.find((a: any) => a.name === name);
    return app?.state === 'failed' && app.problem?.code ? app.problem : undefined;
  }, 60_000, `${name} to be refused`);
  const cache = await refusal('cache');
  assert.is(cache.code, 'APPPKG_SERVICE_MISSING');
  assert.match(cache.message, /cache asks for services\.redis: redis, but the host offers no redis server/);
  assert.match(cache.hint ?? JSON.stringify(cache), /services\.redis/);
  const down = await refusal('ledger');
  // Each service's state in /status (once the registry lists `services` per app: serviceStatusOf).
  const ledgerStatus = (await gatewayStatus(gw!)).apps.find((a: any) => a.name === 'ledger');
  if (ledgerStatus.services) assert.equal(ledgerStatus.services.map((x: any) => [x.name, x.kind, x.state]), [['database', 'postgresql', 'unavailable']]);
  assert.is(down.code, 'APPPKG_SERVICE_UNAVAILABLE', JSON.stringify(down));
  // Its version shows the refusal too (tried again by itself, it is not kept as refused), not
  // `standby`, a rollback target that looks fine beside the app's problem.
  const ledgerVersion = await waitFor(async () => {
    const row = (await gatewayStatus(gw!)).apps.find((a: any) => a.name === 'ledger')?.versions[0];
    return row?.state === 'starting' ? undefined : row;
  }, 30_000, 'ledger between two tries');
  assert.is(ledgerVersion.state, 'failed', JSON.stringify(ledgerVersion));
  assert.is(ledgerVersion.reason?.code, 'APPPKG_SERVICE_UNAVAILABLE');
  assert.match(down.message, /postgresql at .*nowhere:5432 \(services\.postgresql\): .*ENOENT/);
  // shop asks for Redis as well, which this host lacks: that is said first, before any server is tried.
  assert.is((await refusal('shop')).code, 'APPPKG_SERVICE_MISSING');
  // The registry tries a version refused for a server that is down again, with back-off.
  await waitFor(() => /ledger: trying again in \d+ s/.test(gw!.output()), 30_000, 'ledger to be retried');
});

test.run();

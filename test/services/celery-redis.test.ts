// A background-task queue on the gateway's Redis service, as a new user sets it up: a Flask app
// enqueues Celery tasks, a `processes:` entry runs the worker, and another request reads the
// result. The app's Redis user reaches only `NAME:*`, so Celery works there with the lines that
// docs/services.md ("A task queue on the app's Redis") gives, which the fixture's tasks.py holds
// as they are: nothing Celery sends is refused, and every key it makes is under the prefix.
// A stop of the gateway with a task in progress lets the worker finish it within the grace (its
// own warm shutdown), and leaves no process of the worker's behind.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, childPids, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { redisMissing, servicesEnvironment, startRedis, type RunningRedis } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';
import { gatewayStatus, statusPids, stopGatewayChecked } from '../helpers/status.js';

const test = suite('services: Celery on the app\'s Redis');
const work = tempDir('apppkg-services-celery-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
const APP = 'celery-tasks';
let redis: RunningRedis;
let envFile: string;
let gw: RunningGateway | null = null;

function missing(): string | null {
  const noServer = redisMissing();
  if (noServer !== null) return noServer;
  const imports = spawnSync('/usr/bin/python3', ['-c', 'import celery, flask, redis'], { stdio: 'ignore' });
  if (imports.status !== 0) return 'Debian\'s python3-celery, python3-flask and python3-redis are not installed';
  return null;
}
const why = missing();
const withCelery = runIf(test, why === null, why ?? '');

test.before(async () => {
  if (why) return;
  redis = await startRedis();
  envFile = servicesEnvironment(work.path, 'environment', { redis: redis.url });
  addPackage(apps, APP, APP);
});

test.after(async () => {
  await stopGatewayChecked(gw);
  await redis?.stop();
  work.remove();
});

const redisCli = (...args: string[]) =>
  execFileSync('redis-cli', ['-p', String(redis.port), '--user', 'admin', '--pass', redis.adminPassword, '--no-auth-warning', ...args], { encoding: 'utf8' });

async function get(path: string): Promise<any> {
  const res = await request(`${gw!.url}/${APP}${path}`, { headersTimeout: 60_000, bodyTimeout: 60_000 });
  const body = await res.body.text();
  assert.is(res.statusCode, 200, `GET ${path}: ${res.statusCode} ${body}\n${gw!.output()}`);
  return JSON.parse(body);
}

async function startGateway(): Promise<void> {
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile], {
    ms: 60_000, env: { APPPKG_STATE_DIR: state },
  });
  // The worker is up once it has bound its queue: a key the admin can see.
  await waitFor(() => redisCli('EXISTS', `${APP}:_kombu.binding.celery`).trim() === '1', 60_000, () => `the celery worker to bind its queue\n${appLog()}`);
}

const appLog = () => (existsSync(join(state, 'apps', APP, 'log', 'app.log')) ? readFileSync(join(state, 'apps', APP, 'log', 'app.log'), 'utf8') : '');

withCelery('a request enqueues a task, another reads its result; a chord and beat too; nothing refused, every key under the prefix', async () => {
  redisCli('ACL', 'LOG', 'RESET');
  await startGateway();
  const { id } = await get('/add/2/3');
  assert.equal(await get(`/wait/${id}`), { result: 5 });
  assert.equal(await get(`/result/${id}`), { state: 'SUCCESS', result: 5 });
  const chord = await get('/chord/4');
  assert.equal(await get(`/wait/${chord.id}`), { result: 12 });

  const refused = redisCli('ACL', 'LOG');
  assert.not.match(refused, new RegExp(`apppkg-${APP}`), `the app's user was refused:\n${refused}`);
  const keys = redisCli('--scan').split('\n').filter(Boolean);
  assert.ok(keys.includes(`${APP}:celery-task-meta-${id}`), keys.join(' '));
  const outside = keys.filter((k) => !k.startsWith(`${APP}:`) && k !== `apppkg-gateway/state-root/${APP}`);
  assert.equal(outside, [], 'keys outside the prefix');
  // processes.beat keeps its schedule in the data directory, not in the version's directory.
  const schedule = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('celerybeat-schedule'));
  await waitFor(() => schedule(join(state, 'apps', APP, 'data')).length > 0, 30_000, () => `beat's schedule in the data directory\n${appLog()}`);
  assert.equal(schedule(join(apps, APP)), [], 'a schedule in the app directory');
});

withCelery('a Redis restart: the worker exits at the lost connection, is started again, and takes tasks again', async () => {
  if (gw === null) await startGateway();
  const status = await gatewayStatus(gw!);
  const before = status.apps.find((a: any) => a.name === APP).processes.find((p: any) => p.name === 'worker').pid as number;
  // SIGKILL: nothing saved but the ACL file, where the gateway keeps the app's user.
  await redis.kill();
  await redis.start();
  const { id } = await get('/add/20/22');
  assert.equal(await get(`/wait/${id}`), { result: 42 }, appLog());
  const after = (await gatewayStatus(gw!)).apps.find((a: any) => a.name === APP).processes.find((p: any) => p.name === 'worker').pid as number;
  assert.is.not(after, before, 'the worker was started again');
});

withCelery('SIGTERM to the gateway with a task in progress: the worker finishes it within the grace, and no process of it is left', async () => {
  if (gw === null) await startGateway();
  const gate = join(state, 'apps', APP, 'data', 'hold');
  writeFileSync(gate, '');
  const { id } = await get('/hold');
  await waitFor(() => existsSync(`${gate}.started`), 60_000, () => `the task to start\n${appLog()}`);
  const status = await gatewayStatus(gw!);
  const worker = status.apps.find((a: any) => a.name === APP).processes.find((p: any) => p.name === 'worker').pid as number;
  const pool = await childPids(worker);
  assert.is(pool.length, 2, `the worker's pool (--concurrency 2): ${pool}`);
  const pids = [...statusPids(status), ...pool];

  const stopped = gw!.stop(60_000);
  // Celery's warm shutdown: the worker has had the stop's SIGTERM and waits for its tasks.
  await waitFor(() => /Warm shutdown \(MainProcess\)/.test(appLog()), 30_000, () => `the worker's warm shutdown\n${appLog()}`);
  rmSync(gate);
  assert.is(await stopped, 0, gw!.output());
  gw = null;
  await assertNoOrphans(pids);
  const meta = JSON.parse(redisCli('GET', `${APP}:celery-task-meta-${id}`) || 'null');
  assert.equal([meta?.status, meta?.result], ['SUCCESS', 'finished'], `the task in progress: ${JSON.stringify(meta)}\n${appLog()}`);
});

test.run();

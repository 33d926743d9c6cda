// RQ as a new user sets it up: a Flask app enqueues jobs, `rq worker` runs as a `processes:`
// entry, another request reads the result. RQ has no key prefix (its keys are `rq:*`), so on the
// app's own Redis user, limited to `NAME:*`, the worker is refused; docs/services.md says so,
// and that RQ runs on a Redis the app has alone, given as REDIS_URL in its settings, which the
// second test does. A stop of the gateway with a job in progress lets the worker finish it
// (RQ's warm shutdown waits for its work horse), and leaves no process behind.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, childPids, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { redisMissing, startRedis, type RunningRedis } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';
import { gatewayStatus, statusPids, stopGatewayChecked } from '../helpers/status.js';

const test = suite('services: RQ and the app\'s Redis');
const work = tempDir('apppkg-services-rq-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
const envFile = join(work.path, 'environment.yaml');
const APP = 'rq-tasks';
/** The host's Redis (services.redis), and the one the app has alone. */
let shared: RunningRedis;
let own: RunningRedis;
let gw: RunningGateway | null = null;

function missing(): string | null {
  const noServer = redisMissing();
  if (noServer !== null) return noServer;
  const imports = spawnSync('/usr/bin/python3', ['-c', 'import rq, flask, redis'], { stdio: 'ignore' });
  if (imports.status !== 0 || !existsSync('/usr/bin/rq')) return 'Debian\'s python3-rq, python3-flask and python3-redis are not installed';
  return null;
}
const why = missing();
const withRq = runIf(test, why === null, why ?? '');

test.before(async () => {
  if (why) return;
  [shared, own] = await Promise.all([startRedis(), startRedis()]);
  addPackage(apps, APP, APP);
});

test.after(async () => {
  await stopGatewayChecked(gw);
  await Promise.all([shared?.stop(), own?.stop()]);
  work.remove();
});

const appLog = () => (existsSync(join(state, 'apps', APP, 'log', 'app.log')) ? readFileSync(join(state, 'apps', APP, 'log', 'app.log'), 'utf8') : '');

async function startGateway(): Promise<void> {
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile], {
    ms: 60_000, env: { APPPKG_STATE_DIR: state },
  });
}

async function get(path: string): Promise<any> {
  const res = await request(`${gw!.url}/${APP}${path}`, { headersTimeout: 60_000, bodyTimeout: 60_000 });
  const body = await res.body.text();
  assert.is(res.statusCode, 200, `GET ${path}: ${res.statusCode} ${body}\n${gw!.output()}`);
  return JSON.parse(body);
}

withRq('on the app\'s own Redis user (keys NAME:* only) the worker is refused at its first command', async () => {
  writeFileSync(envFile, `services:\n  redis: ${JSON.stringify(shared.url)}\n`);
  await startGateway();
  await waitFor(() => /\[worker\] redis\.exceptions\.NoPermissionError: this user has no permissions to access one of the keys/.test(appLog()), 60_000, () => `the worker to be refused\n${appLog()}`);
  await stopGatewayChecked(gw);
  gw = null;
});

withRq('on a Redis of its own, given as REDIS_URL in its settings: a request enqueues a job, another reads its result', async () => {
  writeFileSync(envFile, `services:\n  redis: ${JSON.stringify(shared.url)}\napps:\n  ${APP}:\n    settings:\n      REDIS_URL: ${JSON.stringify(own.url)}\n`);
  await startGateway();
  const { id } = await get('/add/2/3');
  const done = await waitFor(async () => {
    const r = await get(`/result/${id}`);
    return r.state === 'finished' ? r : undefined;
  }, 60_000, () => `job ${id} to finish\n${appLog()}`);
  assert.equal(done, { state: 'finished', result: 5 });
});

withRq('SIGTERM to the gateway with a job in progress: the worker finishes it within the grace, and no process of it is left', async () => {
  if (gw === null) await startGateway();
  const gate = join(state, 'apps', APP, 'data', 'hold');
  writeFileSync(gate, '');
  const { id } = await get('/hold');
  await waitFor(() => existsSync(`${gate}.started`), 60_000, () => `the job to start\n${appLog()}`);
  const status = await gatewayStatus(gw!);
  const worker = status.apps.find((a: any) => a.name === APP).processes.find((p: any) => p.name === 'worker').pid as number;
  const horse = await childPids(worker);
  assert.is(horse.length, 1, `the worker's work horse: ${horse}`);
  const pids = [...statusPids(status), ...horse];

  const stopped = gw!.stop(60_000);
  await waitFor(() => /Warm shut down requested/.test(appLog()), 30_000, () => `the worker's warm shutdown\n${appLog()}`);
  rmSync(gate);
  assert.is(await stopped, 0, gw!.output());
  gw = null;
  await assertNoOrphans(pids);
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import sys; from redis import Redis; from rq.job import Job; j = Job.fetch(sys.argv[2], connection=Redis.from_url(sys.argv[1])); print(j.get_status(), j.result)', own.url, id], {
    encoding: 'utf8', cwd: join(apps, APP),
  });
  assert.is(probe.stdout.trim(), 'finished finished', `the job in progress: ${probe.stdout}${probe.stderr}\n${appLog()}`);
});

test.run();

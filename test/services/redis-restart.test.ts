// A Redis restarted without an aclfile (Debian's redis.conf has none) forgets the ACL users the
// gateway made: every app's command then failed with WRONGPASS, for as long as it ran, while
// `status` said "redis ready". The gateway now looks every few seconds, makes the lost users
// again with their kept passwords (the apps' workers go on, unrestarted), logs it once, and
// says `unavailable` while the server cannot be reached. A Redis with an aclfile keeps its
// users across a restart, and nothing is made again.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { serversMissing, startRedis, type RunningRedis } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';

const test = suite('services: a Redis restarted under running apps');
const work = tempDir('apppkg-services-redis-restart-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
let bare: RunningRedis;
let withAcl: RunningRedis;
let gw: RunningGateway | null = null;

const missing = serversMissing();
const withServers = runIf(test, missing === null, missing ?? '');

/** The gateway's look at its Redis users (redis-user-watch.ts REDIS_CHECK_INTERVAL_MS), with room for a slow one. */
const CHECK_MS = 3000;
const MEND_MS = 20_000;

test.before(async () => {
  if (missing) return;
  [bare, withAcl] = await Promise.all([startRedis({ aclFile: false }), startRedis()]);
  for (const name of ['cache', 'queue']) {
    addPackage(apps, 'services-probe', name, {
      'app.yaml': [[/services:[\s\S]*$/, 'services:\n  redis: redis\n'], ['deb: [python3-psycopg2, python3-redis]', 'deb: [python3-redis]']],
    });
  }
});

test.after(async () => {
  if (gw) await stopGateway();
  await Promise.all([bare?.stop(), withAcl?.stop()]);
  work.remove();
});

async function startGateway(redis: RunningRedis, name: string): Promise<void> {
  if (gw) await stopGateway(); // left by a test that failed
  const envFile = join(work.path, `${name}.yaml`);
  writeFileSync(envFile, `services:\n  redis: ${JSON.stringify(redis.url)}\n`);
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile], {
    ms: 60_000, env: { APPPKG_STATE_DIR: state },
  });
}

async function stopGateway(): Promise<void> {
  const pids = statusPids(await gatewayStatus(gw!));
  await gw!.stop();
  gw = null;
  await assertNoOrphans(pids);
}

/** The app's answer to a Redis command, run on the client its worker keeps across requests. */
async function redisCommand(app: string, cmd: string): Promise<{ status: number; answer?: string; error?: string; pid: number }> {
  const res = await request(`${gw!.url}/${app}/redis?cmd=${encodeURIComponent(cmd)}`);
  return { status: res.statusCode, ...((await res.body.json()) as { answer?: string; error?: string; pid: number }) };
}

/** Waits until `cmd` succeeds for `app`; the last failure is in the timeout's message. */
async function redisWorks(app: string, cmd: string, ms: number): Promise<{ answer?: string; pid: number }> {
  let last = '';
  return waitFor(async () => {
    const got = await redisCommand(app, cmd).catch((err: Error) => ({ status: 0, error: err.message, pid: 0 }));
    last = got.error ?? '';
    return got.status === 200 ? got : undefined;
  }, ms, `${app}: ${cmd} to work (last: ${last})`);
}

async function redisStates(): Promise<Record<string, string>> {
  const { apps: listed } = await gatewayStatus(gw!);
  return Object.fromEntries(listed.map((a: any) => [a.name, a.services.map((s: any) => `${s.name} ${s.state}`).join(', ')]));
}

const count = (pattern: RegExp): number => gw!.output().match(new RegExp(pattern.source, 'g'))?.length ?? 0;

withServers('a Redis without an aclfile restarted: unavailable while down, then each app\'s user made again, the workers unrestarted', async () => {
  await startGateway(bare, 'bare');
  for (const app of ['cache', 'queue']) await redisWorks(app, `SET ${app}:a 1`, 60_000);
  const workersBefore = statusPids(await gatewayStatus(gw!)).sort();
  assert.equal(await redisStates(), { cache: 'redis ready', queue: 'redis ready' });

  await bare.kill();
  await waitFor(async () => Object.values(await redisStates()).every((s) => s === 'redis unavailable') || undefined, MEND_MS, 'status to say unavailable');
  const { apps: listed } = await gatewayStatus(gw!);
  assert.match(listed.find((a: any) => a.name === 'cache').services[0].reason, /redis at 127\.0\.0\.1:\d+ \(services\.redis\): connect ECONNREFUSED .*\(fix: start the server/);
  const cli = await runCli(['status', '--admin', gw!.adminUrl!.replace(/^http:\/\//, '')], { ms: 15_000 });
  assert.match(cli.stdout, /service redis: redis unavailable: redis at 127\.0\.0\.1:\d+ \(services\.redis\): connect ECONNREFUSED/);
  // Down for a few looks: said once, not at each.
  await new Promise((resolve) => setTimeout(resolve, 2 * CHECK_MS + 500));
  assert.is(count(/connect ECONNREFUSED [\d.:]+; apps cache, queue get errors from it until it is back/), 1, gw!.output());

  await bare.start(); // the same port and configuration, no users but the default one
  const mended = await redisWorks('cache', 'SET cache:b 2', MEND_MS);
  assert.ok(workersBefore.includes(mended.pid), 'a worker from before the restart answers: the app was not restarted');
  await redisWorks('queue', 'GET queue:b', MEND_MS);
  assert.equal(statusPids(await gatewayStatus(gw!)).sort(), workersBefore);
  await waitFor(async () => Object.values(await redisStates()).every((s) => s === 'redis ready') || undefined, MEND_MS, 'status to say ready');
  assert.is(count(/redis at 127\.0\.0\.1:\d+: reachable again/), 1, gw!.output());
  assert.is(count(/redis at 127\.0\.0\.1:\d+: restarted without its ACL users; made again for apps cache, queue/), 1, gw!.output());
  // The users it made are still theirs, with the first provisioning's rules: another app's keys stay out of reach.
  assert.match((await redisCommand('cache', 'GET queue:a')).error ?? '', /NoPermission|NOPERM/);
  // Once mended, the looks that follow find every user: nothing is made again.
  await new Promise((resolve) => setTimeout(resolve, 2 * CHECK_MS + 500));
  assert.is(count(/made again/), 1, gw!.output());
  // A user deleted by hand, the server running on (its run_id the same): made again, and said so.
  execFileSync('redis-cli', ['-p', String(bare.port), '--no-auth-warning', '-a', bare.adminPassword, 'ACL', 'DELUSER', 'apppkg-queue']);
  await waitFor(() => count(/redis at 127\.0\.0\.1:\d+: lost the ACL users, deleted while it ran; made again for app queue/) === 1 || undefined, MEND_MS, 'the deleted user to be made again');
  await redisWorks('queue', 'GET queue:b', MEND_MS);
  assert.not.ok(gw!.output().includes(bare.adminPassword), 'the log holds a password');
  await stopGateway();
});

withServers('a Redis with an aclfile restarted: its users outlive it, and none is made again', async () => {
  await startGateway(withAcl, 'acl');
  await redisWorks('cache', 'SET cache:a 1', 60_000);
  const workersBefore = statusPids(await gatewayStatus(gw!)).sort();
  await withAcl.kill();
  await withAcl.start();
  assert.ok(workersBefore.includes((await redisWorks('cache', 'SET cache:c 3', MEND_MS)).pid));
  assert.equal(statusPids(await gatewayStatus(gw!)).sort(), workersBefore);
  // Looks enough to have seen the new server.
  await new Promise((resolve) => setTimeout(resolve, 2 * CHECK_MS + 500));
  assert.not.match(gw!.output(), /made again|could not make/);
  assert.equal(await redisStates(), { cache: 'redis ready', queue: 'redis ready' });
  await stopGateway();
});

test.run();

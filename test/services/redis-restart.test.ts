// A Redis restarted without an aclfile (Debian's redis.conf has none) forgets the ACL users the
// gateway made: every app's command then failed with WRONGPASS, for as long as it ran, while
// `status` said "redis ready". The gateway now looks every few seconds, makes the lost users
// again with their kept passwords (the apps' workers go on, unrestarted), logs it once, and
// says `unavailable` while the server cannot be reached. A Redis with an aclfile keeps its
// users across a restart, and nothing is made again.
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { serversMissing, startRedis, type RunningRedis } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';
import { REDIS_CHECK_ENV } from '../../src/services/redis-user-watch.js';

const test = suite('services: a Redis restarted under running apps');
const work = tempDir('apppkg-services-redis-restart-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
let bare: RunningRedis;
let withAcl: RunningRedis;
let gw: RunningGateway | null = null;

const missing = serversMissing();
const withServers = runIf(test, missing === null, missing ?? '');

/** The gateway's look at its Redis users: every 3 s (REDIS_CHECK_INTERVAL_MS), here every 500 ms (a test knob). */
const CHECK_MS = 500;
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

/** An environment file naming `url` as services.redis. */
function environmentFile(name: string, url: string): string {
  const file = join(work.path, `${name}.yaml`);
  writeFileSync(file, `services:\n  redis: ${JSON.stringify(url)}\n`);
  return file;
}

async function startGateway(redis: RunningRedis | string, name: string, opts: { apps?: string; state?: string } = {}): Promise<void> {
  if (gw) await stopGateway(); // left by a test that failed
  const envFile = environmentFile(name, typeof redis === 'string' ? redis : redis.url);
  const root = opts.state ?? state;
  gw = await startCli(['--apps', opts.apps ?? apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', root, '--environment', envFile], {
    ms: 60_000, env: { APPPKG_STATE_DIR: root, [REDIS_CHECK_ENV]: String(CHECK_MS) },
  });
}

/** redis-cli on `redis` as its admin; the answer as redis-cli prints it. */
function adminCli(redis: RunningRedis, ...args: string[]): string {
  return execFileSync('redis-cli', ['-p', String(redis.port), '--no-auth-warning', '-a', redis.adminPassword, ...args], { encoding: 'utf8' }).trim();
}

/**
 * A TCP proxy to `port` that can hold: while held, a new connection is accepted but what its
 * client sends is kept back until `release`, so a look of the gateway's (one admin connection
 * per look) can be caught mid-way, after it chose which users to look at.
 */
async function startHoldingProxy(port: number): Promise<{ url: string; hold(): void; release(): void; heldWithData(): number; connections(): number; stop(): Promise<void> }> {
  let holding = false;
  const held: Array<{ pending: Buffer[]; flush: () => void }> = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    upstream.pipe(client);
    if (!holding) {
      client.pipe(upstream);
      return;
    }
    const entry = { pending: [] as Buffer[], flush: () => {} };
    const onData = (chunk: Buffer) => entry.pending.push(chunk);
    client.on('data', onData);
    entry.flush = () => {
      client.off('data', onData);
      for (const chunk of entry.pending) upstream.write(chunk);
      entry.pending = [];
      client.pipe(upstream);
    };
    held.push(entry);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as net.AddressInfo;
  return {
    url: `redis://:${bare.adminPassword}@127.0.0.1:${own}/0`,
    hold: () => (holding = true),
    release: () => {
      holding = false;
      for (const entry of held.splice(0)) entry.flush();
    },
    heldWithData: () => held.filter((e) => e.pending.length > 0).length,
    connections: () => sockets.size,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
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
  }, ms, () => `${app}: ${cmd} to work (last: ${last})`);
}

async function redisStates(): Promise<Record<string, string>> {
  const { apps: listed } = await gatewayStatus(gw!);
  return Object.fromEntries(listed.map((a: any) => [a.name, a.services.map((s: any) => `${s.name} ${s.state}`).join(', ')]));
}

const count = (pattern: RegExp): number => gw!.output().match(new RegExp(pattern.source, 'g'))?.length ?? 0;

/** INFO commands `redis` has run: a look of the gateway's sends two (ioredis' ready check as it connects, then INFO server). */
function infoCalls(redis: RunningRedis): number {
  // As its admin: `admin` where an aclfile names one, else the default user (redis-cli -u sends an empty name).
  const user = new URL(redis.url).username;
  const stats = execFileSync('redis-cli', ['-p', String(redis.port), '--no-auth-warning', ...(user ? ['--user', user] : []), '-a', redis.adminPassword, 'INFO', 'commandstats'], { encoding: 'utf8', timeout: 5000 });
  return Number(/^cmdstat_info:calls=(\d+)/m.exec(stats)?.[1] ?? 0);
}

/**
 * Waits for two more looks of the gateway's at `redis`: what a look did not do (say a line again,
 * make a user again) is known only once looks have run. Counted at the server, so a loaded host
 * that delays them makes the wait longer, not the test weaker. Each INFO asked here counts too.
 */
async function twoMoreLooks(redis: RunningRedis): Promise<void> {
  const before = infoCalls(redis);
  let asked = 0;
  await waitFor(() => infoCalls(redis) - before - ++asked >= 4 || undefined, MEND_MS, 'two more looks of the gateway at the server', 100);
}

withServers('a Redis without an aclfile restarted: unavailable while down, then each app\'s user made again, the workers unrestarted', async () => {
  await startGateway(bare, 'bare');
  for (const app of ['cache', 'queue']) await redisWorks(app, `SET ${app}:a 1`, 60_000);
  const workersBefore = statusPids(await gatewayStatus(gw!)).sort();
  assert.equal(await redisStates(), { cache: 'redis ready', queue: 'redis ready' });

  await bare.kill();
  await waitFor(async () => Object.values(await redisStates()).every((s) => s === 'redis unavailable') || undefined, MEND_MS, 'status to say unavailable');
  // A look under way as the server died saw its connection close, not refused: the reason is
  // that one until the next look (on a busy host they meet); the look after is refused.
  let reason = '';
  await waitFor(async () => {
    const { apps: listed } = await gatewayStatus(gw!);
    reason = listed.find((a: any) => a.name === 'cache').services[0].reason;
    return /connect ECONNREFUSED/.test(reason) || undefined;
  }, MEND_MS, () => `the reason to be the refused connection (last: ${reason})`);
  assert.match(reason, /redis at 127\.0\.0\.1:\d+ \(services\.redis\): connect ECONNREFUSED .*\(fix: start the server/);
  const cli = await runCli(['status', '--admin', gw!.adminUrl!.replace(/^http:\/\//, '')], { ms: 15_000 });
  assert.match(cli.stdout, /service redis: redis unavailable: redis at 127\.0\.0\.1:\d+ \(services\.redis\): connect ECONNREFUSED/);
  // Down for a few looks: said once, not at each. Nothing counts a look at a server that is
  // gone: the time of several, with room for a loaded host.
  await new Promise((resolve) => setTimeout(resolve, 4 * CHECK_MS + 500));
  assert.is(count(/; apps cache, queue get errors from it until it is back/), 1, gw!.output());

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
  await twoMoreLooks(bare);
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
  await twoMoreLooks(withAcl);
  assert.not.match(gw!.output(), /made again|could not make/);
  assert.equal(await redisStates(), { cache: 'redis ready', queue: 'redis ready' });
  await stopGateway();
});

withServers('an app taken out of --apps and uninstalled while a look is under way: its user is not made again when the look goes on', async () => {
  const ownApps = join(work.path, 'race-apps');
  const ownState = join(work.path, 'race-state');
  const dir = addPackage(ownApps, 'services-probe', 'racer', {
    'app.yaml': [[/services:[\s\S]*$/, 'services:\n  redis: redis\n'], ['deb: [python3-psycopg2, python3-redis]', 'deb: [python3-redis]']],
  });
  const proxy = await startHoldingProxy(bare.port);
  try {
    await startGateway(proxy.url, 'race', { apps: ownApps, state: ownState });
    await redisWorks('racer', 'SET racer:a 1', 60_000);
    const pids = statusPids(await gatewayStatus(gw!));
    // The next look connects, having listed the users it will look at (racer's among them), and waits.
    proxy.hold();
    await waitFor(() => proxy.heldWithData() > 0 || undefined, MEND_MS, 'a look of the gateway to reach the proxy');
    // The app leaves --apps (its workers stop, the gateway no longer keeps its user) and is uninstalled.
    // Moved, not renamed: its name is its directory's.
    const outside = join(work.path, 'uninstalled', 'racer');
    mkdirSync(dirname(outside));
    renameSync(dir, outside);
    await waitFor(async () => (await gatewayStatus(gw!)).apps.every((a: any) => a.name !== 'racer') || undefined, 30_000, 'racer to leave the gateway');
    await assertNoOrphans(pids);
    const uninstall = await runCli(['uninstall', outside, '--yes', '--state-dir', ownState, '--environment', environmentFile('race-direct', bare.url)], { ms: 60_000 });
    assert.is(uninstall.status, 0, uninstall.stderr + uninstall.stdout);
    assert.match(uninstall.stdout + uninstall.stderr, /dropped redis user apppkg-racer and its keys/, uninstall.stdout + uninstall.stderr);
    // The look goes on: it finds racer's user missing, and must not make it again. Its check is
    // over once its connection (the proxy's last: racer's workers are gone) is closed; a remake
    // would open another at once, so a few looks' time after that (no look follows: no app of
    // this gateway uses Redis now, and none is counted at the server).
    proxy.release();
    await waitFor(() => proxy.connections() === 0 || undefined, MEND_MS, 'the held look\'s check to end');
    await new Promise((resolve) => setTimeout(resolve, 2 * CHECK_MS + 500));
    assert.is(adminCli(bare, 'ACL', 'GETUSER', 'apppkg-racer'), '', 'the uninstalled app\'s user was made again');
    assert.is(adminCli(bare, 'EXISTS', 'apppkg-gateway/state-root/racer'), '0');
    assert.not.match(gw!.output(), /made again|could not make/);
    await stopGateway();
  } finally {
    proxy.release();
    await proxy.stop();
  }
});

withServers("a lost user whose name another state root has claimed since (the claim outlived the users): not made again by this one's look, said once, until released", async () => {
  await startGateway(bare, 'claimed');
  await redisWorks('cache', 'SET cache:a 1', 60_000);
  // What a Redis restarted with its data but without an aclfile keeps, once the app moved to another
  // state root: that root's claim, and no user.
  adminCli(bare, 'SET', 'apppkg-gateway/state-root/cache', '0123456789abcdef');
  adminCli(bare, 'ACL', 'DELUSER', 'apppkg-cache');
  await waitFor(() => /cache: could not make redis user apppkg-cache again on 127\.0\.0\.1:\d+: .*0123456789abcdef/.test(gw!.output()) || undefined, MEND_MS, 'the look to refuse the claimed user');
  assert.is(adminCli(bare, 'ACL', 'GETUSER', 'apppkg-cache'), '', 'another state root\'s user was made with this one\'s password');
  assert.is(adminCli(bare, 'GET', 'apppkg-gateway/state-root/cache'), '0123456789abcdef');
  await waitFor(async () => (await redisStates()).cache === 'redis refused' || undefined, MEND_MS, 'status to say refused');
  await twoMoreLooks(bare);
  assert.is(count(/could not make redis user apppkg-cache again/), 1, gw!.output());
  // Released as the error says: the next look makes it again, with its claim.
  assert.match(gw!.output(), /redis-cli DEL apppkg-gateway\/state-root\/cache/);
  adminCli(bare, 'DEL', 'apppkg-gateway/state-root/cache');
  await redisWorks('cache', 'GET cache:a', MEND_MS);
  await waitFor(async () => (await redisStates()).cache === 'redis ready' || undefined, MEND_MS, 'status to say ready');
  const claim = adminCli(bare, 'GET', 'apppkg-gateway/state-root/cache');
  assert.match(claim, /^[0-9a-f]{16}$/);
  assert.is.not(claim, '0123456789abcdef');
  await stopGateway();
});

test.run();

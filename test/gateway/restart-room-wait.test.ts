// `restart NAME` of an app that alone fills --max-workers under steady traffic waits for room
// until the old version has nothing in flight, which may be never, and printed nothing while it
// waited (`timeout 25 apppkg-gateway restart` ended 124, silent). A real gateway, --max-workers 2,
// one app of 2 workers and 8 keep-alive clients on a slow path: the command says on stderr what
// the restart waits for and what lets it go on, goes on once the load stops, and past
// --room-wait exits 1 saying the gateway still holds the restart, which then goes on by itself.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clientLoop, writePackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, BIN, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { appStatus, statusPids } from '../helpers/status.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('gateway: a restart waiting for room under --max-workers says so');

const dir = tempDir('apppkg-room-wait-');
const state = warmStateDir('apppkg-room-wait-state-');
const apps = join(dir.path, 'apps');
let gw: RunningGateway | undefined;
const pids = new Set<number>();

test.before(async () => {
  mkdirSync(apps);
  writePackage(apps, 'busy', {
    'app.yaml': 'platform: python, wsgi\napp: busy_app:application\n',
    'busy_app.py': [
      'import json, time',
      '',
      'def application(environ, start_response):',
      '    time.sleep(0.3)',
      '    start_response("200 OK", [("Content-Type", "application/json")])',
      '    return [json.dumps({"version": "1"}).encode()]',
      '',
    ].join('\n'),
  });
  const env = join(dir.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  busy:\n    workers: 2\n    threads: 2\n');
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', env, '--access-log', 'off', '--settle', '0', '--max-workers', '2']);
});

test.after(async () => {
  try {
    await gw?.stop();
    await assertNoOrphans([...pids]);
  } finally {
    dir.remove();
    state.remove();
  }
});

const admin = (): string => new URL(gw!.adminUrl!).host;

/** The app's status once `ready` holds of it. */
async function busyWhen(ready: (app: any) => boolean, what: string): Promise<any> {
  let seen: unknown;
  return waitFor(async () => {
    const app = await appStatus(gw!, 'busy');
    for (const pid of statusPids({ apps: app ? [app] : [] })) pids.add(pid);
    seen = app;
    return app !== undefined && ready(app) ? app : undefined;
  }, 30_000, () => `busy: ${what}; its status: ${JSON.stringify(seen)}`, ASK_GATEWAY_EVERY_MS);
}

const waitsForRoom = (app: any): boolean => app.versions.some((v: any) => v.state === 'starting' && v.waitingFor?.for === 'room');
const restarts = (app: any): number => app.history.filter((e: any) => e.kind === 'restarted').length;

test('under load the restart says what it waits for and what lets it go on, then goes on once the load stops (--room-wait 0)', async () => {
  await busyWhen((a) => a.state === 'ready', 'to serve');
  const load = clientLoop(`${gw!.url}/busy/`, 8, 60_000);
  try {
    await busyWhen((a) => a.inFlight > 0, 'to hold requests');
    const restart = runCli(['restart', 'busy', '--admin', admin(), '--room-wait', '0', '--state-dir', state.path], { ms: 60_000 });
    // Told within a few seconds: the waiting is long enough for the command to have said it.
    await busyWhen((a) => waitsForRoom(a) && Date.parse(a.versions.find((v: any) => v.state === 'starting').waitingFor.since) < Date.now() - 5000, 'its restart to wait 5 s for room');
    await load.stop();
    const r = await restart;
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stderr, /^busy: the restart waits for room for 2 workers under --max-workers 2: every running app holds requests \(\d+ s so far\)$/m);
    assert.match(r.stderr, /here busy itself, whose serving workers \(2\) fill --max-workers 2, with \d+ requests? in flight now; to let it go on, raise the gateway's --max-workers, lower `workers` of busy/);
    assert.match(r.stderr, /or wait for the load to fall\n/);
    assert.not.match(r.stderr, /gives up waiting/);
    assert.match(r.stdout, /put to sleep meanwhile/);
  } finally {
    await load.stop();
  }
  assert.equal(load.result.failures, []);
});

test('with no option, the command says within seconds what the restart waits for, as it goes on waiting', async () => {
  const load = clientLoop(`${gw!.url}/busy/`, 8, 60_000);
  const cli = spawn(BIN, ['restart', 'busy', '--admin', admin()], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => cli.once('close', () => resolve()));
  let stderr = '';
  cli.stderr!.on('data', (c) => (stderr += c));
  cli.stdout!.resume();
  try {
    await busyWhen((a) => a.state === 'ready' && a.inFlight > 0, 'woken, holding requests');
    await waitFor(() => /\(environment\.yaml's `apps: \{busy: \{workers: N\}\}`\), or wait for the load to fall; this command gives up waiting after 90 s \(--room-wait\)\n/.test(stderr), 15_000, () => `the command to say what its restart waits for; it said: ${JSON.stringify(stderr)}`);
    assert.match(stderr, /^busy: the restart waits for room for 2 workers under --max-workers 2: every running app holds requests/);
    assert.is(cli.exitCode, null, 'it waits on');
  } finally {
    cli.kill('SIGTERM');
    await exited;
    await load.stop();
  }
  assert.equal(load.result.failures, []);
  // The restart it asked for is the gateway's own to finish, once the load stopped.
  await busyWhen((a) => !a.versions.some((v: any) => v.state === 'starting'), 'its restart to be done once the load stopped');
});

test('past --room-wait the command exits 1 saying the gateway holds the restart, which goes on once the load stops', async () => {
  const load = clientLoop(`${gw!.url}/busy/`, 8, 60_000);
  let before = 0;
  try {
    before = restarts(await busyWhen((a) => a.state === 'ready' && a.inFlight > 0 && a.workers.length === 2, 'woken, holding requests'));
    const r = await runCli(['restart', 'busy', '--admin', admin(), '--room-wait', '3', '--state-dir', state.path], { ms: 30_000 });
    assert.is(r.status, 1, r.stderr);
    assert.is(r.stdout, '');
    assert.match(r.stderr, /^busy: the restart waits for room for 2 workers under --max-workers 2: every running app holds requests/m);
    assert.match(r.stderr, /this command gives up waiting after 3 s \(--room-wait\)/);
    assert.match(r.stderr, /^apppkg-gateway: the restart of busy still waits after \d+ s for room for 2 workers under --max-workers 2: every running app holds requests; the gateway goes on with it once there is room/m);
    assert.match(r.stderr, /fix: it goes on once a running app has nothing in flight.*; or run `apppkg-gateway restart busy --room-wait 0` to wait as long as it takes$/m);
    await busyWhen(waitsForRoom, 'its restart, still owed, to wait for room');
  } finally {
    await load.stop();
  }
  assert.equal(load.result.failures, []);
  await busyWhen((a) => !a.versions.some((v: any) => v.state === 'starting') && restarts(a) > before, 'its restart to be done once the load stopped');
});

test('--room-wait takes a whole number of seconds', async () => {
  const r = await runCli(['restart', 'busy', '--admin', admin(), '--room-wait', 'soon'], { ms: 15_000 });
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /--room-wait: expected an integer >= 0, found "soon"/);
});

test.run();

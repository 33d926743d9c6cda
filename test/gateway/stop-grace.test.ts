// The gateway's stop (SIGTERM) through the real CLI: once no request is in flight its workers
// are told to stop and have what is left of --grace to end (work an ASGI app runs after a
// response, its lifespan shutdown), not a fixed 5 s that killed a slow shutdown while most of
// the grace was unused. A worker still in a request whose client left keeps its 5 s
// (proxy/stop-after-clients-left.test.ts). And an app removed while the gateway runs, its
// workers in a slow lifespan shutdown: status shows them stopping, and since when, until they
// are gone. A `processes:` command that ignores SIGTERM is named in the log while it holds the stop.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';
import { assertNoOrphans, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('gateway stop: the workers\' share of the grace');

/** Past the 5 s a worker in a request has: how long each app's work, or shutdown, takes. */
const SLOW_S = 6;

/**
 * An ASGI app that answers, then works on for `afterS` seconds (a task it started), and whose
 * lifespan shutdown takes `shutdownS`; it logs how each ends.
 */
function asgiApp(afterS: number, shutdownS: number): string {
  return `import asyncio, os
LOG = os.path.join(os.environ["APPPKG_DATA_DIR"], "events.log")
def event(text):
    with open(LOG, "a") as f:
        f.write(text + "\\n")
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                event("shutdown")
                try:
                    await asyncio.sleep(${shutdownS})
                except asyncio.CancelledError:
                    event("shutdown cancelled")
                    raise
                event("shutdown done")
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
    try:
        await asyncio.sleep(${afterS})
        event("work done")
    except asyncio.CancelledError:
        event("cancelled")
        raise
`;
}

test('an idle gateway\'s SIGTERM lets workers finish their work after a response and a slow lifespan shutdown within --grace, not 5 s', async () => {
  const work = tempDir('apppkg-stop-grace-');
  const apps = join(work.path, 'apps');
  writePackage(apps, 'later', { 'app.yaml': 'platform: python, asgi\napp: later:app\n', 'later.py': asgiApp(SLOW_S, 0) });
  writePackage(apps, 'closer', { 'app.yaml': 'platform: python, asgi\napp: closer:app\n', 'closer.py': asgiApp(0, SLOW_S) });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--access-log', 'off', '--grace', '20']);
  const events = (app: string): string[] => {
    const file = join(work.path, 'state', 'apps', app, 'data', 'events.log');
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
  };
  try {
    const pids = statusPids(await gatewayStatus(gw));
    const res = await request(`${gw.url}/later/`);
    assert.is(res.statusCode, 200);
    await res.body.text();
    // Nothing is in flight for the front: the worker alone holds its task.
    assert.is(await gw.stop(30_000), 0, gw.output());
    // Its task ran to its end (not cancelled at 5 s), then its lifespan shutdown.
    const later = events('later');
    assert.ok(later.includes('work done') && !later.includes('cancelled'), later.join('\n'));
    assert.is(later[later.length - 1], 'shutdown done', later.join('\n'));
    // Each of the other app's workers ran its whole lifespan shutdown.
    const closer = events('closer');
    assert.ok(closer.length > 0 && !closer.includes('shutdown cancelled'), closer.join('\n'));
    assert.is(closer.filter((e) => e === 'shutdown done').length, closer.filter((e) => e === 'shutdown').length, closer.join('\n'));
    await assertNoOrphans(pids);
  } finally {
    await gw.stop();
    work.remove();
  }
});

test('an app whose directory is removed stays in status, stopping, while its workers run their lifespan shutdown', async () => {
  const work = tempDir('apppkg-stop-removed-');
  const apps = join(work.path, 'apps');
  const dir = writePackage(apps, 'closer', { 'app.yaml': 'platform: python, asgi\napp: closer:app\n', 'closer.py': asgiApp(0, 3) });
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  closer:\n    workers: 1\n');
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--environment', env, '--access-log', 'off']);
  try {
    const [pid] = statusPids(await gatewayStatus(gw));
    rmSync(dir, { recursive: true });
    gw.child.kill('SIGHUP');
    const app = await waitFor(async () => (await gatewayStatus(gw)).apps.find((a: any) => a.name === 'closer' && a.state !== 'ready') ?? null, 10_000, 'the app to leave `ready`');
    assert.is(app.state, 'stopping', JSON.stringify(app));
    assert.equal(app.versions.map((v: any) => [v.state, v.workers.map((w: any) => [w.pid, w.state])]), [['draining', [[pid, 'stopping']]]]);
    // Since when: how long its shutdown has taken so far.
    const since = app.versions[0].workers[0].stoppingSince;
    assert.ok(typeof since === 'string' && Date.parse(since) <= Date.now(), JSON.stringify(app.versions[0].workers[0]));
    const table = await runCli(['status', '--admin', new URL(gw.adminUrl!).host]);
    assert.match(table.stdout, /closer\s+stopping/, table.stdout + table.stderr);
    assert.ok(table.stdout.includes(`its workers: ${pid} stopping since ${since}`), table.stdout);
    // Gone with its last process.
    await waitFor(async () => !(await gatewayStatus(gw)).apps.some((a: any) => a.name === 'closer'), 15_000, 'the app to leave status');
    await assertNoOrphans([pid]);
  } finally {
    await gw.stop();
    work.remove();
  }
});

test('the gateway\'s stop can be watched in status until its workers are gone: the admin listener closes last', async () => {
  const work = tempDir('apppkg-stop-watched-');
  const apps = join(work.path, 'apps');
  writePackage(apps, 'closer', { 'app.yaml': 'platform: python, asgi\napp: closer:app\n', 'closer.py': asgiApp(0, SLOW_S) });
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  closer:\n    workers: 1\n');
  // A restart needs it when the gateway runs as root (SPEC 5.4).
  const token = join(work.path, 'admin-token');
  writeFileSync(token, 'secret\n', { mode: 0o600 });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', token, '--state-dir', join(work.path, 'state'), '--environment', env, '--access-log', 'off', '--grace', '20']);
  const admin = ['--admin', new URL(gw.adminUrl!).host, '--admin-token', token];
  const gatewayStatus = async (): Promise<any> => (await request(`${gw.adminUrl}/status`, { headers: { authorization: 'Bearer secret' } })).body.json();
  try {
    const [pid] = statusPids(await gatewayStatus());
    assert.equal((await gatewayStatus()).state, 'running');
    gw.child.kill('SIGTERM');
    const status = await waitFor(async () => {
      const now = await gatewayStatus();
      return now.apps[0]?.workers[0]?.state === 'stopping' ? now : null;
    }, 10_000, 'the worker to be stopping in status');
    assert.is(status.state, 'stopping');
    assert.ok(Date.parse(status.stoppingSince) <= Date.parse(status.now), JSON.stringify(status));
    const worker = status.apps[0].workers[0];
    assert.is(worker.pid, pid);
    assert.ok(typeof worker.stoppingSince === 'string', JSON.stringify(worker));
    const table = await runCli(['status', ...admin]);
    assert.ok(table.stdout.includes(`; stopping since ${status.stoppingSince}`), table.stdout + table.stderr);
    assert.ok(table.stdout.includes(`workers: ${pid} stopping since ${worker.stoppingSince}`), table.stdout);
    // Nothing starts while it stops: a restart says why it is not done.
    const restart = await runCli(['restart', 'closer', ...admin]);
    assert.is(restart.status, 1, restart.stdout + restart.stderr);
    assert.match(restart.stderr, /the gateway is stopping/, restart.stderr);
    // The one SIGTERM above: the gateway ends by itself once the shutdown is done.
    await waitFor(() => gw.child.exitCode !== null || gw.child.signalCode !== null, 30_000, 'the gateway to exit');
    assert.is(gw.child.exitCode, 0, gw.output());
    await assertNoOrphans([pid]);
  } finally {
    await gw.stop();
    work.remove();
  }
});

/**
 * Stops `gw`, whose app's one process holds the stop to the end of --grace, and checks that the
 * log said `said(pid)` of it meanwhile, then "stopped", and that the process is gone.
 */
async function stopSaying(gw: RunningGateway, said: (pid: number) => RegExp): Promise<void> {
  const [pid] = statusPids(await gatewayStatus(gw));
  assert.ok(pid, 'the app runs its process');
  assert.is(await gw.stop(30_000), 0, gw.output());
  assert.match(gw.output(), said(pid));
  assert.match(gw.output(), /\napppkg-gateway: stopped\n/);
  await assertNoOrphans([pid]);
}

test('a lifespan shutdown that never completes holds the stop to the end of --grace, and the log names its app and worker meanwhile', async () => {
  const work = tempDir('apppkg-stop-hung-');
  const apps = join(work.path, 'apps');
  writePackage(apps, 'hanger', { 'app.yaml': 'platform: python, asgi\napp: hanger:app\n', 'hanger.py': asgiApp(0, 3600) });
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  hanger:\n    workers: 1\n');
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--environment', env, '--access-log', 'off', '--grace', String(SLOW_S)]);
  try {
    // Between "stopping" and "stopped": which app's worker the stop waits for, and until when.
    await stopSaying(gw, (pid) => new RegExp(`\\napppkg-gateway: stopping: waiting for 1 worker to end its own shutdown \\(an ASGI lifespan shutdown, work after a response\\): hanger \\(worker ${pid}, \\d+ s\\); at the end of --grace, in \\d+ s, what still runs is cancelled, and killed 5 s later\\n`));
  } finally {
    await gw.stop();
    work.remove();
  }
});

test('a worker whose lifespan shutdown ignores the cancel at the end of --grace is killed 5 s later, and the gateway\'s log and the app\'s say so', async () => {
  const work = tempDir('apppkg-stop-killed-');
  const apps = join(work.path, 'apps');
  const stubborn = `import asyncio
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        assert (await receive())["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.complete"})
        await receive()
        print("shutdown begins", flush=True)
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                print("shutdown ignores the cancel", flush=True)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
`;
  writePackage(apps, 'stubborn', { 'app.yaml': 'platform: python, asgi\napp: stubborn:app\n', 'stubborn.py': stubborn });
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  stubborn:\n    workers: 1\n');
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--environment', env, '--access-log', 'off', '--grace', '1']);
  try {
    const [pid] = statusPids(await gatewayStatus(gw));
    assert.is(await gw.stop(30_000), 0, gw.output());
    const said = `stubborn: worker ${pid} had not exited 5 s after the end of its grace at the gateway's stop (its lifespan shutdown did not complete, or a task ignored its cancellation, or sync code held the event loop): killed`;
    assert.ok(gw.output().includes(`\napppkg-gateway: ${said}\n`), gw.output());
    const appLog = readFileSync(join(work.path, 'state', 'apps', 'stubborn', 'log', 'app.log'), 'utf8');
    assert.match(appLog, /shutdown begins[\s\S]*shutdown ignores the cancel/);
    assert.ok(appLog.includes(`[apppkg-gateway] ${said.slice('stubborn: '.length)}`), appLog);
    await assertNoOrphans([pid]);
  } finally {
    await gw.stop();
    work.remove();
  }
});

test('a processes: command that ignores SIGTERM holds the stop to the end of --grace, and the log names its app, process and pid meanwhile', async () => {
  const work = tempDir('apppkg-stop-deaf-');
  const apps = join(work.path, 'apps');
  writePackage(apps, 'deaf', {
    'app.yaml': 'platform: python, command\nprocesses:\n  web:\n    command: python3 deaf.py\n',
    'deaf.py': `import http.server, os, signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Hello).serve_forever()
`,
  });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--access-log', 'off', '--grace', String(SLOW_S)]);
  try {
    await stopSaying(gw, (pid) => new RegExp(`\\napppkg-gateway: stopping: waiting for 1 process to exit after its SIGTERM: deaf \\(web, pid ${pid}\\); at the end of --grace, in \\d+ s, it is killed with what it started\\n`));
  } finally {
    await gw.stop();
    work.remove();
  }
});

test.run();

// A worker's exit after it served is the app's, whatever its status: it is replaced with the
// back-off (SPEC 4), even when the status is 4, which the shim uses for "the app failed to
// import" before it is ready. And requests never wait for nobody: while no worker can take them
// (an app that no longer imports after its file changed under it), they get a 504 after the
// app's `timeout`, and the app serves again once the file is fixed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { statusPids } from '../helpers/status.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('worker exits');
const apps = tempDir('apppkg-exits-apps-');
const state = tempDir('apppkg-exits-state-');
let gw: RunningGateway;
let appFile = '';
const seen: number[] = [];

test.before(async () => {
  const dir = addPackage(apps.path, 'exit-status', 'quits');
  appFile = join(dir, 'app.py');
  const envFile = join(state.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  quits:\n    workers: 1\n    timeout: 2\n');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile, '--access-log', 'off']);
});

test.after(async () => {
  await gw?.stop();
  await assertNoOrphans(seen);
  apps.remove();
  state.remove();
});

async function workerPids(): Promise<number[]> {
  const status = (await (await request(`${gw.adminUrl}/status`)).body.json()) as any;
  const pids = statusPids(status);
  seen.push(...pids);
  return pids.filter((pid) => pid !== status.pid);
}

async function get(path: string): Promise<{ status: number; text: string; ms: number }> {
  const started = Date.now();
  const res = await request(`${gw.url}/quits${path}`, { headersTimeout: 30_000 });
  return { status: res.statusCode, text: await res.body.text(), ms: Date.now() - started };
}

test('a worker that exits with status 4 after serving is replaced, and the app serves again', async () => {
  const first = await get('/');
  assert.is(first.status, 200);
  const before = await workerPids();
  assert.is((await get('/quit')).status, 502, 'the request it died in');
  const after = await waitFor(async () => {
    const pids = await workerPids();
    return pids.length === 1 && !before.includes(pids[0]) ? pids : null;
  }, 15_000, 'a new worker');
  const again = await get('/');
  assert.is(again.status, 200);
  assert.is(again.text, `pid ${after[0]}\n`);
  assert.match(gw.output(), /quits: worker \d+ exited \(status 4\); restarting in \d+ ms/);
  // And in the app's own log (what `logs quits` prints), beside its output, marked as the gateway's.
  const said = new RegExp(`^\\[apppkg-gateway\\] worker ${before[0]} exited \\(status 4\\); restarting in \\d+ ms$`, 'm');
  assert.match(readFileSync(join(state.path, 'apps', 'quits', 'log', 'app.log'), 'utf8'), said);
});

test('no worker can take a request (the app no longer imports): 504 after timeout; fixed, it serves', async () => {
  const good = readFileSync(appFile, 'utf8');
  writeFileSync(appFile, 'raise RuntimeError("broken on purpose")\n');
  try {
    await get('/quit'); // its replacement cannot import the app any more
    const waited = await get('/');
    assert.is(waited.status, 504, waited.text);
    assert.ok(waited.ms >= 1500 && waited.ms < 10_000, `answered after ${waited.ms} ms`);
    assert.match(waited.text, /timeout/);
    assert.match(gw.output(), /could not import the app/);
  } finally {
    writeFileSync(appFile, good);
  }
  const healed = await waitFor(async () => {
    const r = await get('/');
    return r.status === 200 ? r : null;
  }, 40_000, 'the app to serve again once it imports');
  assert.match(healed.text, /^pid \d+\n$/);
});

test("a worker that exits before it is ready, no exception said: the refusal names the app by its name and directory first, its app: value after", async () => {
  const dir = writePackage(apps.path, 'nostart', {
    'app.yaml': 'platform: python, wsgi\napp: wsgi:app\n',
    'wsgi.py': 'import os\nimport sys\n\nprint("cannot reach the license server", file=sys.stderr, flush=True)\nos._exit(1)\n',
  });
  await waitFor(() => /nostart: .* refused/.test(gw.output()), 20_000, 'nostart to be refused');
  const named = `worker of nostart (${dir}, app: wsgi:app) exited before it was ready (exit status 1: `;
  assert.ok(gw.output().includes(`${named}cannot reach the license server)`), gw.output());
  const status = (await (await request(`${gw.adminUrl}/status`)).body.json()) as any;
  const problem = status.apps.find((a: any) => a.name === 'nostart').problem;
  assert.is(problem.code, 'APPPKG_WORKER_START_FAILED');
  assert.ok(problem.message.startsWith(named), problem.message);
});

// An ASGI app serving, then a worker that died replaced by one whose lifespan startup fails (a
// database gone meanwhile): the app imported, so the line says what did fail.
const LIFER = `import os, sys

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if os.path.exists(os.path.join(os.environ["APPPKG_DATA_DIR"], "fail")):
                    await send({"type": "lifespan.startup.failed", "message": "the database is down"})
                    return
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/quit":
        sys.stdout.flush()
        os._exit(1)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"up"})
`;

test("a replacement worker whose ASGI lifespan startup fails is said as that, not as an import that failed", async () => {
  writePackage(apps.path, 'lifer', { 'app.yaml': 'platform: python, asgi\napp: lifer_app:app\n', 'lifer_app.py': LIFER });
  const lifer = async (path: string) => (await request(`${gw.url}/lifer${path}`, { headersTimeout: 30_000 })).statusCode;
  await waitFor(async () => (await lifer('/')) === 200, 30_000, 'lifer to serve');
  await workerPids();
  const flag = join(state.path, 'apps', 'lifer', 'data', 'fail');
  writeFileSync(flag, '');
  try {
    assert.is(await lifer('/quit'), 502, 'the request its worker died in');
    const said = /lifer: worker \d+ did not start: app: lifer_app:app failed its lifespan startup: the database is down; restarting in \d+ ms/;
    await waitFor(() => said.test(gw.output()), 20_000, () => `the replacement's failure in\n${gw.output()}`);
    assert.not.match(gw.output(), /lifer: worker \d+ could not import the app/);
  } finally {
    if (existsSync(flag)) rmSync(flag);
  }
  await workerPids();
});

test.run();

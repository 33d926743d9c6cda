// The end of a drain (a `restart` here; a deploy and `serve --reload` drain the same way) with
// work still running on the old worker, through the real CLI. An ASGI worker is stopped as at
// the gateway's own stop: the request still in flight with no head yet is answered 502 saying
// its worker was stopped at the end of its drain (not "went away": it did not fail), a stream
// is cut (444 in the access log), the app's tasks get CancelledError (their `finally` runs),
// then lifespan shutdown, then the process exits. A WSGI worker, whose threads cannot be
// cancelled, is killed at the drain's end as before, not given that bound too; its request
// with no head has the same 502.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const DRAIN_S = 1;
/** The gateway's answer to a request with no head when its worker's drain ends. */
const STOPPED_502 = '502 Bad Gateway\nthe app\'s worker was stopped at the end of its drain before it answered\n';

const ASGI_APP = `import asyncio, os
LOG = os.path.join(os.environ["APPPKG_DATA_DIR"], "events.log")
def event(text):
    with open(LOG, "a") as f:
        f.write("pid=%d %s\\n" % (os.getpid(), text))
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                event("startup")
                await send({"type": "lifespan.startup.complete"})
            else:
                await asyncio.sleep(0.2)  # a shutdown that awaits (a pool closing) still runs
                event("shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return
    try:
        if scope["path"] == "/slow":
            event("arrived /slow")
            await asyncio.sleep(60)
        if scope["path"] == "/stream":  # an SSE-like stream that outlives the drain
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            while True:
                await send({"type": "http.response.body", "body": b"x" * 10, "more_body": True})
                await asyncio.sleep(0.2)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
        if scope["path"] == "/after":
            await asyncio.sleep(60)  # work after the response (a background task)
    except asyncio.CancelledError:
        event("cancelled " + scope["path"])
        raise
    finally:
        event("finally " + scope["path"])
`;

const WSGI_APP = `import os, time
def app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        open(os.path.join(os.environ["APPPKG_DATA_DIR"], "slow-arrived.%d" % os.getpid()), "w").close()
        time.sleep(60)
    if environ["PATH_INFO"] == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return stream()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]

def stream():
    while True:
        yield b"x" * 10
        time.sleep(0.2)
`;

// A lifespan shutdown that never completes (a pool's close that waits for ever) and swallows the
// cancel it gets at the drain's end (one that does not is cancelled: test/link/asgi-lifecycle).
const HANGING_APP = `import asyncio
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                print("shutdown begins", flush=True)
                while True:
                    try:
                        await asyncio.Event().wait()
                    except asyncio.CancelledError:
                        print("shutdown ignores the cancel", flush=True)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": str(__import__("os").getpid()).encode()})
`;

const work = tempDir('apppkg-drain-end-');
const apps = join(work.path, 'apps');
const tokenFile = join(work.path, 'token');
/** Every worker pid the tests saw: none may be left once the gateway stopped. */
const seen = new Set<number>();
let gw: RunningGateway;

const test = suite('the end of a drain');

test.before(async () => {
  writePackage(apps, 'la.1', { 'app.yaml': 'platform: python, asgi\napp: la:app\n', 'la.py': ASGI_APP });
  writePackage(apps, 'lw.1', { 'app.yaml': 'platform: python, wsgi\napp: lw:app\n', 'lw.py': WSGI_APP });
  writePackage(apps, 'lh.1', { 'app.yaml': 'platform: python, asgi\napp: lh:app\n', 'lh.py': HANGING_APP });
  const environment = join(work.path, 'environment.yaml');
  writeFileSync(tokenFile, 'drain-end-token\n', { mode: 0o600 });
  writeFileSync(environment, `defaults:\n  workers: 1\napps:\n  la:\n    drain: ${DRAIN_S}\n  lw:\n    drain: ${DRAIN_S}\n  lh:\n    drain: ${DRAIN_S}\n`);
  gw = await startCli([
    '--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', tokenFile,
    '--state-dir', join(work.path, 'state'), '--environment', environment,
  ]);
});

test.after(async () => {
  assert.is(await gw?.stop(), 0);
  await assertNoOrphans([...seen]);
  work.remove();
});

const events = (): string => {
  const file = join(work.path, 'state', 'apps', 'la', 'data', 'events.log');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
};

/** A GET that the gateway may cut: its status, or the error that ended it. */
function get(path: string): Promise<{ status?: number; body?: string; error?: string }> {
  return request(`${gw.url}${path}`, { headersTimeout: 90_000, bodyTimeout: 90_000 })
    .then(async (res) => ({ status: res.statusCode, body: await res.body.text() }))
    .catch((err: Error) => ({ error: err.message }));
}

async function restart(name: string): Promise<void> {
  const r = await runCli(['restart', name, '--admin', new URL(gw.adminUrl!).host, '--admin-token', tokenFile], { ms: 60_000 });
  assert.is(r.status, 0, r.stderr);
}

/** The pid of the worker that answers `path` (the apps answer with it). */
async function workerPid(path: string): Promise<number> {
  const answer = await get(path);
  assert.is(answer.status, 200, JSON.stringify(answer));
  seen.add(Number(answer.body));
  return Number(answer.body);
}

test('ASGI: the request still running is answered 502 by the gateway, the tasks are cancelled, then lifespan shutdown; nothing is left', async () => {
  const oldPid = await workerPid('/la/after');
  const slow = get('/la/slow');
  await waitFor(() => events().includes(`pid=${oldPid} startup`), 5000, 'the old worker\'s startup line');
  // In the old worker before the drain begins: one still in the gateway would go to the new one.
  await waitFor(() => events().includes(`pid=${oldPid} arrived /slow`), 20_000, () => `the slow request to reach the app: ${events()}`);
  await restart('la');
  // The drain began when the restart returned (the new worker serves): a loaded host's slower
  // start of that worker is not the old one's to answer for.
  const drainedFrom = Date.now();

  const ended = await slow;
  assert.equal(ended, { status: 502, body: STOPPED_502 });
  await assertNoOrphans([oldPid], DRAIN_S * 1000 + 8000);
  const mine = events().split('\n').filter((line) => line.startsWith(`pid=${oldPid} `));
  const expected = ['startup', 'arrived /slow', 'cancelled /after', 'finally /after', 'cancelled /slow', 'finally /slow', 'shutdown'].map((e) => `pid=${oldPid} ${e}`);
  // The two tasks end in either order; shutdown comes after both.
  assert.equal([...mine].sort(), [...expected].sort(), mine.join('\n'));
  assert.is(mine[mine.length - 1], `pid=${oldPid} shutdown`);
  // Not the gateway's SIGKILL at the drain's end + the bound: it exited once shut down.
  assert.ok(Date.now() - drainedFrom < DRAIN_S * 1000 + 4500, `the old worker took ${Date.now() - drainedFrom} ms after the drain began`);

  const out = gw.output();
  assert.match(out, /"GET \/la\/slow HTTP\/1\.1" 502 /);
  assert.not.match(out, /went away/);
  assert.match(readFileSync(join(work.path, 'state', 'apps', 'la', 'log', 'app.log'), 'utf8'), /the drain is over; cancelling 2 tasks still running/);
  assert.not.match(readFileSync(join(work.path, 'state', 'apps', 'la', 'log', 'app.log'), 'utf8'), /CancelledError/);
  assert.is.not(await workerPid('/la/'), oldPid);
});

test('WSGI: a request still running at the drain\'s end ends with its worker, as before (its thread cannot be cancelled)', async () => {
  const oldPid = await workerPid('/lw/');
  const slow = get('/lw/slow');
  const arrived = join(work.path, 'state', 'apps', 'lw', 'data', `slow-arrived.${oldPid}`);
  await waitFor(() => existsSync(arrived), 20_000, 'the slow request to reach the app');
  await restart('lw');
  const drainedFrom = Date.now();
  const answer = await slow;
  assert.equal(answer, { status: 502, body: STOPPED_502 });
  await assertNoOrphans([oldPid], 5000);
  // Killed at the drain's end, not held for an ASGI worker's cancel bound.
  assert.ok(Date.now() - drainedFrom < DRAIN_S * 1000 + 3000, `the old worker took ${Date.now() - drainedFrom} ms after the drain began`);
  assert.is.not(await workerPid('/lw/'), oldPid);
});

test('ASGI: a lifespan shutdown that never completes is killed 5 s after the drain\'s end, and the log says so', async () => {
  const oldPid = await workerPid('/lh/');
  let newPid = 0;
  try {
    await restart('lh');
    newPid = await workerPid('/lh/');
    await assertNoOrphans([oldPid], DRAIN_S * 1000 + 12_000);
    const said = new RegExp(`lh: worker ${oldPid} had not exited 5 s after its drain's end \\(its lifespan shutdown did not complete, or a task ignored its cancellation, or sync code held the event loop\\): killed`);
    await waitFor(() => said.test(gw.output()), 5000, () => `the kill said in\n${gw.output()}`);
    const appLog = readFileSync(join(work.path, 'state', 'apps', 'lh', 'log', 'app.log'), 'utf8');
    assert.match(appLog, /shutdown begins[\s\S]*lifespan shutdown had not completed when the drain was over; cancelled, at [\s\S]*shutdown ignores the cancel/);
    assert.match(appLog, new RegExp(`\\[apppkg-gateway\\] worker ${oldPid} had not exited 5 s after its drain's end`));
    // The others' drains, which end by themselves, say nothing of the kind.
    assert.not.match(gw.output(), /(la|lw): worker \d+ had not exited/);
  } finally {
    // Gone before the gateway's stop, which its new worker's shutdown would hold for the whole --grace.
    rmSync(join(apps, 'lh.1'), { recursive: true, force: true });
  }
  await assertNoOrphans([newPid], DRAIN_S * 1000 + 15_000);
});

for (const [kind, name] of [['ASGI', 'la'], ['WSGI', 'lw']]) {
  test(`${kind}: a stream still going at the drain's end is logged 444 with the bytes that went out, not as a whole 200`, async () => {
    const oldPid = await workerPid(`/${name}/`);
    // Going when the drain begins: its head is here (it came with the first piece).
    const res = await request(`${gw.url}/${name}/stream`, { headersTimeout: 20_000, bodyTimeout: 90_000 });
    assert.is(res.statusCode, 200);
    const streamed = res.body.text().then((body) => ({ error: undefined, body }), (err: Error) => ({ error: err.message }));
    await restart(name);
    const cut = await streamed;
    assert.ok(cut.error !== undefined, `the cut stream ended as a whole one: ${JSON.stringify(cut)}`);
    await assertNoOrphans([oldPid], DRAIN_S * 1000 + 8000);
    await waitFor(() => new RegExp(`"GET /${name}/stream HTTP/1\\.1" \\d+ `).test(gw.output()), 5000, 'the stream\'s access-log line');
    const line = new RegExp(`"GET /${name}/stream HTTP/1\\.1" (\\d+) (\\d+) `).exec(gw.output())!;
    assert.is(line[1], '444', line[0]);
    assert.ok(Number(line[2]) >= 10, `the bytes that went out are kept: ${line[0]}`);
  });
}

test.run();

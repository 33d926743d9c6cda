// The gateway's start: apps start a few at a time, and each answers as soon as it serves. An
// app whose import is slow, or hangs, once held back every other app's first answer, and the
// "listening on" line, by its import's time (up to the 60 s start deadline).
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import getPort from 'get-port';
import { request } from 'undici';
import { EXAMPLES, assertNoOrphans, childPids, orAfter, startCli, tempDir, waitFor } from '../helpers/process.js';

const test = suite('the gateway starting many apps');
const work = tempDir('apppkg-concurrent-start-');
test.after(() => work.remove());

function slowApp(apps: string, name: string, code: string): void {
  mkdirSync(join(apps, name), { recursive: true });
  writeFileSync(join(apps, name, 'app.yaml'), 'platform: python, wsgi\napp: main:application\n');
  writeFileSync(join(apps, name, 'main.py'), code);
}

const SLOW_THEN_SERVES = `import time\ntime.sleep(8)\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"slow"]\n`;

test('an app that serves answers while another still imports (8 s), and a request for that one waits for it', async () => {
  const apps = join(work.path, 'apps');
  slowApp(apps, 'slow', SLOW_THEN_SERVES);
  cpSync(join(EXAMPLES, 'hello'), join(apps, 'hello'), { recursive: true });
  const port = await getPort();
  const url = `http://127.0.0.1:${port}`;
  const starting = startCli(['--apps', apps, '--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--access-log', 'off', '--settle', '0'], { ms: 60_000 });
  starting.catch(() => {}); // awaited below
  try {
    // A request for slow, sent first, is held until slow serves; hello serves meanwhile.
    const slow = waitFor(() => request(`${url}/slow/`).catch(() => undefined), 30_000, 'the listener').then(async (res) => ({ status: res.statusCode, text: await res.body.text(), at: Date.now() }));
    const hello = await waitFor(async () => {
      const res = await request(`${url}/hello/`).catch(() => null);
      const text = await res?.body.text();
      return res?.statusCode === 200 ? text : undefined;
    }, 30_000, 'hello to serve');
    const helloAt = Date.now();
    assert.is(hello, 'Hello, world!\n');
    // Not a 503 to retry: slow's answer, once its import is done, seconds after hello's.
    const answer = await slow;
    assert.is(answer.status, 200);
    assert.is(answer.text, 'slow');
    assert.ok(answer.at - helloAt > 1000, `slow answered ${answer.at - helloAt} ms after hello`);
    const gw = await starting;
    await gw.stop();
  } finally {
    (await starting.catch(() => null))?.child.kill('SIGKILL');
  }
});

test('an import that hangs does not hold back the others, nor "listening on" past 10 s; it is named, and stopped with the gateway', async () => {
  const apps = join(work.path, 'apps-hang');
  slowApp(apps, 'hangs', 'import time\ntime.sleep(600)\n');
  cpSync(join(EXAMPLES, 'hello'), join(apps, 'hello'), { recursive: true });
  const began = Date.now();
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state-hang'), '--access-log', 'off', '--settle', '0'], { ms: 40_000 });
  try {
    const took = Date.now() - began;
    assert.ok(took < 30_000, `listening after ${took} ms`);
    assert.match(gw.output(), /still starting after 10 s: hangs; the other apps serve, and requests for these wait for them/);
    const res = await request(`${gw.url}/hello/`);
    assert.is(res.statusCode, 200);
    await res.body.dump();
    // Its request waits; the gateway's stop answers it (503) rather than leaving it hanging.
    const pids = await childPids(gw.child.pid!);
    const waiting = request(`${gw.url}/hangs/`).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));
    await new Promise((r) => setTimeout(r, 300));
    assert.is(await gw.stop(), 0);
    const answer = await waiting;
    assert.is(answer.status, 503);
    assert.match(answer.text, /hangs is starting/);
    await assertNoOrphans(pids);
  } finally {
    await gw.stop();
  }
});

test('a request waiting for an app whose start then fails gets the refusal, at once', async () => {
  const apps = join(work.path, 'apps-fails');
  cpSync(join(EXAMPLES, 'hello'), join(apps, 'hello'), { recursive: true });
  const port = await getPort();
  const starting = startCli(['--apps', apps, '--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state-fails'), '--access-log', 'off', '--settle', '0', '--watch-interval', '0.5']);
  const gw = await starting;
  try {
    slowApp(apps, 'fails', 'import time\ntime.sleep(3)\nraise RuntimeError("no database")\n');
    await waitFor(async () => {
      const res = await request(`${gw.url}/fails/`, { headersTimeout: 200 }).catch(() => null);
      await res?.body.dump();
      return res === null || undefined; // held: the request did not come back within 200 ms
    }, 20_000, 'a request for fails to be held');
    const began = Date.now();
    const res = await request(`${gw.url}/fails/`);
    const text = await res.body.text();
    assert.is(res.statusCode, 503, text);
    assert.match(text, /fails is not serving: it was refused \(APPPKG_APP_IMPORT_FAILED\)/);
    assert.ok(Date.now() - began < 10_000);
  } finally {
    await gw.stop();
  }
});

test('one app\'s slow install hook holds back no other app: a new app serves meanwhile', async () => {
  const apps = join(work.path, 'apps-independent');
  cpSync(join(EXAMPLES, 'hello'), join(apps, 'hello'), { recursive: true });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state-independent'), '--access-log', 'off', '--settle', '0', '--watch-interval', '0.5']);
  try {
    // A hook that takes 40 s, then the changes to the others.
    mkdirSync(join(apps, 'hooked'));
    writeFileSync(join(apps, 'hooked', 'app.yaml'), 'platform: python, wsgi\napp: main:application\ncommands:\n  install: sleep 40\n');
    writeFileSync(join(apps, 'hooked', 'main.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"hooked"]\n');
    await waitFor(() => /hooked: running commands\.install/.test(gw.output()), 20_000, 'the hook to run');
    slowApp(apps, 'other', 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"other"]\n');
    const other = await waitFor(async () => {
      const res = await request(`${gw.url}/other/`);
      const text = await res.body.text();
      return res.statusCode === 200 ? text : undefined;
    }, 20_000, 'other to serve while the hook runs');
    assert.is(other, 'other');
    assert.not.match(gw.output(), /hooked: commands\.install done/);
  } finally {
    await gw.stop();
  }
});

test('a request for an app starting waits as long as the app\'s start_timeout (2 s, and 3 s for a refusal), not 60 s: then 503 with Retry-After', async () => {
  const apps = join(work.path, 'apps-bound');
  // Its install hook holds it starting for 40 s: past its start bound, well short of 60 s.
  mkdirSync(join(apps, 'hooked'), { recursive: true });
  writeFileSync(join(apps, 'hooked', 'app.yaml'), 'platform: python, wsgi\napp: main:application\ncommands:\n  install: sleep 40\n');
  writeFileSync(join(apps, 'hooked', 'main.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"hooked"]\n');
  const environment = join(work.path, 'environment-bound.yaml');
  writeFileSync(environment, 'apps:\n  hooked:\n    start_timeout: 2\n');
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state-bound'), '--access-log', 'off', '--settle', '0', '--environment', environment], { ms: 40_000 });
  try {
    await waitFor(() => /hooked: running commands\.install/.test(gw.output()), 20_000, 'the hook to run');
    const began = Date.now();
    const res = await request(`${gw.url}/hooked/`, { headersTimeout: 30_000 });
    const waited = Date.now() - began;
    const text = await res.body.text();
    assert.is(res.statusCode, 503, text);
    assert.match(text, /hooked is starting; try again in a moment/);
    assert.is(res.headers['retry-after'], '2');
    assert.ok(waited >= 4000 && waited < 15_000, `answered after ${waited} ms`);
  } finally {
    await gw.stop();
  }
});

/**
 * The gateway started on `args` with no wait for its listener (these stop it while it starts):
 * its output so far, and its exit code once it exits.
 */
async function spawnGateway(args: string[]): Promise<{ child: import('node:child_process').ChildProcess; output: () => string; exited: Promise<number | null> }> {
  const { spawn } = await import('node:child_process');
  const { BIN } = await import('../helpers/process.js');
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

test('SIGTERM while the apps start stops the gateway as it would later: the waiting request is answered, nothing is left; SIGHUP then does not kill it', async () => {
  const apps = join(work.path, 'apps-term');
  slowApp(apps, 'slow', SLOW_THEN_SERVES);
  const port = await getPort();
  const state = join(work.path, 'state-term');
  const args = ['--apps', apps, '--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0', '--state-dir', state, '--access-log', 'off', '--settle', '0'];
  const { child, output, exited } = await spawnGateway(args);
  try {
    const waiting = waitFor(() => request(`http://127.0.0.1:${port}/slow/`).catch(() => undefined), 20_000, 'the listener').then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));
    await waitFor(() => existsSync(join(state, 'apps', 'slow', 'tmp')), 20_000, 'slow to be starting');
    child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 500));
    assert.is(child.exitCode, null, `SIGHUP killed it:\n${output()}`);
    const pids = await childPids(child.pid!);
    child.kill('SIGTERM');
    const code = await orAfter(15_000, () => 'late', exited);
    assert.is(code, 0, output());
    assert.match(output(), /SIGTERM: stopping/);
    assert.not.match(output(), /listening on/);
    const answer = await waiting;
    assert.is(answer.status, 503, answer.text);
    await assertNoOrphans(pids);
    assert.not.ok(existsSync(join(state, 'gateway.lock')), 'the state root is free again');
  } finally {
    child.kill('SIGKILL');
  }
});

// An ASGI worker's lifespan startup is its start: stopped meanwhile, the startup never completed,
// so the app's lifespan shutdown must not run (as uvicorn skips it then), and the stop is bounded
// as for an import that hangs, however long the startup would take.
const SLOW_LIFESPAN = `import asyncio, os
HERE = os.path.dirname(os.path.abspath(__file__))
def mark(name):
    with open(os.path.join(HERE, name), "a") as f:
        f.write("%d\\n" % os.getpid())
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        assert (await receive())["type"] == "lifespan.startup"
        mark("startup-began")
        await asyncio.sleep(30)
        mark("startup-done")
        await send({"type": "lifespan.startup.complete"})
        assert (await receive())["type"] == "lifespan.shutdown"
        mark("shutdown-ran")
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"up"})
`;

// `trap`: the app's import takes SIGTERM for itself (as a library may), so the worker outlives
// it and only the gateway's own bound ends it.
for (const trap of [false, true]) test(`SIGTERM while an ASGI app's lifespan startup sleeps (30 s)${trap ? ', the app trapping SIGTERM' : ''}: the gateway exits within its bound, the startup cut and its shutdown not run, nothing left`, async () => {
  const apps = join(work.path, `apps-lifespan-${trap}`);
  const dir = join(apps, 'slowlife');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, asgi\napp: main:app\n');
  writeFileSync(join(dir, 'main.py'), (trap ? 'import signal\nsignal.signal(signal.SIGTERM, lambda *a: None)\n' : '') + SLOW_LIFESPAN);
  const state = join(work.path, `state-lifespan-${trap}`);
  const args = ['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--access-log', 'off', '--settle', '0'];
  const { child, output, exited } = await spawnGateway(args);
  try {
    const began = join(dir, 'startup-began');
    // Its line whole: the file is there from its open() on.
    await waitFor(() => existsSync(began) && readFileSync(began, 'utf8').endsWith('\n'), 30_000, () => `the lifespan startup to begin:\n${output()}`);
    const pids = await childPids(child.pid!);
    const workers = readFileSync(began, 'utf8').trim().split('\n').map(Number);
    assert.ok(workers.every((w) => pids.includes(w)), `the workers ${workers} among the gateway's processes ${pids}`);
    child.kill('SIGTERM');
    // Well inside the 30 s the startup sleeps: the stop does not wait for it.
    const code = await orAfter(15_000, () => 'late', exited);
    assert.is(code, 0, output());
    await assertNoOrphans(pids);
    assert.not.ok(existsSync(join(dir, 'startup-done')), 'the startup was cut');
    assert.not.ok(existsSync(join(dir, 'shutdown-ran')), `a lifespan shutdown ran with no startup complete:\n${output()}`);
    assert.not.ok(existsSync(join(state, 'gateway.lock')), 'the state root is free again');
  } finally {
    child.kill('SIGKILL');
  }
});

test.run();

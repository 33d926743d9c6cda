// The line the gateway logs when a worker goes silent (has not answered the heartbeat for a
// beat: worker-pool.ts silentLine) and the one that recycles it past the app's timeout, as a
// user reads them: a WSGI worker held by one C call that keeps the GIL (no thread of it runs,
// the monitor's neither), an ASGI worker whose loop is held while a websocket it holds is older
// than any request (the websocket is named, with its path), and a request sent in absolute form
// (named as the client sent it, as the access log names it). Real CLI, real Python workers; the
// heartbeat's beat lowered (a test knob) so that the silence is seen in a fraction of the hold.
// Fixture: test/fixtures/apps/asgi-timeout (websockets echo, /block holds the loop, /pid).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, rawRequest, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { openSocket } from '../helpers/websocket.js';

const TIMEOUT_S = 2;
const test = suite('the silent worker\'s line');
const work = tempDir('apppkg-silence-line-');
let gw: RunningGateway;
const pids = new Set<number>();

/**
 * A WSGI app whose /hold?SECONDS calls libc's sleep() through ctypes.PyDLL, which keeps the GIL
 * for the call (CDLL would let it go): one C call that holds it for that many seconds, on a slow
 * host as on a fast one (a CPU-bound call's length hangs on the host's load; a rate measured at
 * import under load once made an 8 s hold end after 1.2 s, before the timeout it was to outlast).
 * /stream-hold holds it so after its head and a first piece are out: no 504 is left to give.
 */
const GIL_APP = `import ctypes, os, time

LIBC = ctypes.PyDLL(None)


def hold(environ):
    LIBC.sleep(int(environ["QUERY_STRING"]))


def application(environ, start_response):
    if environ["PATH_INFO"] == "/hold":
        hold(environ)
    start_response("200 OK", [("Content-Type", "text/plain")])
    if environ["PATH_INFO"] == "/stream-hold":
        def stream():
            yield b"begun\\n"
            time.sleep(0.2)  # the first piece out before the GIL is held
            hold(environ)
            yield b"done\\n"
        return stream()
    return [str(os.getpid()).encode()]
`;

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await request(`${gw.url}${path}`, { headersTimeout: 30_000, bodyTimeout: 30_000 });
  return { status: res.statusCode, body: await res.body.text() };
}

/** The pid of the worker serving `app` now (its one worker), once it answers. */
async function workerOf(app: string): Promise<number> {
  const pid = await waitFor(async () => {
    const answer = await get(`/${app}/pid`);
    return answer.status === 200 && Number(answer.body);
  }, 20_000, `${app}'s worker answering`);
  pids.add(pid);
  return pid;
}

test.before(async () => {
  const apps = join(work.path, 'apps');
  writePackage(apps, 'gil', { 'app.yaml': 'platform: python, wsgi\napp: gil_app:application\n', 'gil_app.py': GIL_APP });
  addPackage(apps, 'asgi-timeout', 'chat');
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, `defaults:\n  workers: 1\n  timeout: ${TIMEOUT_S}\napps:\n  gil:\n    threads: 2\n`);
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--environment', env], {
    // A beat of 300 ms; a worker silent for 20 s with nothing in flight is hung (worker-pool.ts):
    // what replaces a held worker here is its silence past the app's timeout.
    env: { APPPKG_TEST_HEARTBEAT_MS: '300', APPPKG_TEST_HUNG_AFTER_MS: '20000' },
  });
});

test.after(async () => {
  await gw?.stop(30_000);
  await assertNoOrphans([...pids], 15_000);
  work.remove();
});

test('R2.7e a WSGI worker held by a C call that keeps the GIL: the line says so, names the request, and its recycle says it too', async () => {
  const pid = await workerOf('gil');
  const from = gw.output().length;
  const held = get('/gil/hold?8');
  const silent = await waitFor(() => new RegExp(String.raw`gil: worker ${pid} has not answered the heartbeat for [\d.]+ s, with 1 request in flight \(held longest: GET /gil/hold\?8, for [\d.]+ s\): it reads nothing \(a call that holds the GIL\); no new request goes to it until it answers`).exec(gw.output().slice(from)), 6000, () => `the line saying the worker is silent, in:\n${gw.output().slice(from)}`);
  assert.ok(silent);
  // Its 504 replaces it (its thread is stuck), as any WSGI request past the timeout.
  assert.is((await held).status, 504);
  assert.is.not(await workerOf('gil'), pid, 'replaced');
});

test('R2.7e a WSGI stream whose head is out when a C call takes the GIL: silent past the timeout, its worker is recycled saying why', async () => {
  const pid = await workerOf('gil');
  const from = gw.output().length;
  const res = await request(`${gw.url}/gil/stream-hold?8`, { headersTimeout: 5000, bodyTimeout: 30_000 });
  assert.is(res.statusCode, 200);
  const body = res.body.text().then((text) => text, (err: Error) => `cut: ${err.message}`);
  await waitFor(() => new RegExp(String.raw`gil: recycling worker ${pid}: it has not answered the heartbeat within the app's timeout \(${TIMEOUT_S} s\), with 1 request in it: it reads nothing \(a call that holds the GIL\)`).test(gw.output().slice(from)), 8000, () => `the line saying the held worker is recycled, in:\n${gw.output().slice(from)}`);
  assert.is.not(await workerOf('gil'), pid, 'replaced');
  await body;
});

test('R2.7e an ASGI worker whose loop is held while a websocket is open longer than any request: the line names the websocket and its path, and so does the 504', async () => {
  const pid = await workerOf('chat');
  const socket = await openSocket(`${gw.url.replace(/^http/, 'ws')}/chat/live`);
  try {
    socket.ws.send('hi');
    assert.is(await socket.next(5000), 'echo:hi');
    // Open a while before the request that holds the loop: the websocket is what it has held longest.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const from = gw.output().length;
    const held = get('/chat/block?5');
    await waitFor(() => new RegExp(String.raw`chat: worker ${pid} has not answered the heartbeat for [\d.]+ s, with 1 request in flight \(held longest: websocket /chat/live open [\d.]+ s\): its event loop is held`).test(gw.output().slice(from)), 6000, () => `the line naming the websocket, in:\n${gw.output().slice(from)}`);
    const answer = await held;
    assert.is(answer.status, 504, answer.body);
    assert.match(answer.body, /; what it had held longest then: websocket \/chat\/live open [\d.]+ s\. A blocking call in an async function holds the loop/);
  } finally {
    socket.ws.close();
  }
  assert.is.not(await workerOf('chat'), pid, 'replaced: silent past the timeout');
});

test('R2.7e a request sent in absolute form is named as the client sent it, in the silence line and the 504, as in the access log', async () => {
  const pid = await workerOf('chat');
  const port = Number(new URL(gw.url).port);
  const from = gw.output().length;
  const target = `http://127.0.0.1:${port}/chat/block?4`;
  const answer = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`, 20_000);
  assert.match(answer.split('\r\n')[0], / 504 /, answer);
  assert.match(answer, `; the request it had held longest then: GET ${target}. A blocking call`);
  assert.match(gw.output().slice(from), new RegExp(String.raw`chat: worker ${pid} has not answered the heartbeat for [\d.]+ s, with 1 request in flight \(held longest: GET http://127\.0\.0\.1:${port}/chat/block\?4, for [\d.]+ s\)`));
  await waitFor(() => gw.output().slice(from).includes(`"GET ${target} HTTP/1.1" 504 `), 5000, () => `the access log's line, in:\n${gw.output().slice(from)}`);
  await workerOf('chat');
});

test('R2.7e a websocket asked for in absolute form is named as the client sent it', async () => {
  const pid = await workerOf('chat');
  const port = Number(new URL(gw.url).port);
  const target = `http://127.0.0.1:${port}/chat/raw`;
  const socket = connect(port, '127.0.0.1');
  try {
    let got = '';
    socket.on('data', (chunk: Buffer) => (got += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await waitFor(() => got.startsWith('HTTP/1.1 101 '), 5000, () => `the 101, in: ${JSON.stringify(got)}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const from = gw.output().length;
    const held = get('/chat/block?3');
    await waitFor(() => new RegExp(String.raw`chat: worker ${pid} has not answered the heartbeat for [\d.]+ s, with 1 request in flight \(held longest: websocket http://127\.0\.0\.1:${port}/chat/raw open [\d.]+ s\)`).test(gw.output().slice(from)), 6000, () => `the line naming the websocket as sent, in:\n${gw.output().slice(from)}`);
    assert.is((await held).status, 504);
  } finally {
    socket.destroy();
  }
  await workerOf('chat');
});

test.run();

// The access log's status for a response that did not finish, through a real gateway: 499 says
// the client left first, as nginx's does; a response the gateway ended itself says what went out
// when its worker died after the head, or 444 when no head had; cut because --grace ran out at
// stop, 444 head or not (as a stream cut at a drain's end), with the bytes that went out. And
// the request line is logged as sent, an absolute-form target too.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { writePackage } from '../helpers/apps-dir.js';
import { acceptedBy, rawRequest, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('access log: the request line as sent, and who ended a response');
const apps = tempDir('apppkg-cut-apps-');
const state = tempDir('apppkg-cut-state-');
let gw: RunningGateway | null = null;

const APP = `import os, time

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path in ("/die-after-head", "/stream"):
        start_response("200 OK", [("Content-Type", "text/plain")])
        def body():
            yield b"partial\\n" if path == "/die-after-head" else b"x" * 100
            time.sleep(0.2 if path == "/die-after-head" else 60)
            if path == "/die-after-head":
                os._exit(7)
            yield b"never"
        return body()
    if path == "/list":  # over the response window: streamed from the worker, not one frame
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"z" * 300000]
    time.sleep(float(environ.get("QUERY_STRING") or "60"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"late\\n"]
`;

/** A stream that outlives --grace, from an ASGI worker: its cut at stop is logged as the WSGI one's. */
const ASGI_APP = `import asyncio

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"y" * 100, "more_body": True})
    await asyncio.sleep(60)
    await send({"type": "http.response.body", "body": b"never"})
`;

test.before(async () => {
  writePackage(apps.path, 'cuts', { 'app.yaml': 'platform: python, wsgi\napp: cuts:application\n', 'cuts.py': APP });
  writePackage(apps.path, 'acuts', { 'app.yaml': 'platform: python, asgi\napp: acuts:app\n', 'acuts.py': ASGI_APP });
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--grace', '1']);
  await servesAgain();
});

test.after(async () => {
  await gw?.stop();
  apps.remove();
  state.remove();
});

const port = () => Number(new URL(gw!.url).port);
const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
const logged = (path: string, status: number, bytes: number, app = 'cuts') => new RegExp(`"GET ${path.replace(/[?]/g, '\\?')} HTTP/1\\.1" ${status} ${bytes} .* app=${app} `);

async function servesAgain(): Promise<void> {
  await waitFor(async () => /^HTTP\/1\.1 200 /.test(await rawRequest(port(), `GET /cuts/?0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 3000).catch(() => '')), 30_000, 'cuts to serve');
}

test('a list body over the response window, streamed from the worker in pieces: its computed Content-Length, and 200 with every byte in the log', async () => {
  const raw = await rawRequest(port(), 'GET /cuts/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 10_000);
  assert.match(raw, /^HTTP\/1\.1 200 [\s\S]*\r\ncontent-length: 300000\r\n/i);
  assert.is(raw.length - raw.indexOf('\r\n\r\n') - 4, 300000);
  await waitFor(() => logged('/cuts/list', 200, 300000).test(gw!.output()), 5000, () => `the 200 line in\n${gw!.output()}`);
});

test('a request node:http cannot parse, pipelined behind one it answered, gets its own line (not the first one\'s), with its 400\'s body size', async () => {
  // A field sent twice: node:http reads the first request too (the lean lane serves a plain one).
  const raw = await rawRequest(port(), 'GET /cuts/?0 HTTP/1.0\r\nConnection: keep-alive\r\nAccept: a\r\nAccept: b\r\n\r\nGET /cuts/pipelined HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n', 5000);
  assert.match(raw, /^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 400 /);
  await waitFor(() => /"GET \/cuts\/pipelined HTTP\/1\.1" 400 [1-9]\d* "-" "-" app=- /.test(gw!.output()), 5000, `the 400 line in\n${gw!.output()}`);
});

test('a request node:http cannot parse, and a CONNECT, get their line too: one line per request', async () => {
  const bad = await rawRequest(port(), 'GET /cuts/x HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n', 5000);
  assert.match(bad, /^HTTP\/1\.1 400 /);
  await waitFor(() => /"GET \/cuts\/x HTTP\/1\.1" 400 [1-9]\d* "-" "-" app=- /.test(gw!.output()), 5000, `the 400 line in\n${gw!.output()}`);
  const tunnel = await rawRequest(port(), 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 5000);
  assert.match(tunnel, /^HTTP\/1\.1 501 /);
  await waitFor(() => /"CONNECT example\.com:443 HTTP\/1\.1" 501 63 /.test(gw!.output()), 5000, `the 501 line in\n${gw!.output()}`);
});

test('an expectation the gateway cannot meet gets its line with its 417 and that answer\'s size (node:http wrote its own 417 and logged nothing)', async () => {
  const raw = await rawRequest(port(), 'GET /cuts/expects HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nConnection: close\r\n\r\n', 5000);
  const size = raw.length - raw.indexOf('\r\n\r\n') - 4; // latin1: one char per byte
  assert.match(raw, /^HTTP\/1\.1 417 /);
  await waitFor(() => new RegExp(`"GET /cuts/expects HTTP/1\\.1" 417 ${size} `).test(gw!.output()), 5000, `the 417 line in\n${gw!.output()}`);
});

/** Requests whose line has no version or says HTTP/0.9, with fields after it and without, and the version each is logged with. */
const VERSIONS_AS_SENT = [
  ['GET /cuts/bare', ''],
  ['GET /cuts/nine HTTP/0.9', ' HTTP/0.9'],
  // llhttp reads fields after a line without a version too (its 0.9): still none was sent.
  ['GET /cuts/bare-fields\r\nHost: h', ''],
  ['GET /cuts/nine-fields HTTP/0.9\r\nHost: h', ' HTTP/0.9'],
] as const;

/** `head` as its access-log line begins, with `version`, for a gateway whose log is `output`. */
async function loggedAs(output: () => string, head: string, version: string): Promise<void> {
  const target = head.split(/[ \r]/)[1];
  const line = new RegExp(`"GET ${target.replace(/[/.]/g, '\\$&')}${version.replace(/[/.]/g, '\\$&')}" 400 \\d+ `);
  await waitFor(() => line.test(output()), 5000, `${line} in\n${output()}`);
}

test('the request line as sent: `GET /` (no version, llhttp\'s HTTP/0.9) without one, fields after it or not, `HTTP/0.9` when written, `GARBAGE` as it is', async () => {
  for (const [head, version] of VERSIONS_AS_SENT) {
    assert.match(await rawRequest(port(), `${head}\r\n\r\n`, 5000), /^HTTP\/1\.1 400 /);
    await loggedAs(gw!.output, head, version);
  }
  assert.match(await rawRequest(port(), 'GARBAGE\r\n\r\n', 5000), /^HTTP\/1\.1 400 /);
  await waitFor(() => /"GARBAGE" 400 [1-9]\d* "-" "-" app=- /.test(gw!.output()), 5000, `GARBAGE in\n${gw!.output()}`);
  assert.not.match(gw!.output(), /"GET \/cuts\/bare(-fields)? HTTP/);
});

test('the same when node:http reads every request (APPPKG_LEAN_LANE=0)', async () => {
  const nodeState = tempDir('apppkg-cut-node-state-');
  const node = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', nodeState.path], { env: { APPPKG_LEAN_LANE: '0' } });
  try {
    const nodePort = Number(new URL(node.url).port);
    for (const [head, version] of VERSIONS_AS_SENT) {
      assert.match(await rawRequest(nodePort, `${head}\r\n\r\n`, 5000), /^HTTP\/1\.1 400 /);
      await loggedAs(node.output, head, version);
    }
    assert.not.match(node.output(), /"GET \/cuts\/bare(-fields)? HTTP/);
  } finally {
    await node.stop();
    nodeState.remove();
  }
});

test('a client that sends a request node:http cannot parse and resets at once is logged with its address, not -', async () => {
  for (let i = 0; i < 3; i++) {
    const socket = net.connect(port(), '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((r) => socket.once('connect', r));
    // Accepted: a reset before it leaves no peer to name (a fixed 50 ms was not enough under a full run's load).
    await waitFor(() => acceptedBy(gw!.child.pid!, socket.localPort!), 10_000, 'the gateway to accept the connection');
    socket.write(`GET /cuts/reset-${i} HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n`);
    socket.resetAndDestroy();
  }
  await waitFor(() => [0, 1, 2].every((i) => new RegExp(`"GET /cuts/reset-${i} HTTP/1\\.1" 400 `).test(gw!.output())), 5000, `the three 400 lines in\n${gw!.output()}`);
  for (let i = 0; i < 3; i++) assert.match(gw!.output(), new RegExp(`\\n127\\.0\\.0\\.1 - - \\[[^\\]]+\\] "GET /cuts/reset-${i} HTTP/1\\.1" 400 `));
});

test('a worker that dies after the head: the status that went out, and the bytes that did, not 499', async () => {
  const answer = await rawRequest(port(), get('/cuts/die-after-head'), 10_000);
  assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(answer, /partial\n/);
  await waitFor(() => logged('/cuts/die-after-head', 200, 8).test(gw!.output()), 5000, `the 200 line in\n${gw!.output()}`);
  assert.not.match(gw!.output(), logged('/cuts/die-after-head', 499, 8));
  await servesAgain();
});

test('a client that leaves before the answer is still 499', async () => {
  // A reset, not a FIN: a client that half-closes may still wait for its answer (front.ts).
  const socket = net.connect(port(), '127.0.0.1');
  socket.on('error', () => {});
  socket.write(get('/cuts/?3'));
  await new Promise((r) => setTimeout(r, 500));
  socket.resetAndDestroy();
  await waitFor(() => logged('/cuts/?3', 499, 0).test(gw!.output()), 5000, `the 499 line in\n${gw!.output()}`);
});

test('an absolute-form target (RFC 9112 §3.2.2) is logged as the client sent it, as %r is', async () => {
  const answer = await rawRequest(port(), 'GET http://127.0.0.1/cuts/?0 HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n', 5000);
  assert.match(answer, /^HTTP\/1\.1 200 /);
  await waitFor(() => /"GET http:\/\/127\.0\.0\.1\/cuts\/\?0 HTTP\/1\.1" 200 5 /.test(gw!.output()), 5000, `the line as sent in\n${gw!.output()}`);
});

test('octets outside printable ASCII are logged \\xHH, as nginx logs them, never re-encoded: raw UTF-8 and latin-1 in the target and User-Agent, a tab, a refused control character', async () => {
  const sent = Buffer.concat([
    Buffer.from('GET /cuts/café?0 HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla ü ', 'utf8'),
    Buffer.from('\xe9\t"q" \\\r\nReferer: http://r/ß\r\nConnection: close\r\n\r\n', 'latin1'),
  ]);
  assert.match(await rawRequest(port(), sent, 5000), /^HTTP\/1\.1 200 /);
  const line = String.raw`"GET /cuts/caf\xC3\xA9?0 HTTP/1.1" 200 5 "http://r/\xDF" "Mozilla \xC3\xBC \xE9\x09\"q\" \\" app=cuts `;
  await waitFor(() => gw!.output().includes(line), 5000, () => `${line} in\n${gw!.output()}`);
  assert.match(await rawRequest(port(), 'GET /cuts/x\x01 HTTP/1.1\r\nHost: x\r\n\r\n', 5000), /^HTTP\/1\.1 400 /);
  const refused = String.raw`"GET /cuts/x\x01 HTTP/1.1" 400 `;
  await waitFor(() => gw!.output().includes(refused), 5000, () => `${refused} in\n${gw!.output()}`);
});

test('HTTP/1.2, served as 1.1, is logged as sent: on the lean lane and handed to node:http', async () => {
  const plain = await rawRequest(port(), 'GET /cuts/?0.01 HTTP/1.2\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 5000);
  assert.match(plain, /^HTTP\/1\.1 200 /);
  // Expect: is not plain, so the lane hands this one to node:http, its line rewritten to 1.1.
  const handed = await rawRequest(port(), 'GET /cuts/?0.02 HTTP/1.3\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n', 5000);
  assert.match(handed, /^HTTP\/1\.1 200 /);
  await waitFor(() => /"GET \/cuts\/\?0\.01 HTTP\/1\.2" 200 5 /.test(gw!.output()), 5000, `the lean line in\n${gw!.output()}`);
  await waitFor(() => /"GET \/cuts\/\?0\.02 HTTP\/1\.3" 200 5 /.test(gw!.output()), 5000, `the handed line in\n${gw!.output()}`);
});

test('a broken chunked body on the lean lane: its 400 says why, and its line counts that answer as the bytes sent', async () => {
  const body = '400 Bad Request\na chunk size is not a hexadecimal number\n';
  const answer = await rawRequest(port(), 'POST /cuts/?0.5 HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 5000);
  assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.ok(answer.includes(`\r\nContent-Length: ${body.length}\r\n`) && answer.endsWith(`\r\n\r\n${body}`), answer);
  await waitFor(() => new RegExp(`"POST /cuts/\\?0\\.5 HTTP/1\\.1" 400 ${body.length} .* app=cuts `).test(gw!.output()), 5000, `the 400 line in\n${gw!.output()}`);
});

test('a broken chunked body in a request node:http reads (absolute-form): one line, the 400 with its body\'s size and its app (not a 499 beside it)', async () => {
  const body = '400 Bad Request\na chunk size is not a hexadecimal number\n';
  const target = 'http://127.0.0.1/cuts/?0.6';
  const answer = await rawRequest(port(), `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`, 5000);
  assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.ok(answer.endsWith(body), answer);
  await waitFor(() => new RegExp(`"POST ${target.replace(/[.?]/g, '\\$&')} HTTP/1\\.1" 400 ${body.length} .* app=cuts `).test(gw!.output()), 5000, `the 400 line in\n${gw!.output()}`);
  await new Promise((r) => setTimeout(r, 200)); // a second line would come with the connection's close
  assert.is(gw!.output().split('"POST http://127.0.0.1/cuts/?0.6 HTTP/1.1"').length, 2, `one line for the request in\n${gw!.output()}`);
});

test('a refused upgrade\'s line has its body\'s size, as every other answer\'s (not its head\'s bytes too)', async () => {
  const upgrade = (path: string) =>
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  // A WSGI app cannot take one (501), and no app is mounted at /nowhere (404).
  for (const [path, status, app] of [['/cuts/ws', 501, 'cuts'], ['/nowhere/ws', 404, '-']] as const) {
    const answer = await rawRequest(port(), upgrade(path), 5000);
    assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `));
    const length = Number(/\r\nContent-Length: (\d+)\r\n/i.exec(answer)?.[1]);
    assert.is(Buffer.byteLength(answer.slice(answer.indexOf('\r\n\r\n') + 4)), length, answer);
    await waitFor(() => new RegExp(`"GET ${path} HTTP/1\\.1" ${status} \\d+ .* app=${app} `).test(gw!.output()), 5000, `the ${status} line in\n${gw!.output()}`);
    assert.match(gw!.output(), new RegExp(`"GET ${path} HTTP/1\\.1" ${status} ${length} `));
  }
});

test('cut by the stop past --grace: 444 with no head out, and 444 with the bytes sent for a stream whose head went out (not a whole 200)', async () => {
  const open = (path: string) => {
    const socket = net.connect(port(), '127.0.0.1');
    let got = '';
    socket.on('data', (c) => (got += c.toString('latin1')));
    socket.on('error', () => {});
    socket.write(get(path));
    return { socket, got: () => got };
  };
  const waiting = open('/cuts/?60');
  const streaming = open('/cuts/stream');
  const asgiStreaming = open('/acuts/stream');
  try {
    await waitFor(() => streaming.got().includes('x'.repeat(100)), 10_000, 'the streamed head and first chunk');
    await waitFor(() => asgiStreaming.got().includes('y'.repeat(100)), 30_000, 'the ASGI stream\'s head and first chunk');
    await new Promise((r) => setTimeout(r, 300)); // the waiting one is in the worker by now
    assert.is(waiting.got(), '');
    const stopped = gw!;
    gw = null;
    assert.is(await stopped.stop(30_000), 0);
    const out = stopped.output();
    assert.match(out, logged('/cuts/?60', 444, 0));
    assert.match(out, logged('/cuts/stream', 444, 100));
    assert.match(out, logged('/acuts/stream', 444, 100, 'acuts'));
    assert.not.match(out, /"GET \/a?cuts\/(\?60|stream) HTTP\/1\.1" (499|200) /);
    // The grace as given (--grace 1), not what was left of it after the first moments of the stop.
    assert.match(out, /\napppkg-gateway: stopping: the grace \(1 s\) is over; cutting 3 requests in flight/);
  } finally {
    waiting.socket.destroy();
    streaming.socket.destroy();
    asgiStreaming.socket.destroy();
  }
});

test.run();

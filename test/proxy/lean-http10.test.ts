// HTTP/1.0 on the lean lane (net/plain-head.ts): ApacheBench, nginx's default upstream
// version, curl --http1.0 and many probes send it, and node:http read every such request at
// ~1.5x the front's CPU. What a client sees must be what node:http gives (a second gateway with
// APPPKG_LEAN_LANE=0 is the reference), byte for byte: Connection: close unless the client asked
// keep-alive (RFC 9112 §9.3), a body of unknown length close-delimited, not chunked (unless its
// TE names chunked), no Host needed, SERVER_PROTOCOL HTTP/1.0, static files, the gateway's own
// 404 and 503, the access-log line; and what stays node:http's (Transfer-Encoding: 400, and
// Expect: no 100) stays so.
import net from 'node:net';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { startBothReaders, portOf, withoutDates, logLinesOf, readerAfter, type BothReaders } from '../helpers/both-readers.js';
import { rawRequest, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('lean lane: HTTP/1.0');
const apps = tempDir('apppkg-lean-http10-apps-');
let both: BothReaders | null = null;
let lean: RunningGateway;
let node: RunningGateway;

const WSGI = `def application(environ, start_response):
    path = environ["PATH_INFO"]
    text = [("Content-Type", "text/plain")]
    if path == "/stream":
        start_response("200 OK", text)
        return (b"piece %d\\n" % i for i in range(3))
    if path == "/nocontent":
        start_response("204 No Content", [("X-Empty", "yes")])
        return [b""]
    if path == "/notmodified":
        start_response("304 Not Modified", [("ETag", '"v1"')])
        return []
    if path == "/keep":
        start_response("200 OK", text + [("Connection", "keep-alive")])
        return (piece for piece in [b"unframed, ", b"the app says keep-alive"])
    # SERVER_PORT only when asked: the two gateways listen on different ports.
    names = ("REQUEST_METHOD", "QUERY_STRING", "SERVER_PROTOCOL", "SERVER_NAME", "HTTP_HOST", "HTTP_USER_AGENT")
    if "port" in environ["QUERY_STRING"]:
        names += ("SERVER_PORT",)
    body = " ".join("%s=%s" % (k, environ.get(k)) for k in names).encode()
    n = int(environ.get("CONTENT_LENGTH") or 0)
    if n:
        body += b" body=" + environ["wsgi.input"].read(n)
    start_response("200 OK", text + [("Content-Length", str(len(body)))])
    return [body]
`;

const ASGI = `async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    for i in range(3):
        await send({"type": "http.response.body", "body": b"asgi %d\\n" % i, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
`;

test.before(async () => {
  const dir = writePackage(apps.path, 'w', {
    'app.yaml': 'platform: python, wsgi\napp: w:application\nstatic:\n  /static: static/\n',
    'w.py': WSGI,
  });
  mkdirSync(join(dir, 'static'));
  writeFileSync(join(dir, 'static', 'file.txt'), 'a static file\n');
  writePackage(apps.path, 'a', { 'app.yaml': 'platform: python, asgi\napp: a:app\n', 'a.py': ASGI });
  // Refused at its start: its mount answers 503.
  writePackage(apps.path, 'sick', { 'app.yaml': 'platform: python, wsgi\napp: sick:application\n', 'sick.py': 'raise RuntimeError("no")\n' });
  both = await startBothReaders(apps);
  ({ lean, node } = both);
});

test.after(async () => {
  await both?.stop();
});

const h10 = (target: string, fields = '', method = 'GET'): string => `${method} ${target} HTTP/1.0\r\n${fields}\r\n`;
const KEEP = 'Connection: keep-alive\r\n';
const HOST = 'Host: h10.test\r\n';

// Each on a connection of its own; rawRequest returns when the server closes it.
const CONNECTIONS: Array<[string, string]> = [
  ['a GET, closed after', h10('/w/env?t=get', HOST)],
  ['without Host', h10('/w/env?t=nohost', 'User-Agent: probe\r\n')],
  ['Connection: close said', h10('/w/env?t=close', `${HOST}Connection: close\r\n`)],
  ['a HEAD', h10('/w/env?t=head', HOST, 'HEAD')],
  ['a POST with Content-Length', `${h10('/w/env?t=post', `${HOST}Content-Length: 5\r\n`, 'POST')}hello`],
  ['a streamed body', h10('/w/stream?t=stream', HOST)],
  [
    'keep-alive: app, HEAD, POST, static 200/HEAD/206, 404, 503, then a streamed body that closes',
    h10('/w/env?t=ka1', HOST + KEEP) +
      h10('/w/env?t=ka2', KEEP, 'HEAD') +
      `${h10('/w/env?t=ka3', `${HOST}${KEEP}Content-Length: 3\r\n`, 'POST')}abc` +
      h10('/w/static/file.txt?t=ka4', HOST + KEEP) +
      h10('/w/static/file.txt?t=ka5', HOST + KEEP, 'HEAD') +
      h10('/w/static/file.txt?t=ka6', `${HOST}${KEEP}Range: bytes=2-5\r\n`) +
      h10('/nope?t=ka7', HOST + KEEP) +
      h10('/sick/x?t=ka8', HOST + KEEP) +
      h10('/w/stream?t=ka9', HOST + KEEP) +
      h10('/w/env?t=never', HOST + KEEP),
  ],
  ['keep-alive, an ASGI stream of unknown length', h10('/a/?t=asgi', HOST + KEEP)],
  ['keep-alive, TE: chunked: a chunked stream, and the connection goes on', h10('/w/stream?t=te', `${HOST}${KEEP}TE: chunked\r\n`) + h10('/w/env?t=te2', HOST)],
  // Kept alive after each (no body to delimit), then closed by the last.
  ['keep-alive, a 204 and a 304 without Content-Length', h10('/w/nocontent?t=204', HOST + KEEP) + h10('/w/notmodified?t=304', HOST + KEEP) + h10('/w/env?t=304end', HOST)],
  ['keep-alive, a 304 of a static file', h10('/w/static/file.txt?t=s304', `${HOST}${KEEP}If-None-Match: *\r\n`) + h10('/w/env?t=s304end', HOST)],
  ['keep-alive, a HEAD of a streamed answer, then a GET of it', h10('/w/stream?t=hs1', HOST + KEEP, 'HEAD') + h10('/w/stream?t=hs2', HOST + KEEP) + h10('/w/env?t=never', HOST)],
  ['keep-alive, the app says keep-alive with no length', h10('/w/keep?t=appkeep', HOST + KEEP) + h10('/w/env?t=never', HOST)],
  ['a 404, closed after', h10('/nope?t=404', HOST)],
  ['a 1.1 request after a 1.0 keep-alive one, and back', h10('/w/env?t=mix1', HOST + KEEP) + `GET /w/env?t=mix2 HTTP/1.1\r\n${HOST}\r\n` + h10('/w/env?t=mix3', HOST)],
  ['what a client pipelines after a 1.0 request that closes', h10('/w/env?t=first', HOST) + h10('/w/env?t=never', HOST)],
  // node:http's still: a 400 that closes, and no 100 Continue.
  ['Transfer-Encoding (R6.4)', `${h10('/w/env?t=te400', `${HOST}Transfer-Encoding: chunked\r\n`, 'POST')}3\r\nabc\r\n0\r\n\r\n`],
  ['Expect: 100-continue (R6.20)', `${h10('/w/env?t=expect', `${HOST}Expect: 100-continue\r\nContent-Length: 2\r\n`, 'POST')}hi`],
];

test('the same bytes as node:http writes, connection by connection', async () => {
  for (const [what, data] of CONNECTIONS) {
    const [a, b] = (await Promise.all([rawRequest(portOf(lean), data, 10_000), rawRequest(portOf(node), data, 10_000)])).map(withoutDates);
    assert.ok(a.startsWith('HTTP/1.1 '), `${what}: ${a}`);
    assert.is(a, b, what);
  }
});

test('what each answer says: close unless asked, close-delimited streams, HTTP/1.0 in the environ, no Host needed', async () => {
  const get = withoutDates(await rawRequest(portOf(lean), h10('/w/env?t=say&port', HOST)));
  assert.ok(get.startsWith('HTTP/1.1 200 OK\r\n') && get.includes('Connection: close\r\n') && !get.includes('Keep-Alive'), get);
  assert.ok(get.endsWith(`SERVER_PROTOCOL=HTTP/1.0 SERVER_NAME=127.0.0.1 HTTP_HOST=h10.test HTTP_USER_AGENT=None SERVER_PORT=${portOf(lean)}`), get);
  const noHost = await rawRequest(portOf(lean), h10('/w/env?t=say'));
  assert.ok(noHost.startsWith('HTTP/1.1 200 OK\r\n') && noHost.includes(' HTTP_HOST=None '), noHost);
  const stream = withoutDates(await rawRequest(portOf(lean), h10('/w/stream?t=say', HOST + KEEP)));
  assert.is(stream, 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: -\r\nConnection: close\r\n\r\npiece 0\npiece 1\npiece 2\n');
  const kept = withoutDates(await rawRequest(portOf(lean), h10('/w/env?t=say1', HOST + KEEP) + h10('/w/env?t=say2', HOST)));
  const answers = kept.split(/(?=HTTP\/1\.1 )/);
  assert.is(answers.length, 2, kept);
  assert.ok(answers[0].includes('Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n') && answers[0].endsWith('t=say1 SERVER_PROTOCOL=HTTP/1.0 SERVER_NAME=127.0.0.1 HTTP_HOST=h10.test HTTP_USER_AGENT=None'), answers[0]);
  assert.ok(answers[1].includes('Connection: close\r\n'), answers[1]);
  const te = await rawRequest(portOf(lean), h10('/w/env?t=te400', `${HOST}Transfer-Encoding: chunked\r\nContent-Length: 0\r\n`, 'POST'));
  assert.ok(te.startsWith('HTTP/1.1 400 Bad Request\r\n'), te);
});

test('close with keep-alive in Connection (`keep-alive, close`, either order, or on two lines): closed after the answer, nothing behind it run (RFC 9112 §9.3)', async () => {
  // llhttp kept such an HTTP/1.0 connection open (its keep-alive won), and node:http served what
  // came behind; nginx closes it.
  for (const [i, fields] of ['Connection: keep-alive, close\r\n', 'Connection: close, Keep-Alive\r\n', 'Connection: keep-alive\r\nConnection: close\r\n'].entries()) {
    const data = h10(`/w/env?t=kc${i}`, HOST + fields) + h10(`/w/env?t=kcnever${i}`, HOST + KEEP);
    for (const gw of [lean, node]) {
      const got = withoutDates(await rawRequest(portOf(gw), data));
      assert.is(got.split('HTTP/1.1 ').length, 2, `one answer, then the close: ${got}`);
      assert.ok(got.includes('\r\nConnection: close\r\n') && got.includes(`t=kc${i} `), got);
    }
    await waitFor(() => logLinesOf(lean, `t=kc${i} `).length + logLinesOf(node, `t=kc${i} `).length === 2, 5000, 'both answers logged');
    assert.is(logLinesOf(lean, `kcnever${i}`).length + logLinesOf(node, `kcnever${i}`).length, 0, 'nothing behind it reached the app');
  }
});

test('the access-log lines say HTTP/1.0, as node:http\'s', async () => {
  const tag = '?t=logged';
  const data = h10(`/w/env${tag}`, HOST + KEEP) + h10(`/w/static/file.txt${tag}`, HOST + KEEP) + h10(`/nope${tag}`, HOST);
  await Promise.all([rawRequest(portOf(lean), data), rawRequest(portOf(node), data)]);
  await waitFor(() => logLinesOf(lean, tag).length === 3 && logLinesOf(node, tag).length === 3, 5000, `three lines in\n${lean.output()}\n${node.output()}`);
  assert.equal(logLinesOf(lean, tag), logLinesOf(node, tag));
  assert.match(logLinesOf(lean, tag)[0], /"GET \/w\/env\?t=logged HTTP\/1\.0" 200 /);
});

test('the lane serves them: the connection is still the lane\'s after HTTP/1.0 keep-alive requests', async () => {
  const first =
    h10('/w/env?t=lane', HOST + KEEP) +
    h10('/w/env?t=lane', KEEP) +
    `${h10('/w/env?t=lane', `${HOST}${KEEP}Content-Length: 2\r\n`, 'POST')}hi` +
    h10('/w/static/file.txt?t=lane', HOST + KEEP) +
    h10('/nope?t=lane', HOST + KEEP) +
    h10('/sick/?t=lane', HOST + KEEP);
  for (const [gw, expected] of [[lean, 'the lean lane'], [node, 'node:http']] as const) {
    const { got, reader } = await readerAfter(() => net.connect(portOf(gw), '127.0.0.1'), first, 'HTTP/1.1 503 ');
    const answers = got.split(/(?=HTTP\/1\.1 \d{3} )/);
    // The last, READER_PROBE's.
    assert.equal(answers.map((a) => a.slice(9, 12)), ['200', '200', '200', '200', '404', '503', '400'], got);
    assert.is(reader, expected);
  }
});

test.run();

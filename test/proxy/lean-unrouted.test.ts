// The gateway's own answers to a plain request that goes to no app (404: nothing mounted there;
// 503: an app that does not serve) are the lean lane's to give too: behind nginx's upstream
// keepalive, one of them used to move a pooled connection to node:http for the rest of its
// life. What a client sees and what the access log says must be what node:http gives (a second
// gateway with APPPKG_LEAN_LANE=0 is the reference), and the connection stays on the lane.
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { startBothReaders, portOf, withoutDates, logLinesOf, readerAfter, type BothReaders } from '../helpers/both-readers.js';
import { rawRequest, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('lean lane: the gateway\'s own answers');
const apps = tempDir('apppkg-lean-unrouted-apps-');
let both: BothReaders | null = null;
let lean: RunningGateway;
let node: RunningGateway;

const APP = `def application(environ, start_response):
    body = ("%s %s" % (environ["REQUEST_METHOD"], environ["PATH_INFO"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`;

test.before(async () => {
  writePackage(apps.path, 'one', { 'app.yaml': 'platform: python, wsgi\napp: one:application\n', 'one.py': APP });
  // Refused at its start: its mount answers 503, not 404.
  writePackage(apps.path, 'sick', { 'app.yaml': 'platform: python, wsgi\napp: sick:application\n', 'sick.py': 'raise RuntimeError("no")\n' });
  both = await startBothReaders(apps);
  ({ lean, node } = both);
});

test.after(async () => {
  await both?.stop();
});

test('a 404, a HEAD 404, a 404 with a body, a 503 of an app that does not serve, pipelined with app requests: the same bytes and access-log lines as node:http', async () => {
  const batch =
    'GET /nope?t=bytes HTTP/1.1\r\nHost: x\r\nUser-Agent: ua-404\r\n\r\n' +
    'GET /one/a?t=bytes HTTP/1.1\r\nHost: x\r\n\r\n' +
    'HEAD /nope/head?t=bytes HTTP/1.1\r\nHost: x\r\n\r\n' +
    'POST /nope/post?t=bytes HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' +
    'GET /sick/x?t=bytes HTTP/1.1\r\nHost: x\r\n\r\n' +
    'GET /n\xe9pe?t=bytes HTTP/1.1\r\nHost: x\r\n\r\n' +
    'GET /one/b?t=bytes HTTP/1.1\r\nHost: x\r\n\r\n' +
    'GET /nope/last?t=bytes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
  const data = Buffer.from(batch, 'latin1');
  const [a, b] = (await Promise.all([rawRequest(portOf(lean), data, 10_000), rawRequest(portOf(node), data, 10_000)])).map(withoutDates);
  const statuses = [...a.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  assert.equal(statuses, [404, 200, 404, 404, 503, 404, 200, 404], a);
  assert.ok(a.includes('\r\n\r\n404 Not Found\nno app is mounted at /nope\n'), a);
  assert.ok(a.includes('Retry-After: 2\r\n'), a);
  assert.ok(a.endsWith('Connection: close\r\n\r\n404 Not Found\nno app is mounted at /nope/last\n'), a);
  assert.is(a, b);
  await waitFor(() => logLinesOf(lean, '?t=bytes').length === 8 && logLinesOf(node, '?t=bytes').length === 8, 5000, `eight lines in\n${lean.output()}\n${node.output()}`);
  assert.equal(logLinesOf(lean, '?t=bytes'), logLinesOf(node, '?t=bytes'));
  assert.match(logLinesOf(lean, '?t=bytes')[0], /"GET \/nope\?t=bytes HTTP\/1\.1" 404 41 "-" "ua-404" app=-$/);
  assert.match(logLinesOf(lean, '?t=bytes')[4], /"GET \/sick\/x\?t=bytes HTTP\/1\.1" 503 \d+ "-" "-" app=sick$/);
});

test('after a 404 the connection stays on the lean lane: the next request is the lane\'s', async () => {
  const first = 'GET /nope?t=stays HTTP/1.1\r\nHost: x\r\n\r\nGET /one/next?t=stays HTTP/1.1\r\nHost: x\r\n\r\n';
  const { got: raw, reader } = await readerAfter(() => net.connect(portOf(lean), '127.0.0.1'), first, 'GET /next');
  assert.is(reader, 'the lean lane');
  const answers = raw.split(/(?=HTTP\/1\.1 \d{3} )/);
  assert.is(answers.length, 3, raw);
  assert.ok(answers[0].startsWith('HTTP/1.1 404 Not Found\r\n') && answers[0].includes('Connection: keep-alive\r\n'), answers[0]);
  assert.ok(answers[1].startsWith('HTTP/1.1 200 OK\r\n') && answers[1].endsWith('\r\n\r\nGET /next'), answers[1]);
  assert.ok(answers[2].startsWith('HTTP/1.1 400 Bad Request\r\n'), answers[2]); // READER_PROBE's
});

test.run();

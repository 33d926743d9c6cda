// A request target's #fragment, and a Host with no host, from both readers (SPEC 5.8;
// docs/reliability.md R6.1m, R6.19): the lean lane and node:http reading every request
// (APPPKG_LEAN_LANE=0) must give the same bytes and the same access-log line. A fragment is no
// part of a request target (RFC 9112 §3.2); one after a path or a query is dropped, as nginx,
// gunicorn and uvicorn drop it, and one where the path should begin (`http://host#frag`,
// `#frag`) is a 400 that says so, as nginx and llhttp refuse it (RFC 9112 §3: an invalid
// request-line SHOULD be answered 400).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { logLinesOf, portOf, startBothReaders, statusesOf, withoutDates, type BothReaders } from '../helpers/both-readers.js';
import { rawRequest, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { gatewayStatus } from '../helpers/status.js';

const test = suite('reliability: fragments and empty hosts, both readers');
const apps = tempDir('apppkg-target-edges-apps-');
let both: BothReaders | null = null;
let lean: RunningGateway;
let node: RunningGateway;

test.before(async () => {
  addPackage(apps.path, 'rel-rfc-echo', 'rfc');
  both = await startBothReaders(apps, ['--access-log', '-']);
  ({ lean, node } = both);
  for (const gw of [lean, node]) await waitFor(async () => (await gatewayStatus(gw)).apps.every((a: { state: string }) => a.state === 'ready'), 60_000, 'the echo app to serve');
});

test.after(async () => {
  await both?.stop();
});

/** The same bytes to both gateways: each one's answer, its Date made equal. */
async function fromBoth(request: string): Promise<[string, string]> {
  const data = Buffer.from(request, 'latin1');
  const [a, b] = await Promise.all([rawRequest(portOf(lean), data, 10_000), rawRequest(portOf(node), data, 10_000)]);
  return [withoutDates(a), withoutDates(b)];
}

const FRAGMENT_FOR_PATH = '400 Bad Request\na #fragment in the request target where its path should begin (RFC 9112 §3.2: a fragment is no part of a request target): send the target without it, /path or http://host/path\n';

for (const target of ['http://rfc.localhost#frag', 'http://rfc.localhost:#frag', 'http://rfc.localhost:80#frag', 'http://[::1]#frag', '#frag']) {
  test(`R6.19c GET ${target}: 400, closed, saying the fragment stands where the path should; the same from both readers`, async () => {
    const [a, b] = await fromBoth(`GET ${target} HTTP/1.1\r\nHost: rfc.localhost\r\n\r\n`);
    assert.match(a, /^HTTP\/1\.1 400 Bad Request\r\n/, a);
    assert.match(a, /\r\nConnection: close\r\n/, a);
    assert.ok(Buffer.from(a, 'latin1').toString('utf8').endsWith(`\r\n\r\n${FRAGMENT_FOR_PATH}`), a);
    assert.is(b, a);
  });
}

test('R6.19c pipelined behind a request served: the first answered, then the same 400, from both readers; each logs the line as sent', async () => {
  const [a, b] = await fromBoth('GET /rfc/echo?t=frag-behind HTTP/1.1\r\nHost: x\r\n\r\nGET http://rfc.localhost#t=frag-behind HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(statusesOf(a), [200, 400], a);
  assert.ok(Buffer.from(a, 'latin1').toString('utf8').endsWith(`\r\n\r\n${FRAGMENT_FOR_PATH}`), a);
  assert.is(b, a);
  await waitFor(() => logLinesOf(lean, 't=frag-behind').length === 2 && logLinesOf(node, 't=frag-behind').length === 2, 5000, 'two lines each');
  assert.equal(logLinesOf(lean, 't=frag-behind'), logLinesOf(node, 't=frag-behind'));
  assert.match(logLinesOf(lean, 't=frag-behind')[1], /"GET http:\/\/rfc\.localhost#t=frag-behind HTTP\/1\.1" 400 \d+ /);
});

for (const [target, pathInfo, query] of [['/rfc/echo#frag', '/echo', ''], ['/rfc/echo?q=1#frag?r', '/echo', 'q=1'], ['http://rfc.localhost/echo#frag', '/echo', ''], ['http://rfc.localhost?q=1#frag', '/', 'q=1']]) {
  test(`GET ${target}: served, the fragment dropped (R6.19), the same from both readers`, async () => {
    const [a, b] = await fromBoth(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.match(a, /^HTTP\/1\.1 200 OK\r\n/, a);
    const seen = JSON.parse(a.slice(a.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
    assert.is(seen.PATH_INFO, pathInfo);
    assert.is(seen.QUERY_STRING, query);
    assert.not.ok(seen.REQUEST_URI.includes('#'), seen.REQUEST_URI);
    assert.is(b, a);
  });
}

test('Host: :80 and Host: : (a host part that is empty): the same 400 from both readers, as http://:80/ is (R6.1m)', async () => {
  for (const host of [':80', ':']) {
    const [a, b] = await fromBoth(`GET /rfc/echo HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    assert.match(a, /^HTTP\/1\.1 400 Bad Request\r\n/, `Host: ${host}: ${a}`);
    assert.ok(a.endsWith('\r\n\r\n400 Bad Request\nthe Host header\'s host is empty (RFC 9110 \xc2\xa74.2.1: an http URI must name one): send Host: host or host:port\n'), a);
    assert.is(b, a);
  }
});

test.run();

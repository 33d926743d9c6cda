// HTTP as the RFCs say (SPEC 5.8; docs/reliability.md R6): request heads where Node's parser
// and RFC 9112/9110 part ways, each case with the section it follows, sent raw through the real
// gateway. The bar: none reaches an app in a form the RFC forbids, and every valid one reaches
// it unchanged (or as the RFC says it must be read). The app echoes what it was given.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
import { rawRequest, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('reliability: HTTP as the RFCs say');
const apps = tempDir('apppkg-rel-rfc-apps-');
const state = tempDir('apppkg-rel-rfc-state-');
let gw: RunningGateway;
let port = 0;

interface Case {
  id: string;
  rfc: string;
  what: string;
  request: string;
  /** The status line's code. */
  status: number;
  /** For a request the app must get: what its environ holds. */
  seen?: Record<string, string>;
  /** Variables that must not be in its environ. */
  absent?: string[];
  /** A refusal closes the connection. */
  closed?: boolean;
}

const CASES: Case[] = [
  {
    id: 'R6.1', rfc: 'RFC 9112 §3.2.2', what: 'absolute-form target: accepted, the host taken from it, the Host header ignored',
    request: 'GET http://rfc.localhost/echo?x=1 HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n',
    status: 200, seen: { HTTP_HOST: 'rfc.localhost', SCRIPT_NAME: '', PATH_INFO: '/echo', QUERY_STRING: 'x=1' },
  },
  {
    id: 'R6.2', rfc: 'RFC 9112 §3.2.2', what: 'absolute-form target under the app\'s mount, no path after the authority',
    request: 'GET http://127.0.0.1:1/rfc HTTP/1.1\r\nHost: x\r\n\r\n',
    status: 200, seen: { HTTP_HOST: '127.0.0.1:1', SCRIPT_NAME: '/rfc', PATH_INFO: '' },
  },
  {
    id: 'R6.3', rfc: 'RFC 9110 §4.2.4', what: 'absolute-form with userinfo (deprecated, a phishing vector)',
    request: 'GET http://user@rfc.localhost/echo HTTP/1.1\r\nHost: rfc.localhost\r\n\r\n', status: 400, closed: true,
  },
  {
    id: 'R6.4', rfc: 'RFC 9112 §6.1', what: 'Transfer-Encoding in an HTTP/1.0 request: framing faulty',
    request: 'POST /rfc/echo HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', status: 400, closed: true,
  },
  {
    id: 'R6.5', rfc: 'RFC 9110 §5.3, §8.3', what: 'two Content-Type lines (a singleton field)',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}', status: 400, closed: true,
  },
  {
    id: 'R6.6', rfc: 'RFC 9110 §5.3, §11.6.2', what: 'two Authorization lines',
    request: 'GET /rfc/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YTpi\r\nAuthorization: Basic Yzpk\r\n\r\n', status: 400, closed: true,
  },
  {
    id: 'R6.7', rfc: 'RFC 9110 §5.3', what: 'a list field on two lines: combined with ", " in order',
    request: 'GET /rfc/echo HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nAccept: application/json;q=0.9\r\n\r\n',
    status: 200, seen: { HTTP_ACCEPT: 'text/html, application/json;q=0.9' },
  },
  {
    id: 'R6.8', rfc: 'RFC 9112 §3.2, RFC 3986 §2', what: 'raw octets >= 0x80 in the target',
    request: 'GET /rfc/caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n', status: 400, closed: true,
  },
  {
    id: 'R6.9', rfc: 'RFC 3986 §2.1, PEP 3333', what: 'percent-encoded UTF-8 in the path: decoded to its bytes, one latin-1 char each',
    request: 'GET /rfc/caf%C3%A9 HTTP/1.1\r\nHost: x\r\n\r\n', status: 200, seen: { PATH_INFO: '/caf\u00c3\u00a9' },
  },
  {
    id: 'R6.10', rfc: 'RFC 9112 §7.1.2', what: 'a chunked trailer field: the body intact, the trailer discarded (WSGI has no trailers), never merged into the head',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 900150983cd24fb0\r\n\r\n',
    status: 200, seen: { HTTP_HOST: 'x', body: 'abc' }, absent: ['HTTP_X_CHECKSUM'],
  },
  {
    id: 'R6.13', rfc: 'RFC 9110 §6.5.1', what: 'fields forbidden in a trailer (Content-Length, Host): the message refused, its trailer never read as a head',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 99\r\nHost: evil.example\r\n\r\n',
    status: 400, closed: true,
  },
  {
    id: 'R6.11', rfc: 'RFC 9110 §9.3.6', what: 'CONNECT (a tunnel: a proxy\'s method)',
    request: 'CONNECT rfc.localhost:443 HTTP/1.1\r\nHost: rfc.localhost:443\r\n\r\n', status: 501, closed: true,
  },
  {
    id: 'R6.12', rfc: 'RFC 9112 §3.2.4, RFC 9110 §9.3.7', what: 'OPTIONS * (the server, not a resource): answered by the gateway with Allow',
    request: 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n', status: 200,
  },
];

test.before(async () => {
  addPackage(apps.path, 'rel-rfc-echo', 'rfc');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off']);
  port = Number(new URL(gw.url).port);
  await waitFor(async () => (await gatewayStatus(gw)).apps[0]?.state === 'ready', 60_000, 'the echo app to serve');
});

test.after(() => stopGatewayChecked(gw, apps, state));

for (const c of CASES) {
  test(`${c.id} (${c.rfc}): ${c.what}`, async () => {
    // Connection: close (hop-by-hop, never the app's) so that the answer ends with the connection.
    const request = c.status < 400 && !c.closed ? c.request.replace('\r\n', '\r\nConnection: close\r\n') : c.request;
    const answer = await rawRequest(port, Buffer.from(request, 'latin1'));
    const [head, body = ''] = answer.split('\r\n\r\n');
    const code = Number(head.split(' ')[1]);
    assert.is(code, c.status, answer.slice(0, 300));
    if (c.seen) {
      const seen = JSON.parse(body) as Record<string, string>;
      for (const [key, value] of Object.entries(c.seen)) assert.is(seen[key], value, `${key} in ${body}`);
      for (const key of c.absent ?? []) assert.not.ok(key in seen, `${key} in ${body}`);
    } else if (c.status >= 400) {
      assert.not.match(body, /REQUEST_METHOD/, 'the app never saw it');
    }
    if (c.closed) assert.match(head, /\r\nConnection: close/i, 'the connection is closed after a refusal');
    if (c.id === 'R6.12') assert.match(head, /\r\nAllow: GET, HEAD, POST/i);
  });
}

test.run();

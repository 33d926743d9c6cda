// `Expect: 100-continue` through the real gateway, raw bytes (RFC 9110 §10.1.1): a client that
// sends its body without waiting for the 100 (curl does after 1 s), or has none to send
// (Content-Length: 0), keeps its connection, and the request it pipelined behind is answered,
// as nginx does. An answer given while the body is still held back closes the connection: the
// gateway cannot tell whether the bytes that follow are that body or the next request.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
import { rawRequest, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('proxy: Expect: 100-continue');
const apps = tempDir('apppkg-expect-apps-');
const state = tempDir('apppkg-expect-state-');
let gw: RunningGateway;
let port = 0;

test.before(async () => {
  addPackage(apps.path, 'rel-rfc-echo', 'wsgi'); // /echo reads the body and echoes it; /204 reads none
  addPackage(apps.path, 'asgi-http', 'asgi'); // /upload reads the body and answers its length first
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off']);
  port = Number(new URL(gw.url).port);
  await waitFor(async () => (await gatewayStatus(gw)).apps.every((a: { state: string }) => a.state === 'ready'), 60_000, 'the apps to serve');
});

test.after(() => stopGatewayChecked(gw, apps, state));

const NEXT = 'GET /wsgi/echo?next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

/** The answers' status lines, in order, and the whole exchange. */
async function exchange(bytes: string): Promise<{ statuses: string[]; answer: string }> {
  const answer = await rawRequest(port, bytes, 10_000);
  return { statuses: answer.match(/HTTP\/1\.1 \d{3}(?= )/g) ?? [], answer };
}

const cases: Array<[string, string, RegExp]> = [
  ['WSGI, the body sent with the head', 'POST /wsgi/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello', /"body": "hello"/],
  ['WSGI, Content-Length: 0', 'POST /wsgi/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n', /"body": ""/],
  ['ASGI, the body sent with the head', 'POST /asgi/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello', /\r\n5 \d+ 1\r\n/],
  ['ASGI, Content-Length: 0', 'POST /asgi/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n', /\r\n0 0 1\r\n/],
];

for (const [what, request, first] of cases) {
  test(`R6.20b ${what}: answered without a 100, the connection kept, the request pipelined behind answered`, async () => {
    const { statuses, answer } = await exchange(request + NEXT);
    assert.equal(statuses, ['HTTP/1.1 200', 'HTTP/1.1 200'], answer);
    const [firstAnswer, nextAnswer] = answer.split(/(?=HTTP\/1\.1 200 )/).filter((a) => a !== '');
    assert.not.match(firstAnswer, /\r\nConnection: close\r\n/i, 'the first answer keeps the connection');
    assert.match(firstAnswer, first);
    assert.match(nextAnswer, /"QUERY_STRING": "next"/, 'the pipelined request answered, not read as a body');
  });
}

test('R6.20b the gateway\'s own answer (404) to one whose body came with its head: the connection kept, the request pipelined behind answered', async () => {
  // It went out before llhttp had read that body, so node:http closed the connection, and the
  // request behind was never answered (an app's answer came after the body, and kept it).
  for (const framing of ['Content-Length: 5\r\n\r\nhello', 'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n']) {
    const { statuses, answer } = await exchange(`POST /nowhere HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n${framing}${NEXT}`);
    assert.equal(statuses, ['HTTP/1.1 404', 'HTTP/1.1 200'], answer);
    assert.not.match(answer.split('HTTP/1.1 200 ')[0], /\r\nConnection: close\r\n/i, 'the 404 keeps the connection');
    assert.match(answer, /"QUERY_STRING": "next"/);
  }
});

test('a client that waits for the 100: it comes, then the answer, and the connection is kept', async () => {
  const answer = await new Promise<string>((resolve, reject) => {
    import('node:net').then(({ connect }) => {
      const socket = connect(port, '127.0.0.1');
      let got = '';
      const timer = setTimeout(() => socket.destroy(), 10_000);
      socket.on('connect', () => socket.write('POST /wsgi/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n'));
      socket.on('data', (c) => {
        const before = got;
        got += c.toString('latin1');
        if (!before.includes('100 Continue') && got.includes('HTTP/1.1 100 Continue\r\n\r\n')) socket.write('hello' + NEXT);
      });
      socket.on('error', reject);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(got);
      });
    }, reject);
  });
  assert.equal(answer.match(/HTTP\/1\.1 \d{3}(?= )/g), ['HTTP/1.1 100', 'HTTP/1.1 200', 'HTTP/1.1 200'], answer);
  assert.match(answer, /"body": "hello"/);
  assert.match(answer, /"QUERY_STRING": "next"/);
});

test('R6.20b an answer given while the body is held back: no 100 after it, and the connection closes (what follows may be that body)', async () => {
  // /204 answers without reading the body: the client has sent none, waiting for a 100.
  const { statuses, answer } = await exchange('POST /wsgi/204 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
  assert.equal(statuses, ['HTTP/1.1 204'], answer);
  assert.match(answer, /\r\nConnection: close\r\n/i);
});

test.run();

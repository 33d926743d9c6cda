// The lean lane (src/proxy/lean-lane.ts) answers plain GET and HEAD requests without node:http.
// What a client sees must not change: the same bytes as node:http writes for every framing
// (a second gateway with APPPKG_LEAN_LANE=0 is the reference), pipelined answers in request
// order across the hand-off to node:http, heads it does not take served by node:http, idle
// connections closed, and a stop that waits for nothing but the answers under way.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { gatewayStatus, statusPids, stopGatewayChecked } from '../helpers/status.js';
import { assertNoOrphans, rawRequest, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('lean lane');
const apps = tempDir('apppkg-lean-apps-');
const leanState = tempDir('apppkg-lean-state-');
const nodeState = tempDir('apppkg-lean-node-state-');
let lean: RunningGateway;
let reference: RunningGateway;

function start(state: string, env: NodeJS.ProcessEnv): Promise<RunningGateway> {
  const envFile = join(state, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  lean:\n    mount: /\n    workers: 1\n    threads: 4\n');
  return startCli(
    ['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile, '--access-log', 'off', '--header-timeout', '1'],
    { env },
  );
}

test.before(async () => {
  addPackage(apps.path, 'lean-lane', 'lean');
  // Set either way: a lane left off by the environment would make the comparisons below vacuous.
  [lean, reference] = await Promise.all([start(leanState.path, { APPPKG_LEAN_LANE: '1' }), start(nodeState.path, { APPPKG_LEAN_LANE: '0' })]);
});

test.after(async () => {
  await stopGatewayChecked(reference, nodeState);
  await stopGatewayChecked(lean, leanState, apps);
});

const portOf = (gw: RunningGateway): number => Number(new URL(gw.url).port);
const get = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: lean.test\r\nUser-Agent: lean-test\r\n${extra}\r\n`;
/** The app answers with Connection: close: the server closes, and rawRequest returns. */
const CLOSE = get('/close');
const withoutDates = (raw: string): string => raw.replace(/\r\nDate: [^\r]*/g, '\r\nDate: -');

async function both(data: string | Buffer): Promise<{ lean: string; node: string }> {
  const [a, b] = await Promise.all([rawRequest(portOf(lean), data, 10_000), rawRequest(portOf(reference), data, 10_000)]);
  return { lean: withoutDates(a), node: withoutDates(b) };
}

test('every framing, pipelined on one connection, in the same bytes as node:http writes', async () => {
  const batch =
    get('/?q=1') +
    `HEAD /nolen HTTP/1.1\r\nHost: lean.test\r\n\r\n` +
    get('/nolen') +
    get('/stream?n=3') +
    get('/nocontent') +
    get('/notmodified') +
    `HEAD / HTTP/1.1\r\nHost: lean.test\r\n\r\n` +
    get('/fields') +
    get('/raise') +
    get('/%7Euser?x=%20') +
    CLOSE;
  const { lean: a, node: b } = await both(batch);
  assert.ok(a.includes('Transfer-Encoding: chunked\r\n\r\n8\r\npiece 0\n\r\n8\r\npiece 1\n\r\n8\r\npiece 2\n\r\n0\r\n\r\n'), a);
  assert.ok(a.includes('HTTP/1.1 299 Odd Reason\r\n'), a);
  assert.ok(a.includes('Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n'), a);
  assert.ok(a.includes('X-Latin: caf\xe9\r\n'), a);
  assert.ok(a.includes('HTTP/1.1 500 '), a);
  assert.ok(a.endsWith('Connection: close\r\nContent-Length: 6\r\nDate: -\r\n\r\nclosed'), a);
  assert.is(a.match(/HTTP\/1\.1 /g)?.length, 11);
  assert.is(a, b);
});

test('the client says close: its request is answered with Connection: close, and what it sent after is not read (node:http too)', async () => {
  const { lean: a, node: b } = await both(get('/?first', 'Connection: close\r\n') + get('/?ignored'));
  for (const raw of [a, b]) {
    assert.ok(raw.startsWith('HTTP/1.1 200 OK\r\n'), raw);
    assert.ok(raw.includes('Connection: close\r\n'), raw);
    assert.ok(raw.endsWith('GET /?first host=lean.test ua=lean-test'), raw);
  }
});

test('pipelined answers keep request order across a slow request, a static file and a POST (node:http takes over mid-connection)', async () => {
  const post = 'POST /echo HTTP/1.1\r\nHost: lean.test\r\nContent-Length: 5\r\n\r\nhello';
  const batch = get('/sleep?t=0.3') + get('/?before') + get('/static/file.txt') + post + get('/?after') + CLOSE;
  const { lean: a, node: b } = await both(batch);
  const bodies = a.split(/\r\n\r\n/).slice(1).map((part) => part.split('HTTP/1.1 ')[0]);
  assert.equal(bodies, ['slept', 'GET /?before host=lean.test ua=lean-test', 'a static file\n', 'POST /echo? host=lean.test ua=None body=hello', 'GET /?after host=lean.test ua=lean-test', 'closed']);
  assert.is(a, b);
});

test('100 requests in one write: 100 answers, in order (the lane stops reading while 32 wait)', async () => {
  let batch = '';
  for (let i = 0; i < 100; i++) batch += get(`/?i=${i}`);
  const raw = await rawRequest(portOf(lean), batch + CLOSE, 20_000);
  const order = [...raw.matchAll(/GET \/\?i=(\d+) /g)].map((m) => Number(m[1]));
  assert.equal(order, Array.from({ length: 100 }, (_, i) => i));
});

test('a head that arrives in pieces, and heads that are not plain, are answered by node:http', async () => {
  const socket = net.connect(portOf(lean), '127.0.0.1');
  let got = '';
  socket.on('data', (c) => (got += c.toString('latin1')));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('GET /?split HTTP/1.1\r\nHo');
  await new Promise((resolve) => setTimeout(resolve, 100));
  socket.write(`st: lean.test\r\n\r\n${CLOSE}`);
  await waitFor(() => got.endsWith('closed'), 5000, 'both answers');
  assert.ok(got.includes('GET /?split host=lean.test'), got);
  socket.destroy();

  // HTTP/1.0, a repeated field, obs-text in a value: node:http reads them; the same answers.
  for (const head of [
    'GET /?old HTTP/1.0\r\nHost: lean.test\r\n\r\n',
    'GET /?twice HTTP/1.1\r\nHost: lean.test\r\nAccept: a\r\nAccept: b\r\n\r\n',
    'GET /?latin HTTP/1.1\r\nHost: lean.test\r\nX-Name: caf\xe9\r\nConnection: close\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
  ]) {
    const { lean: a, node: b } = await both(Buffer.from(head, 'latin1'));
    assert.ok(/^HTTP\/1\.[01] (200|400) /.test(a), a);
    assert.is(a, b);
  }
});

/** Writes `data`, half-closes, and gathers everything until the server closes. */
async function halfClosed(port: number, data: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1', () => socket.end(data, 'latin1'));
  let raw = '';
  let closed = false;
  socket.on('data', (c) => (raw += c.toString('latin1')));
  socket.on('error', () => {});
  socket.on('close', () => (closed = true));
  await waitFor(() => closed, 5000, 'the half-closed connection closed');
  return raw;
}

test('a client that half-closes gets every answer, through node:http and across the hand-off', async () => {
  // The POST is node:http's; after the GET it is handed off while the GET's answer is under
  // way, and the client's FIN has come by then.
  const post = 'POST /p HTTP/1.1\r\nHost: lean.test\r\nUser-Agent: lean-test\r\nContent-Length: 3\r\n\r\nabc';
  const http10 = 'GET /old HTTP/1.0\r\nUser-Agent: lean-test\r\n\r\n';
  for (const gw of [lean, reference]) {
    for (const [data, bodies] of [
      [post, ['POST /p? host=lean.test ua=lean-test body=abc']],
      [http10, ['GET /old? host=None ua=lean-test']],
      [get('/sleep?t=0.2') + post + get('/after'), ['slept', 'POST /p? host=lean.test ua=lean-test body=abc', 'GET /after? host=lean.test ua=lean-test']],
    ] as const) {
      const raw = await halfClosed(portOf(gw), data);
      const answers = raw.split(/(?=HTTP\/1\.1 )/);
      assert.is(answers.length, bodies.length, raw);
      answers.forEach((answer, i) => assert.ok(answer.startsWith('HTTP/1.1 200 OK\r\n') && answer.endsWith(`\r\n\r\n${bodies[i]}`), answer));
    }
  }
});

test('a client that half-closes after a plain request gets the answer, then the close', async () => {
  const started = Date.now();
  const raw = await halfClosed(portOf(lean), get('/?half'));
  assert.ok(raw.startsWith('HTTP/1.1 200 OK\r\n') && raw.endsWith('GET /?half host=lean.test ua=lean-test'), raw);
  assert.ok(Date.now() - started < 2000, `closed after ${Date.now() - started} ms`);
});

test('a connection that sends nothing is closed after --header-timeout (as nginx\'s client_header_timeout; node:http keeps it); the gateway still serves', async () => {
  const socket = net.connect(portOf(lean), '127.0.0.1');
  socket.on('error', () => {});
  const opened = Date.now();
  await new Promise((resolve) => socket.once('connect', resolve));
  let closed = false;
  socket.once('close', () => (closed = true));
  await waitFor(() => closed, 5000, 'the silent connection closed');
  const waited = Date.now() - opened;
  assert.ok(waited >= 900 && waited < 4000, `closed after ${waited} ms`);
  const raw = await rawRequest(portOf(lean), CLOSE);
  assert.ok(raw.startsWith('HTTP/1.1 200 OK'), raw);
});

test('a client that leaves in the middle of a large answer costs nothing: the next request is served', async () => {
  const socket = net.connect(portOf(lean), '127.0.0.1');
  socket.on('error', () => {});
  let first = 0;
  socket.on('data', (c) => (first += c.length));
  socket.write(get('/big'));
  await waitFor(() => first > 0, 5000, 'the first bytes of /big');
  socket.destroy();
  const raw = await rawRequest(portOf(lean), get('/?next') + CLOSE);
  assert.ok(raw.includes('GET /?next host=lean.test'), raw);
});

test('a stop closes idle keep-alive connections at once and lets the answers under way finish, a POST behind them too', async () => {
  const idle = net.connect(portOf(lean), '127.0.0.1');
  const busy = net.connect(portOf(lean), '127.0.0.1');
  let idleGot = '';
  let busyGot = '';
  idle.on('data', (c) => (idleGot += c));
  busy.on('data', (c) => (busyGot += c));
  idle.on('error', () => {});
  busy.on('error', () => {});
  idle.write(get('/?idle'));
  await waitFor(() => idleGot.includes('GET /?idle'), 5000, 'the idle connection\'s answer');
  // A POST behind the busy request: not plain, it goes to node:http once the GET is answered,
  // during the stop, and is answered too (no client retries a POST on its own).
  busy.write(`${get('/sleep?t=1')}POST /echo HTTP/1.1\r\nHost: lean.test\r\nContent-Length: 4\r\n\r\nlast`);
  await new Promise((resolve) => setTimeout(resolve, 200));
  let idleClosed = false;
  idle.once('close', () => (idleClosed = true));
  const pids = statusPids(await gatewayStatus(lean));
  const stopping = Date.now();
  const code = await lean.stop(10_000);
  assert.is(code, 0);
  await assertNoOrphans(pids);
  await waitFor(() => idleClosed, 5000, 'the idle connection closed');
  assert.ok(busyGot.includes('slept'), busyGot);
  assert.ok(busyGot.includes('body=last'), busyGot);
  assert.ok(Date.now() - stopping < 5000, `stopped after ${Date.now() - stopping} ms`);
});

test.run();

// A WSGI app over a unix-socket listener (`--listen unix:PATH`, the shipped systemd unit's), raw
// bytes through the real CLI (probe-l findings 2 and 4):
// - a client that reads a whole streamed response (Content-Length honoured) and closes at once
//   is logged with the status it got, not 499, as over TCP: the response's end wrote no bytes,
//   and a zero-byte write to a unix socket whose peer has gone fails (EPIPE);
// - SERVER_NAME and SERVER_PORT are the Host the client sent, the scheme's port when it names
//   none (as gunicorn on a unix socket; PEP 3333: never 0), localhost without a Host.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { join } from 'node:path';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';

const test = suite('wsgi over a unix-socket listener');
const work = tempDir('apppkg-wsgi-unix-');
const socketPath = join(work.path, 'gateway.sock');
let gw: RunningGateway;
const pids: number[] = [];

// The body leaves as a generator's pieces (RESPONSE, RESPONSE_BODY, RESPONSE_END frames): the
// response ends after the client may already have read all of it.
const APP = `import json

def application(environ, start_response):
    if environ["PATH_INFO"] == "/environ":
        keys = ("SERVER_NAME", "SERVER_PORT", "HTTP_HOST", "wsgi.url_scheme")
        body = json.dumps({k: environ.get(k) for k in keys}).encode()
    else:
        body = b"x" * 700
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return iter([body])
`;

test.before(async () => {
  const apps = join(work.path, 'apps');
  writePackage(apps, 'uw', { 'app.yaml': 'platform: python, wsgi\napp: uw:application\n', 'uw.py': APP });
  gw = await startCli([
    '--apps', apps, '--listen', `unix:${socketPath}`, '--listen', '127.0.0.1:0',
    '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'),
  ]);
});

test.after(async () => {
  if (gw) pids.push(...statusPids(await gatewayStatus(gw)));
  await gw?.stop();
  await assertNoOrphans(pids, 10_000);
  work.remove();
});

/** Sends `request` on a new unix-socket connection and reads the answer's head and exactly its Content-Length. */
function exchange(request: string): Promise<{ head: string; body: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no whole answer within 10 s to ${JSON.stringify(request)}`));
    }, 10_000);
    let got = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      got = Buffer.concat([got, chunk]);
      const end = got.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = got.toString('latin1', 0, end);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
      if (got.length - end - 4 < length) return;
      clearTimeout(timer);
      resolve({ head, body: got.toString('latin1', end + 4, end + 4 + length), socket });
    });
  });
}

async function environOf(request: string): Promise<Record<string, string>> {
  const { head, body, socket } = await exchange(request);
  socket.destroy();
  assert.match(head, /^HTTP\/1\.1 200 /, head);
  return JSON.parse(body) as Record<string, string>;
}

test('a whole response read, then the connection closed at once: logged 200, never 499', async () => {
  const rounds = 40;
  for (let i = 0; i < rounds; i++) {
    const { head, body, socket } = await exchange(`GET /uw/read-${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.match(head, /^HTTP\/1\.1 200 /);
    assert.is(body.length, 700);
    socket.destroy(); // as curl and health checkers do, before the gateway's end could be seen
  }
  const line = (i: number) => new RegExp(`"GET /uw/read-${i} HTTP/1\\.1" (\\d{3}) `);
  await waitFor(() => Array.from({ length: rounds }, (_, i) => line(i).test(gw.output())).every(Boolean), 10_000, () => `${rounds} access-log lines in\n${gw.output()}`);
  const statuses = Array.from({ length: rounds }, (_, i) => line(i).exec(gw.output())![1]);
  assert.equal(statuses.filter((s) => s !== '200'), [], 'every complete response logged as 200');
});

test('SERVER_NAME and SERVER_PORT from Host, the port defaulting to 80', async () => {
  const withPort = await environOf('GET /uw/environ HTTP/1.1\r\nHost: www.example.com:8080\r\n\r\n');
  assert.equal(withPort, { SERVER_NAME: 'www.example.com', SERVER_PORT: '8080', HTTP_HOST: 'www.example.com:8080', 'wsgi.url_scheme': 'http' });
  const noPort = await environOf('GET /uw/environ HTTP/1.1\r\nHost: www.example.com\r\n\r\n');
  assert.is(noPort.SERVER_NAME, 'www.example.com');
  assert.is(noPort.SERVER_PORT, '80');
  const emptyPort = await environOf('GET /uw/environ HTTP/1.1\r\nHost: www.example.com:\r\n\r\n');
  assert.is(emptyPort.SERVER_NAME, 'www.example.com');
  assert.is(emptyPort.SERVER_PORT, '80');
  const v6 = await environOf('GET /uw/environ HTTP/1.1\r\nHost: [::1]:81\r\n\r\n');
  assert.is(v6.SERVER_NAME, '::1');
  assert.is(v6.SERVER_PORT, '81');
});

test('an HTTP/1.0 request without Host (the lean lane reads it, node:http one with a field sent twice): localhost, port 80, never 0', async () => {
  for (const twice of ['', 'Accept: a\r\nAccept: b\r\n']) {
    const env = await environOf(`GET /uw/environ HTTP/1.0\r\n${twice}\r\n`);
    assert.is(env.SERVER_NAME, 'localhost');
    assert.is(env.SERVER_PORT, '80');
  }
});

test('over TCP: still the address and port the client reached', async () => {
  const port = Number(new URL(gw.url.startsWith('http') ? gw.url : /listening on (http:\/\/\S+)/.exec(gw.output())![1]).port);
  const env = await new Promise<Record<string, string>>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /uw/environ HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n'));
    let got = '';
    socket.on('data', (c) => (got += c.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4))));
  });
  assert.is(env.SERVER_NAME, '127.0.0.1');
  assert.is(env.SERVER_PORT, String(port));
});

test.run();

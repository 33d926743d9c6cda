// An ASGI app's scope over a unix-socket listener (`--listen unix:PATH`, as behind nginx): the
// ASGI spec's `server` for a unix socket is [path, None], and uvicorn --uds gives the same
// (uvicorn/protocols/utils.py get_local_addr); `client` is None, as a unix peer has no address,
// unless a proxy we trust (a local one: `loopback`) says who the client is. X-Forwarded-Host
// from that proxy decides `server` as it decides a WSGI app's SERVER_NAME; its X-Forwarded-Port
// the host both apps build URLs from, as it decides their server port (a WSGI app beside, for
// its environ). Real CLI, real workers.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { WebSocket } from 'ws';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, rawRequest, startCli, tempDir, type RunningGateway } from '../helpers/process.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';

const test = suite('asgi scope over a unix-socket listener');
const work = tempDir('apppkg-asgi-unix-');
const socket = join(work.path, 'gateway.sock');
const viaSocket = new Agent({ connect: { socketPath: socket } });
let gw: RunningGateway;
const pids: number[] = [];

interface Scope {
  server: [string, number | null] | null;
  client: [string, number] | null;
  scheme: string;
  root_path: string;
  headers: [string, string][];
}

async function scopeOf(url: string, headers: Record<string, string> = {}, dispatcher?: Agent): Promise<Scope> {
  const res = await request(url, { headers, dispatcher, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const body = await res.body.text();
  assert.is(res.statusCode, 200, body);
  return JSON.parse(body) as Scope;
}

test.before(async () => {
  const apps = join(work.path, 'apps');
  addPackage(apps, 'asgi-http', 'ax'); // its /scope answers with the scope it got
  addPackage(apps, 'ws-asgi', 'aws'); // its websocket answers "whoami" with its scope's scheme
  addPackage(apps, 'faults', 'wx'); // its /env answers with the environ's strings
  gw = await startCli([
    '--apps', apps, '--listen', '127.0.0.1:0', '--listen', `unix:${socket}`, '--trust-proxy=loopback',
    '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'),
  ]);
});

test.after(async () => {
  if (gw) pids.push(...statusPids(await gatewayStatus(gw)));
  await gw?.stop();
  await viaSocket.close();
  await assertNoOrphans(pids, 10_000);
  work.remove();
});

test('over the unix socket: server is [path, None], client None', async () => {
  const scope = await scopeOf('http://localhost/ax/scope', {}, viaSocket);
  assert.equal(scope.server, [socket, null]);
  assert.is(scope.client, null);
  assert.is(scope.root_path, '/ax');
});

test('over the unix socket behind a trusted proxy: client from X-Forwarded-For, server from X-Forwarded-Host', async () => {
  const forwarded = await scopeOf('http://localhost/ax/scope', { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' }, viaSocket);
  assert.equal(forwarded.client, ['203.0.113.9', 0]);
  assert.is(forwarded.scheme, 'https');
  assert.equal(forwarded.server, [socket, null], 'no X-Forwarded-Host: still the socket');
  const hosted = await scopeOf('http://localhost/ax/scope', { 'x-forwarded-host': 'www.example.com', 'x-forwarded-proto': 'https' }, viaSocket);
  assert.equal(hosted.server, ['www.example.com', 443]);
});

test('over TCP: server is the listening address and port, client the peer', async () => {
  const port = Number(new URL(gw.url).port);
  const scope = await scopeOf(`${gw.url}/ax/scope`);
  assert.equal(scope.server, ['127.0.0.1', port]);
  assert.is(scope.client?.[0], '127.0.0.1');
  assert.ok(Number.isInteger(scope.client?.[1]) && scope.client![1] > 0, `client port ${scope.client?.[1]}`);
});

test('over TCP behind a trusted proxy that changes the scheme: the server port is the one the Host names, or X-Forwarded-Port', async () => {
  const port = Number(new URL(gw.url).port);
  const hosted = await scopeOf(`${gw.url}/ax/scope`, { host: 'x.example:8080', 'x-forwarded-proto': 'https' });
  assert.equal(hosted.server, ['127.0.0.1', 8080]);
  assert.equal((await scopeOf(`${gw.url}/ax/scope`, { host: 'x.example', 'x-forwarded-proto': 'https' })).server, ['127.0.0.1', 443]);
  const stated = await scopeOf(`${gw.url}/ax/scope`, { host: 'x.example:8080', 'x-forwarded-proto': 'https', 'x-forwarded-port': '8443' });
  assert.equal(stated.server, ['127.0.0.1', 8443]);
  assert.equal((await scopeOf(`${gw.url}/ax/scope`, { 'x-forwarded-port': '99999' })).server, ['127.0.0.1', port], 'not a port: ignored');
});

test('X-Forwarded-Port without X-Forwarded-Host: HTTP_HOST (the scope\'s host header) names the port SERVER_PORT (its server) has, the scheme\'s own as none; over TCP and the socket', async () => {
  // Django's get_host, werkzeug's and Starlette's request.url read the host, not SERVER_PORT:
  // they built URLs with the port the client's Host named while SERVER_PORT said another.
  const port = Number(new URL(gw.url).port);
  const cases: Array<[Record<string, string>, string, number]> = [
    [{ host: 'x.example:8080', 'x-forwarded-port': '8443' }, 'x.example:8443', 8443],
    [{ host: 'x.example:8080', 'x-forwarded-proto': 'https', 'x-forwarded-port': '443' }, 'x.example', 443],
    [{ host: 'x.example', 'x-forwarded-proto': 'https', 'x-forwarded-port': '8443' }, 'x.example:8443', 8443],
    [{ host: '[::1]:8080', 'x-forwarded-port': '9000' }, '[::1]:9000', 9000],
    [{ host: 'x.example', 'x-forwarded-host': 'www.example.com:9000', 'x-forwarded-port': '9443' }, 'www.example.com:9443', 9443],
    // A host that names the port already is left as sent.
    [{ host: 'x.example:8080', 'x-forwarded-port': '8080' }, 'x.example:8080', 8080],
    [{ host: 'x.example', 'x-forwarded-port': '80' }, 'x.example', 80],
    [{ host: 'x.example:8080', 'x-forwarded-port': '99999' }, 'x.example:8080', port],
  ];
  for (const [headers, host, serverPort] of cases) {
    const what = JSON.stringify(headers);
    for (const dispatcher of [undefined, viaSocket]) {
      const where = dispatcher === undefined ? 'over TCP' : 'over the socket';
      const res = await request(`${gw.url}/wx/env`, { headers, dispatcher, headersTimeout: 10_000, bodyTimeout: 10_000 });
      const env = (await res.body.json()) as Record<string, string>;
      assert.is(env.HTTP_HOST, host, `${what} ${where}`);
      assert.is(env.HTTP_X_FORWARDED_HOST, host, `${what} ${where}`);
      // Over the socket, with no port of its own, SERVER_PORT is the Host's unless the proxy says one.
      if (dispatcher === undefined || serverPort !== port) assert.is(env.SERVER_PORT, String(serverPort), `${what} ${where}`);
      const scope = await scopeOf(`${gw.url}/ax/scope`, headers, dispatcher);
      assert.equal(scope.headers.filter(([name]) => name === 'host'), [['host', host]], `${what} ${where}`);
      // X-Forwarded-Host names the server; else over the socket `server` is [path, None].
      const server = headers['x-forwarded-host'] !== undefined ? ['www.example.com', serverPort] : dispatcher === undefined ? ['127.0.0.1', serverPort] : [socket, null];
      assert.equal(scope.server, server, `${what} ${where}`);
    }
  }
});

test('the client\'s port where the gateway knows none (a unix-socket peer, a client a trusted proxy names): no REMOTE_PORT in the environ, never a made-up "0"; the ASGI client None or [address, 0]; over TCP both the peer\'s port', async () => {
  const envOf = async (headers: Record<string, string>, dispatcher?: Agent): Promise<Record<string, string>> => {
    const res = await request(`${gw.url}/wx/env`, { headers, dispatcher, headersTimeout: 10_000, bodyTimeout: 10_000 });
    return (await res.body.json()) as Record<string, string>;
  };
  const cases: Array<[string, Record<string, string>, Agent | undefined, string, [string, number] | null]> = [
    ['over the unix socket', {}, viaSocket, '', null],
    ['over the unix socket, X-Forwarded-For from the trusted proxy', { 'x-forwarded-for': '203.0.113.9' }, viaSocket, '203.0.113.9', ['203.0.113.9', 0]],
    ['over TCP, X-Forwarded-For from the trusted proxy', { 'x-forwarded-for': '203.0.113.9' }, undefined, '203.0.113.9', ['203.0.113.9', 0]],
  ];
  for (const [what, headers, dispatcher, addr, client] of cases) {
    const env = await envOf(headers, dispatcher);
    assert.is(env.REMOTE_ADDR, addr, what);
    assert.not.ok('REMOTE_PORT' in env, `${what}: REMOTE_PORT ${JSON.stringify(env.REMOTE_PORT)}`);
    const url = dispatcher === undefined ? `${gw.url}/ax/scope` : 'http://localhost/ax/scope';
    assert.equal((await scopeOf(url, headers, dispatcher)).client, client, what);
  }
  // The peer's own port, where there is one: the environ's and the scope's agree with the socket's.
  const env = await envOf({});
  assert.is(env.REMOTE_ADDR, '127.0.0.1');
  assert.match(env.REMOTE_PORT ?? '', /^[1-9]\d*$/, `REMOTE_PORT ${JSON.stringify(env.REMOTE_PORT)}`);
  const scope = await scopeOf(`${gw.url}/ax/scope`);
  assert.ok(Number.isInteger(scope.client?.[1]) && scope.client![1] > 0, `client port ${scope.client?.[1]}`);
});

/** The scheme a websocket's scope has, opened over TCP with `headers` from a (trusted) proxy. */
function websocketScheme(url: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`${url}: no answer within 10 s`));
    }, 10_000);
    ws.on('open', () => ws.send('whoami'));
    ws.on('message', (data: Buffer) => {
      clearTimeout(timer);
      ws.close(1000);
      resolve((JSON.parse(data.toString('utf8')) as { scheme: string }).scheme);
    });
    ws.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

test('behind a trusted proxy that says ws or wss (Traefik does, for a websocket): the scope\'s scheme is ws or wss, and an HTTP request\'s http or https', async () => {
  const ws = gw.url.replace(/^http/, 'ws');
  assert.is(await websocketScheme(`${ws}/aws/echo`, { 'x-forwarded-proto': 'wss' }), 'wss');
  assert.is(await websocketScheme(`${ws}/aws/echo`, { 'x-forwarded-proto': 'https' }), 'wss');
  assert.is(await websocketScheme(`${ws}/aws/echo`, { 'x-forwarded-proto': 'ws' }), 'ws');
  assert.is((await scopeOf(`${gw.url}/ax/scope`, { 'x-forwarded-proto': 'wss' })).scheme, 'https');
  assert.is((await scopeOf(`${gw.url}/ax/scope`, { 'x-forwarded-proto': 'WSS' })).scheme, 'https');
  assert.is((await scopeOf(`${gw.url}/ax/scope`, { 'x-forwarded-proto': 'ftp' })).scheme, 'http', 'anything else: the listener\'s');
});

test('a trusted X-Forwarded-Host whose last element (the nearest proxy\'s) is no host: a 400 for an ASGI request and a websocket handshake, never the proxy\'s Host in its place', async () => {
  const port = Number(new URL(gw.url).port);
  const fields = 'Host: internal:8000\r\nX-Forwarded-Host: a.example, x::\r\n';
  const handshake = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';
  for (const [path, rest] of [['/ax/scope', 'Connection: close\r\n'], ['/aws/echo', handshake]]) {
    // A refusal closes the connection; a 101 would stay open until the bound.
    const answer = await rawRequest(port, `GET ${path} HTTP/1.1\r\n${fields}${rest}\r\n`, 10_000);
    assert.match(answer, /^HTTP\/1\.1 400 /, `${path}: ${answer.slice(0, 300)}`);
    assert.match(answer, /X-Forwarded-Host of the trusted proxy does not end in a host\[:port\]/, path);
  }
});

test.run();

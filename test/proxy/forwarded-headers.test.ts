// RFC 9110 §7.6.1 through the gateway: hop-by-hop headers never reach the app, and
// X-Forwarded-* are stated by the gateway, never taken from the client; behind a trusted
// proxy (--trust-proxy), they decide REMOTE_ADDR, wsgi.url_scheme and the host.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { WebSocket } from 'ws';
import { isGatewayError } from '../../src/errors.js';
import { forwardWsgi } from '../../src/proxy/forward-wsgi.js';
import { routeFromRequest } from '../../src/proxy/request-route.js';
import { clientAddress, compileTrustProxy, connectionListed, type TrustProxy } from '../../src/proxy/forwarded-headers.js';
import type { Worker } from '../../src/supervisor/worker.js';
import { addPackage } from '../helpers/apps-dir.js';
import { workerFor } from '../helpers/link-harness.js';
import { assertNoOrphans, rawRequest, startCli, tempDir, type RunningGateway } from '../helpers/process.js';

const test = suite('forwarded headers');
const apps = tempDir('apppkg-fwd-apps-');
const state = tempDir('apppkg-fwd-state-');
let gw: RunningGateway;
let worker: Worker | null = null;
let server: http.Server | null = null;
let trust: TrustProxy | null = null;
let serverUrl = '';

test.before(async () => {
  addPackage(apps.path, 'faults', 'fwd');
  addPackage(apps.path, 'ws-asgi', 'afwd'); // an ASGI app: its "whoami" (HTTP or websocket) has the scope's headers
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off']);
  // The forward path alone, with a trust list the test sets (the CLI flag is the gateway's).
  worker = workerFor('faults', { threads: 2 });
  await worker.start(15_000);
  server = http.createServer((req, res) => void forwardWsgi(worker!.link!, req, res, routeFromRequest(req, '', trust)!));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.after(async () => {
  const pids: number[] = worker?.pid ? [worker.pid] : [];
  if (gw?.adminUrl) {
    const status = (await (await request(`${gw.adminUrl}/status`)).body.json()) as { apps: Array<{ workers: Array<{ pid: number }> }> };
    pids.push(...status.apps.flatMap((a) => a.workers.map((w) => w.pid)));
  }
  server?.closeAllConnections();
  server?.close();
  await worker?.stop(3000);
  await gw?.stop();
  await assertNoOrphans(pids);
  apps.remove();
  state.remove();
});

/** The body of a 200 read to the connection's end, its chunks joined when it came chunked. */
function bodyOf(answer: string): string {
  assert.match(answer, /^HTTP\/1\.1 200 /);
  const headEnd = answer.indexOf('\r\n\r\n');
  let body = answer.slice(headEnd + 4);
  if (!/\r\ntransfer-encoding: chunked\r\n/i.test(answer.slice(0, headEnd + 2))) return body;
  let joined = '';
  for (let size = parseInt(body, 16); size > 0; size = parseInt(body, 16)) {
    const start = body.indexOf('\r\n') + 2;
    joined += body.slice(start, start + size);
    body = body.slice(start + size + 2);
  }
  return joined;
}

function environOf(answer: string): Record<string, string> {
  assert.match(answer, /^HTTP\/1\.1 200 /);
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
}

test('hop-by-hop request headers, and the fields Connection names, never reach the app', async () => {
  const answer = await rawRequest(
    Number(new URL(gw.url).port),
    [
      'POST /fwd/env HTTP/1.1',
      'Host: fwd.test:8080',
      'Connection: X-Secret, close',
      'X-Secret: hop',
      'Keep-Alive: timeout=5',
      'Proxy-Connection: keep-alive',
      'TE: trailers',
      'Trailer: X-Checksum',
      'Upgrade: h2c',
      'X-Custom: end-to-end',
      'Transfer-Encoding: chunked',
      '',
      '5',
      'hello',
      '0',
      '',
      '',
    ].join('\r\n'),
    10_000,
  );
  const env = environOf(answer);
  for (const name of ['CONNECTION', 'X_SECRET', 'KEEP_ALIVE', 'PROXY_CONNECTION', 'TE', 'TRAILER', 'UPGRADE', 'TRANSFER_ENCODING']) {
    assert.is(env[`HTTP_${name}`], undefined, `HTTP_${name} reached the app`);
  }
  assert.is(env.HTTP_X_CUSTOM, 'end-to-end');
  assert.is(env.HTTP_HOST, 'fwd.test:8080');
});

test("the client's X-Forwarded-* (and Forwarded, X-Real-IP) are replaced by what the gateway saw", async () => {
  const res = await request(`${gw.url}/fwd/env`, {
    headers: {
      host: 'fwd.test',
      'x-forwarded-for': '6.6.6.6',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-port': '443',
      forwarded: 'for=6.6.6.6;proto=https',
      'x-real-ip': '6.6.6.6',
    },
    headersTimeout: 10_000,
  });
  const env = (await res.body.json()) as Record<string, string>;
  assert.is(env.REMOTE_ADDR, '127.0.0.1');
  assert.is(env.HTTP_X_FORWARDED_FOR, '127.0.0.1');
  assert.is(env.HTTP_X_FORWARDED_PROTO, 'http');
  assert.is(env.HTTP_X_FORWARDED_HOST, 'fwd.test');
  assert.is(env['wsgi.url_scheme'], 'http');
  assert.is(env.HTTP_HOST, 'fwd.test');
  for (const name of ['HTTP_X_FORWARDED_PORT', 'HTTP_FORWARDED', 'HTTP_X_REAL_IP']) assert.is(env[name], undefined, name);
});

test('two keep-alive clients interleaved, each from its own address with its own Host and fields: each request gets its own environ', async () => {
  // The front reuses what consecutive requests share (the X-Forwarded-* pairs of the last
  // peer, each CGI name's pair prefix, a head's field list made at its size): none of it may
  // carry one client's values into the other's requests (docs/performance.md, 2026-12-06).
  const port = Number(new URL(gw.url).port);
  const clients = [
    { localAddress: '127.0.0.1', host: 'one.test', fields: { 'X-Client': 'one', 'X-Only-One': 'a', Accept: 'text/one' } as Record<string, string> },
    { localAddress: '127.0.0.2', host: 'two.test:8080', fields: { 'X-Client': 'two-longer-value' } as Record<string, string> },
  ].map((c) => ({ ...c, agent: new http.Agent({ keepAlive: true, maxSockets: 1 }) }));
  const get = (c: (typeof clients)[number]): Promise<Record<string, string>> =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/fwd/env', localAddress: c.localAddress, agent: c.agent, headers: { Host: c.host, ...c.fields }, timeout: 10_000 }, (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(JSON.parse(body) as Record<string, string>));
      });
      req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
      req.on('error', reject);
    });
  const sockets = new Set<unknown>();
  try {
    for (let round = 0; round < 3; round++) {
      for (const c of clients) {
        const env = await get(c);
        assert.is(env.REMOTE_ADDR, c.localAddress);
        assert.is(env.HTTP_X_FORWARDED_FOR, c.localAddress);
        assert.is(env.HTTP_HOST, c.host);
        assert.is(env.HTTP_X_FORWARDED_HOST, c.host);
        assert.is(env.HTTP_X_CLIENT, c.fields['X-Client']);
        assert.is(env.HTTP_X_ONLY_ONE, c.fields['X-Only-One']);
        assert.is(env.HTTP_ACCEPT, c.fields.Accept);
        for (const free of Object.values(c.agent.freeSockets)) for (const socket of free ?? []) sockets.add(socket);
      }
    }
    // Kept alive: the requests of a round followed the other client's on one connection each.
    assert.is(sockets.size, 2);
  } finally {
    for (const c of clients) c.agent.destroy();
  }
});

/** A head with header names that contain `_`: some an app may have, some posing as what the gateway states or drops. */
const UNDERSCORE_HEAD = [
  'Host: fwd.test',
  'Api_Key: secret',
  'Content_Type: text/odd',
  'X_Forwarded_For: 6.6.6.6',
  'x-forwarded_host: evil.example',
  'X_Real_IP: 6.6.6.6',
  'Forwarded: for=6.6.6.6',
  'Transfer_Encoding: chunked',
  'Connection: close, Hop_Only',
  'Hop_Only: 1',
];
const POSING = ['x_forwarded_for', 'x-forwarded_host', 'x_real_ip', 'transfer_encoding', 'hop_only'];

test('header names with `_`: a WSGI app never gets them (CGI), an ASGI app as sent, but none posing as a forwarding or hop-by-hop header', async () => {
  const port = Number(new URL(gw.url).port);
  const env = environOf(await rawRequest(port, ['GET /fwd/env HTTP/1.1', ...UNDERSCORE_HEAD, '', ''].join('\r\n'), 10_000));
  assert.is(env.HTTP_API_KEY, undefined, 'Api_Key reached a WSGI app');
  assert.is(env.CONTENT_TYPE, undefined);
  assert.is(env.HTTP_X_FORWARDED_FOR, '127.0.0.1');
  assert.is(env.HTTP_X_FORWARDED_HOST, 'fwd.test');
  assert.is(env.HTTP_X_REAL_IP, undefined);

  // The lean lane reads the first two heads, node:http the last (a field sent twice is not plain): all forward alike.
  for (const [version, twice] of [['1.1', []], ['1.0', []], ['1.1', ['Accept: a', 'Accept: b']]] as const) {
    const answer = await rawRequest(port, [`GET /afwd/who HTTP/${version}`, ...UNDERSCORE_HEAD, ...twice, '', ''].join('\r\n'), 10_000);
    const { headers } = JSON.parse(bodyOf(answer)) as { headers: Record<string, string> };
    assert.is(headers.api_key, 'secret', `HTTP/${version}: Api_Key as sent, lowercased`);
    assert.is(headers.content_type, 'text/odd', 'a name of its own, not Content-Type');
    assert.is(headers['content-type'], undefined);
    for (const name of POSING) assert.is(headers[name], undefined, `HTTP/${version}: ${name} reached the ASGI app`);
    assert.is(headers['x-forwarded-for'], '127.0.0.1');
    assert.is(headers['x-forwarded-host'], 'fwd.test');
    assert.is(headers.forwarded, undefined);
  }

  const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/afwd/who`, { headers: { Api_Key: 'ws-secret', X_Forwarded_For: '6.6.6.6' } });
  try {
    const scope = await new Promise<{ headers: Record<string, string> }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer to whoami within 10 s')), 10_000);
      ws.once('open', () => ws.send('whoami'));
      ws.once('message', (data) => {
        clearTimeout(timer);
        resolve(JSON.parse(String(data)) as { headers: Record<string, string> });
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    assert.is(scope.headers.api_key, 'ws-secret', "a websocket's handshake: Api_Key as sent");
    assert.is(scope.headers.x_forwarded_for, undefined);
    assert.is(scope.headers['x-forwarded-for'], '127.0.0.1');
  } finally {
    ws.close();
  }
});

test('a trusted peer: the right-most untrusted X-Forwarded-For, the scheme and the host count', async () => {
  trust = compileTrustProxy(['loopback', '10.0.0.0/8']);
  const res = await request(`${serverUrl}/env`, {
    headers: {
      host: 'internal:8000',
      'x-forwarded-for': '6.6.6.6, 203.0.113.7, 10.1.2.3',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'www.example.com',
      'x-forwarded-prefix': '/shop',
    },
    headersTimeout: 10_000,
  });
  const env = (await res.body.json()) as Record<string, string>;
  assert.is(env.REMOTE_ADDR, '203.0.113.7');
  assert.is(env.HTTP_X_FORWARDED_FOR, '6.6.6.6, 203.0.113.7, 10.1.2.3, 127.0.0.1');
  assert.is(env['wsgi.url_scheme'], 'https');
  assert.is(env.HTTP_HOST, 'www.example.com');
  assert.is(env.SERVER_NAME, 'www.example.com');
  assert.is(env.SERVER_PORT, '443');
  assert.is(env.HTTP_X_FORWARDED_PREFIX, '/shop');
});

async function trustedEnviron(headers: Record<string, string>): Promise<Record<string, string>> {
  const res = await request(`${serverUrl}/env`, { headers, headersTimeout: 10_000, bodyTimeout: 10_000 });
  return (await res.body.json()) as Record<string, string>;
}

test('a trusted peer that changes the scheme, no X-Forwarded-Host: SERVER_PORT is the port the Host names, the scheme\'s only when it names none', async () => {
  trust = compileTrustProxy(['loopback']);
  assert.is((await trustedEnviron({ host: 'x.example:8080', 'x-forwarded-proto': 'https' })).SERVER_PORT, '8080');
  assert.is((await trustedEnviron({ host: '[::1]:8080', 'x-forwarded-proto': 'https' })).SERVER_PORT, '8080');
  assert.is((await trustedEnviron({ host: 'x.example', 'x-forwarded-proto': 'https' })).SERVER_PORT, '443');
  assert.is((await trustedEnviron({ host: 'x.example:', 'x-forwarded-proto': 'https' })).SERVER_PORT, '443');
});

test('a trusted peer\'s X-Forwarded-Port sets SERVER_PORT and HTTP_HOST\'s port, over the hosts\' ports; a value that is not a port is ignored', async () => {
  trust = compileTrustProxy(['loopback']);
  const env = await trustedEnviron({ host: 'x.example:8080', 'x-forwarded-proto': 'https', 'x-forwarded-port': '8443' });
  assert.is(env.SERVER_PORT, '8443');
  assert.is(env.HTTP_HOST, 'x.example:8443', 'the host names the port too: apps build URLs from it');
  assert.is(env.HTTP_X_FORWARDED_HOST, 'x.example:8443');
  assert.is(env.HTTP_X_FORWARDED_PORT, '8443');
  assert.is((await trustedEnviron({ host: 'x', 'x-forwarded-host': 'www.example.com:9000', 'x-forwarded-port': '9443' })).SERVER_PORT, '9443');
  assert.is((await trustedEnviron({ host: 'x', 'x-forwarded-port': '1, 2222' })).SERVER_PORT, '2222', 'the right-most, as the other X-Forwarded-*');
  for (const invalid of ['0', '65536', 'https', '-1', '80a', '123456']) {
    const ignored = await trustedEnviron({ host: 'x.example:8080', 'x-forwarded-proto': 'https', 'x-forwarded-port': invalid });
    assert.is(ignored.SERVER_PORT, '8080', `X-Forwarded-Port: ${invalid}`);
    assert.is(ignored.HTTP_HOST, 'x.example:8080', `X-Forwarded-Port: ${invalid}`);
  }
});

test('R6.1l a trusted X-Forwarded-Host with an empty port names the host alone (RFC 3986 §6.2.3), as a Host does; two colons are no host, a 400', async () => {
  trust = compileTrustProxy(['loopback']);
  const named = await trustedEnviron({ host: 'internal:8000', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'www.example.com:' });
  assert.is(named.HTTP_HOST, 'www.example.com');
  assert.is(named.HTTP_X_FORWARDED_HOST, 'www.example.com');
  assert.is(named.SERVER_NAME, 'www.example.com');
  assert.is(named.SERVER_PORT, '443', 'the scheme\'s port: it names none');
  const literal = await trustedEnviron({ host: 'internal:8000', 'x-forwarded-host': '[2001:db8::1]:' });
  assert.is(literal.HTTP_HOST, '[2001:db8::1]');
  assert.is(literal.SERVER_NAME, '2001:db8::1');
  assert.is(literal.SERVER_PORT, '80');
  const ported = await trustedEnviron({ host: 'internal:8000', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'www.example.com:', 'x-forwarded-port': '8443' });
  assert.is(ported.HTTP_HOST, 'www.example.com:8443');
  assert.is(ported.SERVER_PORT, '8443');
  // No host where the nearest proxy names it: a 400, as a Host that is no host is, not the
  // proxy's Host (the address it reached the gateway at) in its place.
  for (const invalid of ['www.example.com::', ':', '[2001:db8::1]::', 'www.example.com:8080:', 'a.example, x::']) {
    const res = await request(`${serverUrl}/env`, { headers: { host: 'internal:8000', 'x-forwarded-host': invalid }, headersTimeout: 10_000, bodyTimeout: 10_000 });
    const body = await res.body.text();
    assert.is(res.statusCode, 400, `X-Forwarded-Host: ${invalid}: ${body}`);
    assert.match(body, /X-Forwarded-Host of the trusted proxy does not end in a host\[:port\]/);
  }
});

test('a peer not on the trust list: its X-Forwarded-* count for nothing', async () => {
  trust = compileTrustProxy(['10.0.0.0/8']);
  const res = await request(`${serverUrl}/env`, {
    headers: { host: 'internal:8000', 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', 'x-forwarded-port': '8443' },
    headersTimeout: 10_000,
  });
  const env = (await res.body.json()) as Record<string, string>;
  assert.is(env.REMOTE_ADDR, '127.0.0.1');
  assert.is(env.HTTP_X_FORWARDED_FOR, '127.0.0.1');
  assert.is(env['wsgi.url_scheme'], 'http');
  assert.is(env.HTTP_HOST, 'internal:8000');
  assert.is(env.HTTP_X_FORWARDED_HOST, 'internal:8000');
  assert.is(env.SERVER_PORT, new URL(serverUrl).port);
  assert.not.ok('HTTP_X_FORWARDED_PORT' in env);
});

test('clientAddress walks from the right past trusted hops; ports and garbage', () => {
  const list = compileTrustProxy(['127.0.0.1', '10.0.0.0/8', 'fd00::/8'])!;
  assert.is(clientAddress('1.1.1.1, 2.2.2.2', '127.0.0.1', list), '2.2.2.2');
  assert.is(clientAddress('1.1.1.1, 10.0.0.9', '127.0.0.1', list), '1.1.1.1');
  assert.is(clientAddress('10.0.0.1, 10.0.0.2', '127.0.0.1', list), '10.0.0.1', 'all trusted: the left-most');
  assert.is(clientAddress('1.1.1.1', '8.8.8.8', list), '8.8.8.8', 'an untrusted peer is the client');
  assert.is(clientAddress('', '127.0.0.1', list), '127.0.0.1');
  assert.is(clientAddress('[2001:db8::1]:443, 5.5.5.5:8080', '::ffff:127.0.0.1', list), '5.5.5.5');
  assert.is(clientAddress('2001:db8::1, fd00::2', '127.0.0.1', list), '2001:db8::1');
  assert.is(clientAddress('1.1.1.1, unknown, 10.0.0.3', '127.0.0.1', list), '10.0.0.3', 'garbage ends the walk');
  // Without addresses: the peer is the proxy, one hop; what it was told is not believed.
  const all = compileTrustProxy(true)!;
  assert.is(clientAddress('6.6.6.6, 2.2.2.2', '9.9.9.9', all), '2.2.2.2');
  assert.is(clientAddress('6.6.6.6, 127.0.0.2', '', all), '127.0.0.2', 'nginx on a unix socket');
  assert.is(clientAddress('', '9.9.9.9', all), '9.9.9.9');
  // A unix-socket peer is local: trusted with loopback only.
  assert.is(clientAddress('6.6.6.6, 127.0.0.2', '', compileTrustProxy(['loopback'])!), '6.6.6.6', 'loopback hops are trusted too');
  assert.is(clientAddress('6.6.6.6, 5.5.5.5', '', compileTrustProxy(['loopback'])!), '5.5.5.5');
  assert.is(clientAddress('5.5.5.5', '', compileTrustProxy(['10.0.0.0/8'])!), '');
});

test('compileTrustProxy: addresses, CIDR, loopback; anything else is APPPKG_TRUST_PROXY_INVALID', () => {
  assert.is(compileTrustProxy(false), null);
  assert.is(compileTrustProxy([]), null);
  assert.ok(compileTrustProxy(['loopback'])!.trusts('::1'));
  assert.not.ok(compileTrustProxy(['loopback'])!.trusts('10.0.0.1'));
  for (const bad of ['10.0.0.0/33', 'proxy.example', '10.0.0.0/8/1', '1.2.3.4/x', '']) {
    try {
      compileTrustProxy([bad]);
      assert.unreachable(`${bad} was accepted`);
    } catch (err) {
      assert.ok(isGatewayError(err), String(err));
      assert.is(err.code, 'APPPKG_TRUST_PROXY_INVALID');
      assert.match(err.message, JSON.stringify(bad));
    }
  }
});

test('connectionListed: the fields a Connection header names, except those that frame the request', () => {
  assert.is(connectionListed(undefined), null);
  assert.is(connectionListed('keep-alive'), null);
  assert.is(connectionListed('Close'), null);
  assert.equal([...connectionListed('X-Secret, close, Content-Length, Host, x-other')!], ['HTTP_X_SECRET', 'HTTP_X_OTHER']);
});

test.run();

// `processes:` of WSGI apps through the real gateway: a process with a route gets the HTTP
// requests and websockets under it (through the mount and through NAME.localhost), a
// background process is restarted when it dies, a websocket to a WSGI path gets a 501, an
// encoded slash splits no route inside the app (processes' nor static:'s), a handshake with
// an empty chunked body switches as it does for an app's own websocket, and nothing
// outlives the gateway.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { appStatus as appStatusOf, gatewayStatus, statusPids } from '../helpers/status.js';
import { assertNoOrphans, isAlive, rawRequest, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { openSocket } from '../helpers/websocket.js';

const test = suite('processes with routes, background processes');
const apps = tempDir('apppkg-proc-apps-');
const state = tempDir('apppkg-proc-state-');
let gw: RunningGateway;

test.before(async () => {
  const echo = addPackage(apps.path, 'ws-echo', 'echo', { 'app.yaml': [[/$/, '\nstatic:\n  /files: files/\n']] });
  mkdirSync(join(echo, 'files'));
  writeFileSync(join(echo, 'files', 'a.txt'), 'static a\n');
  addPackage(apps.path, 'ticker', 'ticker');
  addPackage(apps.path, 'examples/flask-live', 'flask-live');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path], { ms: 60_000 });
  await waitFor(async () => (await status()).apps.filter((a: any) => a.state === 'ready').length === 3, 60_000, 'three apps ready');
});

test.after(async () => {
  await gw?.stop();
  apps.remove();
  state.remove();
});

const status = () => gatewayStatus(gw);
const appStatus = (name: string) => appStatusOf(gw, name);

const wsUrl = (path: string) => `${gw.url.replace(/^http/, 'ws')}${path}`;
const port = () => Number(new URL(gw.url).port);

test('a websocket under the route is echoed through the mount, and the process sees the full path', async () => {
  const sock = await openSocket(wsUrl('/echo/ws/room?x=1'));
  sock.ws.send('hello');
  assert.is(await sock.next(), 'hello');
  sock.ws.send('path?');
  assert.is(await sock.next(), '/echo/ws/room?x=1');
  const big = 'x'.repeat(200_000);
  sock.ws.send(big);
  assert.is((await sock.next()).length, big.length);
  sock.ws.close(1000);
  assert.is(await sock.closed(), 1000);
});

test('a websocket through the virtual host NAME.localhost reaches the same process at its own path', async () => {
  const sock = await openSocket(wsUrl('/ws'), { host: 'echo.localhost' });
  sock.ws.send('path?');
  assert.is(await sock.next(), '/ws');
  sock.ws.send('via host');
  assert.is(await sock.next(), 'via host');
  sock.ws.close(1000);
  assert.is(await sock.closed(), 1000);
});

test('HTTP under the route goes to the process with the full path, X-Forwarded-* set and hop-by-hop headers gone', async () => {
  const res = await request(`${gw.url}/echo/ws/info?q=2`, {
    headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-prefix': '/evil', connection: 'keep-alive, x-custom', 'x-custom': 'hop' },
  });
  assert.is(res.statusCode, 200);
  const seen = (await res.body.json()) as any;
  assert.is(seen.path, '/echo/ws/info?q=2');
  assert.is(seen.headers['X-Forwarded-For'], '127.0.0.1');
  assert.is(seen.headers['X-Forwarded-Proto'], 'http');
  assert.is(seen.headers['X-Forwarded-Host'], `127.0.0.1:${port()}`);
  assert.is(seen.headers['X-Forwarded-Prefix'], '/echo');
  assert.is(seen.headers.Host, `127.0.0.1:${port()}`);
  // Outside the route, the WSGI workers answer.
  const wsgi = await request(`${gw.url}/echo/wsx`);
  assert.is(await wsgi.body.text(), 'wsgi /echo|/wsx');
});

test('a websocket to a WSGI path gets 501 with a hint, not a hang; an unknown path gets 404', async () => {
  const handshake = (path: string) =>
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
  const answer = await rawRequest(port(), handshake('/echo/chat'), 5000);
  assert.match(answer, /^HTTP\/1\.1 501 Not Implemented\r\n/);
  assert.match(answer, /route:/);
  assert.match(answer, /app\.yaml/);
  const missing = await rawRequest(port(), handshake('/nothing-here/ws'), 5000);
  assert.match(missing, /^HTTP\/1\.1 404 Not Found\r\n/);
});

test('each upgrade has its access-log line when its connection closes: 101 with the tunnel\'s size, or the refusal', async () => {
  const line = (path: string, status: number, app: string) =>
    new RegExp(`"GET ${path.replace(/[?]/g, '\\?')} HTTP/1\\.1" ${status} (\\d+) "-" "[^"]*" app=${app} dur=\\d+\\.\\d+`);
  const tunnel = await waitFor(() => line('/echo/ws/room?x=1', 101, 'echo').exec(gw.output()), 5000, 'the websocket\'s line');
  assert.ok(Number(tunnel[1]) > 200_000, `the size counts the tunnel's bytes (${tunnel[1]})`);
  await waitFor(() => line('/echo/chat', 501, 'echo').test(gw.output()), 5000, 'the 501\'s line');
  await waitFor(() => line('/nothing-here/ws', 404, '-').test(gw.output()), 5000, 'the 404\'s line');
});

/** A masked text frame, as a client sends it (RFC 6455 §5.3). */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]))]);
}

/**
 * Sends `parts` on a raw connection, one write each (a short pause between, so that each is
 * read on its own), and gathers what comes back until `done` says it is whole.
 */
async function rawExchange(parts: Array<string | Buffer>, done: (got: Buffer) => boolean): Promise<string> {
  const socket = net.connect(port(), '127.0.0.1');
  let got = Buffer.alloc(0);
  socket.on('data', (c: Buffer) => (got = Buffer.concat([got, c])));
  socket.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    for (const part of parts) {
      socket.write(part);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await waitFor(() => done(got) || socket.destroyed, 10_000, () => `the answer to the handshake, got ${JSON.stringify(got.toString('latin1'))}`);
    return got.toString('latin1');
  } finally {
    socket.destroy();
  }
}

test('a websocket handshake with an empty chunked body (its last chunk alone, a trailer too) to a routed process switches, and the websocket begins after the body', async () => {
  const head = 'GET /echo/ws/chunked HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n'
    + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nTransfer-Encoding: chunked\r\n\r\n';
  // The process's echo of "path?" is the path it was asked for: an unmasked text frame.
  const echoed = (got: Buffer) => got.includes('/echo/ws/chunked');
  const shapes: Array<[string, Array<string | Buffer>]> = [
    ['head, body and a frame in one write', [Buffer.concat([Buffer.from(head + '0\r\n\r\n'), clientFrame('path?')])]],
    ['the body after the head', [head, '0\r\n\r\n', clientFrame('path?')]],
    ['a trailer, cut across writes', [head + '0\r\nX-Tr', 'ailer: 1\r\n\r\n', clientFrame('path?')]],
  ];
  for (const [what, parts] of shapes) {
    const answer = await rawExchange(parts, echoed);
    assert.match(answer, /^HTTP\/1\.1 101 Switching Protocols\r\n/, `${what}: ${answer}`);
    assert.match(answer, /\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i, `${what}: ${answer}`);
    assert.ok(answer.includes('\x81\x10/echo/ws/chunked'), `${what}: the process echoed the first frame as the path: ${JSON.stringify(answer)}`);
  }
  // Content in the handshake is refused, as for an app's own websocket.
  const content = await rawExchange([head + '3\r\nabc\r\n0\r\n\r\n'], (got) => got.includes('\r\n\r\n'));
  assert.match(content, /^HTTP\/1\.1 400 /, content);
});

test('the Flask example: the page knows its mount, and processes.live pushes over the websocket', async () => {
  const page = await request(`${gw.url}/flask-live/`);
  assert.is(page.statusCode, 200);
  assert.match(await page.body.text(), /"\/flask-live" \+ "\/live"/);
  const sock = await openSocket(wsUrl('/flask-live/live'));
  const tick = JSON.parse(await sock.next(5000));
  assert.match(tick.time, /^\d\d:\d\d:\d\d$/);
  assert.ok(tick.viewers >= 1);
  sock.ws.send('hi');
  await waitFor(async () => JSON.parse(await sock.next(3000)).echo === 'hi', 5000, 'the echo');
  sock.ws.close(1000);
  await sock.closed();
});

test('an encoded slash splits no route inside the app: /ws%2F.. goes to the workers, /files%2F.. is no static file', async () => {
  const get = async (path: string) => {
    const answer = await rawRequest(port(), `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 5000);
    return { status: answer.slice(9, 12), body: answer.slice(answer.indexOf('\r\n\r\n') + 4) };
  };
  // As `/echo%2Fws` is not under the mount `/echo`, `/ws%2Finfo` is not under the route `/ws`:
  // the segment is `ws/info`, and the WSGI app gets it, as PEP 3333 decodes it.
  assert.equal(await get('/echo/ws%2Finfo'), { status: '200', body: 'wsgi /echo|/ws/info' });
  assert.equal(await get('/echo/ws%2f'), { status: '200', body: 'wsgi /echo|/ws/' });
  const inside = await get('/echo/ws/a%2Fb');
  assert.is(JSON.parse(inside.body).path, '/echo/ws/a%2Fb', 'under the route, the process gets the path as sent');
  assert.equal(await get('/echo/files/a.txt'), { status: '200', body: 'static a\n' });
  assert.equal(await get('/echo/files%2Fa.txt'), { status: '200', body: 'wsgi /echo|/files/a.txt' });
  const handshake = `GET /echo/ws%2Froom HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
  assert.match(await rawRequest(port(), handshake, 5000), /^HTTP\/1\.1 501 /, 'an upgrade there is the WSGI app\'s: 501');
});

test('/status lists each process with its pid, state, route and port', async () => {
  const echo = await appStatus('echo');
  assert.is(echo.processes.length, 1);
  const ws = echo.processes[0];
  assert.is(ws.name, 'ws');
  assert.is(ws.state, 'ready');
  assert.is(ws.route, '/ws');
  assert.type(ws.port, 'number');
  assert.ok(isAlive(ws.pid));
  // `command: python ws_echo.py` runs as `exec python ...`: the pid (and so RSS and CPU) is
  // the app's own, not that of a shell waiting for it.
  assert.match(readFileSync(`/proc/${ws.pid}/cmdline`, 'latin1'), /python[\d.]*\0ws_echo\.py/);
  const ticker = (await appStatus('ticker')).processes[0];
  assert.equal({ name: ticker.name, route: ticker.route, port: ticker.port, state: ticker.state }, { name: 'ticker', route: null, port: null, state: 'ready' });
});

test('a background process killed with SIGKILL is restarted (a new pid), its output in the app log, and counted in the app\'s restarts', async () => {
  const appBefore = await appStatus('ticker');
  const before = appBefore.processes[0];
  process.kill(before.pid, 'SIGKILL');
  const after = await waitFor(
    async () => {
      const p = (await appStatus('ticker')).processes[0];
      return p.pid && p.pid !== before.pid && p.state === 'ready' ? p : null;
    },
    10_000,
    'the ticker to be restarted',
  );
  assert.is(after.restarts, before.restarts + 1);
  assert.is((await appStatus('ticker')).restarts, appBefore.restarts + 1);
  assert.match(gw.output(), /ticker: processes\.ticker \d+ exited \(SIGKILL\); restarting in \d+ ms/);
  const { readFileSync } = await import('node:fs');
  const log = `${state.path}/apps/ticker/log/app.log`;
  await waitFor(() => /^\[ticker\] tick \d+ pid \d+$/m.test(readFileSync(log, 'utf8')), 5000, 'tick lines in the app log');
});

test('requests through a routed process leave no MaxListenersExceededWarning in the gateway\'s output', async () => {
  // Each such response carries more 'close' listeners than Node's default 10 (none a leak).
  for (let i = 0; i < 3; i++) await (await request(`${gw.url}/echo/ws/info?n=${i}`)).body.text();
  assert.not.match(gw.output(), /MaxListenersExceededWarning/);
});

test('stopping the gateway closes a routed process\'s websocket 1001, as an ASGI app\'s, and leaves no process behind', async () => {
  const sock = await openSocket(wsUrl('/echo/ws/held'));
  sock.ws.send('hello');
  assert.is(await sock.next(), 'hello');
  const s = await status();
  const pids = statusPids(s);
  assert.ok(pids.length >= 6, `pids ${pids.join(',')}`);
  const closed = sock.closed(20_000);
  assert.is(await gw.stop(), 0);
  // The front cut the client's connection before the process's stop could close it: 1006, no
  // close frame (the echo server, like most, sends none when SIGTERM ends it).
  assert.is(await closed, 1001);
  await assertNoOrphans(pids, 10_000);
});

test.run();

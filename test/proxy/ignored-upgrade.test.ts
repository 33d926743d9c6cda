// RFC 9110 §7.8: a server may ignore an Upgrade it does not take, and must ignore one in an
// HTTP/1.0 request. `curl --http2 http://...` offers h2c on every request, and an nginx set up
// for websockets forwards any Upgrade: such a request is served as the plain request it also
// is (it was a 400 from the websocket code for an ASGI app, a 501 for a WSGI one).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, type RunningGateway } from '../helpers/process.js';
import { RawConnection } from '../helpers/link-harness.js';

const test = suite('an Upgrade the gateway does not take');
const apps = tempDir('apppkg-ignored-upgrade-apps-');
const state = tempDir('apppkg-ignored-upgrade-state-');
let gw: RunningGateway | null = null;

test.before(async () => {
  addPackage(apps.path, 'asgi-http', 'asgi');
  addPackage(apps.path, 'environ', 'wsgi');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(state.path, 'root')]);
});

test.after(() => stopGatewayChecked(gw, apps, state));

const H2C = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n';

async function exchange(data: string, until: (text: string) => boolean): Promise<string> {
  const c = await RawConnection.open(Number(new URL(gw!.url).port));
  try {
    c.write(data);
    return await c.waitFor(until, 5000, 'the answers');
  } finally {
    c.destroy();
  }
}

test('h2c offered to an ASGI app: served over HTTP/1.1, and the connection goes on', async () => {
  const text = await exchange(
    `GET /asgi/hello HTTP/1.1\r\nHost: x\r\n${H2C}\r\nGET /asgi/hello HTTP/1.1\r\nHost: x\r\n\r\n`,
    (t) => t.split('Hello, world!').length === 3,
  );
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.not.match(text, /101 Switching|Invalid Upgrade/);
});

test('h2c with a body: the body reaches the app whole', async () => {
  const body = 'x'.repeat(5000);
  const text = await exchange(`POST /asgi/upload HTTP/1.1\r\nHost: x\r\n${H2C}Content-Length: ${body.length}\r\n\r\n${body}`, (t) => t.endsWith('\r\n0\r\n\r\n'));
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /\r\n5000 \d+ \d+\r\n/);
});

test('h2c offered to a WSGI app: served, not a 501', async () => {
  const text = await exchange(`GET /wsgi/ HTTP/1.1\r\nHost: x\r\n${H2C}Connection: close\r\n\r\n`, (t) => t.includes('"PATH_INFO"'));
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  // The switch's fields are not the app's: they were about this connection.
  assert.not.match(text, /HTTP_UPGRADE|HTTP_HTTP2_SETTINGS/);
});

test('Upgrade: websocket in HTTP/1.0: ignored, a plain answer', async () => {
  const text = await exchange(
    'GET /asgi/hello HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    (t) => t.includes('Hello, world!'),
  );
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
});

test.run();

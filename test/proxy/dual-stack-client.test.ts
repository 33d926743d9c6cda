// An IPv4 client of a dual-stack listener (`--listen [::]:PORT`) is known by its socket's
// address, IPv4-mapped (`::ffff:127.0.0.1`), the same in every place the gateway states it: the
// WSGI environ's REMOTE_ADDR, the ASGI scope's client, the X-Forwarded-For a routed process
// gets, and the access log. gunicorn 26 and uvicorn 0.54 on such a socket give that form in the
// app and in their logs, as nginx 1.22 does (`listen [::]:80 ipv6only=off`): the form is kept,
// not turned into `127.0.0.1` in some places (docs/protocol.md).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('an IPv4 client of a dual-stack listener');
const apps = tempDir('apppkg-dual-stack-apps-');
const state = tempDir('apppkg-dual-stack-state-');
let gw: RunningGateway;
let url = '';

test.before(async () => {
  addPackage(apps.path, 'environ', 'wsgi');
  addPackage(apps.path, 'asgi-http', 'asgi'); // its /scope answers with the ASGI scope it got
  addPackage(apps.path, 'command-server', 'routed'); // answers with the X-Forwarded-For it got
  gw = await startCli(['--apps', apps.path, '--listen', '[::]:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', join(state.path, 'access.log'), '--settle', '0']);
  url = `http://127.0.0.1:${new URL(gw.url).port}`;
  await waitFor(async () => (await gatewayStatus(gw)).apps.every((a: { state: string }) => a.state === 'ready'), 60_000, 'the apps to serve');
});

test.after(() => stopGatewayChecked(gw, apps, state));

test('REMOTE_ADDR, the ASGI client, X-Forwarded-For and the access log all say ::ffff:127.0.0.1', async () => {
  const json = async (path: string) => {
    const res = await request(`${url}${path}`, { headersTimeout: 30_000 });
    assert.is(res.statusCode, 200, path);
    return (await res.body.json()) as Record<string, any>;
  };
  const environ = await json('/wsgi/');
  assert.is(environ.REMOTE_ADDR, '::ffff:127.0.0.1');
  assert.is(environ.HTTP_X_FORWARDED_FOR, '::ffff:127.0.0.1');
  const scope = await json('/asgi/scope');
  assert.is(scope.client[0], '::ffff:127.0.0.1');
  const routed = await json('/routed/');
  assert.is(routed.headers['X-Forwarded-For'], '::ffff:127.0.0.1');
  const lines = await waitFor(() => {
    const all = readFileSync(join(state.path, 'access.log'), 'utf8').split('\n').filter((l) => / app=(wsgi|asgi|routed) /.test(l));
    return all.length >= 3 ? all : undefined;
  }, 10_000, 'the three access-log lines');
  for (const line of lines) assert.ok(line.startsWith('::ffff:127.0.0.1 - - ['), line);
});

test.run();

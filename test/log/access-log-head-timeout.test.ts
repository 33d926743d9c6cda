// A request whose head does not arrive within --header-timeout is answered 408 and gets its
// access-log line (SPEC 4: one line per request), as nginx logs it: the request line as far as
// it was read, or `-`. On the lean lane (a request line cut short, a head handed to node:http
// half read) and with node:http reading every request (APPPKG_LEAN_LANE=0). A connection that
// sent nothing made no request: no line, as in nginx's log.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { spacedOut, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('access log: a head that times out');
const apps = tempDir('apppkg-head-timeout-apps-');
const leanState = tempDir('apppkg-head-timeout-lean-');
const nodeState = tempDir('apppkg-head-timeout-node-');
let lean: RunningGateway | null = null;
let node: RunningGateway | null = null;

const APP = `def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\\n"]
`;

const start = (state: string, lane: string): Promise<RunningGateway> =>
  startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--header-timeout', '1'], { env: { APPPKG_LEAN_LANE: lane } });

test.before(async () => {
  writePackage(apps.path, 'slowheads', { 'app.yaml': 'platform: python, wsgi\napp: slowheads:application\n', 'slowheads.py': APP });
  [lean, node] = await Promise.all([start(leanState.path, '1'), start(nodeState.path, '0')]);
});

test.after(async () => {
  await Promise.all([lean?.stop(), node?.stop()]);
  apps.remove();
  leanState.remove();
  nodeState.remove();
});

const portOf = (gw: RunningGateway): number => Number(new URL(gw.url).port);

const lineFor = (request: string) => new RegExp(`\\n127\\.0\\.0\\.1 - - \\[[^\\]]+\\] "${request}" 408 0 "-" "-" app=- `);

for (const [name, gw, partial, afterAnswer] of [
  ['the lean lane', () => lean!, 'GET /slowheads/line HT', 'GET /slowheads/head HTTP/1\\.1'],
  ['node:http', () => node!, '-', '-'],
] as const) {
  test(`${name}: a request line cut short, and a head cut short after an answered request, each get a 408 line; a silent connection none`, async () => {
    const before = (gw().output().match(/ 408 /g) ?? []).length;
    const [cutLine, cutHead, silent] = await Promise.all([
      spacedOut(portOf(gw()), ['GET /slowheads/line HT'], 50),
      spacedOut(portOf(gw()), ['GET /slowheads/ HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /slowheads/head HTTP/1.1\r\nHost: x\r\nX-a: b'], 50),
      spacedOut(portOf(gw()), [], 50),
    ]);
    assert.match(cutLine, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(cutHead, /^HTTP\/1\.1 200 OK\r\n[\s\S]*ok\nHTTP\/1\.1 408 Request Timeout\r\n/);
    assert.ok(silent === '' || silent.startsWith('HTTP/1.1 408 '), silent);
    await waitFor(() => (gw().output().match(/ 408 /g) ?? []).length >= before + 2, 5000, `two 408 lines in\n${gw().output()}`);
    assert.match(gw().output(), lineFor(partial));
    assert.match(gw().output(), lineFor(afterAnswer));
    // Two requests timed out; the silent connection made none (the flush of its would-be line is immediate).
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.is((gw().output().match(/ 408 /g) ?? []).length, before + 2, gw().output());
  });
}

test.run();

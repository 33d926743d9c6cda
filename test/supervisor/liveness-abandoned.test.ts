// Liveness of a routed process that serves one connection at a time (the ws-echo fixture's
// server made single-threaded, as gunicorn's sync worker with -w 1 is) busy with a slow request
// whose client left: the server goes on with it, taking nothing from its listen queue. The
// proxy holds the request until the process answers or its timeout (the app's, 60 s by
// default) passes, its client gone or not: the process is busy meanwhile, not asked, and not
// judged dead for what a probe would have found. A client that resets its connection has the
// proxy abort the request at once (status no longer counts it in flight), but the process,
// which does not notice, is held busy all the same until that timeout.
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_TIMEOUT_S } from '../../src/supervisor/start-app.js';
import { addPackage } from '../helpers/apps-dir.js';
import { EVERY_MS, FAILURES, LIVENESS_ENV, TIMEOUT_MS } from '../helpers/liveness.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('liveness of a server busy with a request its client left');
const apps = tempDir('apppkg-liveness-abandoned-apps-');
const state = tempDir('apppkg-liveness-abandoned-state-');
let gw: RunningGateway | null = null;
/** Past what judging it takes (the rounds, each up to its timeout), within the request's timeout. */
const SLOW_S = Math.ceil((EVERY_MS * (FAILURES + 1) + TIMEOUT_MS) / 1000);

test.before(async () => {
  addPackage(apps.path, 'ws-echo', 'single', {
    'ws_echo.py': [
      ['ThreadingHTTPServer((', 'HTTPServer(('],
      ['import BaseHTTPRequestHandler, ThreadingHTTPServer', 'import BaseHTTPRequestHandler, HTTPServer'],
      ['import base64, hashlib, json, os, struct', 'import base64, hashlib, json, os, struct, time'],
      ['    def do_GET(self):\n', `    def do_GET(self):\n        if self.path.endswith("/slow"):\n            time.sleep(${SLOW_S})\n`],
    ],
  });
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off'], { env: LIVENESS_ENV });
});

test.after(async () => {
  await stopGatewayChecked(gw, apps, state);
});

async function wsProcess(): Promise<{ pid: number; state: string; restarts: number; inFlight: number }> {
  return (await appStatus(gw!, 'single')).processes.find((p: { name: string }) => p.name === 'ws');
}

test('a single-threaded server on a slow request whose client left is not judged while the request may run', async () => {
  assert.ok(SLOW_S + 5 < DEFAULT_TIMEOUT_S, 'the slow request ends within the timeout');
  await waitFor(async () => (await wsProcess())?.state === 'ready', 30_000, 'processes.ws to be ready');
  const { pid } = await wsProcess();
  // The client gives up after a second; the server sleeps on.
  await fetch(`${gw!.url}/single/ws/slow`, { signal: AbortSignal.timeout(1000) }).then(
    () => assert.unreachable('the slow request answered within a second'),
    (err: Error) => assert.is(err.name, 'TimeoutError'),
  );
  await new Promise((resolve) => setTimeout(resolve, (SLOW_S + 3) * 1000));
  const res = await fetch(`${gw!.url}/single/ws/`, { signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  assert.is(res.status, 200, `${body} ${gw!.output()}`);
  assert.is((JSON.parse(body) as { pid: number }).pid, pid, `replaced: ${gw!.output()}`);
  const now = await wsProcess();
  assert.is(now.restarts, 0);
  assert.not.match(gw!.output(), 'unresponsive');
});

test('a client that resets: the request leaves the count at once, and the process is still not judged while it may run', async () => {
  const { pid } = await wsProcess();
  const { port } = new URL(gw!.url);
  const client = net.connect(Number(port), '127.0.0.1');
  await new Promise((resolve) => client.once('connect', resolve));
  client.write('GET /single/ws/slow HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(async () => (await wsProcess()).inFlight === 1, 10_000, 'the slow request in flight');
  client.resetAndDestroy();
  await waitFor(async () => (await wsProcess()).inFlight === 0, 10_000, 'the request out of the count');
  await new Promise((resolve) => setTimeout(resolve, (SLOW_S + 3) * 1000));
  const res = await fetch(`${gw!.url}/single/ws/`, { signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  assert.is(res.status, 200, `${body} ${gw!.output()}`);
  assert.is((JSON.parse(body) as { pid: number }).pid, pid, `replaced: ${gw!.output()}`);
  assert.is((await wsProcess()).restarts, 0);
  assert.not.match(gw!.output(), 'unresponsive');
});

test.run();

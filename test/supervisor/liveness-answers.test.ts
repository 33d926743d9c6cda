// Liveness of a routed process that serves one connection at a time (Python's plain HTTPServer
// at HTTP/1.1, here the ws-echo fixture's server made single-threaded): while requests come
// through the gateway, it is inside the proxy's kept-alive connection and the probe's waits in
// its listen queue. Its answers say it serves: it is not killed for the probe's wait.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { EVERY_MS, FAILURES, LIVENESS_ENV, TIMEOUT_MS } from '../helpers/liveness.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('liveness of a server that answers');
const apps = tempDir('apppkg-liveness-answers-apps-');
const state = tempDir('apppkg-liveness-answers-state-');
let gw: RunningGateway | null = null;

test.before(async () => {
  addPackage(apps.path, 'ws-echo', 'single', { 'ws_echo.py': [['ThreadingHTTPServer((', 'HTTPServer(('], ['import BaseHTTPRequestHandler, ThreadingHTTPServer', 'import BaseHTTPRequestHandler, HTTPServer']] });
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off'], { env: LIVENESS_ENV });
});

test.after(async () => {
  await stopGatewayChecked(gw, apps, state);
});

async function wsProcess(): Promise<{ pid: number; state: string; restarts: number }> {
  return (await appStatus(gw!, 'single')).processes.find((p: { name: string }) => p.name === 'ws');
}

test('a single-threaded HTTP/1.1 server under steady traffic is left alone through more rounds than it takes to judge one', async () => {
  await waitFor(async () => (await wsProcess())?.state === 'ready', 30_000, 'processes.ws to be ready');
  const { pid } = await wsProcess();
  const until = performance.now() + EVERY_MS * (FAILURES + 1) + TIMEOUT_MS;
  let answered = 0;
  while (performance.now() < until) {
    const res = await fetch(`${gw!.url}/single/ws/`, { signal: AbortSignal.timeout(10_000) });
    const body = await res.text();
    assert.is(res.status, 200, body);
    assert.is((JSON.parse(body) as { pid: number }).pid, pid, `replaced: ${gw!.output()}`);
    answered++;
    // Within undici's keep-alive (4 s): the proxy's connection stays, and holds the server.
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const now = await wsProcess();
  assert.is(now.pid, pid, `replaced: ${gw!.output()}`);
  assert.is(now.restarts, 0);
  assert.not.match(gw!.output(), 'unresponsive');
  assert.ok(answered > 10);
});

test.run();

// A FastAPI handler that lets WebSocketDisconnect out (its tutorial's loop on receive_text()),
// through the real gateway: a client's normal close (1000, 1001 going away) is no failure in
// the app's log, as nothing failed; an exception of the app's own still logs its traceback and
// closes the client 1011. Needs Debian's python3-fastapi.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocket } from 'ws';
import { addPackage } from '../helpers/apps-dir.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';

const HAS_FASTAPI = spawnSync('/usr/bin/python3', ['-c', 'import fastapi'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
const test = suite('a FastAPI websocket\'s WebSocketDisconnect');
const ifFastapi = runIf(test, HAS_FASTAPI, 'needs python3-fastapi (npm test installs it as root)');
const apps = tempDir('apppkg-fastapi-ws-apps-');
const state = tempDir('apppkg-fastapi-ws-state-');
let gw: RunningGateway | null = null;
const appLog = (): string => {
  const file = join(state.path, 'apps', 'fastapi-ws', 'log', 'app.log');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
};

test.before(async () => {
  if (!HAS_FASTAPI) return;
  addPackage(apps.path, 'fastapi-ws', 'fastapi-ws');
  // One worker: the app's log is in the order the websockets ended.
  const environment = join(state.path, 'environment.yaml');
  writeFileSync(environment, 'apps:\n  fastapi-ws:\n    workers: 1\n');
  gw = await startCli(['--apps', apps.path, '--environment', environment, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off'], { ms: 60_000 });
  await waitFor(async () => (await appStatus(gw!, 'fastapi-ws'))?.state === 'ready', 60_000, 'fastapi-ws to serve');
});

test.after(() => stopGatewayChecked(gw, apps, state));

/** An echo websocket: one message through, then `end` (a close with its code, or a message). */
async function echoThen(end: { close: number } | { send: string }): Promise<{ code: number; reason: string }> {
  const ws = new WebSocket(`${gw!.url.replace(/^http/, 'ws')}/fastapi-ws/echo`, { perMessageDeflate: false });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
  const timer = setTimeout(() => ws.terminate(), 15_000);
  try {
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const echoed = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    ws.send('hello');
    assert.is(await echoed, 'hello');
    if ('close' in end) ws.close(end.close);
    else ws.send(end.send);
    return await closed;
  } finally {
    clearTimeout(timer);
  }
}

ifFastapi('a client\'s close (1000) and a page going away (1001) leave no traceback; the app\'s own exception does, and closes 1011', async () => {
  assert.is((await echoThen({ close: 1000 })).code, 1000);
  assert.is((await echoThen({ close: 1001 })).code, 1001);
  await waitFor(async () => (await appStatus(gw!, 'fastapi-ws')).websockets === 0, 10_000, 'both websockets to end');
  const boom = await echoThen({ send: 'boom' });
  assert.is(boom.code, 1011);
  // The log is in order (one worker): what the two closes wrote comes before the boom's traceback.
  await waitFor(() => appLog().includes('RuntimeError: boom from the handler'), 10_000, 'the app\'s exception in its log');
  const log = appLog();
  const beforeBoom = log.slice(0, log.indexOf('Traceback'));
  assert.not.match(beforeBoom, /WebSocketDisconnect/, log);
  assert.is(log.match(/Traceback/g)?.length, 1, log);
});

test.run();

// A replaced version's routed process, while it drains the websockets it holds (SPEC 5.4: every
// process with its state and open websockets): listed as `draining` beside the new version's,
// until the drain is over, its websockets closed 1012 as an ASGI app's (SPEC 5.1), and it is gone.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { appStatus } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { openSocket } from '../helpers/websocket.js';

const test = suite('processes: a replaced version draining');
const apps = tempDir('apppkg-proc-drain-apps-');
const state = tempDir('apppkg-proc-drain-state-');
let gw: RunningGateway;

test.before(async () => {
  addPackage(apps.path, 'ws-echo', 'wsd.1');
  const env = join(state.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  wsd:\n    drain: 4\n');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', env, '--settle', '0', '--access-log', 'off'], { ms: 60_000 });
  await waitFor(async () => (await appStatus(gw, 'wsd')).state === 'ready', 60_000, 'wsd ready');
});

test.after(async () => {
  await gw?.stop();
  apps.remove();
  state.remove();
});

test('the old version\'s process holding a websocket is listed as draining, with its websocket, until the drain ends', async () => {
  const sock = await openSocket(`${gw.url.replace(/^http/, 'ws')}/wsd/ws/held`);
  sock.ws.send('hello');
  assert.is(await sock.next(), 'hello');
  const before = (await appStatus(gw, 'wsd')).processes;
  assert.is(before.length, 1);
  addPackage(apps.path, 'ws-echo', 'wsd.2');
  const during = await waitFor(async () => {
    const s = await appStatus(gw, 'wsd');
    return s.version === '2' && s.processes.length === 2 ? s.processes : null;
  }, 30_000, 'version 2 serving, version 1\'s process listed beside it');
  const old = during.find((p: any) => p.pid === before[0].pid);
  assert.ok(old, JSON.stringify(during));
  assert.is(old.state, 'draining');
  assert.is(old.websockets, 1);
  assert.is(during.find((p: any) => p.pid !== before[0].pid).state, 'ready');
  // The drain (4 s) over: its websocket is closed 1012 by the gateway, as an ASGI app's is (the
  // echo server dies at SIGTERM without a close frame: 1006, when that was all), then the old
  // process is gone, and so is its row.
  assert.is(await sock.closed(20_000), 1012);
  await waitFor(async () => (await appStatus(gw, 'wsd')).processes.length === 1, 20_000, 'the drained process gone from status');
});

test.run();

// The gateway pings the clients of the websockets it holds for ASGI apps (proxy/websocket-keepalive.ts):
// one that stops answering (a laptop closed, a stopped process: no close frame, no FIN) is cut
// and the app hears 1006, where before it stayed open for ever; one that answers stays. The
// interval is 20 s; the test shortens it with the variable that module names for tests alone.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, startCli, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';
import { appStatus, gatewayStatus, statusPids } from '../helpers/status.js';

const PING_MS = 400;
const test = suite('asgi websockets: the gateway pings their clients');
const work = tempDir('apppkg-asgi-ws-ping-');
let gw: RunningGateway;
const appLog = () => {
  const file = join(work.path, 'state', 'apps', 'ws-asgi', 'log', 'app.log');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
};

test.before(async () => {
  const apps = join(work.path, 'apps');
  addPackage(apps, 'ws-asgi', 'ws-asgi');
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  ws-asgi:\n    workers: 1\n');
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--environment', env], {
    env: { APPPKG_TEST_WS_PING_MS: String(PING_MS) },
  });
});

test.after(async () => {
  const pids = gw ? statusPids(await gatewayStatus(gw).catch(() => ({ apps: [] }))) : [];
  await gw?.stop();
  await assertNoOrphans([gw.child.pid!, ...pids], 10_000);
  work.remove();
});

/** A client that completes the handshake by hand, then never reads or answers again: a peer gone silent. */
function silentClient(path: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.removeListener('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(`no 101: ${head}`));
      socket.pause();
      resolve({ socket, closed });
    };
    socket.on('data', onData);
  });
}

test('a client that answers no ping is cut within two intervals; the app hears 1006 and status counts it closed', async () => {
  const before = (await appStatus(gw, 'ws-asgi')).websockets;
  const { socket, closed } = await within(10_000, 'the silent client\'s handshake', silentClient('/ws-asgi/silent-peer'));
  await waitFor(async () => (await appStatus(gw, 'ws-asgi')).websockets === before + 1, 5_000, 'the websocket to be counted');
  await waitFor(() => /disconnect 1006 \/silent-peer/.test(appLog()), 10_000, () => `the app to hear 1006; its log:\n${appLog()}`);
  // Read what it was sent (pings only): the gateway's end of the connection is behind them.
  socket.resume();
  await within(10_000, 'the gateway to close the silent client\'s connection', closed);
  assert.match(appLog(), /websocket \/ws-asgi\/silent-peer: the client answered no ping for 0\.4 s; closed \(the app hears 1006\)/);
  await waitFor(async () => (await appStatus(gw, 'ws-asgi')).websockets === before, 5_000, 'status to count it closed');
});

test('a client that answers the pings (ws, as browsers do) stays open across many intervals and still echoes', async () => {
  const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/ws-asgi/echo`, { perMessageDeflate: false });
  await within(10_000, 'the websocket to open', new Promise((ok, fail) => {
    ws.once('open', ok);
    ws.once('error', fail);
  }));
  let pings = 0;
  ws.on('ping', () => pings++);
  let closedWith: number | null = null;
  ws.on('close', (code) => (closedWith = code));
  await new Promise((r) => setTimeout(r, PING_MS * 6));
  assert.ok(pings >= 3, `pinged ${pings} times`);
  assert.is(closedWith, null, 'still open');
  const echoed = new Promise<string>((ok) => ws.once('message', (data) => ok(String(data))));
  ws.send('still here');
  assert.is(await within(10_000, 'the echo', echoed), 'still here');
  ws.close();
  await waitFor(() => closedWith !== null, 5_000, 'the close');
  assert.not.match(appLog(), /\/ws-asgi\/echo: the client answered no ping/);
});

test.run();

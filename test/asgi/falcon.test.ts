// Falcon 3.1's ASGI app (Debian's python3-falcon) through the real CLI under --apps, at the
// mount /talk: its startup middleware, a websocket chat broadcast between two clients, a room
// denied before its accept (the handshake answered 403), server-sent events whose client
// leaves, and a deploy that closes the old version's sockets with 1012 after its drain.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { openSocket } from '../helpers/websocket.js';

const HAS_FALCON = spawnSync('/usr/bin/python3', ['-c', 'import falcon.asgi'], { stdio: 'ignore', timeout: 20_000 }).status === 0;

const test = suite('asgi: Falcon');
const ifFalcon = runIf(test, HAS_FALCON, 'needs python3-falcon (apt-get install python3-falcon)');
const apps = tempDir('apppkg-falcon-apps-');
const state = tempDir('apppkg-falcon-state-');
const log = join(state.path, 'apps', 'talk', 'log', 'app.log');
let gw: RunningGateway | undefined;

test.before(async () => {
  if (!HAS_FALCON) return;
  addPackage(apps.path, 'falcon-chat', 'talk.1.0');
  const environment = join(state.path, 'environment.yaml');
  // The chat's sockets live in one process; a short drain keeps the deploy case brief.
  writeFileSync(environment, 'apps:\n  talk:\n    workers: 1\n    drain: 5\n', { mode: 0o600 });
  gw = await startCli(['--apps', apps.path, '--environment', environment, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path], { ms: 60_000 });
});

test.after(() => stopGatewayChecked(gw, apps, state));

function appLog(): string {
  return existsSync(log) ? readFileSync(log, 'utf8') : '';
}

/** Sends `lines` on a connection of its own; resolves with what came once `until` holds (10 s bound), the socket destroyed. */
function exchange(lines: string, until: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(new URL(gw!.url).port), '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within 10 s: ${JSON.stringify(text)}`));
    }, 10_000);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (until(text)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(text);
      }
    });
    socket.write(lines);
  });
}

ifFalcon('the mount is root_path, and process_startup ran before the first request', async () => {
  const r = await request(`${gw!.url}/talk/`);
  assert.is(r.statusCode, 200);
  assert.equal(await r.body.json(), { root_path: '/talk', path: '/', uri: `${gw!.url}/talk/`, started: 'process_startup' });
});

ifFalcon('a chat message reaches both clients through the mount; status counts the two sockets; a room denied before its accept answers the handshake 403', async () => {
  const ws = gw!.url.replace(/^http/, 'ws');
  const [a, b] = [await openSocket(`${ws}/talk/chat/lobby`), await openSocket(`${ws}/talk/chat/lobby`)];
  await waitFor(async () => (await appStatus(gw!, 'talk')).versions[0].websockets === 2, 5000, 'status to count two websockets');
  a.ws.send('hello');
  assert.is(await a.next(), 'lobby: hello');
  assert.is(await b.next(), 'lobby: hello', 'the other client has it too');
  a.ws.close(1000);
  b.ws.close(1000);
  await Promise.all([a.closed(), b.closed()]);
  await waitFor(() => (appLog().match(/falcon left lobby 1000/g) ?? []).length === 2, 5000, 'both disconnects in the app log');

  const denied = await exchange(
    'GET /talk/chat/secret HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    (text) => text.includes('\r\n\r\n'),
  );
  assert.match(denied, /^HTTP\/1\.1 403 /);
});

ifFalcon('server-sent events whose client leaves: the stream ends and leaves the in-flight count', async () => {
  await exchange('GET /talk/events HTTP/1.1\r\nHost: x\r\n\r\n', (text) => text.includes('data: tick 2'));
  await waitFor(() => appLog().includes('falcon events ended'), 5000, "the stream's end in the app log");
  await waitFor(async () => (await appStatus(gw!, 'talk')).versions.every((v: { inFlight: number }) => v.inFlight === 0), 5000, 'no request in flight');
});

ifFalcon('a deploy keeps the old version\'s socket until its drain, then closes it 1012; a new socket reaches the new version', async () => {
  const ws = gw!.url.replace(/^http/, 'ws');
  const old = await openSocket(`${ws}/talk/chat/old`);
  cpSync(join(apps.path, 'talk.1.0'), join(apps.path, 'talk.1.1'), { recursive: true });
  await waitFor(async () => (await appStatus(gw!, 'talk')).version === '1.1', 30_000, 'version 1.1 to serve');
  const fresh = await openSocket(`${ws}/talk/chat/new`);
  old.ws.send('draining');
  assert.is(await old.next(), 'old: draining', 'the old version still holds its socket');
  assert.is(await old.closed(15_000), 1012);
  assert.is(old.closeReason(), 'talk: another version took over');
  fresh.ws.send('still here');
  assert.is(await fresh.next(), 'new: still here');
  fresh.ws.close(1000);
  await fresh.closed();
});

test.run();

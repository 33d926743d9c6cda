// Django Channels 4.0 (Debian's python3-django-channels) through the real CLI under --apps: a
// ProtocolTypeRouter with Django's handler for HTTP and a URLRouter of consumers for websockets,
// at the app's mount /chat. Under 4.0 its URLRouter routes on `path` as it comes, so it needs
// the rest after the mount while Django beside it takes the mount in `path`
// (asgi_scope.reads_full_path; test/link/asgi-routers.test.ts without the package).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { stopGatewayChecked } from '../helpers/status.js';
import { openSocket } from '../helpers/websocket.js';

const HAS_CHANNELS = spawnSync('/usr/bin/python3', ['-c', 'import channels, django'], { stdio: 'ignore', timeout: 20_000 }).status === 0;

const test = suite('asgi: Django Channels');
const ifChannels = runIf(test, HAS_CHANNELS, 'needs python3-django-channels (apt-get install python3-django-channels)');
const apps = tempDir('apppkg-channels-apps-');
const state = tempDir('apppkg-channels-state-');
let gw: RunningGateway | undefined;

test.before(async () => {
  if (!HAS_CHANNELS) return;
  addPackage(apps.path, 'django-channels', 'chat');
  // The rooms live in the in-memory channel layer: one process holds them all.
  const environment = join(state.path, 'environment.yaml');
  writeFileSync(environment, 'apps:\n  chat:\n    workers: 1\n');
  gw = await startCli(['--apps', apps.path, '--environment', environment, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path], { ms: 60_000 });
});

test.after(() => stopGatewayChecked(gw, apps, state));

ifChannels('HTTP goes to Django under the mount; websockets reach their consumers, both ways, with their close codes', async () => {
  const page = await request(`${gw!.url}/chat/rooms/`);
  assert.is(page.statusCode, 200);
  assert.equal(await page.body.json(), { path_info: '/rooms/', url: '/chat/rooms/' });

  const ws = gw!.url.replace(/^http/, 'ws');
  const echo = await openSocket(`${ws}/chat/ws/echo`);
  echo.ws.send('hello');
  assert.is(await echo.next(), 'echo: hello');
  echo.ws.send('close');
  assert.is(await echo.closed(), 4321, "the consumer's close code");

  const [a, b] = [await openSocket(`${ws}/chat/ws/room/lobby`), await openSocket(`${ws}/chat/ws/room/lobby`)];
  a.ws.send('hi all');
  assert.is(await a.next(), 'hi all');
  assert.is(await b.next(), 'hi all', 'the group message reaches the other member');
  b.ws.close(4000);
  assert.is(await b.closed(), 4000);
  a.ws.close();
  await a.closed();
  const log = join(state.path, 'apps', 'chat', 'log', 'app.log');
  await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').includes('echo disconnect 4321'), 5000, "the echo consumer's disconnect in the app log");
});

test.run();

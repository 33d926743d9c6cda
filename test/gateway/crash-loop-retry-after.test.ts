import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { portOf } from '../helpers/both-readers.js';
import { appStatus } from '../helpers/status.js';
import { rawRequest, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

// The ASGI twin of the dies-soon fixture, for a websocket handshake (WSGI cannot take one).
const ASGI_DIES_SOON = `import os, threading

threading.Timer(0.3, os._exit, [1]).start()


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    await receive()
    await send({"type": "websocket.accept"})
`;

/**
 * Waits for `app`'s crash loop to be logged with its delay (doubling from 0.5 s, the fifth exit
 * in a minute has 8 s to wait) and returns that delay in ms. One worker: nothing else can serve
 * or restart sooner, so the 503 right after says how long that delay has left.
 */
async function crashLoopDelay(gw: RunningGateway, app: string): Promise<number> {
  const exit = new RegExp(`${app}: worker \\d+ exited \\(status 1\\); restarting in (\\d+) ms \\(crash loop\\)`);
  const delay = await waitFor(() => Number(exit.exec(gw.output())?.[1] ?? 0) || null, 40_000, `${app}'s crash loop to be logged`);
  assert.ok(delay >= 4000, `the delay logged: ${delay} ms`);
  assert.is((await appStatus(gw, app)).workers.length, 0);
  return delay;
}

/** Seconds left of the delay just logged: a busy machine may have spent some of it already. */
function assertRetryAfterWithin(retryAfter: string | undefined, delay: number): void {
  const seconds = Number(retryAfter);
  assert.ok(seconds >= 2 && seconds <= Math.ceil(delay / 1000), `Retry-After ${retryAfter} for a delay of ${delay} ms`);
}

const apps = tempDir('apppkg-loop-apps-');
const state = tempDir('apppkg-loop-state-');
let gw: RunningGateway;

test.before(async () => {
  addPackage(apps.path, 'dies-soon', 'loner');
  writePackage(apps.path, 'wsloner', { 'app.yaml': 'platform: python, asgi\napp: ws_app:app\n', 'ws_app.py': ASGI_DIES_SOON });
  const environment = join(state.path, 'environment.yaml');
  writeFileSync(environment, 'apps:\n  loner:\n    workers: 1\n  wsloner:\n    workers: 1\n');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', environment, '--access-log', 'off']);
});

test.after(async () => {
  await gw?.stop();
  apps.remove();
  state.remove();
});

test("a crash loop's 503 says in Retry-After how long until its worker starts again, not 1", async () => {
  const delay = await crashLoopDelay(gw, 'loner');
  const before = await appStatus(gw, 'loner');
  const res = await request(`${gw.url}/loner/`);
  const body = await res.body.text();
  assert.is(res.statusCode, 503);
  assert.match(body, /loner is in a crash loop/);
  assertRetryAfterWithin(res.headers['retry-after'] as string | undefined, delay);
  // Its processes' failure, the app's own: in its ERRORS and in its serving version's failed alike.
  const after = await appStatus(gw, 'loner');
  const serving = (app: any): any => app.versions.find((v: any) => v.state === 'serving');
  assert.is(after.errors, before.errors + 1);
  assert.is(serving(after).failed, serving(before).failed + 1, `version ${JSON.stringify(serving(after))}, app errors ${String(after.errors)}`);
});

test("a websocket refused in a crash loop says the same Retry-After as a request's 503", async () => {
  const delay = await crashLoopDelay(gw, 'wsloner');
  const answer = await rawRequest(
    portOf(gw),
    'GET /wsloner/ HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  assert.match(answer, /^HTTP\/1\.1 503 /);
  assert.match(answer, /wsloner is in a crash loop/);
  assertRetryAfterWithin(/\r\nRetry-After: ([^\r]*)/i.exec(answer)?.[1], delay);
});

test.run();

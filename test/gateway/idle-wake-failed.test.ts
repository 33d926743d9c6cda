// An idle app's wake that does not serve (SPEC 5.6): a wake that waits past its start bound
// for room gets the "starting from idle" 503. Through the real CLI, with real workers.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, isAlive, startCliIn, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('idle apps: a wake that does not serve');

interface Env {
  dir: ReturnType<typeof tempDir>;
  apps: string;
  gw: RunningGateway;
  pids: Set<number>;
}
const opened: Env[] = [];
const made: Array<ReturnType<typeof tempDir>> = [];

async function open(packages: Array<[string, string]>, environment: string, extra: string[] = [], write?: (apps: string, dir: string) => void): Promise<Env> {
  const dir = tempDir('apppkg-wake-failed-');
  made.push(dir);
  const state = warmStateDir('apppkg-wake-failed-state-');
  made.push(state);
  const apps = join(dir.path, 'apps');
  mkdirSync(apps, { recursive: true });
  for (const [source, target] of packages) addPackage(apps, source, target);
  write?.(apps, dir.path);
  const envFile = join(dir.path, 'environment.yaml');
  writeFileSync(envFile, environment);
  const gw = await startCliIn(dir, ['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile, '--access-log', 'off', '--settle', '0', ...extra]);
  const env = { dir, apps, gw, pids: new Set<number>() };
  opened.push(env);
  return env;
}

async function app(env: Env, name: string): Promise<any> {
  const status = await gatewayStatus(env.gw);
  for (const pid of statusPids(status)) env.pids.add(pid);
  return status.apps.find((a: any) => a.name === name);
}

async function get(env: Env, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const res = await request(`${env.gw.url}${path}`, { headersTimeout: 60_000 });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

test.after.each(async () => {
  let first: unknown = null;
  for (const env of opened.splice(0)) {
    try {
      await env.gw.stop();
      await assertNoOrphans([...env.pids]);
    } catch (err) {
      first ??= err;
    }
  }
  for (const dir of made.splice(0)) dir.remove();
  if (first) throw first;
});

test('a wake that waits for room past its start bound (start_timeout 2 and 3 s): 503 "starting from idle ... within 5 s" with Retry-After, not the app\'s failure; the wake goes on and serves', async () => {
  const env = await open([], 'defaults:\n  workers: 1\napps:\n  slowstop:\n    idle_timeout: 1\n  quick:\n    timeout: 1\n    start_timeout: 2\n', ['--max-workers', '1'], (apps) => {
    writePackage(apps, 'quick', {
      'app.yaml': 'platform: python, wsgi\napp: quick:application\n',
      'quick.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"quick"]\n',
    });
    writePackage(apps, 'slowstop', {
      'app.yaml': 'platform: python, asgi\napp: slowstop:app\n',
      'slowstop.py': [
        'import asyncio',
        '',
        'async def app(scope, receive, send):',
        '    if scope["type"] == "lifespan":',
        '        while True:',
        '            message = await receive()',
        '            if message["type"] == "lifespan.startup":',
        '                await send({"type": "lifespan.startup.complete"})',
        '            else:',
        '                await asyncio.sleep(8)  # a pool closed slowly: longer than quick\'s 5 s',
        '                await send({"type": "lifespan.shutdown.complete"})',
        '                return',
        '    await send({"type": "http.response.start", "status": 200, "headers": []})',
        '    await send({"type": "http.response.body", "body": b"ok"})',
        '',
      ].join('\n'),
    });
  });
  await waitFor(async () => (await get(env, '/slowstop/')).status === 200, 30_000, 'slowstop to serve', ASK_GATEWAY_EVERY_MS);
  const [stopping] = (await app(env, 'slowstop')).workers.map((w: any) => w.pid);
  await waitFor(async () => (await app(env, 'slowstop')).state === 'idle', 20_000, 'slowstop to go idle', ASK_GATEWAY_EVERY_MS);
  assert.ok(isAlive(stopping), 'its worker is still in its lifespan shutdown');
  const before = (await app(env, 'quick')).errors as number;
  // quick's wake waits for slowstop's room (8 s) past its own bound: start_timeout 2 and 3 s.
  const res = await get(env, '/quick/');
  assert.is(res.status, 503, res.body);
  assert.match(res.body, /quick is starting from idle and did not take the request within 5 s; try again/, res.body);
  assert.ok(res.headers['retry-after'], 'Retry-After');
  const quick = await app(env, 'quick');
  assert.is(quick.state, 'waking', 'the wake goes on');
  assert.is(quick.idle.coldStartFailures ?? 0, 0, 'no failed wake: it was still starting');
  assert.is(quick.errors, before + 1);
  // Once slowstop's worker is gone, the wake serves.
  await waitFor(async () => (await get(env, '/quick/')).body === 'quick', 20_000, 'quick to serve once its room came', ASK_GATEWAY_EVERY_MS);
  assert.not.ok(isAlive(stopping));
  assert.is((await app(env, 'quick')).idle.coldStarts, 1);
});

test.run();

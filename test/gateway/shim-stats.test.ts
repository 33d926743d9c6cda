// APPPKG_SHIM_STATS=1 given to the gateway's command: each worker's counters (what it read, ran
// and wrote, docs/protocol.md) in the app's log when it stops, WSGI and ASGI alike, and when a
// worker is sent SIGTERM from outside (a `kill`, not the gateway's stop). The shim looked for the
// variable in its own environment, which is the app's, and an app's environment keeps the
// caller's APPPKG_* out (src/environment/app-env.ts): it worked through the link harness, which
// gives the worker its environment whole, and the gateway printed nothing anywhere. The ASGI
// worker kept no counters at all.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { openSocket } from '../helpers/websocket.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
import { ASK_GATEWAY_EVERY_MS, isAlive, type RunningGateway, startCli, tempDir, waitFor } from '../helpers/process.js';

const test = suite('gateway: APPPKG_SHIM_STATS');

/** Each app: its kind, and the counter that every request adds one to at least. */
const APPS = [
  { name: 'hello', from: 'examples/hello', counts: 'frames' },
  { name: 'hello-asgi', from: 'examples/asgi-hello', counts: 'requests' },
] as const;

/** The `stats {...}` lines of an app's log, by the pid that wrote each. */
function statsLines(state: string, app: string): Map<number, Record<string, number>> {
  const log = join(state, 'apps', app, 'log', 'app.log');
  const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
  const out = new Map<number, Record<string, number>>();
  for (const m of text.matchAll(/apppkg-shim\[(\d+)\]: stats (\{.*\})$/gm)) out.set(Number(m[1]), JSON.parse(m[2]) as Record<string, number>);
  return out;
}

test('APPPKG_SHIM_STATS=1 in the gateway\'s environment: every worker\'s counters in the app log, WSGI and ASGI, once it has stopped: at a SIGTERM sent to it, and at the gateway\'s stop', async () => {
  const apps = tempDir('apppkg-shim-stats-apps-');
  const state = tempDir('apppkg-shim-stats-state-');
  for (const app of APPS) addPackage(apps.path, app.from, app.name);
  const envFile = join(state.path, 'environment.yaml');
  writeFileSync(envFile, 'defaults:\n  workers: 1\n', { mode: 0o600 });
  let gw: RunningGateway | null = null;
  try {
    gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile], { env: { APPPKG_SHIM_STATS: '1' } });
    const running = gw;
    const get = async (app: string): Promise<number> => {
      const res = await fetch(`${running.url}/${app}/`, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      return res.status;
    };
    const pidOf = async (app: string): Promise<number | undefined> => (await gatewayStatus(running)).apps.find((a: any) => a.name === app)?.workers.find((w: any) => w.state === 'ready' && w.pid)?.pid;
    for (const { name, counts } of APPS) {
      await waitFor(async () => (await get(name)) === 200, 30_000, `${name} to serve`, ASK_GATEWAY_EVERY_MS);
      for (let i = 0; i < 3; i++) assert.is(await get(name), 200);
      if (name === 'hello-asgi') {
        // A websocket, counted apart from the requests.
        const socket = await openSocket(`${running.url.replace(/^http/, 'ws')}/${name}/ws`);
        socket.ws.send('echo me');
        assert.is(await socket.next(), 'echo me');
        socket.ws.close(1000);
        await socket.closed();
      }
      const pid = await waitFor(() => pidOf(name), 10_000, `${name}'s worker's pid`, ASK_GATEWAY_EVERY_MS);
      // A kill from outside, as an operator's or the OOM tooling's: the worker stops as asked.
      process.kill(pid, 'SIGTERM');
      await waitFor(() => !isAlive(pid), 15_000, `${name}'s worker ${pid} to exit after SIGTERM`);
      const killed = await waitFor(() => statsLines(state.path, name).get(pid), 5000, () => `a stats line of ${name}'s worker ${pid} in its log:\n${readFileSync(join(state.path, 'apps', name, 'log', 'app.log'), 'utf8')}`);
      assert.ok(killed[counts] >= 4, `${name}: ${counts} ${killed[counts]} for 4 requests or more: ${JSON.stringify(killed)}`);
      if (name === 'hello-asgi') assert.is(killed.websockets, 1, JSON.stringify(killed));
      // Its successor serves, and says its own at the gateway's stop.
      await waitFor(async () => (await get(name)) === 200, 30_000, `${name} to serve again`, ASK_GATEWAY_EVERY_MS);
    }
    gw = null;
    await stopGatewayChecked(running);
    for (const { name, counts } of APPS) {
      const lines = statsLines(state.path, name);
      assert.is(lines.size, 2, `${name}: the killed worker's line and its successor's: ${JSON.stringify([...lines])}`);
      assert.ok([...lines.values()].every((stats) => stats[counts] >= 1), `${name}: each line counts what its worker ran: ${JSON.stringify([...lines])}`);
    }
  } finally {
    await stopGatewayChecked(gw, apps, state);
  }
});

test('without APPPKG_SHIM_STATS: no worker counts or prints anything', async () => {
  const apps = tempDir('apppkg-shim-stats-apps-');
  const state = tempDir('apppkg-shim-stats-state-');
  for (const app of APPS) addPackage(apps.path, app.from, app.name);
  let gw: RunningGateway | null = null;
  try {
    gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path], { env: { APPPKG_SHIM_STATS: '' } });
    const running = gw;
    for (const { name } of APPS) {
      await waitFor(async () => (await fetch(`${running.url}/${name}/`, { signal: AbortSignal.timeout(5000) })).status === 200, 30_000, `${name} to serve`, ASK_GATEWAY_EVERY_MS);
    }
    gw = null;
    await stopGatewayChecked(running);
    for (const { name } of APPS) assert.is(statsLines(state.path, name).size, 0, `${name}: no stats line`);
  } finally {
    await stopGatewayChecked(gw, apps, state);
  }
});

test.run();

// APPPKG_SHIM_STATS=1 given to the gateway's command: each WSGI worker's counters (what its
// threads read and ran, docs/protocol.md) in the app's log when it stops. The shim looked for the
// variable in its own environment, which is the app's, and an app's environment keeps the
// caller's APPPKG_* out (src/environment/app-env.ts): it worked through the link harness, which
// gives the worker its environment whole, and the gateway printed nothing anywhere.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { stopGatewayChecked } from '../helpers/status.js';
import { ASK_GATEWAY_EVERY_MS, type RunningGateway, startCli, tempDir, waitFor } from '../helpers/process.js';

const test = suite('gateway: APPPKG_SHIM_STATS');

test('APPPKG_SHIM_STATS=1 in the gateway\'s environment: every worker\'s counters in the app log, once it has stopped', async () => {
  const apps = tempDir('apppkg-shim-stats-apps-');
  const state = tempDir('apppkg-shim-stats-state-');
  addPackage(apps.path, 'examples/hello', 'hello');
  let gw: RunningGateway | null = null;
  try {
    gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path], { env: { APPPKG_SHIM_STATS: '1' } });
    const url = `${gw.url}/hello/`;
    const get = async (): Promise<number> => {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      return res.status;
    };
    await waitFor(async () => (await get()) === 200, 30_000, 'hello to serve', ASK_GATEWAY_EVERY_MS);
    for (let i = 0; i < 3; i++) assert.is(await get(), 200);
    const running = gw;
    gw = null;
    await stopGatewayChecked(running);
    const log = join(state.path, 'apps', 'hello', 'log', 'app.log');
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    const lines = text.split('\n').filter((line) => line.includes('stats {'));
    assert.ok(lines.length > 0, `no stats line in ${log}:\n${text}`);
    // Every request is at least its REQUEST frame, read by one of the workers.
    const frames = lines.reduce((sum, line) => sum + (JSON.parse(line.slice(line.indexOf('{'))) as { frames: number }).frames, 0);
    assert.ok(frames >= 4, `the workers read ${frames} frames for 4 or more requests: ${lines.join(' | ')}`);
  } finally {
    await stopGatewayChecked(gw, apps, state);
  }
});

test.run();

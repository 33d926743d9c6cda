// The health probe (SPEC §4): with `health:` in app.yaml, each worker answers GET <health> with
// 2xx/3xx through the link before it gets traffic, at start and on every restart. An app whose
// probe fails is refused (the log and status say why); the other apps serve.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import type { Worker } from '../../src/supervisor/worker.js';
import { addPackage } from '../helpers/apps-dir.js';
import { workerFor } from '../helpers/link-harness.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('health probe');
const apps = tempDir('apppkg-probe-apps-');
const state = tempDir('apppkg-probe-state-');
let gw: RunningGateway;
let worker: Worker | null = null;
const seen = new Set<number>();

test.before(async () => {
  addPackage(apps.path, 'faults', 'sick', { 'app.yaml': [[/$/, 'health: /status/500\n']] });
  addPackage(apps.path, 'faults', 'well', { 'app.yaml': [[/$/, 'health: /status/204\n']] });
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off']);
  for (const pid of await pidsOf('well')) seen.add(pid);
});

test.after(async () => {
  if (worker?.pid) seen.add(worker.pid);
  await worker?.stop(3000);
  if (gw) for (const pid of await pidsOf('well').catch(() => [])) seen.add(pid);
  await gw?.stop();
  await assertNoOrphans([...seen]);
  apps.remove();
  state.remove();
});

async function status(): Promise<{ apps: Array<{ name: string; state: string; problem: { code: string; message: string } | null; workers: Array<{ pid: number }> }> }> {
  return (await (await request(`${gw.adminUrl}/status`, { headersTimeout: 5000 })).body.json()) as never;
}

async function pidsOf(name: string): Promise<number[]> {
  return (await status()).apps.find((a) => a.name === name)?.workers.map((w) => w.pid) ?? [];
}

function probesIn(name: string): number {
  const log = readFileSync(join(state.path, 'apps', name, 'log', 'app.log'), 'utf8');
  return log.split('\n').filter((l) => /faults: GET \/status\/\d+ by apppkg-gateway-probe/.test(l)).length;
}

test('an app whose health path answers 500 is refused, and the log says why; another app serves', async () => {
  assert.match(gw.output(), /sick: .*refused/);
  assert.match(gw.output(), /health probe of sick: GET \/status\/500 answered 500, expected 2xx or 3xx/);
  const sick = (await status()).apps.find((a) => a.name === 'sick')!;
  assert.is(sick.state, 'failed');
  assert.is(sick.problem?.code, 'APPPKG_APP_PROBE_FAILED');
  const refused = await request(`${gw.url}/sick/`, { headersTimeout: 5000 });
  assert.match(await refused.body.text(), /sick is not serving: it was refused \(APPPKG_APP_PROBE_FAILED\)/);
  assert.is(refused.statusCode, 503);
  const served = await request(`${gw.url}/well/`, { headersTimeout: 5000 });
  assert.is(served.statusCode, 200);
  await served.body.text();
});

test('each worker is probed at start, and again when it is restarted', async () => {
  assert.is(probesIn('well'), 2, 'two workers, one probe each');
  const [victim] = await pidsOf('well');
  process.kill(victim, 'SIGKILL');
  await waitFor(async () => {
    const pids = await pidsOf('well');
    return pids.length === 2 && !pids.includes(victim);
  }, 10_000, 'the restarted worker');
  for (const pid of await pidsOf('well')) seen.add(pid);
  await waitFor(() => probesIn('well') === 3, 5000, 'the probe of the restarted worker');
});

test('Worker.probe: the status through the link, 500 for an app that raises, a rejection past the deadline', async () => {
  worker = workerFor('faults', { threads: 2 });
  await worker.start(15_000);
  assert.is(await worker.probe('/status/200', 5000), 200);
  assert.is(await worker.probe('/status/302?x=1', 5000), 302);
  assert.is(await worker.probe('/status/oops', 5000), 500, 'a bad status string: the app failed');
  const startedAt = Date.now();
  try {
    await worker.probe('/sleep?t=3', 300);
    assert.unreachable('resolved');
  } catch (err) {
    assert.match((err as Error).message, /no answer within 300 ms/);
  }
  assert.ok(Date.now() - startedAt < 2000);
});

test.run();

// The health probe (SPEC §4): with `health:` in app.yaml, each worker answers GET <health> with
// 2xx/3xx through the link before it gets traffic, at start and on every restart, asked again
// until it does (an app warming up answers 503 first) within the start bound. An app whose probe
// never passes is refused (the log and status say why); the other apps serve.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { probeWorker } from '../../src/supervisor/probe.js';
import type { Worker } from '../../src/supervisor/worker.js';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { workerFor } from '../helpers/link-harness.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('health probe');
const apps = tempDir('apppkg-probe-apps-');
const state = tempDir('apppkg-probe-state-');
let gw: RunningGateway;
let worker: Worker | null = null;
const seen = new Set<number>();
/** Seconds the warm app's health path answers 503 after each worker's import (a pool filling, caches). */
const WARM_S = 2;
/** Its health path answers 503 while a file named sick is in its data directory. */
const FLAKY_APP = `import os

def application(environ, start_response):
    sick = os.path.exists(os.path.join(os.environ["APPPKG_DATA_DIR"], "sick"))
    if environ["PATH_INFO"] == "/healthz" and sick:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"sick"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
`;
const WARM_APP = `import os, sys, time
T0 = time.monotonic()

def application(environ, start_response):
    age = time.monotonic() - T0
    if environ["PATH_INFO"] == "/healthz":
        ready = age >= ${WARM_S}
        print("probe of %d: %s" % (os.getpid(), "200" if ready else "503"), flush=True)
        start_response("200 OK" if ready else "503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"ok" if ready else b"warming up"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%d %.2f" % (os.getpid(), age)).encode()]
`;

test.before(async () => {
  addPackage(apps.path, 'faults', 'sick', { 'app.yaml': [[/$/, 'health: /status/500\n']] });
  addPackage(apps.path, 'faults', 'well', { 'app.yaml': [[/$/, 'health: /status/204\n']] });
  writePackage(apps.path, 'relapse', { 'app.yaml': 'platform: python, wsgi\napp: flaky:application\nhealth: /healthz\n', 'flaky.py': FLAKY_APP });
  writePackage(apps.path, 'flaky', { 'app.yaml': 'platform: python, wsgi\napp: flaky:application\nhealth: /healthz\n', 'flaky.py': FLAKY_APP });
  writePackage(apps.path, 'warm', { 'app.yaml': 'platform: python, wsgi\napp: warm:application\nhealth: /healthz\n', 'warm.py': WARM_APP });
  // The sick app's start bound is 6 s, not the default 60, so that its refusal comes soon.
  const environment = join(state.path, 'environment.yaml');
  writeFileSync(environment, 'apps:\n  sick:\n    start_timeout: 6\n  flaky:\n    workers: 1\n  relapse:\n    workers: 1\n    start_timeout: 31\n');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off', '--environment', environment]);
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

async function status(): Promise<{ apps: Array<{ name: string; state: string; problem: { code: string; message: string } | null; workers: Array<{ pid: number; state: string }> }> }> {
  return (await (await request(`${gw.adminUrl}/status`, { headersTimeout: 5000 })).body.json()) as never;
}

async function pidsOf(name: string): Promise<number[]> {
  return (await status()).apps.find((a) => a.name === name)?.workers.map((w) => w.pid) ?? [];
}

async function readyPidsOf(name: string): Promise<number[]> {
  return (await status()).apps.find((a) => a.name === name)?.workers.filter((w) => w.state === 'ready').map((w) => w.pid) ?? [];
}

function probesIn(name: string): number {
  const log = readFileSync(join(state.path, 'apps', name, 'log', 'app.log'), 'utf8');
  return log.split('\n').filter((l) => /faults: GET \/status\/\d+ by apppkg-gateway-probe/.test(l)).length;
}

function warmProbes(pid: number): string[] {
  const log = readFileSync(join(state.path, 'apps', 'warm', 'log', 'app.log'), 'utf8');
  return [...log.matchAll(new RegExp(`probe of ${pid}: (\\d+)`, 'g'))].map((m) => m[1]);
}

/** The pid and age (seconds since its import) of the warm worker that answers. */
async function warmAnswer(): Promise<{ pid: number; age: number }> {
  const res = await request(`${gw.url}/warm/`, { headersTimeout: 10_000 });
  const body = await res.body.text();
  assert.is(res.statusCode, 200, body);
  const [pid, age] = body.split(' ');
  return { pid: Number(pid), age: Number(age) };
}

test('a health path that answers 503 while the app warms up is asked again until it answers 200; no request before', async () => {
  const pids = await waitFor(async () => {
    const ready = await readyPidsOf('warm');
    return ready.length === 2 ? ready : undefined;
  }, 30_000, () => `warm serving with 2 workers\n${gw.output()}`);
  for (const pid of pids) seen.add(pid);
  assert.not.match(gw.output(), /warm: .*refused/);
  for (const pid of pids) {
    const probes = warmProbes(pid);
    assert.ok(probes.length >= 3, `${pid} warmed up for ${WARM_S} s: probed every half second (${probes.join(' ')})`);
    assert.equal(probes.slice(0, -1).every((s) => s === '503') && probes.at(-1), '200', probes.join(' '));
  }
});

test('a replacement worker warms up too: it takes requests once its probe passes, not before, and no crash loop', async () => {
  const [victim] = await pidsOf('warm');
  process.kill(victim, 'SIGKILL');
  const replacement = await waitFor(async () => {
    const pids = await readyPidsOf('warm');
    return pids.length === 2 && !pids.includes(victim) ? pids.find((p) => !seen.has(p)) : undefined;
  }, 20_000, () => `the replacement of ${victim}\n${gw.output()}`);
  seen.add(replacement);
  assert.not.match(gw.output(), /warm: worker \d+ failed to start/);
  assert.equal(warmProbes(replacement).at(-1), '200');
  assert.ok(warmProbes(replacement).length >= 3, warmProbes(replacement).join(' '));
  const answer = await waitFor(async () => {
    const a = await warmAnswer();
    return a.pid === replacement ? a : undefined;
  }, 10_000, 'a request answered by the replacement');
  assert.ok(answer.age >= WARM_S, `the replacement answered at ${answer.age} s after its import, before its probe passed`);
});

test('an app whose health path never answers 2xx/3xx is refused once its start bound (start_timeout: 6) is out; the log says what it last got; another app serves', async () => {
  await waitFor(() => /sick: .*refused/.test(gw.output()), 60_000, () => `sick refused\n${gw.output()}`);
  // The bound counts from the spawn: the import takes some of its 6 s.
  assert.match(gw.output(), /health probe of sick: GET \/status\/500 answered 500 \(its last answer, after [2-6] s of tries\), expected 2xx or 3xx/);
  assert.ok(probesIn('sick') > 4, `probed again and again: ${probesIn('sick')}`);
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

test('a restarted worker whose probe fails is `starting` in status while it is probed (not draining, no second row for its slot), and the app\'s health shows its failing probe', async () => {
  const [victim] = await waitFor(async () => {
    const pids = await readyPidsOf('flaky');
    return pids.length === 1 ? pids : undefined;
  }, 30_000, () => `flaky serving\n${gw.output()}`);
  seen.add(victim);
  writeFileSync(join(state.path, 'apps', 'flaky', 'data', 'sick'), '');
  process.kill(victim, 'SIGKILL');
  let last: unknown = null;
  const flaky = async (): Promise<any> => (last = (await status()).apps.find((a) => a.name === 'flaky'));
  const probed = await waitFor(async () => {
    const app = await flaky();
    const pid = app.workers.find((w: { pid: number }) => w.pid !== victim)?.pid;
    return pid !== undefined && app.health?.pid === pid && app.health.ok === false ? { app, pid } : undefined;
  }, 20_000, () => `a replacement whose failing probe is shown\n${JSON.stringify(last, null, 1)}`);
  seen.add(probed.pid);
  assert.equal(probed.app.workers.map((w: { state: string }) => w.state), ['starting'], JSON.stringify(probed.app.workers));
  assert.equal(probed.app.restarting, [], 'its slot is listed once, as the starting worker');
  assert.is(probed.app.health.status, 503);
  rmSync(join(state.path, 'apps', 'flaky', 'data', 'sick'));
  await waitFor(async () => {
    const app = await flaky();
    return app.workers.length === 1 && app.workers[0].state === 'ready' && app.health?.ok === true;
  }, 20_000, () => `the replacement passing its probe\n${JSON.stringify(last, null, 1)}`);
});

test('a restarted worker probed in vain for start_timeout (31 s, longer than a stable run) was not up: the next delay doubles, it does not start over at 0.5 s', async () => {
  const [victim] = await waitFor(async () => {
    const pids = await readyPidsOf('relapse');
    return pids.length === 1 ? pids : undefined;
  }, 30_000, () => `relapse serving\n${gw.output()}`);
  seen.add(victim);
  writeFileSync(join(state.path, 'apps', 'relapse', 'data', 'sick'), '');
  process.kill(victim, 'SIGKILL');
  await waitFor(() => /relapse: worker \d+ exited \(SIGKILL\); restarting in 500 ms/.test(gw.output()), 10_000, () => `the first restart\n${gw.output()}`);
  const failed = await waitFor(() => /relapse: worker \d+ failed to start: health probe of relapse[^\n]*; restarting in (\d+) ms/.exec(gw.output()) ?? undefined, 45_000, () => `the restarted worker refused\n${gw.output()}`);
  assert.is(failed[1], '1000', failed[0]);
  rmSync(join(state.path, 'apps', 'relapse', 'data', 'sick'));
  const pids = await waitFor(async () => {
    const ready = await readyPidsOf('relapse');
    return ready.length === 1 ? ready : undefined;
  }, 20_000, () => `relapse serving again\n${gw.output()}`);
  for (const pid of pids) seen.add(pid);
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
  // What is left of the start bound, in whole milliseconds: it said "within 1199.8760450000002 ms".
  try {
    await probeWorker(worker, 'faults', '/sleep?t=3', { deadline: performance.now() + 1200.5, timeoutMs: 10_000 });
    assert.unreachable('resolved');
  } catch (err) {
    assert.match((err as Error).message, /\(no answer within \d+ ms\)/);
  }
});

test.run();

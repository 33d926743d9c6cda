// The heartbeat after a stall of the gateway itself (a long GC, the host swapping, a SIGSTOP):
// Node runs the timers that came due before it polls for I/O, so the heartbeat's check found a
// PING unanswered for longer than the bound while the worker's PONG, sent in time, waited in
// the kernel, and a healthy worker was killed as hung. The check is judged after the next poll
// (net/after-next-poll.ts). So is the PING an ASGI worker is sent after one of its requests got
// a 504 (is its loop held?), and the silence rule past the app's timeout. A worker that is really
// stopped is still replaced. Short bounds through the test knobs: a beat of 200 ms, hung (and a
// loop silent) after 2 s.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setTimeout as delay } from 'node:timers/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { HEARTBEAT_ENV, HUNG_AFTER_ENV } from '../../src/supervisor/worker.js';
import { addPackage } from '../helpers/apps-dir.js';
import { appStatus } from '../helpers/status.js';
import { processState, stalled } from '../helpers/stall.js';
import { assertNoOrphans, isAlive, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('heartbeat after a stall of the gateway');
const apps = tempDir('apppkg-heartbeat-stall-apps-');
const state = tempDir('apppkg-heartbeat-stall-state-');
const BEAT_MS = 200;
const HUNG_MS = 2000;
/** hz's timeout: its 504 comes after it, and so does the silence rule's recycle of a silent worker (WsgiUpstream.judgeSilence). */
const HZ_TIMEOUT_MS = 3000;
let gw: RunningGateway;
const seen = new Set<number>();

test.before(async () => {
  addPackage(apps.path, 'faults', 'beat');
  addPackage(apps.path, 'asgi-timeout', 'hz');
  const env = join(state.path, 'environment.yaml');
  writeFileSync(env, `apps:\n  beat:\n    workers: 1\n    threads: 1\n  hz:\n    workers: 1\n    timeout: ${HZ_TIMEOUT_MS / 1000}\n`, { mode: 0o600 });
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', env, '--access-log', 'off'], {
    env: { [HEARTBEAT_ENV]: String(BEAT_MS), [HUNG_AFTER_ENV]: String(HUNG_MS) },
  });
});

test.after(async () => {
  for (const app of ['beat', 'hz']) for (const w of (await appStatus(gw, app).catch(() => null))?.workers ?? []) seen.add(w.pid);
  await gw?.stop();
  await assertNoOrphans([...seen]);
  apps.remove();
  state.remove();
});

const workerPids = async (app = 'beat'): Promise<number[]> => (await appStatus(gw, app)).workers.map((w: { pid: number }) => w.pid);

const get = async (path: string): Promise<{ status: number; body: string }> => {
  const res = await request(`${gw.url}${path}`, { headersTimeout: 10_000 });
  return { status: res.statusCode, body: await res.body.text() };
};
const served = async (): Promise<number> => (await get('/beat/')).status;

/**
 * The gateway stopped past the bound while `worker`, stopped before, is continued and answers
 * what the gateway sent it meanwhile: that answer waits unread in the gateway's socket. With
 * `answered`, the stall lasts until that says the worker has read it too (a loaded host is slow
 * to run a continued worker), or the bound has passed: a gateway stopped before its turn's flush
 * (the 504 went out, the ABORT and the PING behind it not yet) sends them after the stall.
 */
const stallGatewayWhileWorkerAnswers = (worker: number, answered?: () => boolean): Promise<void> => stalled(gw.child.pid!, HUNG_MS + 500, async () => {
    process.kill(worker, 'SIGCONT');
    const end = performance.now() + HUNG_MS + 500;
    if (answered) await waitFor(() => answered() || performance.now() > end, HUNG_MS + 10_000, `worker ${worker} to read what the gateway sent it`);
  });

/** Its events, read from its data directory: the worker may be stopped, and the gateway too. */
const hzEvents = (): string => {
  try {
    return readFileSync(join(state.path, 'apps', 'hz', 'data', 'events.log'), 'utf8');
  } catch {
    return '';
  }
};

test('a gateway stopped past the bound while the PONG was on its way kills no worker', async () => {
  const before = await workerPids();
  for (const pid of before) seen.add(pid);
  const [worker] = before;
  // The worker stopped for three beats, less than the bound: the gateway's PING waits in its link.
  process.kill(worker, 'SIGSTOP');
  await delay(3 * BEAT_MS);
  await stallGatewayWhileWorkerAnswers(worker);
  // The first turn after SIGCONT ran the heartbeat's check: had it judged, the line is there.
  assert.is(await served(), 200);
  await delay(3 * BEAT_MS);
  assert.not.match(gw.output(), /hung: no answer to the heartbeat/);
  assert.equal(await workerPids(), before, 'the same worker');
  assert.is(await served(), 200);
});

test('an ASGI worker whose loop answered the PING after a 504 while the gateway was stopped is not recycled', async () => {
  const [worker] = await workerPids('hz');
  seen.add(worker);
  const sent = performance.now();
  const hung = get('/hz/hang');
  await waitFor(async () => (await get('/hz/events')).body.includes('hang started'), 5000, 'the request on the worker');
  // Stopped before the 504: the ABORT and the PING that asks whether its loop is free wait in its
  // link. Halfway to it, not at once: the silence rule rightly recycles a worker silent for the
  // timeout while the gateway runs, and one stopped as its request began was that a moment
  // after the 504, often before a loaded host had the gateway stopped (5 of 20 runs beside two
  // test dirs). Halfway, the worker's stop has half the timeout to come before the 504, and the
  // gateway's as long to come after it.
  await delay(Math.max(0, HZ_TIMEOUT_MS / 2 - (performance.now() - sent)));
  process.kill(worker, 'SIGSTOP');
  await waitFor(() => processState(worker) === 'T', 10_000, `worker ${worker} to stop`);
  const answer = await hung;
  assert.is(answer.status, 504, answer.body);
  const cancelled = () => hzEvents().includes('hang cancelled');
  // Else it answered before the stall, and the case proves nothing.
  assert.not.ok(cancelled(), `the worker took the 504's ABORT before it stopped:\n${hzEvents()}`);
  await stallGatewayWhileWorkerAnswers(worker, cancelled);
  assert.is((await get('/hz/pid')).body, String(worker), gw.output());
  assert.not.match(gw.output(), /hz: recycling worker/, gw.output());
  assert.equal(await workerPids('hz'), [worker], `the same worker\n${gw.output()}`);
});

test('a worker that is really stopped is still killed and replaced', async () => {
  const [victim] = await workerPids();
  seen.add(victim);
  process.kill(victim, 'SIGSTOP');
  try {
    const replaced = await waitFor(async () => {
      const now = await workerPids();
      return now.length === 1 && now[0] !== victim ? now : null;
    }, BEAT_MS + HUNG_MS + 500 + 10_000, 'the hung worker replaced');
    for (const pid of replaced) seen.add(pid);
    assert.match(gw.output(), new RegExp(`beat: worker ${victim} hung: no answer to the heartbeat for \\d+ s; killing it`));
    assert.is(await served(), 200);
  } finally {
    if (isAlive(victim)) process.kill(victim, 'SIGKILL');
  }
});

test.run();

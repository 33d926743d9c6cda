// The bounds on a start after a stall of the process that keeps them (a long GC, the host
// swapping, a SIGSTOP): Node runs the timers that came due before it polls for I/O, so a bound
// judged in its timer took an answer sent in time, unread in the kernel, for none. Each is
// judged after the next poll (net/after-next-poll.ts), as the heartbeat is
// (heartbeat-stall.test.ts): a worker's start bound (its READY), its health probe (the answer),
// and check's bound on the import (its result and exit). Each answer comes while the process
// that judges it is stopped past the bound: no false failure.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { IMPORT_WITHIN_ENV } from '../../src/link/check-app.js';
import { writePackage } from '../helpers/apps-dir.js';
import { appStatus } from '../helpers/status.js';
import { stalled } from '../helpers/stall.js';
import { assertNoOrphans, pidsByArgs, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('start bounds after a stall');
const apps = tempDir('apppkg-start-stall-apps-');
const state = tempDir('apppkg-start-stall-state-');
const work = tempDir('apppkg-start-stall-work-');
/** The app's start_timeout: its READY, then its health probe, within it. */
const START_MS = 4000;
/** check's bound on the import (APPPKG_TEST_CHECK_IMPORT_MS). */
const CHECK_MS = 3000;
/** Where the gateway's app finds its holds: its data directory. */
const data = join(state.path, 'apps', 'held', 'data');
let gw: RunningGateway;
const seen = new Set<number>();

/**
 * A WSGI app whose import, and whose health path, wait while the file `hold-import` (or
 * `hold-probe`) is in `holds`, having said so there (`import.PID`, `probe.PID`).
 */
const heldApp = (holds: string): string => `import os, time

HOLDS = ${JSON.stringify(holds)}

def held(step):
    hold = os.path.join(HOLDS, "hold-" + step)
    if not os.path.exists(hold):
        return
    open(os.path.join(HOLDS, "%s.%d" % (step, os.getpid())), "w").close()
    give_up = time.monotonic() + 60
    while os.path.exists(hold) and time.monotonic() < give_up:
        time.sleep(0.01)

held("import")

def application(environ, start_response):
    if environ["PATH_INFO"] == "/healthz":
        held("probe")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
`;

test.before(async () => {
  writePackage(apps.path, 'held', { 'app.yaml': 'platform: python, wsgi\napp: held:application\nhealth: /healthz\n', 'held.py': heldApp(data) });
  const env = join(state.path, 'environment.yaml');
  writeFileSync(env, `apps:\n  held:\n    workers: 1\n    start_timeout: ${START_MS / 1000}\n`, { mode: 0o600 });
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', env, '--access-log', 'off']);
});

test.after(async () => {
  for (const w of (await appStatus(gw, 'held').catch(() => null))?.workers ?? []) seen.add(w.pid);
  await gw?.stop();
  await assertNoOrphans([...seen]);
  for (const dir of [apps, state, work]) dir.remove();
});

/** The process that began `step` in `holds` (its `step.PID`, taken away). */
async function began(holds: string, step: string): Promise<number> {
  const marker = await waitFor(() => readdirSync(holds).find((name) => name.startsWith(`${step}.`)), 30_000, `the app to begin its ${step}`);
  rmSync(join(holds, marker));
  return Number(marker.slice(step.length + 1));
}

/** The one worker of the app, once it is ready. */
const readyWorker = (): Promise<number> =>
  waitFor(async () => {
    const workers = (await appStatus(gw, 'held')).workers;
    return workers.length === 1 && workers[0].state === 'ready' && workers[0].pid;
  }, 30_000, () => `the worker ready, in:\n${gw.output()}`);

/**
 * A new worker, started as after a crash, that waits in `step` (its import, its health path)
 * until the gateway is stopped, then goes on: its answer is in the gateway's socket before
 * its bound (START_MS from its spawn, which came before its `step.PID`) is past.
 */
async function restartHeldIn(step: 'import' | 'probe'): Promise<number> {
  const before = await readyWorker();
  seen.add(before);
  const hold = join(data, `hold-${step}`);
  writeFileSync(hold, '');
  try {
    process.kill(before, 'SIGKILL');
    const worker = await began(data, step);
    seen.add(worker);
    await stalled(gw.child.pid!, START_MS + 500, () => rmSync(hold));
    return worker;
  } finally {
    rmSync(hold, { force: true });
  }
}

test('a worker whose READY came while the gateway was stopped past its start bound serves: not failed, not started again', async () => {
  const worker = await restartHeldIn('import');
  assert.is(await readyWorker(), worker, gw.output());
  assert.not.match(gw.output(), /did not finish its start/);
});

test('a health probe answered while the gateway was stopped past its bound passes: the worker serves', async () => {
  const worker = await restartHeldIn('probe');
  assert.is(await readyWorker(), worker, gw.output());
  assert.not.match(gw.output(), /no answer within/);
  const res = await request(`${gw.url}/held/`);
  assert.is(await res.body.text(), String(worker));
});

test('check: an import done while check was stopped past its bound is no failure', async () => {
  const holds = join(work.path, 'holds');
  const dir = writePackage(work.path, 'held', { 'app.yaml': 'platform: python, wsgi\napp: held:application\n', 'held.py': heldApp(holds) });
  writePackage(work.path, 'holds', { 'hold-import': '' });
  const checking = runCli(['check', dir, '--state-dir', join(work.path, 'state')], { env: { [IMPORT_WITHIN_ENV]: String(CHECK_MS) } });
  await began(holds, 'import');
  const [check] = pidsByArgs((args) => args.includes('check') && args.includes(dir));
  assert.ok(check, 'the check process');
  await stalled(check, CHECK_MS + 500, () => rmSync(join(holds, 'hold-import')));
  const r = await checking;
  assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.not.match(r.stdout + r.stderr, /did not finish/);
});

test.run();

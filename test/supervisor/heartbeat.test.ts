// The heartbeat (docs/architecture.md, "Supervision"): a worker that hangs while idle — here
// SIGSTOPped, so it reads nothing and answers nothing — is noticed by its missing PONG, killed
// and replaced within the documented bound; a busy worker whose thread sleeps in the app still
// answers the heartbeat and is left alone.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { HEARTBEAT_MS, HUNG_AFTER_MS } from '../../src/supervisor/worker.js';
import { addPackage } from '../helpers/apps-dir.js';
import { appStatus } from '../helpers/status.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('heartbeat');
const apps = tempDir('apppkg-heartbeat-apps-');
const state = tempDir('apppkg-heartbeat-state-');
let gw: RunningGateway;
const seen = new Set<number>();
/** The bound docs/architecture.md states: a beat, the silence, the first restart delay, an import. */
const BOUND_MS = HEARTBEAT_MS + HUNG_AFTER_MS + 500 + 5000;

test.before(async () => {
  addPackage(apps.path, 'faults', 'beat');
  // One thread: a slow request leaves no idle thread to read the link, so PONG is the monitor's.
  const env = join(state.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  beat:\n    threads: 1\n');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', env, '--access-log', 'off']);
});

test.after(async () => {
  for (const w of (await appStatus(gw, 'beat').catch(() => null))?.workers ?? []) seen.add(w.pid);
  await gw?.stop();
  await assertNoOrphans([...seen]);
  apps.remove();
  state.remove();
});

const workerPids = async (): Promise<number[]> => (await appStatus(gw, 'beat')).workers.map((w: { pid: number }) => w.pid);

test('a worker stopped while idle is killed and replaced within the bound', async () => {
  const before = await workerPids();
  for (const pid of before) seen.add(pid);
  const [victim] = before;
  process.kill(victim, 'SIGSTOP');
  const stoppedAt = Date.now();
  await waitFor(async () => {
    const now = await workerPids();
    return now.length === 2 && !now.includes(victim);
  }, BOUND_MS + 5000, 'the hung worker to be replaced');
  const took = Date.now() - stoppedAt;
  assert.ok(took <= BOUND_MS, `replaced after ${took} ms, bound ${BOUND_MS} ms`);
  assert.match(gw.output(), new RegExp(`beat: worker ${victim} hung: no answer to the heartbeat for \\d+ s; killing it`));
  assert.match(gw.output(), new RegExp(`beat: worker ${victim} exited \\(hung: no answer to the heartbeat for \\d+ s\\); restarting in \\d+ ms`));
  for (const pid of await workerPids()) seen.add(pid);
  const res = await request(`${gw.url}/beat/`, { headersTimeout: 5000 });
  assert.is(res.statusCode, 200);
  await res.body.text();
});

test('a busy worker answers the heartbeat and is not killed', async () => {
  const before = await workerPids();
  for (const pid of before) seen.add(pid);
  // Each worker's only thread sleeps in the app past the silence bound: the worker still
  // answers PING (its monitor thread reads the link), so neither is taken for hung.
  const slow = [request(`${gw.url}/beat/sleep?t=${(HUNG_AFTER_MS + 2 * HEARTBEAT_MS) / 1000}`, { headersTimeout: 30_000 }), request(`${gw.url}/beat/sleep?t=${(HUNG_AFTER_MS + 2 * HEARTBEAT_MS) / 1000}`, { headersTimeout: 30_000 })];
  const answers = await Promise.all(slow);
  for (const a of answers) {
    assert.is(a.statusCode, 200);
    await a.body.text();
  }
  assert.equal((await workerPids()).sort(), [...before].sort(), 'the same workers');
});

test.run();

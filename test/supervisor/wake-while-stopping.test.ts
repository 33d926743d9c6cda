// An idle app woken while its sleep is still stopping its workers (SPEC 5.6): a request that
// comes just after "stopping its workers" starts new ones at once. The old worker's exit, when
// it comes, is the sleep's doing: it must not read as a crash of the worker that replaced it
// (a "restarting" line, a restart counted, the back-off fed, a spare worker spawned).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, startCliIn, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';

const test = suite('a wake while the sleep still stops the workers');
const dir = tempDir('apppkg-wake-stopping-');
let gw: RunningGateway | null = null;
const pids = new Set<number>();

test.after(async () => {
  try {
    await gw?.stop();
    await assertNoOrphans([...pids]);
  } finally {
    dir.remove();
  }
});

async function nap(): Promise<any> {
  const status = await gatewayStatus(gw!);
  for (const pid of statusPids(status)) pids.add(pid);
  return status.apps.find((a: any) => a.name === 'nap');
}

test('the old worker exits after the new one came up: no restart said or counted, one worker serving', async () => {
  const apps = join(dir.path, 'apps');
  writePackage(apps, 'nap', {
    'app.yaml': 'platform: python, wsgi\napp: nap:application\n',
    // Its import takes 2 s, and a worker takes 0.5 s to exit once stopped (an app's atexit: a
    // flush, a pool closed): the old one exits while the wake's is still importing.
    'nap.py': 'import atexit, os, time\ntime.sleep(2)\natexit.register(time.sleep, 0.5)\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [str(os.getpid()).encode()]\n',
  });
  const envFile = join(dir.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  nap:\n    idle_timeout: 1\n    workers: 1\n');
  gw = await startCliIn(dir, ['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir.path, 'state'), '--environment', envFile, '--access-log', 'off', '--settle', '0']);
  const sleeps = (): number => gw!.output().split('nap: no request for 1 s; stopping its workers').length - 1;
  // Started, and asleep a second later; then woken, to sleep again.
  await waitFor(async () => (await nap())?.state === 'idle', 30_000, 'nap to go to sleep');
  const first = await request(`${gw.url}/nap/`, { headersTimeout: 60_000 });
  const firstPid = Number(await first.body.text());
  await waitFor(() => sleeps() === 2, 15_000, 'nap to go to sleep again');

  // The old worker is still running its atexit: the wake starts another beside it, and the old
  // one exits before the new one has imported the app.
  const woken = await request(`${gw.url}/nap/`, { headersTimeout: 60_000 });
  assert.is(woken.statusCode, 200);
  const wokenPid = Number(await woken.body.text());
  assert.is.not(wokenPid, firstPid);
  // Until the old one has exited and a restart's back-off (500 ms) would be over, requests
  // keep the app awake (idle_timeout: 1), each served by the worker the wake started.
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  let goneAt = 0;
  const until = Date.now() + 20_000;
  while (goneAt === 0 || Date.now() - goneAt < 1500) {
    assert.ok(Date.now() < until, 'the old worker to exit');
    if (goneAt === 0 && !alive(firstPid)) goneAt = Date.now();
    const again = await request(`${gw.url}/nap/`);
    assert.is(Number(await again.body.text()), wokenPid, 'the woken worker serves, not one a restart put in its place');
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.not.match(gw.output(), /nap: .*exited \(status 0\).*restarting/, gw.output());
  const status = await nap();
  assert.equal(status.workers.map((w: any) => w.pid), [wokenPid], JSON.stringify(status.workers));
  assert.equal(status.workers.map((w: any) => w.restarts ?? 0), [0], JSON.stringify(status.workers));
});

test.run();
